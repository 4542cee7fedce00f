/**
 * Concurrency: N leases at once, the N+1-th refused, release frees a slot, and
 * a lease whose release never comes expires after exactly LEASE_TTL_MS.
 */
import { describe, expect, it } from "vitest";
import { advanceConcurrency, checkConcurrency, releaseConcurrency } from "../../src/limiter/algorithms/concurrency";
import { type Charge, type ConcurrencyState, type CounterSpec, LEASE_TTL_MS } from "../../src/limiter/types";

const T = 1_740_009_600_000;
const spec: CounterSpec = { name: "r-conc", algorithm: "concurrency", limit: 3, windowMs: 0, cost: 1 };

function take(state: ConcurrencyState | undefined, ids: readonly string[], now: number) {
  const results = [];
  for (const id of ids) {
    const r = checkConcurrency(state, now, spec, id);
    results.push(r.result);
    state = r.charged;
  }
  return { state: state!, results };
}

function release(id: string): Charge {
  return { name: spec.name, algorithm: "concurrency", cost: 1, windowMs: 0, limit: 3, leaseId: id };
}

describe("concurrency", () => {
  it("is 60 s: a lease taken at T is held at T + 59 999 ms and gone at T + 60 000 ms", () => {
    expect(LEASE_TTL_MS).toBe(60_000);
    const { state } = take(undefined, ["a"], T);
    expect(advanceConcurrency(state, T + 59_999).leases.map((l) => l.id)).toEqual(["a"]);
    expect(advanceConcurrency(state, T + 60_000).leases).toEqual([]);
  });

  it("admits N leases and refuses the N+1-th", () => {
    const { state, results } = take(undefined, ["a", "b", "c", "d"], T);
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(state.leases.map((l) => l.id)).toEqual(["a", "b", "c"]);
    expect(state.leases.map((l) => l.expiresAt)).toEqual([T + 60_000, T + 60_000, T + 60_000]);
    // Slots turn over in about a request's time: a refused request is told to retry in 1 s.
    expect(results[3]!.retryAfterMs).toBe(1_000);
    expect(results[0]!.retryAfterMs).toBe(0);
  });

  it("reports resetAt as now while a slot is free, and as the first expiry when full", () => {
    const { results } = take(undefined, ["a", "b", "c", "d"], T);
    expect(results[0]!.resetAt).toBe(T);
    expect(results[2]!.resetAt).toBe(T + LEASE_TTL_MS);
    expect(results[3]!.resetAt).toBe(T + LEASE_TTL_MS);
  });

  it("frees a slot on release", () => {
    const { state } = take(undefined, ["a", "b", "c"], T);
    const released = releaseConcurrency(state, T + 5, release("b"));
    expect(released.leases.map((l) => l.id)).toEqual(["a", "c"]);
    const again = checkConcurrency(released, T + 5, spec, "d");
    expect(again.result.allowed).toBe(true);
    expect(checkConcurrency(again.charged, T + 5, spec, "e").result.allowed).toBe(false);
  });

  it("ignores the release of an unknown lease", () => {
    const { state } = take(undefined, ["a", "b", "c"], T);
    expect(releaseConcurrency(state, T, release("zzz")).leases).toHaveLength(3);
  });

  it("expires a lease exactly LEASE_TTL_MS after it was taken", () => {
    const { state } = take(undefined, ["a", "b", "c"], T);
    expect(checkConcurrency(state, T + LEASE_TTL_MS - 1, spec, "d").result.allowed).toBe(false);
    const after = checkConcurrency(state, T + LEASE_TTL_MS, spec, "d");
    expect(after.result.allowed).toBe(true);
    expect(after.charged.leases.map((l) => l.id)).toEqual(["d"]);
    expect(advanceConcurrency(state, T + LEASE_TTL_MS - 1).leases).toHaveLength(3);
    expect(advanceConcurrency(state, T + LEASE_TTL_MS).leases).toHaveLength(0);
  });

  it("expires each lease on its own clock", () => {
    let { state } = take(undefined, ["a"], T);
    ({ state } = take(state, ["b", "c"], T + 1_000));
    expect(checkConcurrency(state, T + LEASE_TTL_MS, spec, "d").charged.leases.map((l) => l.id)).toEqual([
      "b",
      "c",
      "d",
    ]);
    expect(checkConcurrency(state, T + LEASE_TTL_MS + 999, spec, "e").result.remaining).toBe(0);
  });
});
