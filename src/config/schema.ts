/**
 * The policy document's schema: what an operator may write into KV `policy`.
 *
 * Every object is strict (an unknown field is an error, not ignored), every
 * field but `version` and `rules` has the default given in the contract, and
 * cross-field rules (unique rule ids, a tier map that names `defaultTier`,
 * one item name per limit) are checked here so that a document that parses is
 * one the compiler can always compile.
 *
 * @module
 */
import { z } from "zod";
import { parseCidr } from "../net/ip";
import { parseWindow } from "./window";

const RULE_ID = /^[a-z0-9_-]{1,64}$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

const positiveInt = z.number().int().min(1);

const tierLimit = z.union([positiveInt, z.record(z.string().min(1), positiveInt)], {
  error: "must be a positive integer, or an object from tier name to positive integer",
});

const windowString = z.string().refine((w) => parseWindow(w) !== undefined, {
  message: 'must be <n>s, <n>m, <n>h or <n>d with n a positive integer (e.g. "15m")',
});

/**
 * One entry of `limits`: a rate limit (`limit` + `window`, optional `algorithm`
 * and `burst`) or a concurrency limit (`concurrency` alone). Written as one
 * strict object with a refinement rather than a union so that an error names
 * the exact field that is wrong.
 */
export const LimitSchema = z
  .strictObject({
    limit: tierLimit.optional(),
    window: windowString.optional(),
    algorithm: z.enum(["fixed", "sliding", "token-bucket"]).optional(),
    burst: positiveInt.optional(),
    concurrency: positiveInt.optional(),
  })
  .superRefine((l, ctx) => {
    if (l.concurrency !== undefined) {
      for (const field of ["limit", "window", "algorithm", "burst"] as const) {
        if (l[field] !== undefined) {
          ctx.addIssue({ code: "custom", path: [field], message: "not allowed next to concurrency" });
        }
      }
      return;
    }
    if (l.limit === undefined) ctx.addIssue({ code: "custom", path: ["limit"], message: "required (or give concurrency)" });
    if (l.window === undefined) ctx.addIssue({ code: "custom", path: ["window"], message: "required with limit" });
    if (l.burst !== undefined && l.algorithm !== "token-bucket") {
      ctx.addIssue({ code: "custom", path: ["burst"], message: 'only allowed with algorithm "token-bucket"' });
    }
  });

const cidr = z.string().refine((c) => parseCidr(c) !== undefined, { message: "must be an IPv4 or IPv6 CIDR range or address" });

const pathPattern = z
  .string()
  .min(1)
  .refine((p) => p.startsWith("/"), { message: "must start with /" })
  .refine((p) => !/\*[^/]|[^/]\*/.test(p), { message: "* must stand for a whole segment" });

export const MatchSchema = z.strictObject({
  methods: z.array(z.string().regex(/^[A-Za-z]+$/, "must be an HTTP method")).min(1).optional(),
  paths: z.array(pathPattern).min(1).optional(),
  hosts: z.array(z.string().min(1)).min(1).optional(),
  headers: z.record(z.string().regex(HEADER_NAME, "must be a header name"), z.string()).optional(),
  ips: z.array(cidr).min(1).optional(),
});

const ruleKey = z.string().refine(
  (k) => k === "tenant" || k === "ip" || /^header:[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/.test(k) || /^query:.+$/.test(k) || /^body:[^.\s][^\s]*$/.test(k),
  { message: 'must be "tenant", "ip", "header:<name>", "query:<name>" or "body:<json field>"' },
);

export const PageSizeSchema = z
  .strictObject({
    param: z.string().min(1).default("limit"),
    default: positiveInt,
    max: positiveInt,
    mode: z.enum(["clamp", "reject"]).default("clamp"),
  })
  .refine((p) => p.default <= p.max, { message: "default must not exceed max", path: ["default"] });

export const RuleSchema = z
  .strictObject({
    id: z.string().regex(RULE_ID, "must match [a-z0-9_-]{1,64}"),
    match: MatchSchema.default({}),
    action: z.enum(["limit", "bypass", "block"]).default("limit"),
    key: ruleKey.default("tenant"),
    count: z.enum(["all", "failures"]).default("all"),
    mode: z.enum(["enforce", "shadow"]).default("enforce"),
    onError: z.enum(["open", "closed"]).default("open"),
    continue: z.boolean().default(false),
    cost: positiveInt.default(1),
    pageSize: PageSizeSchema.optional(),
    limits: z.array(LimitSchema).default([]),
  })
  .superRefine((r, ctx) => {
    if (r.action === "limit" && r.limits.length === 0 && r.pageSize === undefined) {
      ctx.addIssue({ code: "custom", path: ["limits"], message: 'a rule with action "limit" needs at least one limit (or a pageSize)' });
    }
    if (r.action !== "limit" && r.limits.length > 0) {
      ctx.addIssue({ code: "custom", path: ["limits"], message: `not allowed with action "${r.action}"` });
    }
    const names = new Map<string, number>();
    r.limits.forEach((l, i) => {
      const name = l.concurrency !== undefined ? `${r.id}-conc` : `${r.id}-${l.window}`;
      const seen = names.get(name);
      if (seen !== undefined) {
        const message =
          l.concurrency !== undefined
            ? `a rule may have only one concurrency limit (also limits[${seen}])`
            : `names the same counter "${name}" as limits[${seen}]; give each limit its own window`;
        ctx.addIssue({ code: "custom", path: ["limits", i], message });
      } else names.set(name, i);
    });
  });

const HeaderFamily = z.enum(["legacy", "ietf", "x"]);

export const PolicySchema = z
  .strictObject({
    version: z.literal(1),
    defaultTier: z.string().min(1).default("starter"),
    sandbox: z
      .strictObject({
        multiplier: z.number().positive().default(10),
        hosts: z.array(z.string().min(1)).default([]),
      })
      .default({ multiplier: 10, hosts: [] }),
    identity: z
      .strictObject({
        apiKey: z
          .strictObject({
            header: z.string().regex(HEADER_NAME, "must be a header name").default("authorization"),
            scheme: z.string().min(1).optional(),
          })
          .default({ header: "authorization", scheme: "Bearer" }),
        ipv6Prefix: z.number().int().min(0).max(128).default(64),
      })
      .default({ apiKey: { header: "authorization", scheme: "Bearer" }, ipv6Prefix: 64 }),
    headers: z.array(HeaderFamily).default(["legacy", "ietf"]),
    legacyReset: z.enum(["unix", "delta"]).default("unix"),
    response: z
      .strictObject({
        status: z.number().int().min(400).max(599).default(429),
        body: z.json().default(defaultBody()),
      })
      .default({ status: 429, body: defaultBody() }),
    rules: z.array(RuleSchema),
  })
  .superRefine((p, ctx) => {
    const ids = new Map<string, number>();
    p.rules.forEach((r, i) => {
      const seen = ids.get(r.id);
      if (seen !== undefined) ctx.addIssue({ code: "custom", path: ["rules", i, "id"], message: `duplicate rule id "${r.id}" (also rules[${seen}])` });
      else ids.set(r.id, i);
      r.limits.forEach((l, j) => {
        if (typeof l.limit === "object" && !(p.defaultTier in l.limit)) {
          ctx.addIssue({
            code: "custom",
            path: ["rules", i, "limits", j, "limit"],
            message: `must give a number for defaultTier "${p.defaultTier}"`,
          });
        }
      });
    });
  });

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
    message: "You have exceeded the maximum number of requests allowed ({{limit}} requests per {{window}}). Please try again later.",
    retry_after: "{{retry_after}}",
    limit: "{{limit}}",
    window: "{{window}}",
  };
}
