/**
 * The whole decision for one request against one counting key: every counter
 * is checked, and only when all have room is every one charged. Pure: state
 * and time come in, a decision and the new state go out.
 *
 * @example
 * const { outcome, updates } = decide(states, [{ name: "api-1m", algorithm: "fixed", limit: 300, windowMs: 60_000, cost: 1 }], Date.now(), "lease-1");
 * @module
 */
import { advanceConcurrency, checkConcurrency, releaseConcurrency } from "./algorithms/concurrency";
import { checkFixed, debitFixed, refundFixed } from "./algorithms/fixed-window";
import { checkSliding, debitSliding, refundSliding } from "./algorithms/sliding-window";
import { bucketStamp, checkTokenBucket, debitTokenBucket, refundTokenBucket } from "./algorithms/token-bucket";
import { type Reserved, reserveOne, waitingAt, withWaiting } from "./delay";
import { epochOf, withEpoch } from "./epoch";
import type { Charge, CheckOutcome, CounterResult, CounterSpec, CounterState, DelaySpec } from "./types";

type StateOf<A extends CounterState["algorithm"]> = Extract<CounterState, { algorithm: A }>;

/** A stored state of another algorithm (the operator changed it) counts as no state. */
function stateFor<A extends CounterState["algorithm"]>(
  state: CounterState | undefined,
  algorithm: A,
): StateOf<A> | undefined {
  return state && state.algorithm === algorithm ? (state as StateOf<A>) : undefined;
}

function checkOne(
  state: CounterState | undefined,
  spec: CounterSpec,
  now: number,
  leaseId: string,
): { result: CounterResult; charged: CounterState } {
  switch (spec.algorithm) {
    case "fixed":
      return checkFixed(stateFor(state, "fixed"), now, spec);
    case "sliding":
      return checkSliding(stateFor(state, "sliding"), now, spec);
    case "token-bucket":
      return checkTokenBucket(stateFor(state, "token-bucket"), now, spec);
    case "concurrency":
      return checkConcurrency(stateFor(state, "concurrency"), now, spec, leaseId);
  }
}

export interface Decision {
  outcome: CheckOutcome;
  /** States to store: every counter's charged state when admitted; nothing when refused. */
  updates: Map<string, CounterState>;
  /** One result per shadow counter (`allowed: false`: it would have refused). */
  shadowResults: CounterResult[];
}

/**
 * Checks `specs` all or nothing, then each of the `shadow` counters (of
 * shadow-mode rules) on its own: charged when it has room, never refusing.
 * When `specs` refuse, nothing is charged and the shadow counters are only peeked.
 * `epoch`: the store's current epoch, given to a counter that has no state
 * yet (one that has keeps its own). `delay` (a rule's `onLimit.delay`): a
 * request that `specs` refuse now is admitted with a delay when its room comes
 * back within the bound and fewer than its cap are waiting (see `delay.ts`);
 * every counter, shadow ones too, is then charged for its slot.
 */
export function decide(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  leaseId: string,
  shadow: readonly CounterSpec[] = [],
  epoch = 0,
  delay?: DelaySpec,
): Decision {
  let decision = decideAll(states, specs, now, leaseId, epoch)!;
  if (!decision.outcome.allowed && delay) decision = decideDelayed(states, specs, now, leaseId, epoch, delay, decision);
  const at = now + (decision.outcome.delayMs ?? 0);
  for (const spec of shadow) {
    if (!decision.outcome.allowed) {
      decision.shadowResults.push(peekOne(states, spec, now));
      continue;
    }
    const one = decideAll(states, [spec], now, leaseId, epoch, at);
    if (!one) {
      // No slot of its own at `at` (a sliding window's next window): it would have refused.
      decision.shadowResults.push({ ...peekOne(states, spec, now), allowed: false });
      continue;
    }
    decision.shadowResults.push(one.outcome.results[0]!);
    if (one.outcome.allowed) {
      for (const [k, v] of one.updates) decision.updates.set(k, v);
      decision.outcome.charges.push(...one.outcome.charges);
    }
  }
  return decision;
}

/**
 * The first slot within `delay.maxMs` at which every counter has room, charged
 * now for that slot; the refused decision as it was when there is none, or
 * when `delay.maxWaiting` requests are already waiting.
 */
function decideDelayed(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  leaseId: string,
  epoch: number,
  delay: DelaySpec,
  refused: Decision,
): Decision {
  const waiting = waitingAt(states.get(delay.name), now);
  if (waiting.length >= delay.maxWaiting) return refused;
  let at = now + laterRoom(refused.outcome.results);
  // Each round moves `at` to where the counters that still refuse have room; a few suffice (one per counter, at most).
  for (let round = 0; round <= specs.length; round++) {
    if (at - now > delay.maxMs) return refused;
    const reserved = decideAll(states, specs, now, leaseId, epoch, at);
    if (!reserved) return refused;
    if (reserved.outcome.allowed) {
      reserved.updates.set(delay.name, withWaiting(waiting, at));
      reserved.outcome.delayMs = at - now;
      return reserved;
    }
    // A counter refusing at `at` (another with a later room) says how much later it has room: from `at`.
    at += laterRoom(reserved.outcome.results.filter((r) => !r.allowed).map((r) => r));
  }
  return refused;
}

/** The latest of the refusing results' waits (at least 1 ms). */
function laterRoom(results: readonly CounterResult[]): number {
  return Math.max(1, ...results.filter((r) => !r.allowed).map((r) => r.retryAfterMs));
}

/**
 * Checks every counter, charging all only when all have room. `at` (after
 * `now`): a delayed request's slot; `undefined` when a counter cannot
 * reserve one there.
 */
function decideAll(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  leaseId: string,
  epoch: number,
  at = now,
): Decision | undefined {
  const checked: Array<{ spec: CounterSpec } & Reserved> = [];
  for (const spec of specs) {
    const one =
      at === now
        ? checkOne(states.get(spec.name), spec, now, leaseId)
        : reserveOne(states.get(spec.name), spec, now, at);
    if (!one) return undefined;
    checked.push({ spec, ...one });
  }
  const allowed = checked.every((c) => c.result.allowed);
  const results = checked.map((c) => c.result);
  if (!allowed) {
    // A refused request charges nothing; report room as it stands, and for the
    // counters that did have room, do not claim this request was taken.
    return {
      outcome: {
        allowed,
        results: results.map((r, i) => (r.allowed && at === now ? peekOne(states, specs[i]!, now) : r)),
        charges: [],
      },
      updates: new Map(),
      shadowResults: [],
    };
  }
  const updates = new Map<string, CounterState>();
  const charges: Charge[] = [];
  for (const { spec, charged, windowStart } of checked) {
    const stamped = withEpoch(charged, epochFor(states.get(spec.name), spec, epoch));
    updates.set(spec.name, stamped);
    const chargeEpoch = epochOf(stamped);
    charges.push({
      name: spec.name,
      algorithm: spec.algorithm,
      cost: spec.algorithm === "concurrency" ? 1 : spec.cost,
      windowMs: spec.windowMs,
      limit: spec.limit,
      ...(spec.calendar ? { calendar: spec.calendar } : {}),
      // A delayed request's fixed window may be the next one, reserved ahead.
      ...(windowStart !== undefined
        ? { windowStart }
        : "windowStart" in stamped
          ? { windowStart: stamped.windowStart }
          : {}),
      ...(spec.algorithm === "concurrency" ? { leaseId } : {}),
      ...(chargeEpoch !== 0 ? { epoch: chargeEpoch } : {}),
      ...(stamped.algorithm === "token-bucket" ? bucketStamp(stamped, at, spec) : {}),
    });
  }
  return { outcome: { allowed, results, charges }, updates, shadowResults: [] };
}

/** A counter's room as it stands, charging nothing. */
export function peekOne(states: ReadonlyMap<string, CounterState>, spec: CounterSpec, now: number): CounterResult {
  if (spec.algorithm === "concurrency") {
    const state = advanceConcurrency(stateFor(states.get(spec.name), "concurrency"), now);
    const held = state.leases.length;
    return {
      name: spec.name,
      allowed: held < spec.limit,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - held),
      resetAt: held < spec.limit ? now : Math.min(...state.leases.map((l) => l.expiresAt)),
      retryAfterMs: 0,
    };
  }
  const { result } = checkOne(states.get(spec.name), { ...spec, cost: 0 }, now, "");
  return { ...result, allowed: result.remaining > 0, retryAfterMs: 0 };
}

/** A counter's epoch: its own state's, or the store's for a counter that has none (of this algorithm). */
export function epochFor(state: CounterState | undefined, spec: CounterSpec, epoch: number): number {
  return state && state.algorithm === spec.algorithm ? epochOf(state) : epoch;
}

/**
 * Gives charges back: refunds to their windows, slots to the pool. Returns
 * the states that changed. A charge gives back only room it still holds in
 * the state it is applied to: nothing into another epoch (the counter was
 * reset since), nothing into a window past (fixed) or past the previous one
 * (sliding), and into a bucket only what is still above every later charge's
 * moment of use (`roomHeld`). A settle's debit (`charge.debit`) charges
 * `cost` more into the same window (a bucket: now), room or not, in the
 * same epoch only: a reset forgives the debt with the rest.
 */
export function giveBack(
  states: ReadonlyMap<string, CounterState>,
  charges: readonly Charge[],
  now: number,
): Map<string, CounterState> {
  const updates = new Map<string, CounterState>();
  for (const charge of charges) {
    const current = updates.get(charge.name) ?? states.get(charge.name);
    if (!current || current.algorithm !== charge.algorithm) continue; // reset or replaced since: nothing to give back
    if (epochOf(current) !== (charge.epoch ?? 0)) continue; // charged before a reset: the new epoch holds none of it
    const spec: CounterSpec = {
      name: charge.name,
      algorithm: charge.algorithm,
      limit: charge.limit,
      windowMs: charge.windowMs,
      cost: charge.cost,
      ...(charge.calendar ? { calendar: charge.calendar } : {}),
    };
    // A refund into a window that has turned builds the new window's state: it stays in the epoch.
    const epoch = epochOf(current);
    switch (current.algorithm) {
      case "fixed":
        updates.set(
          charge.name,
          withEpoch((charge.debit ? debitFixed : refundFixed)(current, now, spec, charge), epoch),
        );
        break;
      case "sliding":
        updates.set(
          charge.name,
          withEpoch((charge.debit ? debitSliding : refundSliding)(current, now, spec, charge), epoch),
        );
        break;
      case "token-bucket":
        updates.set(
          charge.name,
          withEpoch((charge.debit ? debitTokenBucket : refundTokenBucket)(current, now, spec, charge), epoch),
        );
        break;
      case "concurrency":
        updates.set(charge.name, releaseConcurrency(current, now, charge));
        break;
    }
  }
  return updates;
}
