/**
 * Token bucket, kept as GCRA: one number, the theoretical arrival time (`tat`),
 * the moment the bucket would be full again. `limit` tokens refill per window,
 * up to `burst`; a request of cost c needs c tokens.
 * @module
 */
import type { Charge, CounterResult, CounterSpec, TokenBucketState } from "../types";

// Token arithmetic is in float ms; this keeps k * interval from falling a hair short of a whole token.
const EPSILON = 1e-6;

export function checkTokenBucket(
  previous: TokenBucketState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: TokenBucketState } {
  const interval = spec.windowMs / spec.limit;
  const burst = spec.burst ?? spec.limit;
  const capacity = burst * interval;
  const tat = Math.max(previous?.tat ?? now, now);
  const newTat = tat + spec.cost * interval;
  const allowed = newTat - now <= capacity + EPSILON;
  const after = allowed ? newTat : tat;
  return {
    result: {
      name: spec.name,
      allowed,
      limit: burst,
      remaining: Math.max(0, Math.floor((capacity - (after - now)) / interval + EPSILON)),
      resetAt: Math.ceil(after),
      retryAfterMs: allowed ? 0 : Math.max(1, Math.ceil(newTat - now - capacity)),
    },
    charged: { algorithm: "token-bucket", tat: after },
  };
}

export function refundTokenBucket(state: TokenBucketState | undefined, now: number, spec: CounterSpec, charge: Charge): TokenBucketState {
  const interval = spec.windowMs / spec.limit;
  const tat = Math.max(state?.tat ?? now, now);
  return { algorithm: "token-bucket", tat: Math.max(now, tat - charge.cost * interval) };
}
