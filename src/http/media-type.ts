/**
 * Header parameters the way RFC 9110 §5.6.6 (and RFC 7578 for
 * `Content-Disposition`) define them: `token=token` or `token="quoted
 * string"`, with `\` escapes inside quotes, so a quoted value that contains
 * `;filename=` or `,` is one value and hides nothing. A parameter given twice is
 * kept twice: origins disagree on which one wins (busboy takes the first,
 * others the last), so the caller calls it ambiguous.
 * @module
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** `type/subtype` (or a disposition type) and every parameter, names lower-cased, in order. */
export interface ParsedHeader {
  value: string;
  params: Array<[string, string]>;
}

/**
 * Parses `value *( OWS ";" OWS name=value )`. `undefined` when the text does
 * not follow that grammar (a stray character, an unterminated quote, a
 * parameter without a value): an origin's parser may read such a header in any
 * way, or refuse it.
 */
export function parseHeaderParams(text: string, kind: "media-type" | "disposition"): ParsedHeader | undefined {
  let i = 0;
  const space = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  };
  space();
  const head =
    kind === "media-type" ? /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(text.slice(i)) : null;
  const first = kind === "media-type" ? head : TOKEN.exec(text.slice(i));
  if (!first) return undefined;
  const value = first[0].toLowerCase();
  i += first[0].length;
  const params: Array<[string, string]> = [];
  for (;;) {
    space();
    if (i === text.length) return { value, params };
    if (text[i] !== ";") return undefined;
    i++;
    space();
    // A trailing `;` (`application/json;`) adds no parameter.
    if (i === text.length) return { value, params };
    const name = TOKEN.exec(text.slice(i));
    if (!name) return undefined;
    i += name[0].length;
    if (text[i] !== "=") return undefined;
    i++;
    let v = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        const c = text[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\") {
          if (i + 1 >= text.length) return undefined;
          v += text[i + 1];
          i += 2;
          continue;
        }
        // qdtext: no control characters but HT.
        if (c < " " ? c !== "\t" : c === "\x7f") return undefined;
        v += c;
        i++;
      }
    } else {
      const token = TOKEN.exec(text.slice(i));
      if (!token) return undefined;
      v = token[0];
      i += token[0].length;
    }
    params.push([name[0].toLowerCase(), v]);
  }
}

/** Every value of one parameter (two means the header is ambiguous). */
export function paramValues(parsed: ParsedHeader, name: string): string[] {
  return parsed.params.filter(([n]) => n === name).map(([, v]) => v);
}

/** True when some parameter name appears more than once. */
export function hasRepeatedParam(parsed: ParsedHeader): boolean {
  const seen = new Set<string>();
  for (const [n] of parsed.params) {
    if (seen.has(n)) return true;
    seen.add(n);
  }
  return false;
}

/** Splits a header value at commas outside quoted strings (`application/json, text/plain` is two types). */
export function splitList(header: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (quoted && c === "\\" && i + 1 < header.length) {
      current += c + header[i + 1];
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      out.push(current);
      current = "";
      continue;
    }
    current += c;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => s !== "");
}
