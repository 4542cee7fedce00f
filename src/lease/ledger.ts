/**
 * The object's side of leasing, pure: lend units from a key's counters, take
 * back what an isolate did not use, and keep what is still out when a key is
 * reset. Time comes in; states go out to be stored before anything is
 * answered, so a restarted object never lends the same room twice.
 *
 * The invariant, per algorithm (the simulation replays every admission of
 * every isolate through the single-object algorithm and checks it):
 * - Fixed window (day windows included): a lease is charged into the window
 *   it was granted in and may only be used before that window ends (its
 *   lifetime is capped at the window's end). So every use lies in the window
 *   that was charged for it, and a window's uses never exceed its charges.
 * - Sliding window: tied to its window the same way. A use at time u was
 *   charged at g <= u in the same window; with counts that only grow by
 *   checked charges, the weighted estimate at u (the previous window weighs
 *   less the later it is) is no more than it was at the last charge, which
 *   was within the limit.
 * - Token bucket: a use may come at any time up to the lease's end, and using
 *   a unit later than it was charged can over-admit (the object refilled in
 *   between). So a leased unit is accounted as used at the LATEST time it
 *   may be used, grant + lifetime: `tat = max(tat, now + lifetime) + units x
 *   interval`, admitted only while `tat - now <= burst x interval`. For any
 *   interval [a, b], the requests used in it were charged between the first
 *   of them (accounted no earlier than a) and the last (processed no later
 *   than b), which GCRA bounds by burst + (b - a) / interval. The cost: a
 *   lease's lifetime of refill is forgone once when the bucket is near full,
 *   which is why a lifetime may cost at most a small share of the bucket.
 *   Unused units are not given back to a bucket (a refund would have to undo
 *   a charge accounted in the future); they lapse. The lease's end is the
 *   bucket's `horizon`: a plain charge's refund never takes the bucket below
 *   it (see `roomHeld` in the bucket's algorithm).
 * - Resets start a new epoch: the units out on leases stay charged in it, and
 *   no charge made before the reset gives anything back into it.
 * - Concurrency slots: not leased (a slot is held by one request until it
 *   ends; a request per call, as before).
 * @module
 */
import { checkFixed } from "../limiter/algorithms/fixed-window";
import { checkSliding } from "../limiter/algorithms/sliding-window";
import { ceilDiv, debtAt, floorDiv, interval, runOf, stateAt } from "../limiter/algorithms/token-bucket";
import { windowBoundsOf } from "../limiter/calendar";
import { epochFor } from "../limiter/decide";
import { epochOf, withEpoch } from "../limiter/epoch";
import type { CounterResult, CounterSpec, CounterState, TokenBucketState } from "../limiter/types";
import {
  type LeaseAsk,
  type LeasedState,
  type LeaseGrant,
  type LeaseTerms,
  type LentUnits,
  MERGED_LEASE_ID,
} from "./types";

/**
 * Leases kept per counter; older ones are merged (still charged, no longer
 * given back). A root lends each shard of its tree a few blocks at once, and
 * what a merged block did not use would stay charged to its window's end.
 */
export const MAX_LENT_ENTRIES = 64;

/** Whether a request's counters can be leased at all: slots cannot. */
export function leasable(specs: readonly CounterSpec[]): boolean {
  return specs.length > 0 && specs.every((s) => s.algorithm !== "concurrency" && s.windowMs > 0 && s.cost > 0);
}

function windowStartOf(state: CounterState | undefined): number | undefined {
  return state && (state.algorithm === "fixed" || state.algorithm === "sliding") ? state.windowStart : undefined;
}

/** Leases of `state` still out at `now`. A windowed state only keeps the leases of its own window. */
export function liveLent(state: CounterState | undefined, now: number): LentUnits[] {
  return keptLent(state, now).filter((l) => l.until > now);
}

/**
 * Leases worth remembering: a windowed counter keeps its window's leases to
 * the window's end, expired or not, so that what an isolate did not use can
 * still be given back to the window it was charged to; a bucket keeps only
 * live ones (nothing goes back to a bucket).
 */
function keptLent(state: CounterState | undefined, now: number): LentUnits[] {
  const lent = (state as LeasedState | undefined)?.lent;
  if (!lent) return [];
  return state!.algorithm === "token-bucket" ? lent.filter((l) => l.until > now) : lent;
}

/** Units of a counter out on leases at `now` (admin `GET /keys`). */
export function leasedOut(state: CounterState | undefined, now: number): number {
  return liveLent(state, now).reduce((sum, l) => sum + l.n, 0);
}

function withLent(state: CounterState, lent: LentUnits[]): LeasedState {
  const { lent: _replaced, ...bare } = state as LeasedState;
  // An empty list, not none: `carryLent` takes a missing list for one an algorithm dropped.
  if (lent.length === 0) return { ...(bare as CounterState), lent: [] } as LeasedState;
  let kept = [...lent].sort((a, b) => a.until - b.until);
  while (kept.length > MAX_LENT_ENTRIES) {
    const [a, b, ...rest] = kept;
    kept = [{ id: MERGED_LEASE_ID, n: a!.n + b!.n, until: Math.max(a!.until, b!.until) }, ...rest];
  }
  return { ...(bare as CounterState), lent: kept } as LeasedState;
}

/** Room for how many more requests a counter has, with a lease of `lifetimeMs` accounted. */
function roomOf(state: CounterState | undefined, spec: CounterSpec, now: number, lifetimeMs: number): number {
  switch (spec.algorithm) {
    case "fixed":
    case "sliding": {
      const check = spec.algorithm === "fixed" ? checkFixed : checkSliding;
      const { result } = check(state as never, now, { ...spec, cost: 0 });
      return Math.floor(result.remaining / spec.cost);
    }
    case "token-bucket": {
      const { num, den } = interval(spec);
      const capacity = (spec.burst ?? spec.limit) * num;
      const start = Math.max(debtAt(tokenState(state), now, den), lifetimeMs * den);
      return start > capacity ? 0 : floorDiv(capacity - start, spec.cost * num);
    }
    case "concurrency":
      return 0;
  }
}

function tokenState(state: CounterState | undefined): TokenBucketState | undefined {
  return state?.algorithm === "token-bucket" ? state : undefined;
}

/** The longest a lease on these counters may live: windowed counters end it at their window's end. */
export function leaseLifetime(specs: readonly CounterSpec[], now: number, terms: LeaseTerms): number {
  let lifetime = terms.maxLifetimeMs;
  for (const spec of specs) {
    if (spec.algorithm === "token-bucket") {
      const { num, den } = interval(spec);
      // The lifetime's refill is forgone: cap it at a share of the bucket's capacity (burst × interval).
      lifetime = Math.min(lifetime, Math.floor(((spec.burst ?? spec.limit) * num * terms.bucketLifetimeShare) / den));
    } else {
      // A calendar window ends at its period's end: a lease never outlives it.
      lifetime = Math.min(lifetime, windowBoundsOf(spec, now).end - now);
    }
  }
  return lifetime;
}

/**
 * How many requests to lend: what the isolate expects to use, no more than
 * its share of the room (counting what it holds), nothing when the room is
 * small (a login limit of 50 is never handed out in tens).
 */
export function leaseUnits(ask: LeaseAsk, room: number, terms: LeaseTerms): number {
  if (room < terms.minRoom) return 0;
  const share = Math.floor((room + ask.held) * terms.maxShare) - ask.held;
  const units = Math.min(ask.want, share, terms.maxUnits, room);
  return units >= terms.minUnits ? units : 0;
}

export interface Lending {
  /** Absent when nothing is lent (room small, window ending, nothing wanted). */
  grant?: LeaseGrant;
  /** States to store before the grant is answered. */
  updates: Map<string, CounterState>;
}

/**
 * Lends room from every counter of a key at once: all of them are charged for
 * the same requests. `epoch`: the store's, for a counter that has no state yet.
 */
export function lend(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  ask: LeaseAsk,
  id: number,
  terms: LeaseTerms,
  epoch = 0,
): Lending {
  const none: Lending = { updates: new Map() };
  if (!leasable(specs) || ask.want < terms.minUnits) return none;
  const lifetimeMs = leaseLifetime(specs, now, terms);
  if (lifetimeMs < terms.minLifetimeMs) return none;
  const room = Math.min(...specs.map((s) => roomOf(states.get(s.name), s, now, lifetimeMs)));
  const units = leaseUnits(ask, room, terms);
  if (units === 0) return none;
  const updates = new Map<string, CounterState>();
  const results: CounterResult[] = [];
  for (const spec of specs) {
    const state = states.get(spec.name);
    const charge = units * spec.cost;
    const entry: LentUnits = { id, n: charge, until: now + lifetimeMs };
    const { result, charged } = chargeLease(state, spec, now, charge, lifetimeMs);
    // A windowed lease lives only in its window: a state of an earlier window takes no leases along.
    const kept = windowStartOf(charged) === windowStartOf(state) ? keptLent(state, now) : [];
    if (!result.allowed) return none; // cannot happen: the room was measured above; stay safe regardless
    updates.set(spec.name, withLent(withEpoch(charged, epochFor(state, spec, epoch)), [...kept, entry]));
    results.push(result);
  }
  return { grant: { id, units, lifetimeMs, results }, updates };
}

function chargeLease(
  state: CounterState | undefined,
  spec: CounterSpec,
  now: number,
  charge: number,
  lifetimeMs: number,
): { result: CounterResult; charged: CounterState } {
  switch (spec.algorithm) {
    case "fixed":
      return checkFixed(state?.algorithm === "fixed" ? state : undefined, now, { ...spec, cost: charge });
    case "sliding":
      return checkSliding(state?.algorithm === "sliding" ? state : undefined, now, { ...spec, cost: charge });
    case "token-bucket": {
      // Accounted as used at the latest moment it may be: now + lifetime. That moment is the bucket's
      // horizon: a refund of a charge below it would move the lease's units before their last use.
      const { num, den } = interval(spec);
      const burst = spec.burst ?? spec.limit;
      const capacity = burst * num;
      const previous = tokenState(state);
      const before = debtAt(previous, now, den);
      const debt = Math.max(before, lifetimeMs * den) + charge * num;
      const allowed = debt <= capacity;
      const after = allowed ? debt : before;
      const run = runOf(previous, now, before === 0);
      const horizon = Math.max(run.horizon ?? 0, now + lifetimeMs);
      return {
        result: {
          name: spec.name,
          allowed,
          limit: burst,
          remaining: Math.max(0, floorDiv(Math.max(0, capacity - after), num)),
          resetAt: now + ceilDiv(after, den),
          retryAfterMs: 0,
        },
        charged: allowed ? { ...stateAt(now, after, den), ...run, horizon } : (state ?? stateAt(now, 0, den)),
      };
    }
    case "concurrency":
      throw new Error("concurrency slots are not leased");
  }
}

/**
 * Ends a lease (early, or after its expiry): the units it did not use go
 * back to windows (fixed, sliding) that are still current. Counted once per lease id; a lease the
 * object no longer knows (lapsed, merged, reset) gives nothing back.
 */
export function takeBack(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  id: number,
  unusedRequests: number,
): Map<string, CounterState> {
  const updates = new Map<string, CounterState>();
  if (id === MERGED_LEASE_ID || !(unusedRequests >= 0)) return updates;
  for (const spec of specs) {
    const state = states.get(spec.name);
    if (!state || state.algorithm !== spec.algorithm) continue;
    const kept = keptLent(state, now);
    const entry = kept.find((l) => l.id === id);
    if (!entry) continue;
    const rest = kept.filter((l) => l !== entry);
    const unused = Math.min(entry.n, Math.floor(unusedRequests) * spec.cost);
    if (state.algorithm === "fixed" || state.algorithm === "sliding") {
      // An isolate stops using a lease at its expiry, so what it reports unused after expiry is unused
      // all the same; it goes back only to the window it was charged to, while that window is current.
      if (windowBoundsOf(spec, now).start !== state.windowStart) continue;
      updates.set(spec.name, withLent({ ...state, count: Math.max(0, state.count - unused) }, rest));
    } else {
      updates.set(spec.name, withLent(state, rest));
    }
  }
  return updates;
}

/**
 * What a reset leaves of a counter: only the units still out on leases, as if
 * they had just been charged (an isolate may still use them), in a new epoch
 * (`epoch`; by default the counter's next), so that no charge made before the
 * reset gives anything back into it. `undefined` when nothing is out. A bucket
 * needs its spec to be rebuilt; without it the bucket is kept as it is (until
 * its leases are over, a reset of it waits), in the new epoch all the same.
 */
export function keepLent(
  state: CounterState | undefined,
  now: number,
  spec?: CounterSpec,
  epoch = epochOf(state) + 1,
): CounterState | undefined {
  const live = liveLent(state, now);
  if (!state || live.length === 0 || state.algorithm === "concurrency") return undefined;
  const n = live.reduce((sum, l) => sum + l.n, 0);
  switch (state.algorithm) {
    case "fixed":
      return withLent({ algorithm: "fixed", windowStart: state.windowStart, count: n, epoch }, live);
    case "sliding":
      return withLent(
        { algorithm: "sliding", windowStart: state.windowStart, count: n, previousCount: 0, epoch },
        live,
      );
    case "token-bucket": {
      if (spec?.algorithm !== "token-bucket") return withEpoch(state, epoch);
      const { num, den } = interval(spec);
      let debt = 0;
      let horizon = now;
      for (const l of [...live].sort((a, b) => a.until - b.until)) {
        debt = Math.max(debt, (l.until - now) * den) + l.n * num;
        horizon = Math.max(horizon, l.until);
      }
      return withLent({ ...stateAt(now, debt, den), since: now, horizon, epoch }, live);
    }
    case "penalty":
    case "waiting":
      return undefined;
  }
}

/**
 * Keeps the leases of a counter across a plain check or refund, whose
 * algorithm builds its state afresh (a token bucket's does): the units stay
 * charged either way, this keeps them known for give-back, reset and inspect.
 */
export function carryLent(previous: CounterState | undefined, next: CounterState, now: number): CounterState {
  if ((next as LeasedState).lent !== undefined || !previous || previous.algorithm !== next.algorithm) return next;
  if (windowStartOf(previous) !== windowStartOf(next)) return next;
  const kept = keptLent(previous, now);
  return kept.length === 0 ? next : withLent(next, kept);
}
