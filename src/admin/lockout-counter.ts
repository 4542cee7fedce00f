/**
 * The counter the admin lockout charges wrong tokens to, and the object it lives in, in a
 * Workers-free module so plain-Node tests can hold it against the leasing terms.
 * @module
 */
import type { CounterSpec } from "../limiter/types";

/** Wrong admin tokens one client IP may send per 15 minutes. The name cannot clash with a rule's counter (ids have no `:`). */
export const ADMIN_FAILURES: CounterSpec = {
  name: "admin:auth-failures-15m",
  algorithm: "fixed",
  limit: 10,
  windowMs: 15 * 60_000,
  cost: 1,
};

/**
 * Unlock markers honoured per address and lockout window: one. Its fixed window is the failures'
 * window (same length, both aligned to the epoch), so a marker lifts one lockout once, however many
 * isolates read it before its deletion reaches them.
 */
export const ADMIN_UNLOCKS: CounterSpec = {
  name: "admin:unlocks-15m",
  algorithm: "fixed",
  limit: 1,
  windowMs: ADMIN_FAILURES.windowMs,
  cost: 1,
};

/** The counter object of an address: the same object its requests are counted in under `key: "ip"`. */
export function lockoutObjectName(ipKey: string): string {
  return `ip:${ipKey}`;
}
