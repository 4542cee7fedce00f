/**
 * The ways an origin framework reads a request body, reduced to one question:
 * which values does this body give the field at `path`? Each reader returns
 * every value it finds, so a field given twice (`email=decoy&email=victim`,
 * or a JSON object with the key twice) shows up as two values and the caller
 * can call it ambiguous, whichever one the origin would pick.
 * @module
 */

/** A field's value: a string, or `undefined` for a value that is not a scalar (an object, an array). */
export type FieldValue = string | undefined;

/** The values a reading of the body gives one field; `[]` when it lacks the field. */
export type FieldReader = (path: readonly string[]) => FieldValue[];

/** Nesting deeper than this is not a login form: the body is called undecodable. */
const MAX_JSON_DEPTH = 64;

type JsonNode =
  | { kind: "scalar"; value: string | null }
  | { kind: "array" }
  | { kind: "object"; entries: Array<[string, JsonNode]> };

/**
 * Reads JSON the way `JSON.parse` does, but keeps every key of an object in
 * order, duplicates included. `undefined` when the text is not one JSON object.
 */
export function readJson(text: string): FieldReader | undefined {
  let root: JsonNode;
  try {
    const parser = new JsonParser(text);
    root = parser.document();
  } catch {
    return undefined;
  }
  if (root.kind !== "object") return undefined;
  return (path) => {
    let nodes: JsonNode[] = [root];
    for (const key of path) {
      const next: JsonNode[] = [];
      for (const n of nodes) {
        if (n.kind !== "object") continue;
        for (const [k, v] of n.entries) if (k === key) next.push(v);
      }
      nodes = next;
    }
    return nodes.flatMap((n): FieldValue[] => {
      if (n.kind !== "scalar") return [undefined];
      // JSON null is no value: the field is absent.
      return n.value === null ? [] : [n.value];
    });
  };
}

class JsonParser {
  private i = 0;
  constructor(private readonly text: string) {}

  document(): JsonNode {
    const node = this.value(0);
    this.space();
    if (this.i !== this.text.length) throw new SyntaxError("trailing text");
    return node;
  }

  private value(depth: number): JsonNode {
    if (depth > MAX_JSON_DEPTH) throw new SyntaxError("too deep");
    this.space();
    const c = this.text[this.i];
    if (c === "{") return this.object(depth);
    if (c === "[") {
      this.array(depth);
      return { kind: "array" };
    }
    if (c === '"') return { kind: "scalar", value: this.string() };
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      this.text.slice(this.i, this.i + 400),
    );
    if (!literal) throw new SyntaxError("unexpected character");
    this.i += literal[0].length;
    const text = literal[0];
    if (text === "null") return { kind: "scalar", value: null };
    return { kind: "scalar", value: text === "true" || text === "false" ? text : String(Number(text)) };
  }

  private object(depth: number): JsonNode {
    this.i++;
    const entries: Array<[string, JsonNode]> = [];
    this.space();
    if (this.text[this.i] === "}") {
      this.i++;
      return { kind: "object", entries };
    }
    for (;;) {
      this.space();
      if (this.text[this.i] !== '"') throw new SyntaxError("expected a key");
      const key = this.string();
      this.space();
      if (this.text[this.i++] !== ":") throw new SyntaxError("expected :");
      entries.push([key, this.value(depth + 1)]);
      this.space();
      const c = this.text[this.i++];
      if (c === "}") return { kind: "object", entries };
      if (c !== ",") throw new SyntaxError("expected , or }");
    }
  }

  private array(depth: number): void {
    this.i++;
    this.space();
    if (this.text[this.i] === "]") {
      this.i++;
      return;
    }
    for (;;) {
      this.value(depth + 1);
      this.space();
      const c = this.text[this.i++];
      if (c === "]") return;
      if (c !== ",") throw new SyntaxError("expected , or ]");
    }
  }

  private string(): string {
    // Find the closing quote past escapes; JSON.parse then checks the escapes and refuses raw control characters.
    let j = this.i + 1;
    while (j < this.text.length && this.text[j] !== '"') j += this.text[j] === "\\" ? 2 : 1;
    if (j >= this.text.length) throw new SyntaxError("unterminated string");
    const literal = this.text.slice(this.i, j + 1);
    this.i = j + 1;
    return JSON.parse(literal) as string;
  }

  private space(): void {
    while (this.i < this.text.length && " \t\n\r".includes(this.text[this.i]!)) this.i++;
  }
}

/**
 * Reads `application/x-www-form-urlencoded`: every value of the field, found
 * as `user.email`, `user[email]` or `email[]` the way `qs` (Express) and Rack
 * (Rails) nest names.
 */
export function readForm(text: string): FieldReader {
  const form = new URLSearchParams(text);
  return (path) => {
    const names = formNames(path);
    const values: FieldValue[] = [];
    for (const [name, value] of form) if (names.has(name)) values.push(value);
    return values;
  };
}

function formNames(path: readonly string[]): Set<string> {
  const dotted = path.join(".");
  const bracketed =
    path[0] +
    path
      .slice(1)
      .map((p) => `[${p}]`)
      .join("");
  return new Set([dotted, bracketed, `${dotted}[]`, `${bracketed}[]`]);
}

/**
 * Reads `multipart/form-data` fields (parts without a file name); `undefined`
 * when the body is not a well-formed multipart body for this boundary.
 */
export function readMultipart(text: string, boundary: string): FieldReader | undefined {
  const delimiter = `--${boundary}`;
  const parts = text.split(delimiter);
  // A preamble, then parts, then `--` and an epilogue.
  if (parts.length < 2 || !parts[parts.length - 1]!.startsWith("--")) return undefined;
  const fields: Array<[string, string]> = [];
  for (const part of parts.slice(1, -1)) {
    const body = part.replace(/^\r?\n/, "");
    const split = body.search(/\r?\n\r?\n/);
    if (split === -1) return undefined;
    const head = body.slice(0, split);
    const value = body
      .slice(split)
      .replace(/^\r?\n\r?\n/, "")
      .replace(/\r?\n$/, "");
    const disposition = /^content-disposition:\s*form-data\s*;(.*)$/im.exec(head);
    if (!disposition) return undefined;
    const params = disposition[1]!;
    if (/(?:^|;)\s*filename\*?=/i.test(params)) continue;
    const name = /(?:^|;)\s*name="((?:[^"\\]|\\.)*)"|(?:^|;)\s*name=([^;\s]+)/i.exec(params);
    if (!name) return undefined;
    fields.push([name[1] ?? name[2]!, value]);
  }
  return (path) => {
    const names = formNames(path);
    return fields.filter(([n]) => names.has(n)).map(([, v]) => v);
  };
}
