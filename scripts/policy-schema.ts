/**
 * `npm run schema`: the JSON Schema of the policy document, generated from the zod schema that
 * validates it (src/config/schema.ts), into schema/policy.schema.json (shipped in the package, for
 * editors: `"$schema": "./node_modules/sluice/schema/policy.schema.json"`). Checks that the schema
 * cannot express (burst against its limit, unreachable rules, tiers) are the validator's alone.
 * `--check` exits 1 when the file (as JSON; Biome formats it) is not what the schema generates.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { toJSONSchema } from "zod/v4/core";
import {
  BodyKeySchema,
  CredentialPlaceSchema,
  cidr,
  delayString,
  EstimateSchema,
  LimitSchema,
  limitWindow,
  MatchSchema,
  PolicySchema,
  PROBLEM_OWN_MEMBERS,
  pathPattern,
  ResponseObjectSchema,
  RuleSchema,
  ruleKey,
  SettleSchema,
  windowString,
} from "../src/policy/schema";

// What the validator checks in code (refinements), written as JSON Schema where JSON Schema can say it.
// test/unit/policy-json-schema.test.ts holds each pattern against the validator's own check, and runs
// every invalid fixture against the generated schema; docs/policy.md lists the few it cannot catch.

/** A regular expression (no anchors) for the integers 1 to `max`, written without leading zeros. */
export function positiveUpTo(max: number): string {
  const digits = String(max);
  const alternatives: string[] = [];
  const any = (n: number) => (n === 0 ? "" : n === 1 ? "[0-9]" : `[0-9]{${n}}`);
  for (let length = 1; length < digits.length; length++) alternatives.push(`[1-9]${any(length - 1)}`);
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[i]);
    const low = i === 0 ? 1 : 0;
    if (d > low) {
      const range = d - 1 === low ? String(low) : `[${low}-${d - 1}]`;
      alternatives.push(`${digits.slice(0, i)}${range}${any(digits.length - i - 1)}`);
    }
  }
  alternatives.push(digits);
  return `(?:${alternatives.join("|")})`;
}

const DAY_S = 86_400;
/** `parseWindow` (src/policy/window.ts): `<n>s|m|h|d`, n a positive integer, at most 366 days. */
export const WINDOW_PATTERN = `^(?:${positiveUpTo(366 * DAY_S)}s|${positiveUpTo(366 * 1440)}m|${positiveUpTo(366 * 24)}h|${positiveUpTo(366)}d)$`;

/** A limit's window: a length as above, or a calendar period. */
export const LIMIT_WINDOW_PATTERN = `${WINDOW_PATTERN.slice(0, -2)}|week|month|year)$`;
/** `onLimit.delay` (`parseDelay` in src/policy/schema.ts, at most 60 s): `<n>ms`, `<n>s` or `1m`. */
export const DELAY_PATTERN = `^(?:${positiveUpTo(60_000)}ms|${positiveUpTo(60)}s|1m)$`;

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9a-zA-Z]+";
/** A rule's `key`: `tenant`, `ip`, `header:<name>`, `query:<name>`, `body:<field>`. */
export const RULE_KEY_PATTERN = `^(?:tenant|ip|header:${TOKEN}|query:.+|body:[^.\\s][^\\s]*)$`;

/** A path pattern: absolute, `*` only as a whole segment. */
export const PATH_PATTERN = "^/(?:\\*|[^/*]*)(?:/(?:\\*|[^/*]*))*$";

const OCTET = "(?:0|[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5])";
const IPV4 = `(?:${OCTET}\\.){3}${OCTET}`;
const H16 = "[0-9a-fA-F]{1,4}";
const LS32 = `(?:${H16}:${H16}|${IPV4})`;
const groups = (n: number) => (n === 0 ? "" : `(?:${H16}:){0,${n}}`);
// RFC 3986's IPv6address, one alternative per place of "::".
const IPV6 = `(?:(?:${H16}:){6}${LS32}|::(?:${H16}:){5}${LS32}|(?:${H16})?::(?:${H16}:){4}${LS32}|(?:${groups(1)}${H16})?::(?:${H16}:){3}${LS32}|(?:${groups(2)}${H16})?::(?:${H16}:){2}${LS32}|(?:${groups(3)}${H16})?::${H16}:${LS32}|(?:${groups(4)}${H16})?::${LS32}|(?:${groups(5)}${H16})?::${H16}|(?:${groups(6)}${H16})?::)`;
/**
 * `parseCidr` (src/net/ip.ts): an IPv4 or IPv6 address (IPv6 also in brackets, with a zone), with an
 * optional prefix length of up to 3 digits, at most 32 or 128. Looser than the validator only for an
 * address longer than 64 characters and an IPv4-mapped IPv6 address with a prefix over 32.
 */
export const CIDR_PATTERN = `^(?:${IPV4}(?:/(?:[0-9]|[0-2][0-9]|3[0-2]|0[0-2][0-9]|03[0-2]))?|(?:${IPV6}|\\[${IPV6}\\])(?:%[^/]*)?(?:/(?:[0-9]{1,2}|0[0-9]{2}|1[01][0-9]|12[0-8]))?)$`;

const has = (field: string) => ({ required: [field] });
/** JSON Schema's `if`/`then`, in one place. */
const ifThen = (condition: object, consequence: object): Record<string, unknown> => ({
  if: condition,
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's "then" keyword, not a thenable's.
  then: consequence,
});
const calendarWindow = (windows: string[]) => ({ required: ["window"], properties: { window: { enum: windows } } });
const anchorWithout = (field: string) => ({ properties: { anchor: { not: has(field) } } });
/** A year's anchor: the days its month can have (February: 29). */
const yearDays = [
  { months: [2], max: 29 },
  { months: [4, 6, 9, 11], max: 30 },
].map(({ months, max }) =>
  ifThen(
    {
      ...calendarWindow(["year"]),
      properties: { anchor: { required: ["month"], properties: { month: { enum: months } } } },
    },
    { properties: { anchor: { properties: { day: { maximum: max } } } } },
  ),
);
/** A settle's `from` is this. */
const fromIs = (from: string) => ({ required: ["from"], properties: { from: { const: from } } });
const nonEmptyLimits = { required: ["limits"], properties: { limits: { minItems: 1 } } };

const EXTRAS = new Map<unknown, Record<string, unknown>>([
  [windowString, { pattern: WINDOW_PATTERN }],
  [limitWindow, { pattern: LIMIT_WINDOW_PATTERN }],
  [delayString, { pattern: DELAY_PATTERN }],
  [ruleKey, { pattern: RULE_KEY_PATTERN }],
  [pathPattern, { pattern: PATH_PATTERN }],
  [cidr, { pattern: CIDR_PATTERN }],
  [
    LimitSchema,
    {
      // A rate limit (limit and window) or a concurrency limit (concurrency alone); burst only for a token bucket.
      anyOf: [
        { ...has("concurrency"), not: { anyOf: ["limit", "window", "anchor", "algorithm", "burst"].map(has) } },
        { required: ["limit", "window"], not: has("concurrency") },
      ],
      allOf: [
        ifThen(has("burst"), { required: ["algorithm"], properties: { algorithm: { const: "token-bucket" } } }),
        // anchor only with a calendar window; a calendar window is a fixed one; each anchor field with its period.
        ifThen(has("anchor"), calendarWindow(["week", "month", "year"])),
        ifThen(calendarWindow(["week", "month", "year"]), { properties: { algorithm: { const: "fixed" } } }),
        ifThen(calendarWindow(["week"]), anchorWithout("day")),
        ifThen(calendarWindow(["month", "year"]), anchorWithout("weekday")),
        ifThen(calendarWindow(["week", "month"]), anchorWithout("month")),
        ...yearDays,
      ],
    },
  ],
  [
    RuleSchema,
    {
      allOf: [
        // action "limit" (the default) needs limits or a pageSize.
        ifThen({ properties: { action: { const: "limit" } } }, { anyOf: [nonEmptyLimits, has("pageSize")] }),
        // bypass and block take no limits and no shards.
        ifThen(
          { required: ["action"], properties: { action: { enum: ["bypass", "block"] } } },
          { properties: { limits: { maxItems: 0 } }, not: has("shards") },
        ),
        ifThen(has("penalty"), nonEmptyLimits),
        ifThen(has("bodyKey"), { required: ["key"], properties: { key: { pattern: "^body:" } } }),
        // At most one concurrency limit.
        { properties: { limits: { contains: has("concurrency"), minContains: 0, maxContains: 1 } } },
        // onLimit: rate limits only (no concurrency one), enforced, not sharded.
        ifThen(has("onLimit"), {
          required: ["limits"],
          properties: {
            limits: { minItems: 1, not: { contains: has("concurrency") } },
            mode: { const: "enforce" },
          },
          not: has("shards"),
        }),
        // settle: rate limits only, count "all", at the key's own object (no tree), not held (no onLimit).
        ifThen(has("settle"), {
          required: ["limits"],
          properties: {
            action: { const: "limit" },
            limits: { minItems: 1, not: { contains: has("concurrency") } },
            count: { const: "all" },
          },
          not: { anyOf: ["shards", "shardsPerRegion", "onLimit"].map(has) },
        }),
        // shards: limits without a concurrency one, no penalty, count "all".
        ifThen(has("shards"), {
          required: ["limits"],
          properties: {
            limits: { minItems: 1, not: { contains: has("concurrency") } },
            count: { const: "all" },
          },
          not: has("penalty"),
        }),
      ],
    },
  ],
  // settle: `header` with from "header", `path` with from "json", `maxBytes` only with "json", a status map with "status".
  [
    SettleSchema,
    {
      allOf: [
        ifThen(fromIs("header"), has("header")),
        ifThen({ not: fromIs("header") }, { not: has("header") }),
        ifThen(fromIs("json"), has("path")),
        ifThen({ not: fromIs("json") }, { not: { anyOf: [has("path"), has("maxBytes")] } }),
        ifThen(fromIs("status"), { required: ["status"], properties: { status: { not: { const: {} } } } }),
      ],
    },
  ],
  // An estimate is read from a request header or a body field, one of the two.
  [EstimateSchema, { oneOf: [has("header"), has("body")] }],
  // `from` names each place once; `methodOverride` only beside `methods`.
  [BodyKeySchema, { allOf: [{ properties: { from: { uniqueItems: true } } }] }],
  [MatchSchema, ifThen(has("methodOverride"), has("methods"))],
  // format "problem": body is an object of extra members, without the members sluice sets.
  [
    ResponseObjectSchema,
    ifThen(
      { required: ["format"], properties: { format: { const: "problem" } } },
      { properties: { body: { type: "object", not: { anyOf: PROBLEM_OWN_MEMBERS.map(has) } } } },
    ),
  ],
  [
    CredentialPlaceSchema,
    {
      oneOf: [has("header"), has("query")],
      ...ifThen(has("scheme"), has("header")),
    },
  ],
  [
    PolicySchema,
    // "rules": [] only with "allowEmptyRules": true.
    ifThen(
      { not: { required: ["allowEmptyRules"], properties: { allowEmptyRules: { const: true } } } },
      { properties: { rules: { minItems: 1 } } },
    ),
  ],
]);

export const SCHEMA_FILE = join(fileURLToPath(new URL("../", import.meta.url)), "schema", "policy.schema.json");

export function policyJsonSchema(): string {
  const generated = toJSONSchema(PolicySchema as unknown as Parameters<typeof toJSONSchema>[0], {
    io: "input",
    unrepresentable: "any",
    target: "draft-2020-12",
    override: ({ zodSchema, jsonSchema }) => {
      const extra = EXTRAS.get(zodSchema);
      if (extra) Object.assign(jsonSchema, extra);
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const schema = {
    $schema,
    title: "sluice policy document",
    description:
      "What sluice limits and how (KV key `policy`). Generated from the validator's schema; `npm run policy -- validate` checks the rest (docs/policy.md: what the JSON Schema cannot check).",
    ...rest,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = policyJsonSchema();
  if (process.argv.includes("--check")) {
    const current = await readFile(SCHEMA_FILE, "utf8").catch(() => "");
    const same = (() => {
      try {
        return JSON.stringify(JSON.parse(current)) === JSON.stringify(JSON.parse(text));
      } catch {
        return false;
      }
    })();
    if (!same) {
      console.error(`${SCHEMA_FILE} is out of date: run npm run schema`);
      process.exitCode = 1;
    }
  } else {
    await writeFile(SCHEMA_FILE, text);
    console.log(`wrote ${SCHEMA_FILE} (npm run format lays it out as the repository does)`);
  }
}
