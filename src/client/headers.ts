/**
 * What a response says about the client's rate limits, read from every header family a server may
 * send: the IETF draft's `RateLimit-Policy` and `RateLimit` (Structured Field Lists), the legacy
 * `RateLimit-Limit`/`-Remaining`/`-Reset`, the `X-RateLimit-*` trio and `Retry-After`. No dependency:
 * the Structured Fields read here are the subset the draft uses (an sf-string or token item with
 * integer, string or token parameters).
 * @module
 */

/** One limit the server reported. */
export interface ReportedLimit {
  /** The policy's name (the IETF item name), or `""` when only the legacy or `X-` headers named none. */
  name: string;
  /** The quota (`q`, or `RateLimit-Limit`). */
  limit?: number;
  /** Room left (`r`, or `RateLimit-Remaining`). */
  remaining?: number;
  /** Seconds until the room comes back (`t`, or the reset header as seconds from now). */
  resetSeconds?: number;
  /** The window in seconds (`w`), when the server says. */
  windowSeconds?: number;
  /** `qu="concurrent-requests"`: a limit on requests in flight, not on a rate. */
  concurrent: boolean;
}

export interface RateLimitInfo {
  /** Every limit reported, tightest first (least room left). */
  limits: ReportedLimit[];
  /** `Retry-After` in seconds (a delay, or an HTTP date turned into one), when present. */
  retryAfterSeconds?: number;
}

type Param = string | number | boolean;
interface Item {
  name: string;
  params: Record<string, Param>;
}

/** Parses a Structured Field List of string or token items with parameters; a member that is not one is skipped. */
export function parseItemList(value: string | null): Item[] {
  if (!value) return [];
  const items: Item[] = [];
  let i = 0;
  const s = value;
  const ws = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && /[A-Za-z0-9_.:/*!#$%&'+^`|~-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const str = () => {
    i++; // opening quote
    let out = "";
    while (i < s.length && s[i] !== '"') {
      if (s[i] === "\\") i++;
      out += s[i++] ?? "";
    }
    i++; // closing quote
    return out;
  };
  const bare = (): Param | undefined => {
    if (s[i] === '"') return str();
    if (s[i] === "?") {
      i++;
      return s[i++] === "1";
    }
    if (/[-0-9]/.test(s[i] ?? "")) {
      const start = i;
      i++;
      while (i < s.length && /[0-9.]/.test(s[i]!)) i++;
      const n = Number(s.slice(start, i));
      return Number.isFinite(n) ? n : undefined;
    }
    if (/[A-Za-z*]/.test(s[i] ?? "")) return token();
    return undefined;
  };
  while (i < s.length) {
    ws();
    const name = s[i] === '"' ? str() : /[A-Za-z*]/.test(s[i] ?? "") ? token() : undefined;
    const params: Record<string, Param> = {};
    while (s[i] === ";") {
      i++;
      ws();
      const key = token();
      let v: Param | undefined = true;
      if (s[i] === "=") {
        i++;
        v = bare();
      }
      if (key && v !== undefined) params[key] = v;
    }
    if (name !== undefined) items.push({ name, params });
    // Skip to the next member (anything unexpected in this one is dropped with it).
    while (i < s.length && s[i] !== ",") i++;
    i++;
  }
  return items;
}

const num = (v: Param | undefined): number | undefined =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;

function integerHeader(headers: Headers, name: string): number | undefined {
  const raw = headers.get(name);
  if (raw === null || !/^\s*\d+(\.\d+)?\s*$/.test(raw)) return undefined;
  return Number(raw);
}

/** A reset header: seconds from now, whether the server sent epoch seconds or a delta. */
function resetFrom(value: number | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  // No window is 30 years long: a figure that large is an epoch time.
  if (value > 1_000_000_000) return Math.max(0, value - nowMs / 1000);
  return value;
}

/** `Retry-After` in seconds: a number of seconds, or an HTTP date. */
export function retryAfterSeconds(headers: Headers, nowMs = Date.now()): number | undefined {
  const raw = headers.get("Retry-After");
  if (raw === null) return undefined;
  if (/^\s*\d+\s*$/.test(raw)) return Number(raw);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}

/** Everything the response's headers say about its limits. */
export function readRateLimit(headers: Headers, nowMs = Date.now()): RateLimitInfo {
  const limits: ReportedLimit[] = [];
  const policies = new Map(parseItemList(headers.get("RateLimit-Policy")).map((p) => [p.name, p.params]));
  for (const state of parseItemList(headers.get("RateLimit"))) {
    const policy = policies.get(state.name) ?? {};
    const windowSeconds = num(policy.w);
    limits.push({
      name: state.name,
      limit: num(policy.q),
      remaining: num(state.params.r),
      resetSeconds: num(state.params.t),
      ...(windowSeconds !== undefined ? { windowSeconds } : {}),
      concurrent: policy.qu === "concurrent-requests",
    });
  }
  if (limits.length === 0) {
    // One limit described by the legacy trio, else the X- trio.
    for (const prefix of ["RateLimit-", "X-RateLimit-"]) {
      const limit = integerHeader(headers, `${prefix}Limit`);
      const remaining = integerHeader(headers, `${prefix}Remaining`);
      if (limit === undefined && remaining === undefined) continue;
      limits.push({
        name: "",
        limit,
        remaining,
        resetSeconds: resetFrom(integerHeader(headers, `${prefix}Reset`), nowMs),
        concurrent: false,
      });
      break;
    }
  }
  limits.sort((a, b) => (a.remaining ?? Number.POSITIVE_INFINITY) - (b.remaining ?? Number.POSITIVE_INFINITY));
  const retryAfter = retryAfterSeconds(headers, nowMs);
  return { limits, ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}) };
}
