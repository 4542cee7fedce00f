/**
 * Compiles a validated policy into what the request path needs: matchers
 * built once, limit numbers looked up per tier without re-reading the
 * document, counter names fixed. Nothing here runs per request but the
 * closures it returns.
 * @module
 */
import { type CalendarAnchor, NOMINAL_MS } from "../limiter/calendar";
import { waitingName } from "../limiter/delay";
import { type PenaltySpec, penaltyName } from "../limiter/penalty";
import type { Algorithm, DelaySpec } from "../limiter/types";
import { type Cidr, cidrContains, type ParsedIp, parseCidr } from "../net/ip";
import { policyAnchor } from "./calendar-anchor";
import { counterName } from "./counter-name";
import { compilePathPatterns, withoutFormatSuffix } from "./normalize-path";
import {
  DEFAULT_BODY_MAX_BYTES,
  DEFAULT_MAX_WAITING,
  DEFAULT_SETTLE_MAX_BYTES,
  isCalendarWindow,
  type Policy,
  parseDelay,
  type Rule,
} from "./schema";
import { type ParsedWindow, parseWindow, windowInWords } from "./window";

/** What a rule matches on, taken from the request once. */
export interface RequestFacts {
  method: string;
  /** Normalised path (see `normalizePath`). */
  path: string;
  /** Lower-case host without port. */
  host: string;
  headers: Headers;
  ip: ParsedIp | undefined;
  /**
   * The methods a POST asks the origin to treat it as (see `methodOverride`), upper-case; `"any"` when its
   * body may carry one that sluice cannot read. Matched only by rules with `match.methodOverride`.
   */
  overrides?: ReadonlySet<string> | "any";
}

export type KeySpec =
  | { kind: "tenant" }
  | { kind: "ip" }
  | { kind: "header"; name: string }
  | { kind: "query"; name: string }
  | { kind: "body"; path: string[]; field: string };

/** How a `body:` key reads the body (`bodyKey`, defaults filled in). */
export interface BodyKeyOptions {
  /** Decoded bytes read at most. */
  maxBytes: number;
  /** What an unreadable or ambiguous body gets. */
  onUnreadable: "refuse" | "count";
  /** Where the key is read: the body, the query string, or both (both must agree). */
  from: { body: boolean; query: boolean };
  /** An array or a field given twice: unreadable, or counted on each value. */
  arrays: "refuse" | "each";
}

/** One place an API key can be: a header (with an optional scheme) or a query parameter. */
export type CredentialPlace = { header: string; scheme?: string | undefined } | { query: string };

/** Where a request's API key is read from (see `src/http/credentials.ts`). */
export interface CredentialPolicy {
  /** Every place the origin accepts a key, the primary (`identity.apiKey.header`) first. */
  accepted: readonly CredentialPlace[];
  /** Places a key must not be sent in; a key there is a conflict. */
  forbidden: readonly CredentialPlace[];
  onConflict: "refuse" | "strictest";
}

export interface CompiledLimit {
  /** Counter name and `ietf` item name: `<rule>-<window>` (`api-month` for a calendar window) or `<rule>-conc`. */
  name: string;
  algorithm: Algorithm;
  /** A calendar window's: the longest its period can be (its bounds come from `calendar`). */
  windowMs: number;
  /** Undefined for concurrency and for a calendar window. */
  window: ParsedWindow | undefined;
  /** A calendar window (`week`, `month`, `year`) as the policy anchors it; a tenant's billing may move it. */
  calendar?: CalendarAnchor;
  /** `"15 minutes"`; `"at once"` for concurrency. */
  windowWords: string;
  burst: number | undefined;
  /** The number for a tier, before the sandbox multiplier. */
  limitFor(tier: string): number;
}

/** A rule's `settle`, with its defaults filled in and its paths split. */
export interface CompiledSettle {
  from: "header" | "json" | "status";
  /** Lower-case. */
  header?: string;
  path?: string[];
  /** `settle.status`, exact statuses first, then classes. */
  status: Array<{ pattern: string; cost: number }>;
  maxBytes: number;
  estimate?: { header?: string; body?: string[]; max: number };
}

export interface CompiledRule {
  id: string;
  action: Rule["action"];
  key: KeySpec;
  /** Used by a `body:` key only. */
  bodyKey: BodyKeyOptions;
  count: Rule["count"];
  mode: Rule["mode"];
  onError: Rule["onError"];
  continue: boolean;
  cost: number;
  pageSize: Rule["pageSize"];
  limits: CompiledLimit[];
  /** The rule's penalty box, when it has one. */
  penalty: PenaltySpec | undefined;
  /** `onLimit.delay`: how long a request its limits would refuse may wait for its room, and how many at once. */
  delay?: DelaySpec;
  /** Reserve, then settle (`settle`): how the real cost is read from the response. */
  settle?: CompiledSettle;
  /** True when any limit's number depends on the tier. */
  tiered: boolean;
  /** How many shard objects the key's room is spread over (a tree of leases); absent: the key's one object. */
  shards?: number;
  /** Regional tree: this many shard objects per region (location hint); absent: none. */
  shardsPerRegion?: number;
  /** `scope: "region"`: each region counts on its own key (`region:<hint>:<key>`); absent: one count worldwide. */
  perRegion?: true;
  /** Fractions of each window limit at which an event fires (`thresholds`); absent: none. */
  thresholds?: number[];
  matches(facts: RequestFacts): boolean;
  /**
   * With `match.methodOverride`: whether the rule could match this request as some overridden method (every
   * condition but the method holds), so that the request's overrides are worth reading. Absent otherwise.
   */
  mayMatchOverridden?: (facts: RequestFacts) => boolean;
}

export interface CompiledPolicy {
  document: Policy;
  defaultTier: string;
  sandboxMultiplier: number;
  sandboxHosts: ReadonlySet<string>;
  apiKeyHeader: string;
  apiKeyScheme: string | undefined;
  /** Every place an API key is read from, where one must not be, and what two keys get. */
  credentials: CredentialPolicy;
  ipv6Prefix: number;
  headerFamilies: { legacy: boolean; ietf: boolean; x: boolean };
  legacyReset: Policy["legacyReset"];
  /** Send `pk` (a hash of the counting key) on the `ietf` items. */
  partitionKey: boolean;
  response: Policy["response"];
  rules: CompiledRule[];
  /** Some limited rule needs the tenant (a tenant key or tiered numbers). */
  needsTenant: boolean;
  /** Some rule keys by the request body, or reads `_method` from it (`methodOverride`). */
  readsBody: boolean;
  /** Some rule matches a POST by the method it overrides to (`match.methodOverride`). */
  methodOverride: boolean;
  /** Where threshold events are sent (`notify.url`); absent: no rule has thresholds. */
  notifyUrl?: string;
}

export function compilePolicy(document: Policy): CompiledPolicy {
  const rules = document.rules.map((r) => compileRule(r, document.defaultTier));
  return {
    document,
    defaultTier: document.defaultTier,
    sandboxMultiplier: document.sandbox.multiplier,
    sandboxHosts: new Set(document.sandbox.hosts.map((h) => h.toLowerCase())),
    apiKeyHeader: document.identity.apiKey.header.toLowerCase(),
    apiKeyScheme: document.identity.apiKey.scheme,
    credentials: compileCredentials(document.identity.apiKey),
    ipv6Prefix: document.identity.ipv6Prefix,
    headerFamilies: {
      legacy: document.headers.includes("legacy"),
      ietf: document.headers.includes("ietf"),
      x: document.headers.includes("x"),
    },
    legacyReset: document.legacyReset,
    partitionKey: document.partitionKey,
    response: document.response,
    rules,
    needsTenant: rules.some((r) => r.action === "limit" && (r.key.kind === "tenant" || r.tiered)),
    readsBody:
      rules.some((r) => r.action === "limit" && r.key.kind === "body" && r.bodyKey.from.body) ||
      document.rules.some((r) => r.match.methodOverride === true),
    methodOverride: document.rules.some((r) => r.match.methodOverride === true),
    ...(document.notify ? { notifyUrl: document.notify.url } : {}),
  };
}

function compileRule(rule: Rule, defaultTier: string): CompiledRule {
  const limits = rule.limits.map((l): CompiledLimit => {
    if (l.concurrency !== undefined) {
      const slots = l.concurrency;
      return {
        name: counterName(rule.id, l),
        algorithm: "concurrency",
        windowMs: 0,
        window: undefined,
        windowWords: "at once",
        burst: undefined,
        limitFor: () => slots,
      };
    }
    if (isCalendarWindow(l.window)) {
      const calendar = policyAnchor(l.window, l.anchor);
      return {
        name: counterName(rule.id, l),
        algorithm: "fixed",
        windowMs: NOMINAL_MS[l.window],
        window: undefined,
        calendar,
        windowWords: l.window,
        burst: undefined,
        limitFor: tierLookup(l.limit!, defaultTier),
      };
    }
    const window = parseWindow(l.window!)!;
    return {
      name: counterName(rule.id, l),
      algorithm: l.algorithm ?? "fixed",
      windowMs: window.ms,
      window,
      windowWords: windowInWords(window),
      burst: l.burst,
      limitFor: tierLookup(l.limit!, defaultTier),
    };
  });
  return {
    id: rule.id,
    action: rule.action,
    key: compileKey(rule.key),
    bodyKey: {
      maxBytes: rule.bodyKey?.maxBytes ?? DEFAULT_BODY_MAX_BYTES,
      onUnreadable: rule.bodyKey?.onUnreadable ?? "refuse",
      from: {
        body: (rule.bodyKey?.from ?? ["body"]).includes("body"),
        query: (rule.bodyKey?.from ?? []).includes("query"),
      },
      arrays: rule.bodyKey?.arrays ?? "refuse",
    },
    count: rule.count,
    mode: rule.mode,
    onError: rule.onError,
    continue: rule.continue,
    cost: rule.cost,
    pageSize: rule.pageSize,
    limits,
    penalty: compilePenalty(rule, limits),
    ...(rule.onLimit !== undefined
      ? {
          delay: {
            maxMs: parseDelay(rule.onLimit.delay)!,
            maxWaiting: rule.onLimit.maxWaiting ?? DEFAULT_MAX_WAITING,
            name: waitingName(rule.id),
          },
        }
      : {}),
    ...(rule.settle !== undefined ? { settle: compileSettle(rule.settle) } : {}),
    tiered: rule.limits.some((l) => typeof l.limit === "object"),
    ...(rule.shards !== undefined ? { shards: rule.shards } : {}),
    ...(rule.shardsPerRegion !== undefined ? { shardsPerRegion: rule.shardsPerRegion } : {}),
    ...(rule.scope === "region" ? { perRegion: true as const } : {}),
    ...(rule.thresholds !== undefined ? { thresholds: rule.thresholds } : {}),
    matches: compileMatch(rule.match),
    ...(rule.match.methodOverride ? { mayMatchOverridden: compileMatch({ ...rule.match, methods: undefined }) } : {}),
  };
}

function compileSettle(settle: NonNullable<Rule["settle"]>): CompiledSettle {
  const status = Object.entries(settle.status ?? {})
    .map(([pattern, cost]) => ({ pattern, cost }))
    .sort((a, b) => Number(a.pattern.endsWith("xx")) - Number(b.pattern.endsWith("xx")));
  const e = settle.estimate;
  return {
    from: settle.from,
    ...(settle.header !== undefined ? { header: settle.header.toLowerCase() } : {}),
    ...(settle.path !== undefined ? { path: settle.path.split(".") } : {}),
    status,
    maxBytes: settle.maxBytes ?? DEFAULT_SETTLE_MAX_BYTES,
    ...(e !== undefined
      ? {
          estimate: {
            ...(e.header !== undefined ? { header: e.header.toLowerCase() } : {}),
            ...(e.body !== undefined ? { body: e.body.split(".") } : {}),
            max: e.max,
          },
        }
      : {}),
  };
}

function compilePenalty(rule: Rule, limits: CompiledLimit[]): PenaltySpec | undefined {
  if (rule.penalty === undefined) return undefined;
  const p = typeof rule.penalty === "string" ? { duration: rule.penalty } : rule.penalty;
  const ms = (w: string | undefined) => (w === undefined ? undefined : parseWindow(w)!.ms);
  const escalateWithinMs = ms(p.escalateWithin);
  const maxMs = ms(p.max);
  return {
    name: penaltyName(rule.id),
    counters: limits.map((l) => l.name),
    durationMs: ms(p.duration)!,
    ...(escalateWithinMs !== undefined ? { escalateWithinMs } : {}),
    ...(maxMs !== undefined ? { maxMs } : {}),
  };
}

function tierLookup(limit: number | Record<string, number>, defaultTier: string): (tier: string) => number {
  if (typeof limit === "number") return () => limit;
  const table = new Map(Object.entries(limit));
  const fallback = table.get(defaultTier)!;
  return (tier) => table.get(tier) ?? fallback;
}

function compileKey(key: string): KeySpec {
  if (key === "tenant" || key === "ip") return { kind: key };
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const name = key.slice(colon + 1);
  if (kind === "header") return { kind, name: name.toLowerCase() };
  if (kind === "query") return { kind, name };
  return { kind: "body", path: name.split("."), field: name };
}

function compileMatch(match: Rule["match"]): (facts: RequestFacts) => boolean {
  const tests: Array<(f: RequestFacts) => boolean> = [];
  if (match.methods) {
    const methods = new Set(match.methods.map((m) => m.toUpperCase()));
    // HEAD is served by the GET handler of an origin, so a GET rule covers it.
    if (methods.has("GET")) methods.add("HEAD");
    if (match.methodOverride)
      tests.push((f) => {
        if (methods.has(f.method)) return true;
        const o = f.overrides;
        return o === "any" || (o !== undefined && [...o].some((m) => methods.has(m)));
      });
    else tests.push((f) => methods.has(f.method));
  }
  if (match.hosts) {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const h of match.hosts.map((x) => x.toLowerCase())) {
      if (h.startsWith("*.")) suffixes.push(h.slice(1));
      else exact.add(h);
    }
    tests.push((f) => exact.has(f.host) || suffixes.some((s) => f.host.endsWith(s)));
  }
  if (match.paths) {
    const matchPath = compilePathPatterns(match.paths);
    // Rails routes `/transfers.json` to `/transfers`: by default a path matches with or without its format suffix.
    if (match.formatSuffix === false) tests.push((f) => matchPath(f.path));
    else
      tests.push((f) => {
        if (matchPath(f.path)) return true;
        const bare = withoutFormatSuffix(f.path);
        return bare !== undefined && matchPath(bare);
      });
  }
  if (match.headers) {
    const wanted = Object.entries(match.headers).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()] as const);
    tests.push((f) =>
      wanted.every(([name, value]) => {
        const got = f.headers.get(name);
        // A list-valued header (Connection: keep-alive, Upgrade) matches on any member.
        return (
          got !== null &&
          (got.toLowerCase() === value ||
            got
              .toLowerCase()
              .split(",")
              .some((p) => p.trim() === value))
        );
      }),
    );
  }
  if (match.ips) {
    const ranges: Cidr[] = match.ips.map((c) => parseCidr(c)!);
    tests.push((f) => f.ip !== undefined && ranges.some((r) => cidrContains(r, f.ip!)));
  }
  return (facts) => tests.every((t) => t(facts));
}

function compileCredentials(apiKey: Policy["identity"]["apiKey"]): CredentialPolicy {
  const place = (p: { header?: string | undefined; scheme?: string | undefined; query?: string | undefined }) =>
    (p.query !== undefined
      ? { query: p.query }
      : { header: p.header!.toLowerCase(), scheme: p.scheme }) as CredentialPlace;
  return {
    accepted: [place(apiKey), ...(apiKey.also ?? []).map(place)],
    forbidden: (apiKey.forbidden ?? []).map(place),
    onConflict: apiKey.onConflict ?? "refuse",
  };
}
