/**
 * Which thresholds a charge crossed: pure, on counts. A threshold `t` of a
 * limit `L` stands for the count `ceil(t × L)` (at least 1); a charge that
 * takes the count from below it to at or above it crosses it. Counts only
 * rise within a window (a refund may lower one, and the next charge crosses
 * again: the key's object keeps which it has fired, so each fires once).
 * @module
 */

/** The count a threshold stands for: `ceil(t × limit)`, at least 1 (`0.7 × 10` is 7, not 8, despite floating point). */
export function thresholdCount(threshold: number, limit: number): number {
  return Math.max(1, Math.ceil(Number((threshold * limit).toFixed(9))));
}

/** The thresholds (of `at`) that a count going from `before` to `after` reached, in order. */
export function crossedThresholds(at: readonly number[], limit: number, before: number, after: number): number[] {
  if (!(after > before)) return [];
  return at.filter((t) => {
    const mark = thresholdCount(t, limit);
    return before < mark && after >= mark;
  });
}

/** Retry delays: 1 s, 2 s, 4 s, ... doubling up to this many attempts in all; then the event is dropped. */
export const MAX_ATTEMPTS = 10;
export const FIRST_RETRY_MS = 1_000;

/** When attempt `attempts + 1` is due after `attempts` failed ones (1 s after the first, then doubling). */
export function nextAttemptAt(attempts: number, now: number): number {
  return now + FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1);
}
