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

/**
 * The state as of `now`: a new window starts empty, or with what delayed
 * requests reserved in it (`next`) when it follows the stored one.
 */
export function advanceFixed(state: FixedState | undefined, now: number, spec: CounterSpec): FixedState {
  const windowStart = windowBoundsOf(spec, now).start;
  if (state && state.windowStart === windowStart) return state;
  // Units reserved ahead (delayed requests) open the window after theirs.
  if (state?.next && windowBoundsOf(spec, state.windowStart).end === windowStart)
    return { algorithm: "fixed", windowStart, count: state.next };
  return { algorithm: "fixed", windowStart, count: 0 };
}

export function checkFixed(
  previous: FixedState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: FixedState } {
  const state = advanceFixed(previous, now, spec);
  const { allowed, used, result } = chargeWindow(state.count, windowBoundsOf(spec, now).end, now, spec);
  return { result, charged: allowed ? { ...state, count: used } : state };
}

/**
 * One window's decision: `counted` units already in it, `resetAt` its end. Shared by a plain check (the
 * current window) and a delayed request's reservation (the next one), which differ only in which count
 * they charge.
 */
function chargeWindow(
  counted: number,
  resetAt: number,
  now: number,
  spec: CounterSpec,
): { allowed: boolean; used: number; result: CounterResult } {
  const allowed = counted + spec.cost <= spec.limit;
  const used = allowed ? counted + spec.cost : counted;
  return {
    allowed,
    used,
    result: {
      name: spec.name,
      allowed,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - used),
      resetAt,
      retryAfterMs: allowed ? 0 : resetAt - now,
    },
  };
}

/**
 * A delayed request's reservation (`onLimit.delay`) in the window after the
 * one `now` is in: charged now into that window's count (`next`), so no later
 * request can take it, and decided as that window would decide it. The
 * current window's count is untouched: the request is used in the next one.
 */
export function reserveFixed(
  previous: FixedState | undefined,
  now: number,
  spec: CounterSpec,
): { result: CounterResult; charged: FixedState; windowStart: number } {
  const state = advanceFixed(previous, now, spec);
  const windowStart = windowBoundsOf(spec, state.windowStart).end;
  // Refused here: not before the window after next.
  const { allowed, used, result } = chargeWindow(state.next ?? 0, windowBoundsOf(spec, windowStart).end, now, spec);
  return { result, charged: allowed ? { ...state, next: used } : state, windowStart };
}

/**
 * Gives a charge back to the window it was made in (or reserved in, for a
 * delayed request, while that window is still ahead); a window already past
 * keeps it.
 */
export function refundFixed(state: FixedState | undefined, now: number, spec: CounterSpec, charge: Charge): FixedState {
  const current = advanceFixed(state, now, spec);
  if (current.next && windowBoundsOf(spec, current.windowStart).end === charge.windowStart)
    return { ...current, next: Math.max(0, current.next - charge.cost) };
  if (current.windowStart !== charge.windowStart) return current;
  return { ...current, count: Math.max(0, current.count - charge.cost) };
}

/**
 * A settle's debit: `charge.cost` more in the window the charge was made in, past the limit if need be
 * (a debt the window's later requests are refused for). A window already past owes nothing.
 */
export function debitFixed(state: FixedState | undefined, now: number, spec: CounterSpec, charge: Charge): FixedState {
  const current = advanceFixed(state, now, spec);
  if (current.windowStart !== charge.windowStart) return current;
  return { ...current, count: current.count + charge.cost };
}
