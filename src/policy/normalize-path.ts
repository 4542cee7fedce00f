/**
 * One spelling per path, so that no spelling escapes a rule.
 *
 * Matching runs on the normalised path; the request is forwarded as the
 * client sent it. We read a path the most generous way any common origin
 * framework does, because a limiter may over-match a strange path but must
 * never under-match one an origin routes:
 *
 * - every percent-escape is decoded, repeatedly, and `\` is a `/` (IIS, some
 *   proxies);
 * - `;` starts a path parameter that ends the segment (Tomcat, Jetty, Spring
 *   strip `/api;x=1/v1` to `/api/v1`);
 * - Unicode is NFKC-normalised and case-folded (`ſ` is `s`, `Ｔ` is `t`), as a
 *   case-insensitive or "best-fit" origin compares it;
 * - the whole path is normalised before anything is cut, so padding of
 *   `/`, `%2F` or `/x/..` in front cannot push a route out of sight.
 * @module
 */

const MAX_DECODE_ROUNDS = 3;
/**
 * Normalised paths longer than this are still matched in full; the constant
 * says how long a path the tests prove is read whole (the runtime itself
 * refuses URLs beyond about 16 KiB on Cloudflare).
 */
export const MAX_MATCHED_PATH_LENGTH = 8192;

/**
 * `"/API//v1/./Transfers/%2e%2e/transfers/"` → `"/api/v1/transfers"`.
 * @example
 * normalizePath("/api;/v1/%74ran%C5%BFfers;x=1//") // "/api/v1/transfers"
 */
export function normalizePath(pathname: string): string {
  let path = pathname;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    // NFKC first: a full-width `％２Ｆ` or `／` becomes an escape or a separator the next steps read.
    const decoded = decodeEscapes(toNfkc(path));
    if (decoded === path) break;
    path = decoded;
  }
  const out: string[] = [];
  for (const raw of path.replace(/\\/g, "/").split("/")) {
    const semicolon = raw.indexOf(";");
    const segment = semicolon === -1 ? raw : raw.slice(0, semicolon);
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      out.pop();
      continue;
    }
    out.push(foldCase(segment));
  }
  return `/${out.join("/")}`;
}

/**
 * The path without a format suffix on its last segment (`/transfers.json` →
 * `/transfers`), the way Rails routes `:format`; `undefined` when it has none.
 * Everything from the first `.` goes, since a Rails segment holds no dot.
 */
export function withoutFormatSuffix(normalizedPath: string): string | undefined {
  const slash = normalizedPath.lastIndexOf("/");
  const dot = normalizedPath.indexOf(".", slash + 1);
  if (dot <= slash + 1) return undefined;
  return normalizedPath.slice(0, dot);
}

function toNfkc(s: string): string {
  return isAscii(s) ? s : s.normalize("NFKC");
}

function isAscii(s: string): boolean {
  return !/[^\x20-\x7e]/.test(s);
}

/**
 * Simple case folding, one code point at a time: upper case, then lower case
 * (`ſ` → `S` → `s`, `K` (Kelvin) → `k`, `ı` → `I` → `i`), keeping one code point
 * where a full mapping gives more (`İ` → `i`, `ß` stays `ß`), as Java's
 * `equalsIgnoreCase` compares.
 */
function foldCase(segment: string): string {
  if (isAscii(segment)) return segment.toLowerCase();
  let out = "";
  for (const ch of segment) {
    const upper = ch.toUpperCase();
    const base = codePoints(upper) === 1 ? upper : ch;
    const lower = base.toLowerCase();
    out += codePoints(lower) === 1 ? lower : String.fromCodePoint(lower.codePointAt(0)!);
  }
  return out.normalize("NFKC");
}

function codePoints(s: string): number {
  return s.length === 1 ? 1 : [...s].length;
}

/** Decodes every valid `%XX` (as UTF-8 where it forms UTF-8, else byte by byte); leaves invalid ones. */
function decodeEscapes(path: string): string {
  if (!path.includes("%")) return path;
  try {
    return decodeURIComponent(path.replace(/%(?![0-9a-fA-F]{2})/g, "%25"));
  } catch {
    // Invalid UTF-8 sequences: decode the ASCII escapes alone.
    return path.replace(/%([0-7][0-9a-fA-F])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

/**
 * Compiles path patterns into one matcher. `*` at the end stands for one or
 * more segments, in the middle for exactly one.
 */
export function compilePathPatterns(patterns: readonly string[]): (normalizedPath: string) => boolean {
  const alternatives = patterns.map((pattern) => {
    const segments = normalizePath(pattern).split("/").slice(1);
    return segments
      .map((s, i) => (s === "*" ? (i === segments.length - 1 ? ".+" : "[^/]+") : escapeRegExp(s)))
      .join("/");
  });
  const re = new RegExp(`^/(?:${alternatives.join("|")})$`);
  return (path) => re.test(path);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
