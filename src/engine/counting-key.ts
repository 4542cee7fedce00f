/**
 * Counting keys: the name under which a rule's counters are kept (one
 * Durable Object per key). Every format is spelled here: `ip:<ip key>`,
 * `tenant:<id>`, `header|query|body:<name>:<sha256>`, `custom:<value>`, the
 * `region:<hint>:` scope of a rule counted per region and the `sandbox:` scope
 * in front of any of them. Values taken from the request (a
 * header, a query parameter, a body field) are trimmed, lower-cased and
 * hashed first, so no raw value is stored, and `Foo@x.com` is `foo@x.com`. A
 * request that lacks the value is counted by its IP; a body that cannot be
 * read is refused or counted on the rule's shared "unreadable" key (see
 * `src/http/body-key.ts`), never by IP. A query parameter given several ways
 * (twice, after a `;`, with a control character) is counted on each value.
 * A value key comes with a display label (`header:x-user-id:u1`, or
 * `[credential …]` for a credential: see `./key-label.ts`); the label is for
 * operators only and never changes what is counted.
 * @module
 */
import { sha256Hex } from "../hash";
import {
  type BodyRead,
  bodyKeyValue,
  MAX_EACH_VALUES,
  queryReaders,
  resolveBodyKey,
  UNREADABLE_BODY_KEY,
} from "../http/body-key";
import { controlReadings } from "../http/control";
import { queryValues } from "../http/query";
import type { BodyKeyOptions, KeySpec } from "../policy/compile";
import { DEFAULT_BODY_MAX_BYTES } from "../policy/schema";
import { valueLabel } from "./key-label";

/** Values longer than this are cut before hashing: a key is not a payload. */
const MAX_KEY_VALUE = 4096;
const SANDBOX_SCOPE = "sandbox:";

/** What a request offers for its counting keys. */
export interface KeySources {
  ipKey: string;
  tenantId: string | undefined;
  url: URL;
  headers: Headers;
  /** The body, read once per size limit (see `readBody`). */
  body(maxBytes: number): Promise<BodyRead>;
}

const DEFAULT_BODY_KEY: BodyKeyOptions = {
  maxBytes: DEFAULT_BODY_MAX_BYTES,
  onUnreadable: "refuse",
  from: { body: true, query: false },
  arrays: "refuse",
};

/** The key of a client counted by its IP (the form of `clientIpKey`, or `unknown`). */
export function ipCountingKey(ipKey: string): string {
  return `ip:${ipKey}`;
}

/** A key given by the user's own `key` hook. */
export function customCountingKey(value: string): string {
  return `custom:${value}`;
}

/** The region a request without a known one (no `cf.continent`, a call by key) is counted in. */
export const UNKNOWN_REGION = "unknown";

/**
 * The key of a rule counted per region (`scope: "region"`): `region:<hint>:<key>`, one count per
 * region, kept in an object created by that region's first request (so near it). Inside the
 * sandbox scope: `sandbox:region:weur:ip:…`.
 */
export function regionalKey(key: string, region: string | undefined): string {
  return `region:${region ?? UNKNOWN_REGION}:${key}`;
}

/** The key in the sandbox's own set of counters, or as it is. */
export function scoped(key: string, sandbox: boolean): string {
  return sandbox ? `${SANDBOX_SCOPE}${key}` : key;
}

/** Every counting key the request is counted on under this rule key: one, or one per value of an array. */
export async function countingKeys(
  key: KeySpec,
  sources: KeySources,
  bodyKey: BodyKeyOptions = DEFAULT_BODY_KEY,
): Promise<string[]> {
  return (await labelledCountingKeys(key, sources, bodyKey)).map((k) => k.key);
}

/** A counting key with the label an operator reads for it; no label: the key is readable as it is (an IP, a tenant). */
export interface LabelledKey {
  key: string;
  label?: string;
}

/**
 * `countingKeys`, each with its display label. `credential`: the rule's key reads a credential
 * (`isCredentialKey`), whose value a label never shows.
 */
export async function labelledCountingKeys(
  key: KeySpec,
  sources: KeySources,
  bodyKey: BodyKeyOptions = DEFAULT_BODY_KEY,
  credential = false,
): Promise<LabelledKey[]> {
  const byIp = ipCountingKey(sources.ipKey);
  switch (key.kind) {
    case "tenant":
      return [{ key: sources.tenantId !== undefined ? `tenant:${sources.tenantId}` : byIp }];
    case "ip":
      return [{ key: byIp }];
    case "header":
      return [await valueKey(key, sources.headers.get(key.name), byIp, credential)];
    case "query": {
      // Every value any origin may read (first, last, split at `;`, with its control characters stripped or cut at):
      // the request is counted on each, as under `onConflict: "strictest"`.
      const values = queryKeyValues(sources.url, key.name);
      if (values.length === 0) return [{ key: byIp }];
      if (values.length > MAX_EACH_VALUES) return [{ key: `query:${key.name}:${UNREADABLE_BODY_KEY}` }];
      return Promise.all(values.map((v) => valueKey(key, v, byIp, credential)));
    }
    case "body": {
      // Unreadable: a 400/413 (thrown) or one shared counter, as the rule says; never the looser IP key.
      const body: BodyRead = bodyKey.from.body ? await sources.body(bodyKey.maxBytes) : { kind: "none" };
      const extra = bodyKey.from.query ? queryReaders(sources.url) : [];
      const found = resolveBodyKey(bodyKeyValue(body, key.path, extra), bodyKey.onUnreadable, bodyKey.arrays);
      if (found.kind === "absent") return [{ key: byIp }];
      if (found.kind === "shared") return [{ key: `body:${key.field}:${UNREADABLE_BODY_KEY}` }];
      return Promise.all(found.values.map((v) => valueKey(key, v, byIp, credential)));
    }
  }
}

/** The distinct values (as counting keys compare them) a `query:` key may have. */
function queryKeyValues(url: URL, name: string): string[] {
  const distinct = new Map<string, string>();
  for (const raw of queryValues(url, name))
    for (const v of controlReadings(raw.slice(0, MAX_KEY_VALUE))) {
      const c = v.trim().toLowerCase();
      if (c !== "" && !distinct.has(c)) distinct.set(c, v);
    }
  return [...distinct.values()];
}

/** The counting key an operator's plain value maps to (admin `key=`), without a request. */
export function countingKeyForValue(key: KeySpec, value: string, isIp: boolean): Promise<string> | string {
  if (isIp || key.kind === "ip") return ipCountingKey(value);
  if (key.kind === "tenant") return `tenant:${value}`;
  return valueKey(key, value, "", true).then((k) => k.key);
}

async function valueKey(
  key: Exclude<KeySpec, { kind: "tenant" | "ip" }>,
  value: string | null | undefined,
  fallback: string,
  credential: boolean,
): Promise<LabelledKey> {
  if (!value) return { key: fallback };
  const name = key.kind === "body" ? key.field : key.name;
  const normalised = value.slice(0, MAX_KEY_VALUE).trim().toLowerCase();
  const hash = await sha256Hex(normalised);
  return { key: `${key.kind}:${name}:${hash}`, label: valueLabel(key.kind, name, normalised, hash, credential) };
}
