/**
 * The value of a `body:<field>` key, read the way origins read bodies, so a
 * client cannot hide the field from sluice and still have the origin act on it.
 * One reading per way an origin reads the bytes, and the key only when they
 * all agree:
 *
 * - a body that claims JSON (`application/json`, `*\/*+json`, every type listed) is read as JSON
 *   only, as body-parser reads it (`JSON.parse`, no nesting or number limit of
 *   sluice's own); anything else is read as a form (qs's and Rack's way) and,
 *   when its text is JSON, as JSON too (an origin that parses JSON whatever the
 *   type says), and the readings must not disagree;
 * - `multipart/form-data` as busboy frames it, parameters parsed as RFC 7578
 *   and 2231 define them; two `boundary` parameters, a repeated part header or
 *   parameter, a part without its closing delimiter are ambiguous;
 * - the `charset` honoured (UTF-8, UTF-16LE/BE, ISO-8859-1, US-ASCII) or the
 *   body unreadable;
 * - a body with one `Content-Encoding` of `gzip`, `deflate` or `br` decoded
 *   first (Express inflates by default), up to the rule's `bodyKey.maxBytes`
 *   (default 64 KiB) of decoded bytes.
 *
 * When the key cannot be read unambiguously (too large, undecodable, readings
 * that disagree, an object, control characters in the value), the answer says
 * so and the rule's `onUnreadable` decides (refuse, or count on one shared
 * key); an array or a field given twice goes by the rule's `arrays`. Never the
 * looser IP key. It reads a clone; the origin gets the body whole.
 * @module
 */
import {
  decodeBytes,
  type FieldReader,
  type Found,
  LATIN1_LABELS,
  latin1Text,
  QUERY_FORM_READINGS,
  readForm,
  readJson,
  readMultipart,
} from "./body-formats";
import { hasControl } from "./control";
import { KeyRefusal } from "./key-refusal";
import { hasRepeatedParam, type ParsedHeader, paramValues, parseHeaderParams, splitList } from "./media-type";

/** The request's body as the readers need it, read once per size limit. */
export type BodyRead =
  | { kind: "none" }
  | { kind: "read"; readers: FieldReader[] }
  | { kind: "too-large"; maxBytes: number }
  | { kind: "undecodable"; reason: string };

export type BodyKeyValue =
  | { kind: "value"; value: string }
  /** An array, or the field given more than once: its distinct non-empty values (maybe none). */
  | { kind: "list"; values: string[] }
  | { kind: "absent" }
  | { kind: "too-large"; reason: string }
  | { kind: "unreadable"; reason: string };

const CODINGS: Record<string, string> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate", br: "brotli" };

/** Reads and parses the body of `request` (from a clone), at most `maxBytes` once decoded. */
export async function readBody(request: Request, maxBytes: number): Promise<BodyRead> {
  if (!request.body) return { kind: "none" };
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) return { kind: "too-large", maxBytes };

  const coding = (request.headers.get("content-encoding") ?? "").trim().toLowerCase();
  let stream: ReadableStream<Uint8Array> = request.clone().body!;
  if (coding !== "" && coding !== "identity") {
    const format = CODINGS[coding];
    if (!format) {
      await stream.cancel().catch(() => {});
      return { kind: "undecodable", reason: `Content-Encoding "${coding}" is not one sluice can decode` };
    }
    try {
      // The runtime's types name gzip and deflate only; a runtime without brotli throws, and the body is undecodable.
      stream = stream.pipeThrough(new DecompressionStream(format as "gzip"));
    } catch {
      await stream.cancel().catch(() => {});
      return { kind: "undecodable", reason: `Content-Encoding "${coding}" is not supported here` };
    }
  }
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readAtMost(stream, maxBytes);
  } catch {
    return { kind: "undecodable", reason: `the body is not valid ${coding} data` };
  }
  if (bytes === undefined) return { kind: "too-large", maxBytes };
  return parseBody(bytes, request.headers.get("content-type") ?? "");
}

const undecodable = (reason: string): BodyRead => ({ kind: "undecodable", reason });

const isJsonType = (t: ParsedHeader) => t.value === "application/json" || /^[^/]+\/[^/]+\+json$/.test(t.value);

/** Every reading an origin might make of these bytes (a string is taken as its UTF-8), given the `Content-Type`. */
export function parseBody(body: Uint8Array | string, contentType: string): BodyRead {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  if (bytes.byteLength === 0) return { kind: "none" };
  const types: ParsedHeader[] = [];
  for (const item of splitList(contentType)) {
    const parsed = parseHeaderParams(item, "media-type");
    if (!parsed) return undecodable("the Content-Type header is malformed");
    if (hasRepeatedParam(parsed)) return undecodable("a Content-Type parameter is given twice");
    types.push(parsed);
  }
  if (types.some((t) => t.value === "multipart/form-data")) {
    if (types.length !== 1) return undecodable("multipart/form-data is declared beside another type");
    const boundary = paramValues(types[0]!, "boundary")[0];
    if (boundary === undefined || boundary === "" || boundary.length > 200)
      return undecodable("the multipart body has no usable boundary");
    const readers = readMultipart(latin1Text(bytes), boundary);
    return "error" in readers ? undecodable(readers.error) : { kind: "read", readers };
  }
  const charsets = new Set(types.flatMap((t) => paramValues(t, "charset").map((c) => c.toLowerCase())));
  if (charsets.size > 1) return undecodable("the Content-Type declares two charsets");
  const charset = [...charsets][0] ?? "utf-8";
  const text = decodeBytes(bytes, charset);
  if (text === undefined) return undecodable(`the body is not text sluice decodes in charset "${charset}"`);
  const json = readJson(text);
  // A body that claims JSON is JSON or nothing: never re-read as a form. (A list that also names another type,
  // such as two Content-Type headers joined, may reach an origin that takes the other: every reading must agree.)
  if (types.length > 0 && types.every(isJsonType))
    return json.kind === "json" ? { kind: "read", readers: [json.reader] } : undecodable(json.reason);
  if (json.kind === "unreadable") return undecodable(json.reason);
  const readers = readForm(text, LATIN1_LABELS.has(charset) ? "latin1" : "utf-8");
  return { kind: "read", readers: json.kind === "json" ? [json.reader, ...readers] : readers };
}

/** The readings of a query string (qs's, Rack 3's, and Rack 2's, which also splits at `;`). */
export function queryReaders(url: URL): FieldReader[] {
  return readForm(url.search.slice(1), "utf-8", QUERY_FORM_READINGS);
}

/**
 * The key's value, or why there is none, from every reading (the body's, and
 * any `extra` such as the query string's). Values are compared as the counting
 * key compares them (trimmed, lower-cased): two spellings of one address are
 * one value, two addresses are ambiguous.
 */
export function bodyKeyValue(
  read: BodyRead,
  path: readonly string[],
  extra: readonly FieldReader[] = [],
): BodyKeyValue {
  switch (read.kind) {
    case "too-large":
      return { kind: "too-large", reason: `the body is larger than ${read.maxBytes} bytes` };
    case "undecodable":
      return { kind: "unreadable", reason: read.reason };
  }
  const readers = read.kind === "read" ? [...read.readers, ...extra] : extra;
  const answers: Array<Extract<Found, { kind: "scalar" | "list" }>> = [];
  for (const r of readers) {
    const f = r(path);
    if (f.kind === "unreadable") return f;
    if (f.kind === "structured") return { kind: "unreadable", reason: "the field is an object" };
    if (f.kind !== "absent") answers.push(f);
  }
  let list = false;
  let agreed: Map<string, string> | undefined;
  for (const a of answers) {
    const values = a.kind === "scalar" ? [a.value] : a.values;
    list ||= a.kind === "list";
    const distinct = new Map<string, string>();
    for (const v of values) {
      // Origins strip control characters, cut at them or keep them: sluice refuses them.
      if (hasControl(v.trim())) return { kind: "unreadable", reason: "the field's value contains control characters" };
      const c = comparable(v);
      if (c !== "" && !distinct.has(c)) distinct.set(c, v);
    }
    if (agreed && !sameKeys(agreed, distinct))
      return { kind: "unreadable", reason: "two readings of the request give the field different values" };
    agreed ??= distinct;
  }
  const values = [...(agreed?.values() ?? [])];
  if (list) return { kind: "list", values };
  if (values.length === 0) return { kind: "absent" };
  return values.length === 1
    ? { kind: "value", value: values[0]! }
    : { kind: "unreadable", reason: "the field is given more than once, with different values" };
}

function sameKeys(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}

function comparable(value: string): string {
  return value.trim().toLowerCase();
}

/** The whole stream if it is at most `maxBytes` long; `undefined` if longer (the rest is cancelled). */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) return undefined;
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}

/** The counting-key value every unreadable body of a `"count"` rule shares (a hash is hex: no value collides). */
export const UNREADABLE_BODY_KEY = "unreadable";

/** At most this many values of an array are counted (`arrays: "each"`); more is unreadable. */
export const MAX_EACH_VALUES = 16;

/**
 * What the rule does with the value: use it, fall back to the IP when the
 * body lacks the field (the contract's rule for a missing value), or, when it
 * cannot be read, refuse (413/400) or share the one "unreadable" counter. An
 * array (or a field given twice) is unreadable under `arrays: "refuse"`, and
 * counted on each of its values under `"each"`.
 */
export function resolveBodyKey(
  found: BodyKeyValue,
  onUnreadable: "refuse" | "count",
  arrays: "refuse" | "each" = "refuse",
): { kind: "values"; values: string[] } | { kind: "absent" } | { kind: "shared" } {
  let f = found;
  if (f.kind === "list") {
    if (arrays === "refuse") f = { kind: "unreadable", reason: "the field is an array, or given more than once" };
    else if (f.values.length > MAX_EACH_VALUES)
      f = { kind: "unreadable", reason: `the field has more than ${MAX_EACH_VALUES} values` };
    else return f.values.length === 0 ? { kind: "absent" } : { kind: "values", values: f.values };
  }
  if (f.kind === "value") return { kind: "values", values: [f.value] };
  if (f.kind === "absent") return f;
  if (onUnreadable === "count") return { kind: "shared" };
  throw f.kind === "too-large"
    ? new KeyRefusal(413, "BODY_TOO_LARGE", f.reason)
    : new KeyRefusal(400, "BODY_KEY_UNREADABLE", f.reason);
}
