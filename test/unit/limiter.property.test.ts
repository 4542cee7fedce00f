/**
 * Properties of the pure limiter over arbitrary request sequences and clock
 * steps (the clock never goes backwards), at real epoch-ms times.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkConcurrency, releaseConcurrency } from "../../src/limiter/algorithms/concurrency";
import { checkFixed, fixedWindowStart } from "../../src/limiter/algorithms/fixed-window";
import { advanceSliding, checkSliding } from "../../src/limiter/algorithms/sliding-window";
import { checkTokenBucket } from "../../src/limiter/algorithms/token-bucket";
import { decide, giveBack } from "../../src/limiter/decide";
import type {
  Charge,
  ConcurrencyState,
  CounterSpec,
  CounterState,
  FixedState,
  SlidingState,
  TokenBucketState,
} from "../../src/limiter/types";

const RUNS = { numRuns: 200 };

const epoch = fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 });
const windowMs = fc.constantFrom(1_000, 7_000, 60_000, 900_000, 3_600_000, 86_400_000);

/** A clock step: mostly small, sometimes around or past a window. */
function clockStep(w: number) {
  return fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 50 }),
    fc.integer({ min: 0, max: Math.max(1, Math.floor(w / 10)) }),
    fc.integer({ min: 0, max: 2 * w }),
  );
}

const step = (w: number, maxCost: number) =>
  fc.record({ dt: clockStep(w), cost: fc.integer({ min: 1, max: maxCost }) });

describe("fixed window properties", () => {
  it("never admits more than the limit in one window, and admits exactly what fits", () => {
    fc.assert(
      fc.property(
        epoch,
        windowMs.chain((w) =>
          fc.tuple(
            fc.constant(w),
            fc.integer({ min: 1, max: 20 }),
            fc.array(step(w, 4), { minLength: 1, maxLength: 150 }),
          ),
        ),
        (t0, [w, limit, steps]) => {
          let state: FixedState | undefined;
          let now = t0;
          const used = new Map<number, number>(); // window start -> admitted cost
          for (const { dt, cost } of steps) {
            now += dt;
            const s: CounterSpec = { name: "f", algorithm: "fixed", limit, windowMs: w, cost };
            const { result, charged } = checkFixed(state, now, s);
            const ws = fixedWindowStart(now, w);
            const before = used.get(ws) ?? 0;
            // The model: a request is admitted exactly when it fits into its window.
            expect(result.allowed).toBe(before + cost <= limit);
            if (result.allowed) used.set(ws, before + cost);
            expect(used.get(ws) ?? 0).toBeLessThanOrEqual(limit);
            expect(result.remaining).toBe(limit - (used.get(ws) ?? 0));
            expect(result.resetAt).toBe(ws + w);
            if (!result.allowed && cost <= limit) {
              // Admissible exactly at now + retryAfterMs, and not 1 ms before.
              expect(checkFixed(charged, now + result.retryAfterMs, s).result.allowed).toBe(true);
              expect(checkFixed(charged, now + result.retryAfterMs - 1, s).result.allowed).toBe(false);
            }
            state = charged;
          }
        },
      ),
      RUNS,
    );
  });
});

describe("sliding window properties", () => {
  it("never lets the current window's count or the weighted estimate exceed the limit", () => {
    fc.assert(
      fc.property(
        epoch,
        windowMs.chain((w) =>
          fc.tuple(
            fc.constant(w),
            fc.integer({ min: 1, max: 20 }),
            fc.array(step(w, 3), { minLength: 1, maxLength: 150 }),
          ),
        ),
        (t0, [w, limit, steps]) => {
          let state: SlidingState | undefined;
          let now = t0;
          for (const { dt, cost } of steps) {
            now += dt;
            const s: CounterSpec = { name: "s", algorithm: "sliding", limit, windowMs: w, cost };
            const { result, charged } = checkSliding(state, now, s);
            expect(charged.count).toBeLessThanOrEqual(limit);
            expect(charged.windowStart).toBe(fixedWindowStart(now, w));
            // Weighted estimate, in integers: previous * (W - elapsed) + count * W <= limit * W.
            const elapsed = now - charged.windowStart;
            expect(charged.previousCount * (w - elapsed) + charged.count * w).toBeLessThanOrEqual(limit * w);
            if (!result.allowed) {
              expect(charged).toEqual(advanceSliding(state, now, s)); // nothing charged
              if (cost <= limit) {
                expect(checkSliding(state, now + result.retryAfterMs, s).result.allowed).toBe(true);
                expect(checkSliding(state, now + result.retryAfterMs - 1, s).result.allowed).toBe(false);
              }
            } else {
              expect(result.retryAfterMs).toBe(0);
            }
            state = charged;
          }
        },
      ),
      RUNS,
    );
  });
});

describe("token bucket properties", () => {
  const bucketCase = fc
    .record({
      w: windowMs,
      // Small limits, and large ones whose interval is a fraction of a ms with a large denominator.
      limit: fc.oneof(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 4_000, max: 3_000_000 })),
      extra: fc.integer({ min: 0, max: 30 }),
      maxCost: fc.integer({ min: 1, max: 3 }),
    })
    .chain(({ w, limit, extra, maxCost }) => {
      // Small costs, and costs up to the whole burst, so that big buckets reach their edge too.
      const cost = fc.oneof(fc.integer({ min: 1, max: maxCost }), fc.integer({ min: 1, max: limit + extra }));
      const interval = Math.max(1, Math.ceil(w / limit));
      const dt = fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: interval }),
        fc.integer({ min: 0, max: 3 * interval }),
        fc.integer({ min: 0, max: w }),
      );
      return fc.record({
        w: fc.constant(w),
        limit: fc.constant(limit),
        burst: fc.constant(limit + extra),
        steps: fc.array(fc.record({ dt, cost }), { minLength: 1, maxLength: 200 }),
      });
    });

  it("admits exactly what exact-rational GCRA admits (no float error at epoch times)", () => {
    fc.assert(
      fc.property(epoch, bucketCase, (t0, { w, limit, burst, steps }) => {
        // The model, in BigInt units of 1/limit ms: one token is w units.
        const L = BigInt(limit);
        const W = BigInt(w);
        let modelTat = 0n;
        let state: TokenBucketState | undefined;
        let now = t0;
        for (const { dt, cost } of steps) {
          now += dt;
          const s: CounterSpec = { name: "b", algorithm: "token-bucket", limit, windowMs: w, burst, cost };
          const nowU = BigInt(now) * L;
          const tat = modelTat > nowU ? modelTat : nowU;
          const next = tat + BigInt(cost) * W;
          const fits = next - nowU <= BigInt(burst) * W;
          const { result, charged } = checkTokenBucket(state, now, s);
          expect(result.allowed).toBe(fits);
          if (fits) modelTat = next;
          const debt = (fits ? next : tat) - nowU; // units ahead of now
          expect(result.remaining).toBe(Number((BigInt(burst) * W - debt) / W));
          expect(result.resetAt).toBe(now + Number((debt + L - 1n) / L));
          if (!fits)
            expect(result.retryAfterMs).toBe(Math.max(1, Number((next - nowU - BigInt(burst) * W + L - 1n) / L)));
          // Stored as a whole-ms tat and the fraction it overshoots by.
          expect(Number.isInteger(charged.tat)).toBe(true);
          expect(charged.tatFraction).toBeGreaterThanOrEqual(0);
          expect(charged.tatFraction).toBeLessThan(1);
          state = charged;
        }
      }),
      RUNS,
    );
  });

  it("admits in any interval [t, t+d] at most burst + floor(d · limit / windowMs) tokens", () => {
    // GCRA: tat only grows, by cost · I per admission (I = windowMs / limit), and is
    // at least the arrival time of the first admission s₁ in the interval. After the
    // last one (at s_k <= t + d) tat - s_k <= burst · I. So s₁ + N · I <= s_k + burst · I,
    // N <= burst + (s_k - s₁) / I <= burst + d · limit / windowMs, and N is whole.
    // A greedy client reaches it (see token-bucket.test.ts), so the bound is tight.
    fc.assert(
      fc.property(epoch, bucketCase, (t0, { w, limit, burst, steps }) => {
        let state: TokenBucketState | undefined;
        let now = t0;
        const admitted: { at: number; cost: number }[] = [];
        for (const { dt, cost } of steps) {
          now += dt;
          const { result, charged } = checkTokenBucket(state, now, {
            name: "b",
            algorithm: "token-bucket",
            limit,
            windowMs: w,
            burst,
            cost,
          });
          if (result.allowed) admitted.push({ at: now, cost });
          state = charged;
        }
        // The worst interval starts and ends at admissions.
        for (let i = 0; i < admitted.length; i++) {
          let tokens = 0;
          for (let j = i; j < admitted.length; j++) {
            tokens += admitted[j]!.cost;
            const d = admitted[j]!.at - admitted[i]!.at;
            expect(tokens).toBeLessThanOrEqual(burst + Math.floor((d * limit) / w));
          }
        }
      }),
      RUNS,
    );
  });

  it("makes a refused request admissible exactly at now + retryAfterMs, and not 1 ms before", () => {
    fc.assert(
      fc.property(epoch, bucketCase, (t0, { w, limit, burst, steps }) => {
        let state: TokenBucketState | undefined;
        let now = t0;
        for (const { dt, cost } of steps) {
          now += dt;
          const s: CounterSpec = { name: "b", algorithm: "token-bucket", limit, windowMs: w, burst, cost };
          const { result, charged } = checkTokenBucket(state, now, s);
          if (!result.allowed && cost <= burst) {
            expect(checkTokenBucket(state, now + result.retryAfterMs, s).result.allowed).toBe(true);
            if (result.retryAfterMs > 1)
              expect(checkTokenBucket(state, now + result.retryAfterMs - 1, s).result.allowed).toBe(false);
          }
          state = charged;
        }
      }),
      RUNS,
    );
  });
});

describe("concurrency properties", () => {
  it("never holds more leases than slots, whatever the order of takes, releases and time", () => {
    fc.assert(
      fc.property(
        epoch,
        fc.integer({ min: 1, max: 5 }),
        fc.array(
          fc.record({
            dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 70_000 })),
            release: fc.nat(7),
            take: fc.boolean(),
          }),
          {
            maxLength: 150,
          },
        ),
        (t0, limit, steps) => {
          const s: CounterSpec = { name: "c", algorithm: "concurrency", limit, windowMs: 0, cost: 1 };
          let state: ConcurrencyState | undefined;
          let now = t0;
          let n = 0;
          for (const { dt, release, take } of steps) {
            now += dt;
            if (take) {
              const id = `l${n++}`;
              const { result, charged } = checkConcurrency(state, now, s, id);
              const live = (state?.leases ?? []).filter((l) => l.expiresAt > now).length;
              expect(result.allowed).toBe(live < limit);
              state = charged;
            } else if (state && state.leases.length > 0) {
              const lease = state.leases[release % state.leases.length]!;
              state = releaseConcurrency(state, now, {
                name: "c",
                algorithm: "concurrency",
                cost: 1,
                windowMs: 0,
                limit,
                leaseId: lease.id,
              });
              expect(state.leases.some((l) => l.id === lease.id)).toBe(false);
            }
            expect(state?.leases.length ?? 0).toBeLessThanOrEqual(limit);
          }
        },
      ),
      RUNS,
    );
  });
});

describe("decide properties", () => {
  const specArb = fc.oneof(
    fc.record({
      algorithm: fc.constantFrom("fixed" as const, "sliding" as const),
      limit: fc.integer({ min: 1, max: 8 }),
      windowMs: fc.constantFrom(1_000, 60_000),
    }),
    fc.record({
      algorithm: fc.constant("token-bucket" as const),
      limit: fc.integer({ min: 1, max: 8 }),
      windowMs: fc.constantFrom(1_000, 7_000),
      burst: fc.integer({ min: 1, max: 12 }),
    }),
    fc.record({
      algorithm: fc.constant("concurrency" as const),
      limit: fc.integer({ min: 1, max: 4 }),
      windowMs: fc.constant(0),
    }),
  );

  it("charges every counter when it admits and none when it refuses; give-backs keep counts in bounds", () => {
    fc.assert(
      fc.property(
        epoch,
        fc.array(specArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 70_000 })),
            giveBack: fc.boolean(),
            pick: fc.nat(),
          }),
          {
            minLength: 1,
            maxLength: 120,
          },
        ),
        (t0, rawSpecs, cost, steps) => {
          const specs: CounterSpec[] = rawSpecs.map((r, i) => ({ ...r, name: `c${i}`, cost }));
          let states = new Map<string, CounterState>();
          const outstanding: Charge[][] = [];
          let now = t0;
          let n = 0;
          for (const st of steps) {
            now += st.dt;
            if (st.giveBack && outstanding.length > 0) {
              const [charges] = outstanding.splice(st.pick % outstanding.length, 1);
              for (const [k, v] of giveBack(states, charges!, now)) states.set(k, v);
            } else {
              const before = JSON.stringify([...states]);
              const { outcome, updates } = decide(states, specs, now, `lease-${n++}`);
              expect(outcome.allowed).toBe(outcome.results.every((r) => r.allowed));
              expect(outcome.results).toHaveLength(specs.length);
              if (outcome.allowed) {
                expect(outcome.charges.map((c) => c.name)).toEqual(specs.map((s) => s.name));
                expect([...updates.keys()]).toEqual(specs.map((s) => s.name));
                outstanding.push(outcome.charges);
              } else {
                expect(outcome.charges).toEqual([]);
                expect(updates.size).toBe(0);
                expect(JSON.stringify([...states])).toBe(before);
              }
              for (const [k, v] of updates) states = new Map(states).set(k, v);
            }
            for (const s of specs) {
              const state = states.get(s.name);
              if (!state) continue;
              if (state.algorithm === "fixed" || state.algorithm === "sliding")
                expect(state.count).toBeLessThanOrEqual(s.limit);
              if (state.algorithm === "sliding") expect(state.previousCount).toBeLessThanOrEqual(s.limit);
              if (state.algorithm === "concurrency") expect(state.leases.length).toBeLessThanOrEqual(s.limit);
              if (state.algorithm === "token-bucket")
                expect(state.tat - now).toBeLessThanOrEqual(Math.ceil(((s.burst ?? s.limit) * s.windowMs) / s.limit));
            }
          }
        },
      ),
      RUNS,
    );
  });
});
