/**
 * Fixed window: at most `limit` per window; windows are aligned to multiples
 * of their length since the epoch, so a day window runs 00:00–24:00 UTC, or,
 * for a calendar window (`spec.calendar`), run from one period's start to the
 * next (`calendarWindow`).
 * @module
 */
import { windowBoundsOf } from "../calendar";
import type { Charge, CounterResult, CounterSpec, FixedState } from "../types";

export function fixedWindowStart(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs;
}

/** The state as of `now` (a new window starts empty). */
export function advanceFixed(state: FixedState | undefined, now: number, spec: CounterSpec): FixedState {
  const windowStart = windowBoundsOf(spec, now).start;
  if (!state || state.windowStart !== windowStart) return { algorithm: "fixed", windowStart, count: 0 };
  return state;
}

export function checkFixed(
  previous: FixedState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: FixedState } {
  const state = advanceFixed(previous, now, spec);
  const resetAt = spec.calendar ? windowBoundsOf(spec, now).end : state.windowStart + spec.windowMs;
  const allowed = state.count + spec.cost <= spec.limit;
  const count = allowed ? state.count + spec.cost : state.count;
  return {
    result: {
      name: spec.name,
      allowed,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - count),
      resetAt,
      retryAfterMs: allowed ? 0 : resetAt - now,
    },
    charged: allowed ? { ...state, count } : state,
  };
}

/** Gives a charge back to the window it was made in; a window already past keeps it. */
export function refundFixed(state: FixedState | undefined, now: number, spec: CounterSpec, charge: Charge): FixedState {
  const current = advanceFixed(state, now, spec);
  if (current.windowStart !== charge.windowStart) return current;
  return { ...current, count: Math.max(0, current.count - charge.cost) };
}
