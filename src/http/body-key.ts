/**
 * The value of a `body:<field>` key, read the way origins read bodies, so a
 * client cannot hide the field from sluice and still have the origin act on it:
 *
 * - JSON whatever the `Content-Type` claims (`text/plain`, none, a list), as an
 *   origin that parses JSON regardless of the type does; form-urlencoded text
 *   too, unless the type says JSON alone; `multipart/form-data` fields;
 * - a body with one `Content-Encoding` of `gzip`, `deflate` or `br` decoded
 *   first (Express inflates by default);
 * - up to the rule's `bodyKey.maxBytes` (default 64 KiB) of decoded bytes.
 *
 * When the key cannot be read unambiguously (too large, undecodable, the field
 * twice with different values, readings that disagree), the answer says so,
 * and the rule decides (refuse, or count on one shared key): never a looser key.
 * It reads a clone; the origin gets the body whole.
 * @module
 */
import { type FieldReader, type FieldValue, readForm, readJson, readMultipart } from "./body-formats";
import { KeyRefusal } from "./key-refusal";

/** The request's body as the readers need it, read once per size limit. */
export type BodyRead =
  | { kind: "none" }
  | { kind: "read"; readers: FieldReader[] }
  | { kind: "too-large"; maxBytes: number }
  | { kind: "undecodable"; reason: string };

export type BodyKeyValue =
  | { kind: "value"; value: string }
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
  if (bytes.byteLength === 0) return { kind: "none" };

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return { kind: "undecodable", reason: "the body is not UTF-8 text" };
  }
  return parseBody(text, request.headers.get("content-type") ?? "");
}

/** Every reading an origin might make of this text, given what the `Content-Type` claims. */
export function parseBody(text: string, contentType: string): BodyRead {
  const types = mediaTypes(contentType);
  const multipart = types.find((t) => t.type === "multipart/form-data");
  if (multipart) {
    const boundary = multipart.boundary;
    const reader = boundary ? readMultipart(text, boundary) : undefined;
    return reader ? { kind: "read", readers: [reader] } : { kind: "undecodable", reason: "malformed multipart body" };
  }
  const readers: FieldReader[] = [];
  const json = readJson(text);
  if (json) readers.push(json);
  const saysJsonOnly =
    types.length > 0 && types.every((t) => t.type === "application/json" || t.type.endsWith("+json"));
  const saysForm = types.some((t) => t.type === "application/x-www-form-urlencoded");
  if (saysForm || !saysJsonOnly) readers.push(readForm(text));
  if (readers.length === 0) return { kind: "undecodable", reason: "the body is not valid JSON" };
  return { kind: "read", readers };
}

/**
 * The key's value, or why there is none. Values are compared as the counting
 * key compares them (trimmed, lower-cased): two spellings of one address are
 * one value, two addresses are ambiguous.
 */
export function bodyKeyValue(read: BodyRead, path: readonly string[]): BodyKeyValue {
  switch (read.kind) {
    case "none":
      return { kind: "absent" };
    case "too-large":
      return { kind: "too-large", reason: `the body is larger than ${read.maxBytes} bytes` };
    case "undecodable":
      return { kind: "unreadable", reason: read.reason };
  }
  const found: FieldValue[] = read.readers.flatMap((r) => r(path));
  if (found.some((v) => v === undefined)) return { kind: "unreadable", reason: "the field is not a single value" };
  const distinct = new Set((found as string[]).map(comparable).filter((v) => v !== ""));
  if (distinct.size === 0) return { kind: "absent" };
  if (distinct.size > 1)
    return { kind: "unreadable", reason: "the field is given more than once, with different values" };
  return { kind: "value", value: (found as string[]).find((v) => comparable(v) !== "")! };
}

function comparable(value: string): string {
  return value.trim().toLowerCase();
}

interface MediaType {
  type: string;
  boundary: string | undefined;
}

/** `application/json, text/plain` is two media types (a repeated header, or a client's trick). */
function mediaTypes(header: string): MediaType[] {
  const out: MediaType[] = [];
  for (const item of header.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const [type, ...params] = item.split(";");
    const t = type!.trim().toLowerCase();
    if (t === "") continue;
    let boundary: string | undefined;
    for (const p of params) {
      const m = /^\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))\s*$/i.exec(p);
      if (m) boundary = m[1] ?? m[2];
    }
    out.push({ type: t, boundary });
  }
  return out;
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

/**
 * What the rule does with the value: use it, fall back to the IP when the
 * body lacks the field (the contract's rule for a missing value), or, when it
 * cannot be read, refuse (413/400) or share the one "unreadable" counter.
 */
export function resolveBodyKey(
  found: BodyKeyValue,
  onUnreadable: "refuse" | "count",
): { kind: "value"; value: string } | { kind: "absent" } | { kind: "shared" } {
  if (found.kind === "value" || found.kind === "absent") return found;
  if (onUnreadable === "count") return { kind: "shared" };
  throw found.kind === "too-large"
    ? new KeyRefusal(413, "BODY_TOO_LARGE", found.reason)
    : new KeyRefusal(400, "BODY_KEY_UNREADABLE", found.reason);
}
