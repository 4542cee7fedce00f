/**
 * Token bucket, kept as GCRA: the theoretical arrival time (`tat`), the
 * moment the bucket would be full again. `limit` tokens refill per window,
 * up to `burst`; a request of cost c needs c tokens.
 *
 * The arithmetic is exact: `tat` only ever moves by whole tokens of
 * `windowMs / limit` ms from a whole-ms `now`, so how far it is ahead of `now`
 * is a whole number of `1/den` ms (`den` = `limit / gcd(limit, windowMs)`, the
 * interval's denominator). That number is decided on in integers, and stored
 * as a whole-ms `tat` plus the fraction it overshoots by (`tatFraction`), so
 * float error neither decides a boundary (an epoch-ms float has an ulp of
 * ~0.0002 ms, coarser than 1/den for a large `den`) nor builds up.
 * @module
 */
import type { Charge, CounterResult, CounterSpec, TokenBucketState } from "../types";

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The interval `windowMs / limit` as `num / den` ms in lowest terms. */
export function interval(spec: CounterSpec): { num: number; den: number } {
  const g = gcd(spec.windowMs, spec.limit);
  return { num: spec.windowMs / g, den: spec.limit / g };
}

/** ⌊a / b⌋ for whole a >= 0, b > 0, exact where float division may round across a whole number. */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  while (q * b > a) q--;
  while ((q + 1) * b <= a) q++;
  return q;
}

export function ceilDiv(a: number, b: number): number {
  const q = floorDiv(a, b);
  return q * b === a ? q : q + 1;
}

/** How far `tat` is ahead of `now`, in whole `1/den` ms (0 when the bucket is full). */
export function debtAt(state: TokenBucketState | undefined, now: number, den: number): number {
  if (!state || !(state.tat > now)) return 0;
  // A state without tatFraction holds the fractional tat itself (close enough when den is small).
  if (state.tatFraction === undefined) return Math.round((state.tat - now) * den);
  return Math.max(0, Math.round((state.tat - now) * den) - Math.round(state.tatFraction * den));
}

/** The state `debt` units of 1/den ms ahead of `now`. */
export function stateAt(now: number, debt: number, den: number): TokenBucketState {
  const ms = ceilDiv(debt, den);
  return { algorithm: "token-bucket", tat: now + ms, tatFraction: (ms * den - debt) / den };
}

/**
 * The fields of a bucket's run that a new state keeps: a bucket found empty
 * (`drained`) begins a new run, in which no earlier charge holds anything.
 */
export function runOf(
  previous: TokenBucketState | undefined,
  now: number,
  drained: boolean,
): Pick<TokenBucketState, "since" | "shifted" | "horizon"> {
  if (!previous || drained) return { since: now };
  return {
    ...(previous.since !== undefined ? { since: previous.since } : {}),
    ...(previous.shifted ? { shifted: previous.shifted } : {}),
    ...(previous.horizon !== undefined && previous.horizon > now ? { horizon: previous.horizon } : {}),
  };
}

export function checkTokenBucket(
  previous: TokenBucketState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: TokenBucketState } {
  const { num, den } = interval(spec);
  const burst = spec.burst ?? spec.limit;
  const capacity = burst * num;
  const debt = debtAt(previous, now, den);
  const newDebt = debt + spec.cost * num;
  const allowed = newDebt <= capacity;
  const after = allowed ? newDebt : debt;
  return {
    result: {
      name: spec.name,
      allowed,
      limit: burst,
      remaining: Math.max(0, floorDiv(Math.max(0, capacity - after), num)),
      resetAt: now + ceilDiv(after, den),
      retryAfterMs: allowed ? 0 : Math.max(1, ceilDiv(newDebt - capacity, den)),
    },
    charged: { ...stateAt(now, after, den), ...runOf(previous, now, debt === 0) },
  };
}

/** What a charge into `charged` at `now` must carry for its refund to know how much room it still holds. */
export function bucketStamp(
  charged: TokenBucketState,
  now: number,
  spec: CounterSpec,
): Pick<Charge, "chargedAt" | "debt" | "shifted"> {
  const { den } = interval(spec);
  return {
    chargedAt: now,
    debt: debtAt(charged, now, den),
    ...(charged.shifted ? { shifted: charged.shifted } : {}),
  };
}

/**
 * How much of its room (in 1/den ms) a charge still holds in `state` at
 * `now`. GCRA stacks each charge's room on top of the ones before it; a
 * refund moves every charge above down by what it gives back, which is safe
 * only while each of them still lies no earlier than the moment it may be
 * used: a plain charge's time (at most `now`), a lease's end (`horizon`).
 * So a charge gives back at most the part of its room above both, and none
 * once the bucket has been empty since (`since`): its room has refilled and
 * later charges were stacked from below it. Its room is taken to end where
 * it ended when charged, less everything refunds have moved since (they may
 * have moved it), so a refund never frees room the charge no longer holds.
 * A charge from before charges were stamped is given back as it was then,
 * but never below a lease's end.
 */
export function roomHeld(state: TokenBucketState, now: number, spec: CounterSpec, charge: Charge): number {
  const { num, den } = interval(spec);
  const debt = debtAt(state, now, den);
  const leased = state.horizon !== undefined && state.horizon > now ? (state.horizon - now) * den : 0;
  let held = Math.min(charge.cost * num, debt - leased);
  if (charge.chargedAt !== undefined && charge.debt !== undefined) {
    if (state.since !== undefined && charge.chargedAt < state.since) return 0;
    const moved = Math.round((state.shifted ?? 0) * den) - Math.round((charge.shifted ?? 0) * den);
    const reach = (charge.chargedAt - now) * den + charge.debt - Math.max(0, moved);
    held = Math.min(held, reach - leased);
  }
  return Math.max(0, held);
}

export function refundTokenBucket(
  state: TokenBucketState | undefined,
  now: number,
  spec: CounterSpec,
  charge: Charge,
): TokenBucketState {
  const { den } = interval(spec);
  const debt = debtAt(state, now, den);
  if (!state) return stateAt(now, debt, den);
  const held = roomHeld(state, now, spec, charge);
  const run = runOf(state, now, false);
  const shifted = held > 0 ? (Math.round((state.shifted ?? 0) * den) + held) / den : state.shifted;
  return { ...stateAt(now, debt - held, den), ...run, ...(shifted ? { shifted } : {}) };
}

/**
 * A settle's debit: `charge.cost` tokens more used now, past the bucket's capacity if need be (the
 * bucket goes below empty, and refuses until it has refilled past the debt).
 */
export function debitTokenBucket(
  state: TokenBucketState | undefined,
  now: number,
  spec: CounterSpec,
  charge: Charge,
): TokenBucketState {
  const { num, den } = interval(spec);
  const debt = debtAt(state, now, den);
  return { ...stateAt(now, debt + charge.cost * num, den), ...runOf(state, now, debt === 0) };
}
