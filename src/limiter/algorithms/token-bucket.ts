/**
 * Token bucket, kept as GCRA: one number, the theoretical arrival time (`tat`),
 * the moment the bucket would be full again. `limit` tokens refill per window,
 * up to `burst`; a request of cost c needs c tokens.
 *
 * The arithmetic is exact: `tat` only ever moves by whole tokens of
 * `windowMs / limit` ms from a whole-ms `now`, so how far it is ahead of `now`
 * is a whole number of `1/den` ms (`den` = `limit / gcd(limit, windowMs)`, the
 * interval's denominator). That number is recovered by rounding, decided on in
 * integers, and `tat` is stored again from it, so float error neither decides a
 * boundary (an epoch-ms `tat` has an ulp of ~0.0002 ms) nor builds up.
 * @module
 */
import type { Charge, CounterResult, CounterSpec, TokenBucketState } from "../types";

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The interval `windowMs / limit` as `num / den` ms in lowest terms. */
function interval(spec: CounterSpec): { num: number; den: number } {
  const g = gcd(spec.windowMs, spec.limit);
  return { num: spec.windowMs / g, den: spec.limit / g };
}

/** How far `tat` is ahead of `now`, in whole `1/den` ms (0 when the bucket is full). */
function debtAt(state: TokenBucketState | undefined, now: number, den: number): number {
  if (!state || !(state.tat > now)) return 0;
  return Math.round((state.tat - now) * den);
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
      remaining: Math.max(0, Math.floor((capacity - after) / num)),
      resetAt: now + Math.ceil(after / den),
      retryAfterMs: allowed ? 0 : Math.max(1, Math.ceil((newDebt - capacity) / den)),
    },
    charged: { algorithm: "token-bucket", tat: now + after / den },
  };
}

export function refundTokenBucket(state: TokenBucketState | undefined, now: number, spec: CounterSpec, charge: Charge): TokenBucketState {
  const { num, den } = interval(spec);
  const debt = Math.max(0, debtAt(state, now, den) - charge.cost * num);
  return { algorithm: "token-bucket", tat: now + debt / den };
}
