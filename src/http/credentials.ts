/**
 * The API key of a request, read from every place the origin accepts one, so
 * a key the origin honours is never counted as anonymous (per IP, where a
 * client rotating addresses has no limit).
 *
 * Places are headers, with or without a scheme (`Authorization: Bearer K`,
 * `X-API-Key: K`), and query parameters (`?api_key=K`). A header's scheme is
 * compared case-insensitively and may be followed by spaces or tabs; a comma
 * separates two values (a repeated header arrives joined by `, `). A query
 * string is read both as WHATWG URLs and Express split it (at `&`) and as
 * Rack 2 does (at `&` and `;`), so `?x=1;api_key=K` carries `K`. Two
 * different keys, or a key in a place the policy forbids, is a conflict: the
 * policy's `onConflict` refuses the request or counts it on every reading. A
 * key with control characters (`K\0`) is a conflict too: origins strip them,
 * cut the key at them or keep them, so it is read as each of those.
 * @module
 */
import type { CredentialPlace, CredentialPolicy } from "../policy/compile";
import { controlReadings } from "./control";
import { KeyRefusal } from "./key-refusal";
import { queryValues } from "./query";

// The compiled form belongs to the policy; the reader is here.
export type { CredentialPolicy };

export type Credentials =
  | { kind: "none" }
  | { kind: "one"; key: string }
  | { kind: "conflict"; keys: string[]; reason: string };

/** Keys longer than this are not read whole: a key is not a payload. */
const MAX_KEY_LENGTH = 4096;

export function readCredentials(headers: Headers, url: URL, policy: CredentialPolicy): Credentials {
  const keys = new Set<string>();
  let control = false;
  for (const key of keysIn(headers, url, policy.accepted)) {
    const readings = controlReadings(key);
    control ||= readings.length > 1;
    for (const k of readings) keys.add(k);
  }
  const forbidden = keysIn(headers, url, policy.forbidden);
  if (forbidden.length > 0) {
    for (const key of forbidden) for (const k of controlReadings(key)) keys.add(k);
    return { kind: "conflict", keys: [...keys], reason: "an API key was sent in a place this API does not accept" };
  }
  if (keys.size === 0) return { kind: "none" };
  if (control) return { kind: "conflict", keys: [...keys], reason: "an API key contains control characters" };
  if (keys.size > 1) return { kind: "conflict", keys: [...keys], reason: "the request carries more than one API key" };
  return { kind: "one", key: [...keys][0]! };
}

function keysIn(headers: Headers, url: URL, places: readonly CredentialPlace[]): string[] {
  const keys: string[] = [];
  const byHeader = new Map<string, { schemes: Set<string>; raw: boolean }>();
  for (const place of places) {
    if ("query" in place) {
      for (const v of queryValues(url, place.query)) {
        const key = clean(v);
        if (key) keys.push(key);
      }
      continue;
    }
    const name = place.header.toLowerCase();
    const entry = byHeader.get(name) ?? { schemes: new Set<string>(), raw: false };
    if (place.scheme === undefined) entry.raw = true;
    else entry.schemes.add(place.scheme.toLowerCase());
    byHeader.set(name, entry);
  }
  for (const [name, { schemes, raw }] of byHeader) {
    const value = headers.get(name);
    if (value === null) continue;
    for (const part of value.split(",")) {
      const key = keyInValue(part, schemes, raw);
      if (key) keys.push(key);
    }
  }
  return keys;
}

/** `Bearer<TAB>K` → `K` when `bearer` is a listed scheme; the whole value when the header takes a bare key. */
function keyInValue(value: string, schemes: ReadonlySet<string>, raw: boolean): string | undefined {
  const text = value.trim();
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]+(\S.*)$/.exec(text);
  if (m && schemes.has(m[1]!.toLowerCase())) return clean(m[2]!);
  if (raw) return clean(text);
  return undefined;
}

function clean(value: string): string | undefined {
  const key = value.slice(0, MAX_KEY_LENGTH).trim();
  return key === "" ? undefined : key;
}

/**
 * The keys to count the request by: none, one, or (a conflict under
 * `"strictest"`) every key presented, each a reading the request is counted
 * on. A conflict under `"refuse"` throws a 400 `AMBIGUOUS_CREDENTIALS`.
 */
export function keysToCount(found: Credentials, onConflict: CredentialPolicy["onConflict"]): string[] {
  if (found.kind === "none") return [];
  if (found.kind === "one") return [found.key];
  if (onConflict === "refuse") throw new KeyRefusal(400, "AMBIGUOUS_CREDENTIALS", found.reason);
  return found.keys;
}
