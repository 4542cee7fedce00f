/**
 * Sliding window, the weighted two-window counter: the previous window's
 * count weighs in for the part of it the sliding window still covers.
 * All comparisons are done multiplied by the window length, in integers, so
 * the boundary request is decided exactly (no float rounding).
 * @module
 */
import type { Charge, CounterResult, CounterSpec, SlidingState } from "../types";
import { fixedWindowStart } from "./fixed-window";

export function advanceSliding(state: SlidingState | undefined, now: number, spec: CounterSpec): SlidingState {
  const windowStart = fixedWindowStart(now, spec.windowMs);
  if (state && state.windowStart === windowStart) return state;
  if (state && state.windowStart === windowStart - spec.windowMs) {
    return { algorithm: "sliding", windowStart, count: 0, previousCount: state.count };
  }
  return { algorithm: "sliding", windowStart, count: 0, previousCount: 0 };
}

export function checkSliding(
  previous: SlidingState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: SlidingState } {
  const W = spec.windowMs;
  const state = advanceSliding(previous, now, spec);
  const elapsed = now - state.windowStart;
  const carried = state.previousCount * (W - elapsed); // previous window's weight, times W
  const allowed = carried + (state.count + spec.cost) * W <= spec.limit * W;
  const count = allowed ? state.count + spec.cost : state.count;
  const remaining = Math.max(0, Math.floor((spec.limit * W - carried - count * W) / W));
  return {
    result: {
      name: spec.name,
      allowed,
      limit: spec.limit,
      remaining,
      resetAt: state.windowStart + W,
      retryAfterMs: allowed ? 0 : slidingRetryAfter(state, elapsed, spec),
    },
    charged: allowed ? { ...state, count } : state,
  };
}

/** Earliest wait after which `cost` more fits under the weighted estimate. */
function slidingRetryAfter(state: SlidingState, elapsed: number, spec: CounterSpec): number {
  const W = spec.windowMs;
  const roomNow = spec.limit - state.count - spec.cost;
  if (roomNow >= 0 && state.previousCount > 0) {
    // previousCount * (W - e) <= roomNow * W  ⇔  e >= W - roomNow * W / previousCount
    const e = Math.ceil(W - (roomNow * W) / state.previousCount);
    if (e < W) return Math.max(1, e - elapsed);
  }
  const untilNext = W - elapsed;
  const roomNext = spec.limit - spec.cost;
  if (roomNext < 0) return untilNext + W;
  if (state.count === 0) return untilNext;
  const e = Math.ceil(W - (roomNext * W) / state.count);
  return untilNext + Math.max(0, e);
}

export function refundSliding(
  state: SlidingState | undefined,
  now: number,
  spec: CounterSpec,
  charge: Charge,
): SlidingState {
  const current = advanceSliding(state, now, spec);
  if (current.windowStart === charge.windowStart)
    return { ...current, count: Math.max(0, current.count - charge.cost) };
  if (current.windowStart - spec.windowMs === charge.windowStart) {
    return { ...current, previousCount: Math.max(0, current.previousCount - charge.cost) };
  }
  return current;
}

/** A settle's debit: `charge.cost` more in the charge's window, the current or the previous one. */
export function debitSliding(
  state: SlidingState | undefined,
  now: number,
  spec: CounterSpec,
  charge: Charge,
): SlidingState {
  const current = advanceSliding(state, now, spec);
  if (current.windowStart === charge.windowStart) return { ...current, count: current.count + charge.cost };
  if (current.windowStart - spec.windowMs === charge.windowStart)
    return { ...current, previousCount: current.previousCount + charge.cost };
  return current;
}
