/**
 * Sliding window (weighted two-window counter), with an injected clock: the
 * previous window's weight, the boundary request decided exactly, and a
 * retryAfterMs at which the refused request is admitted (and not 1 ms before).
 */
import { describe, expect, it } from "vitest";
import { advanceSliding, checkSliding, refundSliding } from "../../src/limiter/algorithms/sliding-window";
import type { Charge, CounterSpec, SlidingState } from "../../src/limiter/types";

const W = 60_000;
const start = 1_740_009_600_000; // a multiple of W

function spec(limit: number, cost = 1, windowMs = W): CounterSpec {
  return { name: "r-1m", algorithm: "sliding", limit, windowMs, cost };
}

function state(count: number, previousCount: number, windowStart = start): SlidingState {
  return { algorithm: "sliding", windowStart, count, previousCount };
}

/** How many requests of `s` are admitted in a row at `now`. */
function admitted(st: SlidingState | undefined, now: number, s: CounterSpec, max = 1000): number {
  let n = 0;
  for (; n < max; n++) {
    const r = checkSliding(st, now, s);
    if (!r.result.allowed) break;
    st = r.charged;
  }
  return n;
}

describe("advanceSliding", () => {
  it("carries the count of the window just ended as previousCount", () => {
    const s = spec(10);
    expect(advanceSliding(state(7, 3), start + W, s)).toEqual(state(0, 7, start + W));
    expect(advanceSliding(state(7, 3), start + W - 1, s)).toEqual(state(7, 3));
  });

  it("forgets a count two or more windows old", () => {
    expect(advanceSliding(state(7, 3), start + 2 * W, spec(10))).toEqual(state(0, 0, start + 2 * W));
  });
});

describe("checkSliding", () => {
  it("weighs the previous window by the part still covered: 10 previous, halfway → 5 carried", () => {
    const s = spec(10);
    const prev = state(0, 10);
    const half = start + W / 2;
    const first = checkSliding(prev, half, s).result;
    expect(first.allowed).toBe(true);
    expect(first.remaining).toBe(4); // 10 - 5 carried - 1 this request
    expect(admitted(prev, half, s)).toBe(5);
  });

  it("decides the boundary request exactly (no float rounding)", () => {
    // limit 10, previous 3, 1/3 of the way in: carried = 3 * 2/3 = 2 exactly, room for 8.
    const w = 3_000;
    const s = spec(10, 1, w);
    const ws = Math.floor(start / w) * w;
    const prev = state(0, 3, ws);
    expect(admitted(prev, ws + 1_000, s)).toBe(8);
    // One millisecond earlier the carried weight is a hair above 2: only 7 fit.
    expect(admitted(prev, ws + 999, s)).toBe(7);
  });

  it("reports resetAt as the current window's end", () => {
    const r = checkSliding(state(1, 4), start + 17, spec(10)).result;
    expect(r.resetAt).toBe(start + W);
  });

  it("admits the limit-th request of an empty window and refuses the next", () => {
    const s = spec(3);
    let st: SlidingState | undefined;
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const r = checkSliding(st, start + 5, s);
      allowed.push(r.result.allowed);
      st = r.charged;
    }
    expect(allowed).toEqual([true, true, true, false]);
    expect(st).toEqual(state(3, 0));
  });

  it("charges cost > 1 and refuses a request that would overshoot", () => {
    const s = spec(10, 4);
    const r1 = checkSliding(state(4, 0), start, s);
    expect(r1.result.allowed).toBe(true);
    expect(r1.result.remaining).toBe(2);
    const r2 = checkSliding(r1.charged, start, s);
    expect(r2.result.allowed).toBe(false);
    expect(r2.result.remaining).toBe(2);
    expect(r2.charged.count).toBe(8);
  });

  it("gives a retryAfterMs within the window: 10 previous + 5 now at halfway, next fits at 36 s", () => {
    const s = spec(10);
    const now = start + W / 2;
    const st = state(5, 10);
    const r = checkSliding(st, now, s).result;
    expect(r.allowed).toBe(false);
    // 10 * (60000 - e) + 6 * 60000 <= 10 * 60000  ⇔  e >= 36000
    expect(r.retryAfterMs).toBe(6_000);
    expect(checkSliding(st, now + r.retryAfterMs, s).result.allowed).toBe(true);
    expect(checkSliding(st, now + r.retryAfterMs - 1, s).result.allowed).toBe(false);
  });

  it("gives a retryAfterMs into the next window when the current one is full", () => {
    const s = spec(10);
    const now = start + 20_000;
    const st = state(10, 0);
    const r = checkSliding(st, now, s).result;
    expect(r.allowed).toBe(false);
    // Next window: 10 * (60000 - e) + 60000 <= 600000  ⇔  e >= 6000.
    expect(r.retryAfterMs).toBe(40_000 + 6_000);
    expect(checkSliding(st, now + r.retryAfterMs, s).result.allowed).toBe(true);
    expect(checkSliding(st, now + r.retryAfterMs - 1, s).result.allowed).toBe(false);
  });

  it("gives a retryAfterMs at the next window's start when the current window's count is 0", () => {
    // cost 4 = limit 4: it fits only when nothing weighs in; the previous 4 do until the very end.
    const fits = spec(4, 4);
    const st = state(0, 4);
    const now = start + 100;
    const r = checkSliding(st, now, fits).result;
    expect(r.allowed).toBe(false);
    expect(r.retryAfterMs).toBe(W - 100);
    expect(checkSliding(st, now + r.retryAfterMs, fits).result.allowed).toBe(true);
    expect(checkSliding(st, now + r.retryAfterMs - 1, fits).result.allowed).toBe(false);
  });

  it("refuses a cost above the limit whatever the time", () => {
    expect(checkSliding(undefined, start, spec(3, 4)).result.allowed).toBe(false);
    expect(checkSliding(undefined, start + W - 1, spec(3, 4)).result.allowed).toBe(false);
  });
});

describe("refundSliding", () => {
  const s = spec(10);
  const charge = (windowStart: number, cost = 1): Charge => ({
    name: s.name,
    algorithm: "sliding",
    cost,
    windowMs: W,
    limit: 10,
    windowStart,
  });

  it("gives a charge back to the current window", () => {
    expect(refundSliding(state(5, 2), start + 10, s, charge(start, 2))).toEqual(state(3, 2));
  });

  it("gives a charge made in the previous window back to previousCount", () => {
    expect(refundSliding(state(5, 2), start + W + 10, s, charge(start))).toEqual(state(0, 4, start + W));
  });

  it("does nothing for a window that no longer weighs in", () => {
    expect(refundSliding(state(5, 2), start + 10, s, charge(start - 2 * W))).toEqual(state(5, 2));
  });

  it("never goes below zero", () => {
    expect(refundSliding(state(1, 0), start, s, charge(start, 3)).count).toBe(0);
  });
});
