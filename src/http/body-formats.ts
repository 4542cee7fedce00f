/**
 * The ways origin frameworks read a request body, reduced to one question:
 * what does this reading give the field at `path`? One reader per way an
 * origin reads the bytes (JSON.parse as body-parser calls it; qs as Express
 * nests form names; Rack's own nesting and `=` splitting; busboy's multipart
 * framing), each saying "absent", one scalar, a list (an array, or the field
 * given more than once), a structure (an object), or "unreadable" (the bytes
 * admit more than one reading). The caller compares the readers' answers: when
 * two origins could see different values, the key is ambiguous.
 *
 * No reader gives up where its origin does not: JSON nesting and number length
 * are as unlimited as `JSON.parse`'s, and a reader that cannot follow a text its
 * origin accepts says "unreadable", never "absent".
 * @module
 */
import { hasControl } from "./control";
import { hasRepeatedParam, paramValues, parseHeaderParams } from "./media-type";

/** What one reading of the body gives one field. */
export type Found =
  | { kind: "absent" }
  | { kind: "scalar"; value: string }
  | { kind: "list"; values: string[] }
  | { kind: "structured" }
  | { kind: "unreadable"; reason: string };

/** One origin's reading of the body: what it gives the field at `path`. */
export type FieldReader = (path: readonly string[]) => Found;

type Occurrence =
  | { kind: "scalar"; value: string }
  | { kind: "element"; value: string }
  | { kind: "structured" }
  | { kind: "unreadable"; reason: string };

/** Every occurrence of a field in one reading, as one answer: twice or more is a list, as qs and multer make it. */
function found(occurrences: readonly Occurrence[]): Found {
  if (occurrences.length === 0) return { kind: "absent" };
  const unreadable = occurrences.find((o) => o.kind === "unreadable");
  if (unreadable) return unreadable;
  if (occurrences.some((o) => o.kind === "structured")) return { kind: "structured" };
  const values = occurrences.map((o) => (o as { value: string }).value);
  if (occurrences.length === 1 && occurrences[0]!.kind === "scalar") return { kind: "scalar", value: values[0]! };
  return { kind: "list", values };
}

// ---------------------------------------------------------------- JSON

type JsonNode =
  | { kind: "scalar"; value: string | null }
  | { kind: "array"; items: JsonNode[] }
  | { kind: "object"; entries: Array<[string, JsonNode]> };

/** What `readJson` makes of a text. */
export type JsonReading =
  | { kind: "json"; reader: FieldReader }
  | { kind: "not-json"; reason: string }
  | { kind: "unreadable"; reason: string };

/**
 * Reads JSON as body-parser's `json()` does (strict: the text is an object or
 * an array, `JSON.parse` decides what is valid), keeping every key of an object
 * in order, duplicates included (`JSON.parse` keeps the last; another origin
 * the first). No depth or length limit of its own: a text `JSON.parse` accepts
 * is read whole, or called unreadable, never "not JSON".
 */
export function readJson(text: string): JsonReading {
  const first = /^[ \t\n\r]*(.?)/.exec(text)![1];
  if (first !== "{" && first !== "[") return { kind: "not-json", reason: "the body is not a JSON object or array" };
  try {
    JSON.parse(text);
  } catch {
    return { kind: "not-json", reason: "the body is not valid JSON" };
  }
  let root: JsonNode;
  try {
    root = parseJsonTree(text);
  } catch {
    // JSON.parse read it and this reader could not: never fall back to another reading.
    return { kind: "unreadable", reason: "the JSON body could not be read the way JSON.parse reads it" };
  }
  return {
    kind: "json",
    reader: (path) => {
      let nodes: JsonNode[] = [root];
      for (const key of path) {
        const next: JsonNode[] = [];
        for (const n of nodes) {
          if (n.kind !== "object") continue;
          for (const [k, v] of n.entries) if (k === key) next.push(v);
        }
        nodes = next;
      }
      const occurrences: Occurrence[] = [];
      for (const n of nodes) {
        // JSON null is no value: the field is absent.
        if (n.kind === "scalar") {
          if (n.value !== null) occurrences.push({ kind: "scalar", value: n.value });
        } else if (n.kind === "object") occurrences.push({ kind: "structured" });
        else
          for (const item of n.items) {
            if (item.kind !== "scalar") occurrences.push({ kind: "structured" });
            else if (item.value !== null) occurrences.push({ kind: "element", value: item.value });
          }
      }
      // An array, even of one element or none, is still an array: never a scalar, never absent.
      const f = found(occurrences);
      if (!nodes.some((n) => n.kind === "array")) return f;
      if (f.kind === "scalar") return { kind: "list", values: [f.value] };
      return f.kind === "absent" ? { kind: "list", values: [] } : f;
    },
  };
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;

/** The tree of a JSON text, built without recursion (any depth `JSON.parse` takes). Throws on a syntax error. */
function parseJsonTree(text: string): JsonNode {
  let i = 0;
  const space = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const string = (): string => {
    if (text[i] !== '"') throw new SyntaxError("expected a string");
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    if (j >= text.length) throw new SyntaxError("unterminated string");
    const literal = text.slice(i, j + 1);
    i = j + 1;
    return JSON.parse(literal) as string;
  };
  type Open = { node: Extract<JsonNode, { kind: "array" | "object" }>; key: string };
  const stack: Open[] = [];
  let done: JsonNode | undefined;
  const attach = (node: JsonNode) => {
    const top = stack[stack.length - 1];
    if (!top) done = node;
    else if (top.node.kind === "object") top.node.entries.push([top.key, node]);
    else top.node.items.push(node);
  };
  // Reads a key (in an object) up to its value.
  const key = (open: Open) => {
    space();
    open.key = string();
    space();
    if (text[i++] !== ":") throw new SyntaxError("expected :");
  };
  for (;;) {
    // A value starts here.
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      i++;
      const open: Open =
        c === "{"
          ? { node: { kind: "object", entries: [] }, key: "" }
          : { node: { kind: "array", items: [] }, key: "" };
      space();
      if (text[i] === (c === "{" ? "}" : "]")) {
        i++;
        attach(open.node);
      } else {
        stack.push(open);
        if (c === "{") key(open);
        continue;
      }
    } else if (c === '"') attach({ kind: "scalar", value: string() });
    else {
      NUMBER.lastIndex = i;
      LITERAL.lastIndex = i;
      const m = NUMBER.exec(text) ?? LITERAL.exec(text);
      if (!m) throw new SyntaxError("unexpected character");
      i += m[0].length;
      const t = m[0];
      attach({ kind: "scalar", value: t === "null" ? null : t === "true" || t === "false" ? t : String(Number(t)) });
    }
    // After a value: close containers, or go on to the next value.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        space();
        if (i !== text.length) throw new SyntaxError("trailing text");
        return done!;
      }
      space();
      const d = text[i++];
      if (d === ",") {
        if (top.node.kind === "object") key(top);
        break;
      }
      if (d !== (top.node.kind === "object" ? "}" : "]")) throw new SyntaxError("expected , or a closing bracket");
      stack.pop();
      attach(top.node);
    }
  }
}

// ---------------------------------------------------------------- names

/**
 * How a form field name relates to `path`: the field itself, an element of it
 * (`email[]`, `email[0]`), something inside it (`email[x]`, `email.x`), or
 * nothing. `naming` says whose nesting rules: qs (Express, multer) reads the
 * name as written; Rack first drops brackets around the first name
 * (`[email]`, `email]` are `email` to Rails).
 */
function classify(
  name: string,
  path: readonly string[],
  naming: "qs" | "rack",
): "scalar" | "element" | "structured" | undefined {
  let n = name;
  if (naming === "rack") {
    const m = /^[[\]]*([^[\]]+)\]*/.exec(name);
    if (!m) return undefined;
    n = m[1]! + name.slice(m[0].length);
  }
  const bracketed =
    path[0] +
    path
      .slice(1)
      .map((p) => `[${p}]`)
      .join("");
  const dotted = path.join(".");
  for (const s of bracketed === dotted ? [bracketed] : [bracketed, dotted]) {
    if (n === s) return "scalar";
    if (!n.startsWith(s)) continue;
    const rest = n.slice(s.length);
    if (rest === "[]" || /^\[\d+\]$/.test(rest)) return "element";
    if (rest[0] === "[" || rest[0] === ".") return "structured";
  }
  return undefined;
}

// ---------------------------------------------------------------- forms

/** `+` is a space, then percent-escapes in the charset; `undefined` when an escape is malformed. */
export function decodeFormComponent(s: string, charset: "utf-8" | "latin1"): string | undefined {
  const text = s.replace(/\+/g, " ");
  if (/%(?![0-9a-fA-F]{2})/.test(text)) return undefined;
  if (charset === "latin1")
    return text.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The name a lenient parser (URLSearchParams, qs after a failed decode) makes of a malformed component. */
function lenientNames(s: string): string[] {
  const raw = s.replace(/\+/g, " ");
  return [raw, new URLSearchParams(`k=${s.replace(/&/g, "%26")}`).get("k") ?? raw];
}

interface FormPart {
  key: string;
  value: string;
}

/** How one origin reads a form: where a part is split into name and value, and whose nesting rules name it. */
export interface FormReading {
  /** `&` (qs, Rack 3, Rack 2 bodies) or `&` and `;` (Rack 2 query strings). */
  separators: "&" | "&;";
  /** qs splits at `]=` when a part has one, else at the first `=`; Rack and URLSearchParams at the first `=`. */
  split: "qs" | "first";
  naming: "qs" | "rack";
}

/** Body readings: body-parser's qs, and Rack's. */
export const BODY_FORM_READINGS: readonly FormReading[] = [
  { separators: "&", split: "qs", naming: "qs" },
  { separators: "&", split: "first", naming: "rack" },
];

/** Query-string readings: as for bodies, and Rack 2's, which also splits at `;`. */
export const QUERY_FORM_READINGS: readonly FormReading[] = [
  ...BODY_FORM_READINGS,
  { separators: "&;", split: "first", naming: "rack" },
];

/** Reads `application/x-www-form-urlencoded` text (or a query string) once per origin's way of reading it. */
export function readForm(
  text: string,
  charset: "utf-8" | "latin1" = "utf-8",
  readings: readonly FormReading[] = BODY_FORM_READINGS,
): FieldReader[] {
  return readings.map((reading) => {
    const parts: FormPart[] = [];
    for (const part of text.split(reading.separators === "&" ? "&" : /[&;]/)) {
      if (part === "") continue;
      const bracketEquals = reading.split === "qs" ? part.indexOf("]=") : -1;
      const at = bracketEquals === -1 ? part.indexOf("=") : bracketEquals + 1;
      parts.push(at === -1 ? { key: part, value: "" } : { key: part.slice(0, at), value: part.slice(at + 1) });
    }
    return (path) => {
      const occurrences: Occurrence[] = [];
      for (const { key, value } of parts) {
        const name = decodeFormComponent(key, charset);
        if (name === undefined) {
          // A malformed name is read differently by each origin: if any reading of it is the field, unreadable.
          if (lenientNames(key).some((n) => classify(n, path, reading.naming) !== undefined))
            occurrences.push({ kind: "unreadable", reason: "a form field name near the key has a malformed escape" });
          continue;
        }
        const kind = classify(name, path, reading.naming);
        if (kind === undefined) continue;
        if (kind === "structured") {
          occurrences.push({ kind });
          continue;
        }
        const v = decodeFormComponent(value, charset);
        occurrences.push(
          v === undefined
            ? { kind: "unreadable", reason: "the field's value has a malformed escape" }
            : { kind, value: v },
        );
      }
      return found(occurrences);
    };
  });
}

// ---------------------------------------------------------------- multipart

interface MultipartField {
  name: string;
  /** The decoded value; `undefined` for a file part. */
  value: string | undefined;
  /** Why the value cannot be read (a charset or transfer encoding sluice does not decode). */
  unreadable?: string;
}

/**
 * Reads `multipart/form-data` as busboy frames it (RFC 7578): the body is
 * given as a byte-preserving latin1 string; a part begins after
 * `CRLF--boundary CRLF`, its headers end at the first empty line, and the body
 * ends at `CRLF--boundary--`. `Content-Disposition` parameters are parsed as
 * RFC 7578/2231 define them, quoted strings included, so a quoted value
 * containing `;filename=` is one value. Anything two multipart parsers could
 * frame differently (no closing delimiter, padding after a delimiter, a bare
 * LF, folded or repeated headers, a parameter twice, `name*`) is an error.
 */
export function readMultipart(latin1: string, boundary: string): FieldReader[] | { error: string } {
  const delimiter = `\r\n--${boundary}`;
  // busboy reads as if a CRLF came before the body, so the first delimiter may open it.
  const text = `\r\n${latin1}`;
  let at = text.indexOf(delimiter);
  if (at === -1) return { error: "the multipart body has no boundary delimiter" };
  const fields: MultipartField[] = [];
  for (;;) {
    let pos = at + delimiter.length;
    if (text.startsWith("--", pos)) break;
    if (!text.startsWith("\r\n", pos)) return { error: "a multipart delimiter is followed by other than CRLF" };
    pos += 2;
    const headerEnd = text.indexOf("\r\n\r\n", pos);
    const next = text.indexOf(delimiter, pos);
    if (next === -1) return { error: "the multipart body does not end with its closing delimiter" };
    if (headerEnd === -1 || headerEnd > next) return { error: "a multipart part has no header block" };
    const headers = new Map<string, string[]>();
    for (const line of text.slice(pos, headerEnd).split("\r\n")) {
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*)$/s.exec(line);
      if (!m || hasControl(m[2]!.replace(/\t/g, " ")))
        return { error: "a multipart part header is malformed (folded, a bare LF, a control character)" };
      const name = m[1]!.toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), m[2]!.replace(/[ \t]+$/, "")]);
    }
    const body = text.slice(headerEnd + 4, next);
    at = next;
    const field = multipartField(headers, body);
    if ("error" in field) return field;
    if (field.name !== undefined) fields.push(field as MultipartField);
  }
  return (["qs", "rack"] as const).map((naming) => (path: readonly string[]) => {
    const occurrences: Occurrence[] = [];
    for (const f of fields) {
      const kind = classify(f.name, path, naming);
      if (kind === undefined) continue;
      if (f.unreadable !== undefined) occurrences.push({ kind: "unreadable", reason: f.unreadable });
      // A file under the field's name is a structure to Rack (a hash), and no value to busboy.
      else if (kind === "structured" || f.value === undefined) occurrences.push({ kind: "structured" });
      else occurrences.push({ kind, value: f.value });
    }
    return found(occurrences);
  });
}

function multipartField(
  headers: Map<string, string[]>,
  body: string,
): { name: string | undefined; value: string | undefined; unreadable?: string } | { error: string } {
  for (const [name, values] of headers)
    if (values.length > 1) return { error: `a multipart part has the header ${name} twice` };
  const disposition = headers.get("content-disposition")?.[0];
  // busboy skips a part without a form-data disposition; so does every form parser.
  if (disposition === undefined) return { name: undefined, value: undefined };
  const parsed = parseHeaderParams(disposition, "disposition");
  if (!parsed) return { error: "a multipart Content-Disposition is malformed" };
  if (parsed.value !== "form-data") return { name: undefined, value: undefined };
  if (hasRepeatedParam(parsed)) return { error: "a multipart Content-Disposition gives a parameter twice" };
  if (paramValues(parsed, "name*").length > 0) return { error: "a multipart part is named with name*" };
  const name = paramValues(parsed, "name")[0];
  const file = paramValues(parsed, "filename").length > 0 || paramValues(parsed, "filename*").length > 0;
  if (file) return { name, value: undefined };
  const coding = headers.get("content-transfer-encoding")?.[0]?.toLowerCase();
  if (coding !== undefined && !["7bit", "8bit", "binary"].includes(coding))
    return { name, value: undefined, unreadable: `the field's Content-Transfer-Encoding "${coding}" is not decoded` };
  let charset = "utf-8";
  const type = headers.get("content-type")?.[0];
  if (type !== undefined) {
    const t = parseHeaderParams(type, "media-type");
    if (!t || hasRepeatedParam(t))
      return { name, value: undefined, unreadable: "the field's Content-Type is malformed" };
    charset = (paramValues(t, "charset")[0] ?? charset).toLowerCase();
  }
  const value = decodeBytes(latin1Bytes(body), charset);
  if (value === undefined)
    return { name, value: undefined, unreadable: `the field is not valid text in charset "${charset}"` };
  return { name, value };
}

// ---------------------------------------------------------------- charsets

/** The bytes of a byte-preserving latin1 string. */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Bytes as latin1 (ISO-8859-1 proper: every byte is the code point of its value, unlike WHATWG's windows-1252). */
export function latin1Text(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192)
    out += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 8192)));
  return out;
}

/** Charsets sluice decodes, under the labels origins accept for them. */
export const LATIN1_LABELS = new Set(["iso-8859-1", "latin1", "iso8859-1", "l1"]);

/**
 * Decodes bytes in a declared charset: UTF-8 (default), UTF-16LE/BE (a BOM of
 * the charset's own order is dropped, as iconv-lite does), ISO-8859-1,
 * US-ASCII. `undefined` for any other charset or bytes that are not valid in
 * it: sluice cannot read such a body the way the origin would.
 */
export function decodeBytes(bytes: Uint8Array, charset: string): string | undefined {
  const c = charset.toLowerCase();
  try {
    if (c === "utf-8" || c === "utf8") return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    if (c === "utf-16le" || c === "utf-16be") {
      if (bytes.byteLength % 2 !== 0) return undefined;
      return new TextDecoder(c, { fatal: true, ignoreBOM: false }).decode(bytes);
    }
  } catch {
    return undefined;
  }
  if (LATIN1_LABELS.has(c)) return latin1Text(bytes);
  if (c === "us-ascii" || c === "ascii") return bytes.every((b) => b < 0x80) ? latin1Text(bytes) : undefined;
  return undefined;
}
