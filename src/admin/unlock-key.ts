/**
 * The address a lockout belongs to, the KV record of a lockout and its unlock marker, in a
 * Workers-free module so the CLI (`policy unlock --local/--remote`) spells them as the Worker does.
 *
 * A lockout is named by the end of the 15-minute window it lasts to (`until`, epoch ms): the lockout
 * counter's fixed window, the same in every isolate because its object decides it. While an address
 * is locked out the Worker keeps `admin-lockout:<address>` = `{"until": …}` in KV (expiring with it).
 * An unlock marker `admin-unlock:<address>` = `{"lifts": …}` names the lockout it lifts; the CLI writes
 * one only for a lockout it finds recorded, with a TTL that ends with that lockout (at least KV's 60 s).
 * The Worker lifts a lockout for a marker naming exactly it, once per lockout window (a counter in
 * the address's object says so); a marker for no lockout, an older one, or in another format is ignored.
 * @module
 */
import { clientIpKey } from "../net/ip";

/** The shortest TTL Workers KV accepts (`expirationTtl`, `wrangler kv key put --ttl`). */
export const KV_MIN_TTL_SECONDS = 60;

/** An address as the lockout counts it (IPv6 per /64), or `undefined` when it is no IP address. */
export function addressKey(address: string): string | undefined {
  return clientIpKey(address, 64);
}

/** The KV key of an unlock marker for one address (as {@link addressKey} gives it). */
export function unlockKey(ipKey: string): string {
  return `admin-unlock:${ipKey}`;
}

/** The KV key where the Worker records the lockout of one address. */
export function lockoutKey(ipKey: string): string {
  return `admin-lockout:${ipKey}`;
}

/** The value of a lockout record. */
export function lockoutRecord(until: number): string {
  return JSON.stringify({ until });
}

/** The value of an unlock marker that lifts the lockout lasting to `until`. */
export function unlockMarker(until: number): string {
  return JSON.stringify({ lifts: until });
}

/** When the recorded lockout ends (epoch ms), or `undefined` for no record or one unreadable. */
export function readLockoutRecord(text: string | null): number | undefined {
  return wholeNumberField(text, "until");
}

/** The lockout a marker lifts (its `until`), or `undefined` for no marker or one in another format. */
export function readUnlockMarker(text: string | null): number | undefined {
  return wholeNumberField(text, "lifts");
}

/** Seconds a record or marker for a lockout lasting to `until` is kept: to its end, at least KV's minimum. */
export function ttlSeconds(until: number, now: number): number {
  return Math.max(KV_MIN_TTL_SECONDS, Math.ceil((until - now) / 1000));
}

function wholeNumberField(text: string | null, field: string): number | undefined {
  if (text === null) return undefined;
  try {
    const value = (JSON.parse(text) as Record<string, unknown> | null)?.[field];
    return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
