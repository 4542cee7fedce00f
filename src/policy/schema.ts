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

/**
 * One entry of `limits`: a rate limit (`limit` + `window`, optional `algorithm`
 * and `burst`) or a concurrency limit (`concurrency` alone). Written as one
 * strict object with a refinement rather than a union so that an error names
 * the exact field that is wrong.
 */
export const LimitSchema = z
  .strictObject({
    limit: z.optional(tierLimit),
    window: z.optional(windowString),
    algorithm: z.optional(z.enum(["fixed", "sliding", "token-bucket"])),
    burst: z.optional(positiveInt),
    concurrency: z.optional(positiveInt),
  })
  .check(
    z.superRefine((l, ctx) => {
      if (l.concurrency !== undefined) {
        for (const field of ["limit", "window", "algorithm", "burst"] as const) {
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
    }),
  );

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

/** The fewest and the most shard objects a key's room may be spread over (`shards`). */
export const MIN_SHARDS = 2;
export const MAX_SHARDS = 256;
/** The most shard objects per region a key's tree may have (`shardsPerRegion`). */
export const MAX_SHARDS_PER_REGION = 16;

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
    bodyKey: z.optional(BodyKeySchema),
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
    limits: z._default(z.array(LimitSchema), []),
  })
  .check(
    z.superRefine((r, ctx) => {
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
      if (r.shards !== undefined) {
        for (const message of shardsIssues(r)) ctx.addIssue({ code: "custom", path: ["shards"], message });
      }
      if (r.shardsPerRegion !== undefined) {
        const issues =
          r.shards !== undefined
            ? ['not allowed with "shards": a key\'s tree is hashed or regional, not both']
            : shardsIssues(r);
        for (const message of issues) ctx.addIssue({ code: "custom", path: ["shardsPerRegion"], message });
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
    response: z._default(
      z.strictObject({
        status: z._default(z.int().check(z.gte(400), z.lte(599)), 429),
        body: z._default(z.json(), defaultBody),
      }),
      () => ({ status: 429, body: defaultBody() }),
    ),
    rules: z.array(RuleSchema),
    /** `"rules": []` limits nothing; refused unless this says it is meant. */
    allowEmptyRules: z.optional(z.boolean()),
    /** A rule an earlier one always catches first is refused unless this says it is meant. */
    allowUnreachableRules: z.optional(z.boolean()),
  })
  .check(
    z.superRefine((p, ctx) => {
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
