/**
 * The counting key of a rule for a request: the name of the Durable Object
 * that holds its counters. Values taken from the request (a header, a query
 * parameter, a body field) are trimmed, lower-cased and hashed first, so no
 * raw value is stored, and `Foo@x.com` is `foo@x.com`. A request that lacks
 * the value is counted by its IP; a body that cannot be read is refused or
 * counted on the rule's shared "unreadable" key (see `body-key.ts`).
 * @module
 */
import type { BodyKeyOptions, KeySpec } from "../config/compile";
import {
  type BodyRead,
  bodyKeyValue,
  DEFAULT_BODY_MAX_BYTES,
  resolveBodyKey,
  UNREADABLE_BODY_KEY,
} from "../http/body-key";
import { sha256Hex } from "../http/hash";
import type { Identity } from "./identity";

/** Values longer than this are cut before hashing: a key is not a payload. */
const MAX_KEY_VALUE = 4096;

export interface KeySources {
  identity: Identity;
  url: URL;
  headers: Headers;
  /** The body, read once per size limit (see `readBody`). */
  body(maxBytes: number): Promise<BodyRead>;
}

export async function countingKey(
  key: KeySpec,
  sources: KeySources,
  bodyKey: BodyKeyOptions = { maxBytes: DEFAULT_BODY_MAX_BYTES, onUnreadable: "refuse" },
): Promise<string> {
  const { identity } = sources;
  const prefix = identity.sandbox ? "sandbox:" : "";
  const byIp = `${prefix}ip:${identity.ipKey}`;
  let value: string | null | undefined;
  switch (key.kind) {
    case "tenant":
      return identity.tenant ? `${prefix}tenant:${identity.tenant.id}` : byIp;
    case "ip":
      return byIp;
    case "header":
      value = sources.headers.get(key.name);
      return value ? `${prefix}header:${key.name}:${await hashValue(value)}` : byIp;
    case "query":
      value = sources.url.searchParams.get(key.name);
      return value ? `${prefix}query:${key.name}:${await hashValue(value)}` : byIp;
    case "body": {
      // Unreadable: a 400/413 (thrown) or one shared counter, as the rule says; never the looser IP key.
      const found = resolveBodyKey(bodyKeyValue(await sources.body(bodyKey.maxBytes), key.path), bodyKey.onUnreadable);
      if (found.kind === "absent") return byIp;
      const value = found.kind === "shared" ? UNREADABLE_BODY_KEY : await hashValue(found.value);
      return `${prefix}body:${key.field}:${value}`;
    }
  }
}

/** The counting key an operator's plain value maps to (admin `key=`), without a request. */
export async function countingKeyForValue(key: KeySpec, value: string, isIp: boolean): Promise<string> {
  if (isIp) return `ip:${value}`;
  switch (key.kind) {
    case "tenant":
      return `tenant:${value}`;
    case "ip":
      return `ip:${value}`;
    case "header":
      return `header:${key.name}:${await hashValue(value)}`;
    case "query":
      return `query:${key.name}:${await hashValue(value)}`;
    case "body":
      return `body:${key.field}:${await hashValue(value)}`;
  }
}

function hashValue(value: string): Promise<string> {
  return sha256Hex(value.slice(0, MAX_KEY_VALUE).trim().toLowerCase());
}
