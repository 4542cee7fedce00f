/**
 * The policy document's schema: what an operator may write into KV `policy`.
 *
 * Every object is strict (an unknown field is an error, not ignored), every
 * field but `version` and `rules` has the default given in docs/policy.md, and
 * cross-field rules (unique rule ids, a tier map that names `defaultTier`,
 * one item name per limit) are checked here so that a document that parses is
 * one the compiler can always compile.
 *
 * @module
 */
import * as z from "zod/mini";
import { isTimeZone } from "../limiter/calendar";
import { parseCidr } from "../net/ip";
import { counterName } from "./counter-name";
import { parseWindow } from "./window";

// zod/mini keeps the Worker small (the classic API bundles to ~700 KiB, this to a few dozen). It ships
// no messages of its own: parse with `english()` (./english.ts), never with a global `z.config`.

const RULE_ID = /^[a-z0-9_-]{1,64}$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

/**
 * The largest number a `RateLimit` or `RateLimit-Policy` header can carry: an
 * RFC 9651 Integer has at most 15 digits.
 */
export const MAX_HEADER_INTEGER = 999_999_999_999_999;

const positiveInt = z
  .int()
  .check(
    z.gte(1),
    z.lte(MAX_HEADER_INTEGER, `must be at most ${MAX_HEADER_INTEGER} (a header integer has at most 15 digits)`),
  );
const nonEmpty = () => z.string().check(z.minLength(1));

const tierLimit = z.union([positiveInt, z.record(nonEmpty(), positiveInt)], {
  error: "must be a positive integer, or an object from tier name to positive integer",
});

/** A window or duration: `<n>s`, `<n>m`, `<n>h` or `<n>d`, at most a year (./window.ts). */
export const windowString = z
  .string()
  .check(
    z.refine(
      (w) => parseWindow(w) !== undefined,
      'must be <n>s, <n>m, <n>h or <n>d with n a positive integer (e.g. "15m")',
    ),
  );

/** The calendar windows: a week, a month or a year from an anchor (`anchor`), in a time zone. */
export const CALENDAR_WINDOWS = ["week", "month", "year"] as const;
export type CalendarWindow = (typeof CALENDAR_WINDOWS)[number];

export function isCalendarWindow(w: string | undefined): w is CalendarWindow {
  return (CALENDAR_WINDOWS as readonly string[]).includes(w ?? "");
}

/** A limit's window: a length (`"15m"`), or a calendar period (`"week"`, `"month"`, `"year"`). */
export const limitWindow = z
  .string()
  .check(
    z.refine(
      (w) => parseWindow(w) !== undefined || isCalendarWindow(w),
      'must be <n>s, <n>m, <n>h or <n>d with n a positive integer (e.g. "15m"), or "week", "month" or "year"',
    ),
  );

/** A wall-clock time, `"HH:MM"`, 24-hour. */
export const anchorTime = z
  .string()
  .check(z.regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a 24-hour time "HH:MM", e.g. "00:00"'));

/** An IANA time zone the runtime knows (`Intl`). */
export const timeZoneName = z
  .string()
  .check(z.refine(isTimeZone, 'must be an IANA time zone, e.g. "UTC", "Europe/Berlin", "America/New_York"'));

export const dayOfMonth = z
  .int()
  .check(z.gte(1, "must be a day of the month, 1 to 31"), z.lte(31, "must be a day of the month, 1 to 31"));

export const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

/** Where a calendar window's periods start; every field optional (docs/policy.md: defaults). */
export const AnchorSchema = z.strictObject({
  /** `month` and `year`: the day of the month a period starts on (default 1); past a month's end, its last day. */
  day: z.optional(dayOfMonth),
  /** `week`: the day a period starts on (default `"monday"`). */
  weekday: z.optional(z.enum(WEEKDAYS)),
  /** `year`: the month a period starts in, 1–12 (default 1). */
  month: z.optional(z.int().check(z.gte(1, "must be a month, 1 to 12"), z.lte(12, "must be a month, 1 to 12"))),
  /** Local time a period starts at (default `"00:00"`). */
  time: z.optional(anchorTime),
  /** The time zone of `time` and of the day (default `"UTC"`). */
  timeZone: z.optional(timeZoneName),
});

/** The days a month can have, by month 1–12 (February: in a leap year). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/**
 * A rule's penalty box: `"10m"`, or with escalation
 * `{ "duration": "10m", "escalateWithin": "1h", "max": "1d" }`.
 */
export const PenaltySchema = z.union(
  [
    windowString,
    z.strictObject({
      duration: windowString,
      escalateWithin: z.optional(windowString),
      max: z.optional(windowString),
    }),
  ],
  {
    error:
      'must be a duration like "10m", or { "duration": "10m", "escalateWithin": "1h", "max": "1d" } (<n>s, <n>m, <n>h or <n>d)',
  },
);

/** The longest `onLimit.delay`: a request held longer than a minute is better refused. */
export const MAX_DELAY_MS = 60_000;
/** The most requests of one key that may wait at once (`onLimit.maxWaiting`), and the default. */
export const MAX_WAITING = 1_000;
export const DEFAULT_MAX_WAITING = 100;

/** `"500ms"`, `"2s"`, `"1m"`: a delay bound, in ms; `undefined` when the text is not one. */
export function parseDelay(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,4})(ms|s|m)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1_000 : 60_000);
}

/** `onLimit.delay`: a duration of at most a minute. */
export const delayString = z.string().check(
  z.refine((d) => parseDelay(d) !== undefined, 'must be <n>ms, <n>s or <n>m with n a positive integer (e.g. "2s")'),
  z.refine((d) => (parseDelay(d) ?? 0) <= MAX_DELAY_MS, "must be at most 60s"),
);

/**
 * What a rule does with a request its limits would refuse: `{ "delay": "2s" }`
 * holds it until its room comes back, when that is within the bound (nginx's
 * `burst` without `nodelay`), at most `maxWaiting` of a key at once.
 */
export const OnLimitSchema = z.strictObject({
  delay: delayString,
  maxWaiting: z.optional(z.int().check(z.gte(1), z.lte(MAX_WAITING, `must be an integer from 1 to ${MAX_WAITING}`))),
});

/**
 * One entry of `limits`: a rate limit (`limit` + `window`, optional `algorithm`
 * and `burst`) or a concurrency limit (`concurrency` alone). Written as one
 * strict object with a refinement rather than a union so that an error names
 * the exact field that is wrong.
 */
export const LimitSchema = z
  .strictObject({
    limit: z.optional(tierLimit),
    window: z.optional(limitWindow),
    /** With a calendar window: where its periods start (`{ "day": 15, "time": "00:00", "timeZone": "Europe/Berlin" }`). */
    anchor: z.optional(AnchorSchema),
    algorithm: z.optional(z.enum(["fixed", "sliding", "token-bucket"])),
    burst: z.optional(positiveInt),
    concurrency: z.optional(positiveInt),
  })
  .check(
    z.superRefine((l, ctx) => {
      if (l.concurrency !== undefined) {
        for (const field of ["limit", "window", "anchor", "algorithm", "burst"] as const) {
          if (l[field] !== undefined) {
            ctx.addIssue({ code: "custom", path: [field], message: "not allowed next to concurrency" });
          }
        }
        return;
      }
      if (l.limit === undefined)
        ctx.addIssue({ code: "custom", path: ["limit"], message: "required (or give concurrency)" });
      if (l.window === undefined) ctx.addIssue({ code: "custom", path: ["window"], message: "required with limit" });
      if (l.burst !== undefined && l.algorithm !== "token-bucket") {
        ctx.addIssue({ code: "custom", path: ["burst"], message: 'only allowed with algorithm "token-bucket"' });
      }
      for (const issue of anchorIssues(l.window, l.anchor, l.algorithm)) ctx.addIssue({ code: "custom", ...issue });
    }),
  );

/** What is wrong with a limit's calendar window and its anchor, each at the field at fault. */
function anchorIssues(
  window: string | undefined,
  anchor: z.output<typeof AnchorSchema> | undefined,
  algorithm: string | undefined,
): Array<{ path: Array<string>; message: string }> {
  const issues: Array<{ path: Array<string>; message: string }> = [];
  if (!isCalendarWindow(window)) {
    if (anchor !== undefined && window !== undefined)
      issues.push({ path: ["anchor"], message: 'only allowed with window "week", "month" or "year"' });
    return issues;
  }
  if (algorithm !== undefined && algorithm !== "fixed")
    issues.push({
      path: ["algorithm"],
      message: `must be "fixed" (the default) with window "${window}": a calendar period is a fixed window`,
    });
  if (anchor === undefined) return issues;
  if (window === "week" && anchor.day !== undefined)
    issues.push({ path: ["anchor", "day"], message: 'not allowed with window "week" (give weekday)' });
  if (window !== "week" && anchor.weekday !== undefined)
    issues.push({ path: ["anchor", "weekday"], message: 'only allowed with window "week"' });
  if (window !== "year" && anchor.month !== undefined)
    issues.push({ path: ["anchor", "month"], message: 'only allowed with window "year"' });
  if (window === "year" && anchor.day !== undefined) {
    const m = anchor.month ?? 1;
    if (anchor.day > MONTH_DAYS[m - 1]!)
      issues.push({
        path: ["anchor", "day"],
        message: `${MONTH_NAMES[m - 1]} has at most ${MONTH_DAYS[m - 1]} days`,
      });
  }
  return issues;
}

export const cidr = z
  .string()
  .check(z.refine((c) => parseCidr(c) !== undefined, "must be an IPv4 or IPv6 CIDR range or address"));

export const pathPattern = z.string().check(
  z.minLength(1),
  z.refine((p) => p.startsWith("/"), "must start with /"),
  z.refine((p) => !/\*[^/]|[^/]\*/.test(p), "* must stand for a whole segment"),
);

const headerName = z.string().check(z.regex(HEADER_NAME, "must be a header name"));

export const MatchSchema = z.strictObject({
  methods: z.optional(
    z.array(z.string().check(z.regex(/^[A-Za-z]+$/, "must be an HTTP method"))).check(z.minLength(1)),
  ),
  paths: z.optional(z.array(pathPattern).check(z.minLength(1))),
  /** Default true: `/transfers.json` (a Rails format suffix) matches `/transfers`. */
  formatSuffix: z.optional(z.boolean()),
  hosts: z.optional(z.array(nonEmpty()).check(z.minLength(1))),
  headers: z.optional(z.record(headerName, z.string())),
  ips: z.optional(z.array(cidr).check(z.minLength(1))),
  /**
   * Default false. True: a POST also matches as the method it asks the origin to treat it as
   * (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`, `_method` in the query or the body).
   */
  methodOverride: z.optional(z.boolean()),
});

export const ruleKey = z
  .string()
  .check(
    z.refine(
      (k) =>
        k === "tenant" ||
        k === "ip" ||
        /^header:[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/.test(k) ||
        /^query:.+$/.test(k) ||
        /^body:[^.\s][^\s]*$/.test(k),
      'must be "tenant", "ip", "header:<name>", "query:<name>" or "body:<json field>"',
    ),
  );

export const PageSizeSchema = z
  .strictObject({
    param: z._default(nonEmpty(), "limit"),
    default: positiveInt,
    max: positiveInt,
    mode: z._default(z.enum(["clamp", "reject"]), "clamp"),
  })
  .check(z.refine((p) => p.default <= p.max, { message: "default must not exceed max", path: ["default"] }));

/** What a `body:` key reads by default, in decoded bytes. */
export const DEFAULT_BODY_MAX_BYTES = 64 * 1024;
/** The most a rule may ask sluice to read: a Worker's memory is not a buffer for uploads. */
export const MAX_BODY_MAX_BYTES = 1024 * 1024;

/** How a `body:` key reads the body; only with such a key. */
export const BodyKeySchema = z.strictObject({
  maxBytes: z.optional(
    z.int().check(z.gte(1), z.lte(MAX_BODY_MAX_BYTES, `must be at most ${MAX_BODY_MAX_BYTES} (1 MiB)`)),
  ),
  onUnreadable: z.optional(z.enum(["refuse", "count"])),
  /** Where the key may be: the body (default), and also the query string (`["body", "query"]`). */
  from: z.optional(
    z.array(z.enum(["body", "query"])).check(
      z.minLength(1, 'must name at least one of "body", "query"'),
      z.refine((f) => new Set(f).size === f.length, "must not name a place twice"),
    ),
  ),
  /** An array (`email[]=`, `email[0]=`, a JSON array) or a field given twice: refused (default), or counted on each value. */
  arrays: z.optional(z.enum(["refuse", "each"])),
});

/** What a settle reads of a response body by default (`settle.maxBytes`), and the most it may read. */
export const DEFAULT_SETTLE_MAX_BYTES = 64 * 1024;
export const MAX_SETTLE_MAX_BYTES = 1024 * 1024;

/** A JSON field's dotted path, `usage.total_tokens`. */
const jsonPath = z
  .string()
  .check(z.regex(/^[^.\s]+(?:\.[^.\s]+)*$/, 'must be a dotted JSON path, e.g. "usage.total_tokens"'));

/** A status pattern of `settle.status`: `"503"`, or a class, `"5xx"`. */
export const STATUS_PATTERN = /^[1-5](?:xx|[0-9]{2})$/;

/**
 * Where a request's estimate is read from (`settle.estimate`): a request header or a JSON field of its
 * body, bounded by `max`; absent or unreadable, the rule's `cost`.
 */
export const EstimateSchema = z
  .strictObject({
    header: z.optional(headerName),
    body: z.optional(jsonPath),
    max: positiveInt,
  })
  .check(
    z.superRefine((e, ctx) => {
      if ((e.header === undefined) === (e.body === undefined))
        ctx.addIssue({ code: "custom", path: [], message: 'give exactly one of "header" or "body"' });
    }),
  );

/**
 * Reserve, then settle: the rule charges its estimate (`cost`, or `estimate`) at admission and, when
 * the response is known, the real cost: from a response header, a JSON field of the body (a plain JSON
 * body, or the last `data:` event of a `text/event-stream` carrying it), or only from `status`. The
 * difference is given back or charged as debt.
 */
export const SettleSchema = z
  .strictObject({
    from: z.enum(["header", "json", "status"]),
    header: z.optional(headerName),
    path: z.optional(jsonPath),
    /** The cost of a response by status (`"503"`) or class (`"5xx"`), before `from` is read: `{ "5xx": 0 }`. */
    status: z.optional(
      z.record(
        z.string().check(z.regex(STATUS_PATTERN, 'must be a status ("503") or a class ("5xx")')),
        z
          .int()
          .check(
            z.gte(0, "must be a whole number of at least 0"),
            z.lte(MAX_HEADER_INTEGER, `must be at most ${MAX_HEADER_INTEGER}`),
          ),
      ),
    ),
    /** `from: "json"`: the most of the body's tail kept to find the field in (default 64 KiB). */
    maxBytes: z.optional(
      z.int().check(z.gte(1), z.lte(MAX_SETTLE_MAX_BYTES, `must be at most ${MAX_SETTLE_MAX_BYTES} (1 MiB)`)),
    ),
    estimate: z.optional(EstimateSchema),
  })
  .check(
    z.superRefine((s, ctx) => {
      const need = { header: "header", json: "path" } as const;
      for (const [from, field] of Object.entries(need)) {
        const given = s[field] !== undefined;
        if (s.from === from && !given)
          ctx.addIssue({ code: "custom", path: [field], message: `required with from "${from}"` });
        if (s.from !== from && given)
          ctx.addIssue({ code: "custom", path: [field], message: `only allowed with from "${from}"` });
      }
      if (s.maxBytes !== undefined && s.from !== "json")
        ctx.addIssue({ code: "custom", path: ["maxBytes"], message: 'only allowed with from "json"' });
      if (s.from === "status" && (s.status === undefined || Object.keys(s.status).length === 0))
        ctx.addIssue({ code: "custom", path: ["status"], message: 'required with from "status"' });
    }),
  );

/** The fewest and the most shard objects a key's room may be spread over (`shards`). */
export const MIN_SHARDS = 2;
export const MAX_SHARDS = 256;
/** The most shard objects per region a key's tree may have (`shardsPerRegion`). */
export const MAX_SHARDS_PER_REGION = 16;

/** The most thresholds a rule may have. */
export const MAX_THRESHOLDS = 10;

/**
 * A rule's thresholds: fractions of each window limit's number, each in (0, 1], ascending and
 * unique; an event fires once per window per key when the key's count reaches one (docs/policy.md).
 */
const FRACTION = "each threshold must be a fraction of the limit, above 0 and at most 1 (0.8 is 80%)";
export const ThresholdsSchema = z.array(z.number().check(z.gt(0, FRACTION), z.lte(1, FRACTION))).check(
  z.minLength(1, "must name at least one threshold"),
  z.maxLength(MAX_THRESHOLDS, `at most ${MAX_THRESHOLDS} thresholds`),
  z.refine((ts) => ts.every((t, i) => i === 0 || t > ts[i - 1]!), "must be ascending, each threshold once"),
);

/** Where threshold events are sent (`notify.url`); the signing secret is the Worker's, never in the policy. */
export const NotifySchema = z.strictObject({
  url: z.string().check(
    z.refine((u) => {
      try {
        const url = new URL(u);
        return (url.protocol === "https:" || url.protocol === "http:") && url.username === "" && url.password === "";
      } catch {
        return false;
      }
    }, "must be an http(s) URL with no user name or password in it"),
  ),
});

export const RuleSchema = z
  .strictObject({
    id: z.string().check(z.regex(RULE_ID, "must match [a-z0-9_-]{1,64}")),
    match: z._default(MatchSchema, {}),
    action: z._default(z.enum(["limit", "bypass", "block"]), "limit"),
    key: z._default(ruleKey, "tenant"),
    count: z._default(z.enum(["all", "failures"]), "all"),
    mode: z._default(z.enum(["enforce", "shadow"]), "enforce"),
    onError: z._default(z.enum(["open", "closed"]), "open"),
    continue: z._default(z.boolean(), false),
    cost: z._default(positiveInt, 1),
    pageSize: z.optional(PageSizeSchema),
    penalty: z.optional(PenaltySchema),
    onLimit: z.optional(OnLimitSchema),
    bodyKey: z.optional(BodyKeySchema),
    /** Reserve `cost` (or `settle.estimate`) at admission, settle the real cost from the response. */
    settle: z.optional(SettleSchema),
    /** Spread the key's room over this many shard objects under a root (docs/leases.md); absent: one object. */
    shards: z.optional(
      z
        .int()
        .check(
          z.gte(MIN_SHARDS, `must be an integer from ${MIN_SHARDS} to ${MAX_SHARDS}`),
          z.lte(MAX_SHARDS, `must be an integer from ${MIN_SHARDS} to ${MAX_SHARDS}`),
        ),
    ),
    /**
     * A tree with this many shard objects in each region, created there by location hint: an isolate
     * leases from one of its own region's, and only shards call the root (docs/leases.md, "Geography").
     */
    shardsPerRegion: z.optional(
      z
        .int()
        .check(
          z.gte(1, `must be an integer from 1 to ${MAX_SHARDS_PER_REGION}`),
          z.lte(MAX_SHARDS_PER_REGION, `must be an integer from 1 to ${MAX_SHARDS_PER_REGION}`),
        ),
    ),
    /**
     * `"region"`: count each region (the request's location hint) on its own, so a client reaching
     * two regions gets the limit in each. Absent or `"global"`: one count worldwide.
     */
    scope: z.optional(z.enum(["global", "region"])),
    limits: z._default(z.array(LimitSchema), []),
    /** Fractions of each window limit at which an event fires, once per window per key (`notify.url`). */
    thresholds: z.optional(ThresholdsSchema),
  })
  .check(
    z.superRefine((r, ctx) => {
      if (
        r.thresholds !== undefined &&
        !r.limits.some((l) => l.concurrency === undefined && l.algorithm !== "token-bucket")
      )
        ctx.addIssue({
          code: "custom",
          path: ["thresholds"],
          message:
            "only allowed on a rule with a fixed or sliding window limit (a bucket and a concurrency limit have no window to fire once in)",
        });
      if (r.action === "limit" && r.limits.length === 0 && r.pageSize === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["limits"],
          message: 'a rule with action "limit" needs at least one limit (or a pageSize)',
        });
      }
      if (r.penalty !== undefined && r.limits.length === 0) {
        ctx.addIssue({ code: "custom", path: ["penalty"], message: "only allowed on a rule with limits" });
      }
      if (typeof r.penalty === "object" && r.penalty.max !== undefined) {
        const duration = parseWindow(r.penalty.duration)?.ms ?? 0;
        if ((parseWindow(r.penalty.max)?.ms ?? 0) < duration)
          ctx.addIssue({ code: "custom", path: ["penalty", "max"], message: "must not be shorter than duration" });
      }
      if (r.bodyKey !== undefined && !r.key.startsWith("body:")) {
        ctx.addIssue({ code: "custom", path: ["bodyKey"], message: 'only allowed with a "body:<field>" key' });
      }
      if (r.match.methodOverride !== undefined && r.match.methods === undefined) {
        ctx.addIssue({ code: "custom", path: ["match", "methodOverride"], message: 'only allowed with "methods"' });
      }
      if (r.action !== "limit" && r.limits.length > 0) {
        ctx.addIssue({ code: "custom", path: ["limits"], message: `not allowed with action "${r.action}"` });
      }
      if (r.onLimit !== undefined) {
        for (const message of onLimitIssues(r)) ctx.addIssue({ code: "custom", path: ["onLimit"], message });
      }
      if (r.settle !== undefined) {
        for (const message of settleIssues(r)) ctx.addIssue({ code: "custom", path: ["settle"], message });
      }
      if (r.shards !== undefined) {
        for (const message of shardsIssues(r)) ctx.addIssue({ code: "custom", path: ["shards"], message });
      }
      if (r.shardsPerRegion !== undefined) {
        const issues =
          r.shards !== undefined
            ? ['not allowed with "shards": a key\'s tree is hashed or regional, not both']
            : r.scope === "region"
              ? ['not allowed with scope "region": each region\'s count already lives in its own region']
              : shardsIssues(r);
        for (const message of issues) ctx.addIssue({ code: "custom", path: ["shardsPerRegion"], message });
      }
      if (r.scope === "region" && r.action !== "limit") {
        ctx.addIssue({ code: "custom", path: ["scope"], message: `not allowed with action "${r.action}"` });
      }
      const names = new Map<string, number>();
      r.limits.forEach((l, i) => {
        const name = counterName(r.id, l);
        const seen = names.get(name);
        if (seen !== undefined) {
          const message =
            l.concurrency !== undefined
              ? `a rule may have only one concurrency limit (also limits[${seen}])`
              : `names the same counter "${name}" as limits[${seen}]; give each limit its own window`;
          ctx.addIssue({ code: "custom", path: ["limits", i], message });
        } else names.set(name, i);
      });
    }),
  );

/**
 * Why a rule cannot have `onLimit`: a delayed request's slot is reserved at
 * the key's own object, for a rate it can wait for.
 */
function onLimitIssues(r: {
  action: string;
  mode: string;
  shards?: number | undefined;
  limits: ReadonlyArray<{ concurrency?: number | undefined }>;
}): string[] {
  if (r.action !== "limit") return [`not allowed with action "${r.action}"`];
  if (r.limits.length === 0) return ["only allowed on a rule with limits"];
  const issues: string[] = [];
  const concurrency = r.limits.findIndex((l) => l.concurrency !== undefined);
  if (concurrency >= 0)
    issues.push(
      `not allowed with a concurrency limit (limits[${concurrency}]): a slot is held from now until the response ends, so no later slot can be reserved`,
    );
  if (r.mode === "shadow") issues.push('not allowed with mode "shadow": a shadow rule never refuses, so never delays');
  if (r.shards !== undefined)
    issues.push("not allowed with shards: a delayed request's slot is reserved at the key's own object");
  return issues;
}

/**
 * Why a rule cannot settle: a settle is a delta to the object that made the charge, the key's own
 * (root) object, so what decides elsewhere (a shard's block, a held slot) or charges a slot has none.
 */
function settleIssues(r: {
  action: string;
  count: string;
  shards?: number | undefined;
  shardsPerRegion?: number | undefined;
  onLimit?: unknown;
  limits: ReadonlyArray<{ concurrency?: number | undefined }>;
}): string[] {
  if (r.action !== "limit") return [`not allowed with action "${r.action}"`];
  if (r.limits.length === 0) return ["only allowed on a rule with limits"];
  const issues: string[] = [];
  const concurrency = r.limits.findIndex((l) => l.concurrency !== undefined);
  if (concurrency >= 0)
    issues.push(
      `not allowed with a concurrency limit (limits[${concurrency}]): a slot costs one, whatever the response`,
    );
  if (r.count === "failures")
    issues.push(
      'not allowed with count "failures": settle with status instead, e.g. { "from": "status", "status": { "2xx": 0, "3xx": 0 } }',
    );
  if (r.shards !== undefined || r.shardsPerRegion !== undefined)
    issues.push(
      "not allowed with shards: a settle's debt is charged at the key's own object, and a shard's block lent before it would still admit",
    );
  if (r.onLimit !== undefined)
    issues.push("not allowed with onLimit: a held request's slot is reserved at a cost the response may change");
  return issues;
}

/**
 * Why a rule cannot have `shards`: a shard admits from a block of room it
 * holds, so everything the rule does per request at the key's own object
 * (hold a slot, keep a penalty, give a success's charge back) has no place
 * in the tree.
 */
function shardsIssues(r: {
  action: string;
  count: string;
  penalty?: unknown;
  limits: ReadonlyArray<{ concurrency?: number | undefined }>;
}): string[] {
  if (r.action !== "limit") return [`not allowed with action "${r.action}"`];
  if (r.limits.length === 0) return ["only allowed on a rule with limits"];
  const issues: string[] = [];
  const concurrency = r.limits.findIndex((l) => l.concurrency !== undefined);
  if (concurrency >= 0)
    issues.push(
      `not allowed with a concurrency limit (limits[${concurrency}]): a slot is held for each request at the key's own object and is never leased`,
    );
  if (r.penalty !== undefined)
    issues.push("not allowed with a penalty: a penalty is set and read at the key's own object on every request");
  if (r.count === "failures")
    issues.push(
      "not allowed with count \"failures\": each success's charge is given back per request, and a shard's block cannot take it back",
    );
  return issues;
}

/** A place an API key can be sent: `{ "header": "x-api-key" }`, `{ "header": "authorization", "scheme": "Token" }`, `{ "query": "api_key" }`. */
export const CredentialPlaceSchema = z
  .strictObject({
    header: z.optional(headerName),
    scheme: z.optional(
      z.string().check(z.regex(/^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/, "must be a scheme name such as Bearer")),
    ),
    query: z.optional(nonEmpty()),
  })
  .check(
    z.superRefine((p, ctx) => {
      if ((p.header === undefined) === (p.query === undefined))
        ctx.addIssue({ code: "custom", path: [], message: 'give exactly one of "header" or "query"' });
      if (p.scheme !== undefined && p.header === undefined)
        ctx.addIssue({ code: "custom", path: ["scheme"], message: 'only allowed with "header"' });
    }),
  );

const HeaderFamily = z.enum(["legacy", "ietf", "x"]);

/** Members of an `application/problem+json` refusal that sluice sets itself; `response.body` may not. */
export const PROBLEM_OWN_MEMBERS = ["type", "status", "violated-policies"] as const;

/**
 * The refusal: its status and its body, as sluice's JSON (`format: "json"`, the default, with
 * `body` a template) or as RFC 9457 problem details (`format: "problem"`, with `body`, if given,
 * an object of extra members). `body` defaults to the JSON body only for `"json"`.
 */
export const ResponseObjectSchema = z
  .strictObject({
    status: z._default(z.int().check(z.gte(400), z.lte(599)), 429),
    format: z._default(z.enum(["json", "problem"]), "json"),
    body: z.optional(z.json()),
  })
  .check(
    z.superRefine((r, ctx) => {
      if (r.format !== "problem" || r.body === undefined) return;
      if (r.body === null || typeof r.body !== "object" || Array.isArray(r.body)) {
        ctx.addIssue({
          code: "custom",
          path: ["body"],
          message: 'must be an object (extra members of the problem details) with format "problem"',
        });
        return;
      }
      for (const member of PROBLEM_OWN_MEMBERS)
        if (member in r.body)
          ctx.addIssue({
            code: "custom",
            path: ["body", member],
            message: `set by sluice with format "problem"; leave it out`,
          });
    }),
  );

export const ResponseSchema = z.pipe(
  ResponseObjectSchema,
  z.transform((r) => ({ ...r, body: r.body ?? (r.format === "json" ? defaultBody() : undefined) })),
);

export const PolicySchema = z
  .strictObject({
    /** The JSON Schema an editor checks the document against (schema/policy.schema.json); not read. */
    $schema: z.optional(z.string()),
    version: z.literal(1),
    defaultTier: z._default(nonEmpty(), "starter"),
    sandbox: z._default(
      z.strictObject({
        multiplier: z._default(
          z.number().check(
            z.positive(),
            z.refine((m) => Number.isFinite(m), "must be a finite number"),
          ),
          10,
        ),
        hosts: z._default(z.array(nonEmpty()), []),
      }),
      { multiplier: 10, hosts: [] },
    ),
    identity: z._default(
      z.strictObject({
        apiKey: z._default(
          z.strictObject({
            header: z._default(headerName, "authorization"),
            scheme: z.optional(nonEmpty()),
            also: z.optional(z.array(CredentialPlaceSchema)),
            forbidden: z.optional(z.array(CredentialPlaceSchema)),
            onConflict: z.optional(z.enum(["refuse", "strictest"])),
          }),
          { header: "authorization", scheme: "Bearer" },
        ),
        ipv6Prefix: z._default(z.int().check(z.gte(0), z.lte(128)), 64),
      }),
      { apiKey: { header: "authorization", scheme: "Bearer" }, ipv6Prefix: 64 },
    ),
    headers: z._default(z.array(HeaderFamily), ["legacy", "ietf"]),
    legacyReset: z._default(z.enum(["unix", "delta"]), "unix"),
    /** `pk` on every `ietf` item: a hash of the counting key (docs/policy.md, Headers). Default false. */
    partitionKey: z._default(z.boolean(), false),
    response: z._default(ResponseSchema, () => ({ status: 429, format: "json" as const, body: defaultBody() })),
    rules: z.array(RuleSchema),
    /** `"rules": []` limits nothing; refused unless this says it is meant. */
    allowEmptyRules: z.optional(z.boolean()),
    /** A rule an earlier one always catches first is refused unless this says it is meant. */
    allowUnreachableRules: z.optional(z.boolean()),
    /** Where the rules' threshold events go: a signed webhook (docs/policy.md, "Thresholds"). */
    notify: z.optional(NotifySchema),
  })
  .check(
    z.superRefine((p, ctx) => {
      if (p.notify === undefined) {
        const i = p.rules.findIndex((r) => r.thresholds !== undefined);
        if (i >= 0)
          ctx.addIssue({
            code: "custom",
            path: ["rules", i, "thresholds"],
            message: 'needs the policy\'s "notify": { "url": "https://..." } to send its events to',
          });
      }
      const ids = new Map<string, number>();
      p.rules.forEach((r, i) => {
        const seen = ids.get(r.id);
        if (seen !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["rules", i, "id"],
            message: `duplicate rule id "${r.id}" (also rules[${seen}])`,
          });
        else ids.set(r.id, i);
        r.limits.forEach((l, j) => {
          // Every number a sandboxed request is limited by must still fit a header.
          const numbers = [
            ...(typeof l.limit === "object" ? Object.values(l.limit) : l.limit !== undefined ? [l.limit] : []),
            ...(l.burst !== undefined ? [l.burst] : []),
          ];
          const largest = Math.max(0, ...numbers);
          if (Math.floor(largest * p.sandbox.multiplier) > MAX_HEADER_INTEGER) {
            ctx.addIssue({
              code: "custom",
              path: ["sandbox", "multiplier"],
              message: `times rules[${i}].limits[${j}] (${largest}) is more than ${MAX_HEADER_INTEGER}, the largest number a header can carry`,
            });
          }
          if (typeof l.limit === "object" && !(p.defaultTier in l.limit)) {
            ctx.addIssue({
              code: "custom",
              path: ["rules", i, "limits", j, "limit"],
              message: `must give a number for defaultTier "${p.defaultTier}"`,
            });
          }
        });
      });
    }),
  );

/** The document as written by an operator (defaults not yet applied). */
export type PolicyInput = z.input<typeof PolicySchema>;
/** The document with every default filled in. */
export type Policy = z.output<typeof PolicySchema>;
export type Rule = Policy["rules"][number];
export type LimitEntry = Rule["limits"][number];

function defaultBody() {
  return {
    success: false,
    error: "Too many requests",
    code: "RATE_LIMIT_EXCEEDED",
    message:
      "You have exceeded the maximum number of requests allowed ({{limit}} requests per {{window}}). Please try again later.",
    retry_after: "{{retry_after}}",
    limit: "{{limit}}",
    window: "{{window}}",
  };
}
