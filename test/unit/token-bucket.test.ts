/**
 * Token bucket (GCRA), with an injected clock: the burst at once, the refill
 * rate, retryAfterMs exact to the millisecond, and no float drift at real
 * epoch times.
 */
import { describe, expect, it } from "vitest";
import { checkTokenBucket, refundTokenBucket } from "../../src/limiter/algorithms/token-bucket";
import type { Charge, CounterSpec, TokenBucketState } from "../../src/limiter/types";

const T = 1_740_009_600_123; // a real epoch-ms time: float ulp here is ~0.0002 ms

function spec(limit: number, windowMs: number, burst?: number, cost = 1): CounterSpec {
  return { name: "r-1s", algorithm: "token-bucket", limit, windowMs, cost, ...(burst === undefined ? {} : { burst }) };
}

/** Sends `n` requests at `now`; returns the new state and the results. */
function burstAt(state: TokenBucketState | undefined, n: number, now: number, s: CounterSpec) {
  const results = [];
  for (let i = 0; i < n; i++) {
    const r = checkTokenBucket(state, now, s);
    results.push(r.result);
    state = r.charged;
  }
  return { state, results };
}

function countAdmitted(results: readonly { allowed: boolean }[]): number {
  return results.filter((r) => r.allowed).length;
}

describe("checkTokenBucket", () => {
  const s = spec(20, 1_000, 40); // 20/s, burst 40: one token per 50 ms

  it("admits the whole burst at once and refuses the next", () => {
    const { results } = burstAt(undefined, 41, T, s);
    expect(results.slice(0, 40).every((r) => r.allowed)).toBe(true);
    expect(results[40]!.allowed).toBe(false);
    expect(results[0]!.remaining).toBe(39);
    expect(results[39]!.remaining).toBe(0);
    expect(results[40]!.remaining).toBe(0);
    expect(results[0]!.limit).toBe(40); // a bucket reports its capacity
  });

  it("refills one token per interval: one more exactly 50 ms later, not 49", () => {
    const { state, results } = burstAt(undefined, 41, T, s);
    expect(results[40]!.retryAfterMs).toBe(50);
    expect(checkTokenBucket(state, T + 49, s).result.allowed).toBe(false);
    const next = checkTokenBucket(state, T + 50, s);
    expect(next.result.allowed).toBe(true);
    expect(next.result.remaining).toBe(0);
    expect(checkTokenBucket(next.charged, T + 50, s).result.allowed).toBe(false);
  });

  it("reports resetAt as the moment the bucket is full again", () => {
    const { state, results } = burstAt(undefined, 40, T, s);
    expect(results[0]!.resetAt).toBe(T + 50);
    expect(results[39]!.resetAt).toBe(T + 2_000);
    // 2 s later the bucket is full: the whole burst fits again.
    expect(countAdmitted(burstAt(state, 41, T + 2_000, s).results)).toBe(40);
    expect(countAdmitted(burstAt(state, 41, T + 1_999, s).results)).toBe(39);
  });

  it("uses burst = limit when no burst is given", () => {
    const { results } = burstAt(undefined, 11, T, spec(10, 60_000));
    expect(countAdmitted(results)).toBe(10);
    expect(results[10]!.retryAfterMs).toBe(6_000);
  });

  it("charges cost > 1 and gives the wait for the missing tokens", () => {
    const c = spec(10, 1_000, 10, 3); // 100 ms per token
    const { state, results } = burstAt(undefined, 4, T, c);
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([7, 4, 1, 1]);
    expect(results[3]!.retryAfterMs).toBe(200); // 1 token left, 3 needed
    expect(checkTokenBucket(state, T + 199, c).result.allowed).toBe(false);
    expect(checkTokenBucket(state, T + 200, c).result.allowed).toBe(true);
  });

  it("never admits a cost above the burst", () => {
    const r = checkTokenBucket(undefined, T, spec(10, 1_000, 5, 6)).result;
    expect(r.allowed).toBe(false);
    expect(r.retryAfterMs).toBeGreaterThanOrEqual(1);
  });

  it("admits a full burst of an interval that is not a whole ms, at a real epoch time", () => {
    // 7/s: 142.857… ms per token. Summing such intervals in float onto an epoch-ms
    // time used to leave the 7th token a hair out of reach.
    for (const [limit, windowMs] of [
      [7, 1_000],
      [6, 1_000],
      [3, 1_000],
      [13, 60_000],
      [250_000, 86_400_000],
    ] as const) {
      const { results } = burstAt(undefined, limit + 1, T, spec(limit, windowMs));
      expect(countAdmitted(results), `${limit} per ${windowMs} ms`).toBe(limit);
    }
  });

  it("takes exactly its burst at once whatever the interval's denominator", () => {
    // An epoch-ms float cannot hold 1/65537 ms: the fraction is kept apart from tat.
    for (const [limit, windowMs] of [
      [4_099, 1_000],
      [65_537, 1_000],
      [99_991, 60_000],
      [1_000_003, 3_600_000],
    ] as const) {
      const big = (cost: number) => spec(limit, windowMs, undefined, cost);
      const label = `${limit} per ${windowMs} ms`;
      for (const now of [T, 1_799_999_999_999]) {
        const first = checkTokenBucket(undefined, now, big(limit - 1));
        expect(first.result.allowed, label).toBe(true);
        expect(first.result.remaining, label).toBe(1);
        const last = checkTokenBucket(first.charged, now, big(1));
        expect(last.result.allowed, label).toBe(true);
        expect(last.result.remaining, label).toBe(0);
        expect(last.result.resetAt, label).toBe(now + windowMs);
        const over = checkTokenBucket(last.charged, now, big(1));
        expect(over.result.allowed, label).toBe(false);
        // The next token is ready windowMs / limit ms later, rounded up to a whole ms.
        expect(over.result.retryAfterMs, label).toBe(Math.ceil(windowMs / limit));
        expect(checkTokenBucket(last.charged, now + over.result.retryAfterMs, big(1)).result.allowed, label).toBe(true);
        expect(checkTokenBucket(last.charged, now + over.result.retryAfterMs - 1, big(1)).result.allowed, label).toBe(
          false,
        );
        // In w ms, exactly floor(w · limit / windowMs) tokens come back.
        const w = 7;
        const refill = Math.floor((w * limit) / windowMs);
        expect(checkTokenBucket(last.charged, now + w, big(refill)).result.allowed, label).toBe(true);
        expect(checkTokenBucket(last.charged, now + w, big(refill + 1)).result.allowed, label).toBe(false);
      }
    }
  });

  it("gives retryAfterMs exact to the ms for an interval that is not a whole ms", () => {
    const s7 = spec(7, 1_000);
    const { state, results } = burstAt(undefined, 8, T, s7);
    // The 8th token is ready at T + 1000/7 = T + 142.857…: the first whole ms is T + 143.
    expect(results[7]!.retryAfterMs).toBe(143);
    expect(checkTokenBucket(state, T + 142, s7).result.allowed).toBe(false);
    expect(checkTokenBucket(state, T + 143, s7).result.allowed).toBe(true);
  });

  it("does not drift: a greedy client gets exactly burst + floor(d · limit / window) over a long run", () => {
    for (const [limit, windowMs, burst] of [
      [7, 1_000, 7],
      [3, 1_000, 5],
      [13, 60_000, 13],
      [20, 1_000, 40],
    ] as const) {
      const s2 = spec(limit, windowMs, burst);
      let state: TokenBucketState | undefined;
      let admitted = 0;
      const d = 120_000; // 2 minutes, one try every ms
      for (let t = T; t <= T + d; t++) {
        const r = checkTokenBucket(state, t, s2);
        if (r.result.allowed) admitted++;
        state = r.charged;
      }
      expect(admitted, `${limit} per ${windowMs} ms, burst ${burst}`).toBe(burst + Math.floor((d * limit) / windowMs));
    }
  });

  it("stores a whole-ms tat and the fraction apart", () => {
    const s7 = spec(7, 1_000);
    const { state } = burstAt(undefined, 1, T, s7);
    // One token: 1000/7 = 142.857… ms, stored as 143 less 1/7 ms.
    expect(state!.tat).toBe(T + 143);
    expect(state!.tatFraction! * 7).toBeCloseTo(1, 9);
  });

  it("reads a state written without tatFraction (tat as a float)", () => {
    const s7 = spec(7, 1_000);
    const legacy: TokenBucketState = { algorithm: "token-bucket", tat: T + 6 * (1000 / 7) };
    const r = checkTokenBucket(legacy, T, s7);
    expect(r.result.allowed).toBe(true);
    expect(r.result.remaining).toBe(0);
    expect(checkTokenBucket(r.charged, T, s7).result.allowed).toBe(false);
  });

  it("does not charge a refused request", () => {
    const { state } = burstAt(undefined, 40, T, s);
    const refused = checkTokenBucket(state, T + 10, s);
    expect(refused.result.allowed).toBe(false);
    // The state after the refusal admits exactly what the state before it did.
    expect(checkTokenBucket(refused.charged, T + 50, s).result.allowed).toBe(true);
  });
});

describe("refundTokenBucket", () => {
  const s = spec(20, 1_000, 40);
  const charge = (cost: number): Charge => ({
    name: s.name,
    algorithm: "token-bucket",
    cost,
    windowMs: 1_000,
    limit: 20,
  });

  it("gives the tokens back", () => {
    const { state } = burstAt(undefined, 40, T, s);
    const refunded = refundTokenBucket(state, T, s, charge(3));
    expect(countAdmitted(burstAt(refunded, 10, T, s).results)).toBe(3);
  });

  it("never fills the bucket beyond its burst", () => {
    const { state } = burstAt(undefined, 2, T, s);
    const refunded = refundTokenBucket(state, T + 10_000, s, charge(5));
    expect(refunded.tat).toBe(T + 10_000);
    expect(countAdmitted(burstAt(refunded, 50, T + 10_000, s).results)).toBe(40);
  });
});
