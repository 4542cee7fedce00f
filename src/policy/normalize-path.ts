/**
 * One spelling per path, so that no spelling escapes a rule.
 *
 * Matching runs on the normalised path; the request is forwarded as the
 * client sent it. We decode more than the contract's minimum (every
 * percent-escape, repeatedly, and `\` as `/`) because an origin framework may
 * decode them too: a limiter may over-match a strange path, never under-match.
 * @module
 */

const MAX_DECODE_ROUNDS = 3;
/** Paths longer than this are cut before matching; no API route is this long. */
export const MAX_MATCHED_PATH_LENGTH = 8192;

/**
 * `"/API//v1/./Transfers/%2e%2e/transfers/"` → `"/api/v1/transfers"`.
 * @example
 * normalizePath("/api/v1/%74ransfers//") // "/api/v1/transfers"
 */
export function normalizePath(pathname: string): string {
  let path = pathname.length > MAX_MATCHED_PATH_LENGTH ? pathname.slice(0, MAX_MATCHED_PATH_LENGTH) : pathname;
  for (let round = 0; round < MAX_DECODE_ROUNDS && path.includes("%"); round++) {
    const decoded = decodeEscapes(path);
    if (decoded === path) break;
    path = decoded;
  }
  const out: string[] = [];
  for (const segment of path.replace(/\\/g, "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return `/${out.join("/")}`.toLowerCase();
}

/** Decodes every valid `%XX` (as UTF-8 where it forms UTF-8, else byte by byte); leaves invalid ones. */
function decodeEscapes(path: string): string {
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
