/**
 * Fixed window, with an injected clock: the exact request that fills the
 * window, the exact millisecond it rolls over, day windows on UTC midnight.
 */
import { describe, expect, it } from "vitest";
import { advanceFixed, checkFixed, fixedWindowStart, refundFixed } from "../../src/limiter/algorithms/fixed-window";
import type { CounterSpec, FixedState } from "../../src/limiter/types";

const MINUTE = 60_000;
const DAY = 86_400_000;

function spec(limit: number, windowMs: number, cost = 1): CounterSpec {
  return { name: "r-1m", algorithm: "fixed", limit, windowMs, cost };
}

/** Runs `n` requests at `now`, threading the state; returns the state and every result. */
function run(state: FixedState | undefined, n: number, now: number, s: CounterSpec) {
  const results = [];
  for (let i = 0; i < n; i++) {
    const { result, charged } = checkFixed(state, now, s);
    results.push(result);
    state = charged;
  }
  return { state, results };
}

describe("fixedWindowStart", () => {
  it("aligns windows to multiples of their length since the epoch", () => {
    expect(fixedWindowStart(0, MINUTE)).toBe(0);
    expect(fixedWindowStart(MINUTE - 1, MINUTE)).toBe(0);
    expect(fixedWindowStart(MINUTE, MINUTE)).toBe(MINUTE);
    expect(fixedWindowStart(1_740_009_634_567, 15 * MINUTE)).toBe(1_740_009_600_000);
  });

  it("aligns a day window to 00:00 UTC", () => {
    const lastMs = Date.UTC(2025, 1, 20, 23, 59, 59, 999);
    expect(fixedWindowStart(lastMs, DAY)).toBe(Date.UTC(2025, 1, 20));
    expect(fixedWindowStart(Date.UTC(2025, 1, 21), DAY)).toBe(Date.UTC(2025, 1, 21));
    expect(new Date(fixedWindowStart(Date.UTC(2024, 11, 31, 12, 34), DAY)).toISOString()).toBe(
      "2024-12-31T00:00:00.000Z",
    );
  });
});

describe("checkFixed", () => {
  const start = 1_740_009_600_000; // a multiple of 15 minutes and of 1 minute
  const s = spec(5, MINUTE);

  it("admits the limit-th request and refuses the (limit+1)-th", () => {
    const { results } = run(undefined, 6, start + 1234, s);
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
  });

  it("reports resetAt as the window end and retryAfterMs as the time until then", () => {
    const now = start + 12_345;
    const { results } = run(undefined, 6, now, s);
    for (const r of results) expect(r.resetAt).toBe(start + MINUTE);
    expect(results[4]!.retryAfterMs).toBe(0);
    expect(results[5]!.retryAfterMs).toBe(start + MINUTE - now);
    expect(results[5]!.limit).toBe(5);
    expect(results[5]!.name).toBe("r-1m");
  });

  it("rolls over at exactly windowStart + windowMs, not 1 ms before", () => {
    const { state } = run(undefined, 5, start, s);
    const before = checkFixed(state, start + MINUTE - 1, s);
    expect(before.result.allowed).toBe(false);
    expect(before.result.retryAfterMs).toBe(1);
    const at = checkFixed(state, start + MINUTE, s);
    expect(at.result.allowed).toBe(true);
    expect(at.result.remaining).toBe(4);
    expect(at.result.resetAt).toBe(start + 2 * MINUTE);
    expect(at.charged).toEqual({ algorithm: "fixed", windowStart: start + MINUTE, count: 1 });
  });

  it("makes the refused request admissible exactly at now + retryAfterMs", () => {
    const { state } = run(undefined, 5, start + 100, s);
    const now = start + 40_000;
    const refused = checkFixed(state, now, s).result;
    expect(refused.allowed).toBe(false);
    expect(checkFixed(state, now + refused.retryAfterMs - 1, s).result.allowed).toBe(false);
    expect(checkFixed(state, now + refused.retryAfterMs, s).result.allowed).toBe(true);
  });

  it("counts a day window from 00:00 UTC to the next 00:00 UTC", () => {
    const d = spec(2, DAY);
    const evening = Date.UTC(2025, 1, 20, 23, 59, 59, 999);
    const { state, results } = run(undefined, 3, evening, d);
    expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
    expect(results[2]!.resetAt).toBe(Date.UTC(2025, 1, 21));
    expect(results[2]!.retryAfterMs).toBe(1);
    // Midnight UTC is a new day, whatever the time zone of the machine.
    expect(checkFixed(state, Date.UTC(2025, 1, 21), d).result.allowed).toBe(true);
    // The same day's morning belongs to the same window as its evening.
    const morning = run(undefined, 2, Date.UTC(2025, 1, 20, 0, 0, 0, 0), d).state;
    expect(checkFixed(morning, evening, d).result.allowed).toBe(false);
  });

  it("charges cost > 1 and refuses a request that would overshoot, charging nothing", () => {
    const c = spec(10, MINUTE, 4);
    const { state, results } = run(undefined, 3, start, c);
    expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([6, 2, 2]);
    expect(state).toEqual({ algorithm: "fixed", windowStart: start, count: 8 });
    // A cheaper request still fits into the 2 left.
    const cheap = checkFixed(state, start, spec(10, MINUTE, 2));
    expect(cheap.result.allowed).toBe(true);
    expect(cheap.result.remaining).toBe(0);
  });

  it("refuses a request whose cost exceeds the limit, even in an empty window", () => {
    const r = checkFixed(undefined, start, spec(3, MINUTE, 4));
    expect(r.result.allowed).toBe(false);
    expect(r.result.remaining).toBe(3);
    expect(r.charged.count).toBe(0);
  });

  it("treats a state from an older window as empty", () => {
    const old: FixedState = { algorithm: "fixed", windowStart: start - 5 * MINUTE, count: 5 };
    expect(advanceFixed(old, start, s)).toEqual({ algorithm: "fixed", windowStart: start, count: 0 });
    expect(checkFixed(old, start, s).result.remaining).toBe(4);
  });

  it("leaves the input state untouched (pure)", () => {
    const state: FixedState = { algorithm: "fixed", windowStart: start, count: 1 };
    const copy = { ...state };
    checkFixed(state, start + 1, s);
    expect(state).toEqual(copy);
  });
});

describe("refundFixed", () => {
  const start = 1_740_009_600_000;
  const s = spec(5, MINUTE, 2);

  it("gives a charge back to its own window", () => {
    const state: FixedState = { algorithm: "fixed", windowStart: start, count: 4 };
    const charge = {
      name: s.name,
      algorithm: "fixed" as const,
      cost: 2,
      windowMs: MINUTE,
      limit: 5,
      windowStart: start,
    };
    expect(refundFixed(state, start + 10, s, charge)).toEqual({ algorithm: "fixed", windowStart: start, count: 2 });
  });

  it("does nothing for a window already past", () => {
    const state: FixedState = { algorithm: "fixed", windowStart: start, count: 4 };
    const charge = {
      name: s.name,
      algorithm: "fixed" as const,
      cost: 2,
      windowMs: MINUTE,
      limit: 5,
      windowStart: start - MINUTE,
    };
    expect(refundFixed(state, start + 10, s, charge).count).toBe(4);
    // And the window of the charge has rolled over: the new one starts empty, and stays so.
    const past = { ...charge, windowStart: start };
    expect(refundFixed(state, start + MINUTE, s, past)).toEqual({
      algorithm: "fixed",
      windowStart: start + MINUTE,
      count: 0,
    });
  });

  it("never goes below zero", () => {
    const state: FixedState = { algorithm: "fixed", windowStart: start, count: 1 };
    const charge = {
      name: s.name,
      algorithm: "fixed" as const,
      cost: 2,
      windowMs: MINUTE,
      limit: 5,
      windowStart: start,
    };
    expect(refundFixed(state, start, s, charge).count).toBe(0);
  });
});
