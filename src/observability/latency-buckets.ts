/**
 * Upper bounds (ms) of the decision latency histogram; the last bucket,
 * +Inf, is implicit. A decision that calls the counter store takes a few ms
 * at the edge; the production budget of that call is 50 ms.
 * @module
 */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500] as const;

/** The bucket index of a latency: the first bound it does not exceed, or the +Inf bucket. */
export function latencyBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}
