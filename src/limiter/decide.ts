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
import { checkFixed, refundFixed } from "./algorithms/fixed-window";
import { checkSliding, refundSliding } from "./algorithms/sliding-window";
import { checkTokenBucket, refundTokenBucket } from "./algorithms/token-bucket";
import type { Charge, CheckOutcome, CounterResult, CounterSpec, CounterState } from "./types";

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
 */
export function decide(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  leaseId: string,
  shadow: readonly CounterSpec[] = [],
): Decision {
  const decision = decideAll(states, specs, now, leaseId);
  for (const spec of shadow) {
    if (!decision.outcome.allowed) {
      decision.shadowResults.push(peekOne(states, spec, now));
      continue;
    }
    const one = decideAll(states, [spec], now, leaseId);
    decision.shadowResults.push(one.outcome.results[0]!);
    if (one.outcome.allowed) {
      for (const [k, v] of one.updates) decision.updates.set(k, v);
      decision.outcome.charges.push(...one.outcome.charges);
    }
  }
  return decision;
}

function decideAll(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  leaseId: string,
): Decision {
  const checked = specs.map((spec) => ({ spec, ...checkOne(states.get(spec.name), spec, now, leaseId) }));
  const allowed = checked.every((c) => c.result.allowed);
  const results = checked.map((c) => c.result);
  if (!allowed) {
    // A refused request charges nothing; report room as it stands, and for the
    // counters that did have room, do not claim this request was taken.
    return {
      outcome: {
        allowed,
        results: results.map((r, i) => (r.allowed ? peekOne(states, specs[i]!, now) : r)),
        charges: [],
      },
      updates: new Map(),
      shadowResults: [],
    };
  }
  const updates = new Map<string, CounterState>();
  const charges: Charge[] = [];
  for (const { spec, charged } of checked) {
    updates.set(spec.name, charged);
    charges.push({
      name: spec.name,
      algorithm: spec.algorithm,
      cost: spec.algorithm === "concurrency" ? 1 : spec.cost,
      windowMs: spec.windowMs,
      limit: spec.limit,
      ...("windowStart" in charged ? { windowStart: charged.windowStart } : {}),
      ...(spec.algorithm === "concurrency" ? { leaseId } : {}),
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

/** Gives charges back: refunds to their windows, slots to the pool. Returns the states that changed. */
export function giveBack(
  states: ReadonlyMap<string, CounterState>,
  charges: readonly Charge[],
  now: number,
): Map<string, CounterState> {
  const updates = new Map<string, CounterState>();
  for (const charge of charges) {
    const current = updates.get(charge.name) ?? states.get(charge.name);
    if (!current || current.algorithm !== charge.algorithm) continue; // reset or replaced since: nothing to give back
    const spec: CounterSpec = {
      name: charge.name,
      algorithm: charge.algorithm,
      limit: charge.limit,
      windowMs: charge.windowMs,
      cost: charge.cost,
    };
    switch (current.algorithm) {
      case "fixed":
        updates.set(charge.name, refundFixed(current, now, spec, charge));
        break;
      case "sliding":
        updates.set(charge.name, refundSliding(current, now, spec, charge));
        break;
      case "token-bucket":
        updates.set(charge.name, refundTokenBucket(current, now, spec, charge));
        break;
      case "concurrency":
        updates.set(charge.name, releaseConcurrency(current, now, charge));
        break;
    }
  }
  return updates;
}
