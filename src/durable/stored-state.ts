/**
 * Reading a counter row back. A row that does not parse into a counter state
 * (a torn write, a manual edit, a bug in an older version) must not break its
 * object, nor be read as an empty counter: that would give a client a fresh
 * window. It is treated as used up until the row would have expired.
 * @module
 */
import type { CounterResult, CounterSpec, CounterState } from "../limiter/types";

/** How long a corrupt row whose own `expires_at` is unreadable stays used up. */
export const CORRUPT_ROW_FALLBACK_MS = 24 * 60 * 60 * 1000;

/** The stored state, or `undefined` when the text is not one. */
export function parseStoredState(text: unknown): CounterState | undefined {
  if (typeof text !== "string") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isCounterState(value) ? value : undefined;
}

/** Until when a corrupt row counts as used up: its `expires_at`, or a day from now when that is unreadable too. */
export function corruptUntil(expiresAt: unknown, now: number): number {
  return typeof expiresAt === "number" && Number.isFinite(expiresAt) ? expiresAt : now + CORRUPT_ROW_FALLBACK_MS;
}

/** What a used-up (corrupt) counter says: no room until `until`. */
export function exhaustedResult(spec: CounterSpec, until: number, now: number): CounterResult {
  return {
    name: spec.name,
    allowed: false,
    limit: spec.limit,
    remaining: 0,
    resetAt: until,
    retryAfterMs: Math.max(1, until - now),
  };
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
/** An optional number: absent in states written before it existed. */
const finiteOrAbsent = (v: unknown): boolean => v === undefined || finite(v);

function isCounterState(v: unknown): v is CounterState {
  if (v === null || typeof v !== "object") return false;
  const s = v as Record<string, unknown>;
  switch (s.algorithm) {
    case "fixed":
      return finite(s.windowStart) && finite(s.count) && finiteOrAbsent(s.epoch) && finiteOrAbsent(s.next);
    case "sliding":
      return finite(s.windowStart) && finite(s.count) && finite(s.previousCount) && finiteOrAbsent(s.epoch);
    case "token-bucket":
      return (
        finite(s.tat) &&
        ["tatFraction", "since", "shifted", "horizon", "epoch"].every((field) => finiteOrAbsent(s[field]))
      );
    case "concurrency":
      return (
        Array.isArray(s.leases) &&
        s.leases.every(
          (l: unknown) =>
            l !== null &&
            typeof l === "object" &&
            typeof (l as Record<string, unknown>).id === "string" &&
            finite((l as Record<string, unknown>).expiresAt),
        )
      );
    case "penalty":
      return finite(s.until) && finite(s.durationMs) && finite(s.forgetAt);
    case "waiting":
      return Array.isArray(s.until) && s.until.every(finite);
    default:
      return false;
  }
}
