/**
 * The policy document: every invalid fixture is refused with an error at the
 * field at fault; the example documents validate; defaults are filled in as
 * the contract says.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatPath, validatePolicy, validatePolicyText } from "../../src/policy/validate";

const FIXTURES = new URL("../fixtures/invalid-policies/", import.meta.url);
const EXAMPLES = new URL("../../examples/policies/", import.meta.url);

/** Fixture file → the `path` of an error it must produce (`""` is the document itself). */
const EXPECTED_PATH: Record<string, string> = {
  "invalid-json.txt": "",
  "empty.txt": "",
  "not-an-object.json": "",
  "wrong-version.json": "version",
  "missing-version.json": "version",
  "missing-rules.json": "rules",
  "rules-not-array.json": "rules",
  // unknown fields are errors, at every level
  "unknown-top-field.json": "defaultTeir",
  "unknown-rule-field.json": "rules[0].window",
  "unknown-match-field.json": "rules[0].match.path",
  "unknown-limit-field.json": "rules[0].limits[0].per",
  "unknown-identity-field.json": "identity.ipv6prefix",
  "unknown-sandbox-field.json": "sandbox.host",
  "unknown-response-field.json": "response.headers",
  "unknown-page-size-field.json": "rules[0].pageSize.min",
  // top-level fields
  "empty-default-tier.json": "defaultTier",
  "bad-header-family.json": "headers[1]",
  "bad-legacy-reset.json": "legacyReset",
  "bad-response-format.json": "response.format",
  "problem-body-not-object.json": "response.body",
  "problem-body-sets-type.json": "response.body.type",
  "problem-body-sets-violated-policies.json": "response.body.violated-policies",
  "partition-key-not-boolean.json": "partitionKey",
  "bad-response-status.json": "response.status",
  "bad-ipv6-prefix.json": "identity.ipv6Prefix",
  "bad-api-key-header.json": "identity.apiKey.header",
  "bad-sandbox-multiplier.json": "sandbox.multiplier",
  // rules
  "duplicate-rule-id.json": "rules[1].id",
  "bad-rule-id.json": "rules[0].id",
  "rule-id-too-long.json": "rules[0].id",
  "bad-key.json": "rules[0].key",
  "bad-header-key.json": "rules[0].key",
  "bad-body-key.json": "rules[0].key",
  "bad-action.json": "rules[0].action",
  "bad-count.json": "rules[0].count",
  "bad-mode.json": "rules[0].mode",
  "bad-on-error.json": "rules[0].onError",
  "continue-not-boolean.json": "rules[0].continue",
  "cost-zero.json": "rules[0].cost",
  "threshold-over-one.json": "rules[0].thresholds[1]",
  "thresholds-not-ascending.json": "rules[0].thresholds",
  "limit-rule-without-limits.json": "rules[0].limits",
  "bypass-with-limits.json": "rules[0].limits",
  "block-with-limits.json": "rules[0].limits",
  "page-size-default-over-max.json": "rules[0].pageSize.default",
  "page-size-bad-mode.json": "rules[0].pageSize.mode",
  // match
  "bad-cidr.json": "rules[0].match.ips[0]",
  "bad-cidr-text.json": "rules[0].match.ips[1]",
  "path-not-absolute.json": "rules[0].match.paths[0]",
  "path-partial-wildcard.json": "rules[0].match.paths[0]",
  "empty-paths.json": "rules[0].match.paths",
  "bad-method.json": "rules[0].match.methods[0]",
  "bad-match-header-name.json": "rules[0].match.headers.x api",
  // limits
  "bad-window.json": "rules[0].limits[0].window",
  "window-zero.json": "rules[0].limits[0].window",
  "window-over-a-year.json": "rules[0].limits[0].window",
  "window-number.json": "rules[0].limits[0].window",
  // calendar windows
  "anchor-bad-time-zone.json": "rules[0].limits[0].anchor.timeZone",
  "anchor-day-32.json": "rules[0].limits[0].anchor.day",
  "anchor-bad-time.json": "rules[0].limits[0].anchor.time",
  "anchor-without-calendar-window.json": "rules[0].limits[0].anchor",
  "anchor-weekday-with-month.json": "rules[0].limits[0].anchor.weekday",
  "anchor-day-beyond-month.json": "rules[0].limits[0].anchor.day",
  "calendar-window-not-fixed.json": "rules[0].limits[0].algorithm",
  "limit-not-integer.json": "rules[0].limits[0].limit",
  "limit-zero.json": "rules[0].limits[0].limit",
  "limit-string.json": "rules[0].limits[0].limit",
  "tier-limit-negative.json": "rules[0].limits[0].limit.starter",
  "tier-map-without-default-tier.json": "rules[0].limits[0].limit",
  "limit-without-window.json": "rules[0].limits[0].window",
  "window-without-limit.json": "rules[0].limits[0].limit",
  "concurrency-with-window.json": "rules[0].limits[0].window",
  "concurrency-with-limit.json": "rules[0].limits[0].limit",
  "concurrency-not-integer.json": "rules[0].limits[0].concurrency",
  "burst-without-token-bucket.json": "rules[0].limits[0].burst",
  "burst-with-sliding.json": "rules[0].limits[0].burst",
  "bad-algorithm.json": "rules[0].limits[0].algorithm",
  "duplicate-counter-name.json": "rules[0].limits[1]",
  "two-concurrency-limits.json": "rules[0].limits[1]",
  "sandbox-multiplier-overflow.json": "sandbox.multiplier",
  "limit-over-15-digits.json": "rules[0].limits[0].limit",
  "body-key-without-body-key.json": "rules[0].bodyKey",
  "body-key-max-bytes-too-large.json": "rules[0].bodyKey.maxBytes",
  "body-key-from-empty.json": "rules[0].bodyKey.from",
  "body-key-from-twice.json": "rules[0].bodyKey.from",
  "body-key-from-unknown.json": "rules[0].bodyKey.from[0]",
  "body-key-bad-arrays.json": "rules[0].bodyKey.arrays",
  "method-override-not-boolean.json": "rules[0].match.methodOverride",
  "method-override-without-methods.json": "rules[0].match.methodOverride",
  "credential-place-two-places.json": "identity.apiKey.also[0]",
  "credential-bad-on-conflict.json": "identity.apiKey.onConflict",
  "on-limit-delay-over-a-minute.json": "rules[0].onLimit.delay",
  "on-limit-bad-delay.json": "rules[0].onLimit.delay",
  "on-limit-with-concurrency.json": "rules[0].onLimit",
  "settle-bad-status.json": "rules[0].settle.status.5XX",
  "settle-estimate-two-places.json": "rules[0].settle.estimate",
  "settle-json-without-path.json": "rules[0].settle.path",
  "settle-with-failures.json": "rules[0].settle",
  "settle-with-shards.json": "rules[0].settle",
  "on-limit-max-waiting-zero.json": "rules[0].onLimit.maxWaiting",
};

const fixtureFiles = readdirSync(FIXTURES).sort();

describe("invalid policy fixtures", () => {
  it("has an expected error path for every fixture, and a fixture for every expectation", () => {
    expect(fixtureFiles.length).toBeGreaterThanOrEqual(20);
    expect(fixtureFiles).toEqual(Object.keys(EXPECTED_PATH).sort());
  });

  it.each(fixtureFiles)("%s is refused with an error at the field at fault", (file) => {
    const result = validatePolicyText(readFileSync(new URL(file, FIXTURES), "utf8"));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path)).toContain(EXPECTED_PATH[file]);
    for (const e of result.errors) {
      expect(typeof e.message).toBe("string");
      expect(e.message.length).toBeGreaterThan(0);
    }
  });

  it("says which field is unknown", () => {
    const result = validatePolicyText(readFileSync(new URL("unknown-rule-field.json", FIXTURES), "utf8"));
    expect(result.ok ? [] : result.errors).toEqual([{ path: "rules[0].window", message: "unknown field" }]);
  });

  it("says the JSON is invalid", () => {
    const result = validatePolicyText(readFileSync(new URL("invalid-json.txt", FIXTURES), "utf8"));
    expect(result.ok ? "" : result.errors[0]!.message).toMatch(/^invalid JSON/);
  });

  it("reports every error of a document at once", () => {
    const result = validatePolicy({
      version: 1,
      colour: "blue",
      rules: [
        { id: "A", limits: [{ limit: 0, window: "1m" }] },
        { id: "b", limits: [{ concurrency: 2, window: "1s" }] },
      ],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path).sort()).toEqual([
      "colour",
      "rules[0].id",
      "rules[0].limits[0].limit",
      "rules[1].limits[0].window",
    ]);
  });
});

describe("formatPath", () => {
  it("writes JSON paths as an operator reads them", () => {
    expect(formatPath([])).toBe("");
    expect(formatPath(["version"])).toBe("version");
    expect(formatPath(["rules", 0, "limits", 1, "window"])).toBe("rules[0].limits[1].window");
    expect(formatPath([3])).toBe("[3]");
  });
});

describe("example policies", () => {
  const files = existsSync(EXAMPLES)
    ? readdirSync(EXAMPLES)
        .filter((f) => f.endsWith(".json"))
        .sort()
    : [];

  it.each(files)("examples/policies/%s validates", (file) => {
    const result = validatePolicyText(readFileSync(new URL(file, EXAMPLES), "utf8"));
    expect(result.ok ? [] : result.errors).toEqual([]);
    expect(result.ok && result.compiled.rules.length).toBeGreaterThan(0);
  });
});

describe("defaults", () => {
  const minimal = { version: 1, rules: [{ id: "api", limits: [{ limit: 100, window: "1m" }] }] };

  it("fills in every field the contract gives a default for", () => {
    const result = validatePolicy(minimal);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const p = result.policy;
    expect(p.defaultTier).toBe("starter");
    expect(p.sandbox).toEqual({ multiplier: 10, hosts: [] });
    expect(p.identity).toEqual({ apiKey: { header: "authorization", scheme: "Bearer" }, ipv6Prefix: 64 });
    expect(p.headers).toEqual(["legacy", "ietf"]);
    expect(p.legacyReset).toBe("unix");
    expect(p.response.status).toBe(429);
    expect(p.response.body).toEqual({
      success: false,
      error: "Too many requests",
      code: "RATE_LIMIT_EXCEEDED",
      message:
        "You have exceeded the maximum number of requests allowed ({{limit}} requests per {{window}}). Please try again later.",
      retry_after: "{{retry_after}}",
      limit: "{{limit}}",
      window: "{{window}}",
    });
    expect(p.rules[0]).toEqual({
      id: "api",
      match: {},
      action: "limit",
      key: "tenant",
      count: "all",
      mode: "enforce",
      onError: "open",
      continue: false,
      cost: 1,
      limits: [{ limit: 100, window: "1m" }],
    });
  });

  it("fills in the defaults inside a partly given object", () => {
    const result = validatePolicy({
      version: 1,
      sandbox: { hosts: ["sandbox.api.example.com"] },
      identity: { ipv6Prefix: 48 },
      response: { status: 503 },
      rules: [{ id: "list", pageSize: { default: 20, max: 1000 } }],
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.sandbox).toEqual({ multiplier: 10, hosts: ["sandbox.api.example.com"] });
    expect(result.policy.identity).toEqual({ apiKey: { header: "authorization", scheme: "Bearer" }, ipv6Prefix: 48 });
    expect(result.policy.response.status).toBe(503);
    expect(result.policy.response.body).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", retry_after: "{{retry_after}}" });
    expect(result.policy.rules[0]!.pageSize).toEqual({ param: "limit", default: 20, max: 1000, mode: "clamp" });
  });

  it("takes an API key header without a scheme as the whole header value", () => {
    const result = validatePolicy({ ...minimal, identity: { apiKey: { header: "x-api-key" } } });
    expect(result.ok && result.policy.identity.apiKey).toEqual({ header: "x-api-key" });
  });

  it("allows a sandbox multiplier below 1", () => {
    const result = validatePolicy({ ...minimal, sandbox: { multiplier: 0.5 } });
    expect(result.ok && result.policy.sandbox.multiplier).toBe(0.5);
  });

  it("accepts the contract's own example document", () => {
    const result = validatePolicy({
      version: 1,
      defaultTier: "starter",
      sandbox: { multiplier: 10, hosts: ["sandbox.api.example.com"] },
      identity: { apiKey: { header: "authorization", scheme: "Bearer" }, ipv6Prefix: 64 },
      headers: ["legacy", "ietf"],
      legacyReset: "unix",
      response: {
        status: 429,
        body: {
          success: false,
          error: "Too many requests",
          code: "RATE_LIMIT_EXCEEDED",
          message:
            "You have exceeded the maximum number of requests allowed ({{limit}} requests per {{window}}). Please try again later.",
          retry_after: "{{retry_after}}",
          limit: "{{limit}}",
          window: "{{window}}",
        },
      },
      rules: [
        {
          id: "transfers",
          match: {
            methods: ["POST", "PUT"],
            paths: ["/api/v1/transfers", "/api/v1/transfers/*", "/api/v1/bulk-transfers"],
            hosts: ["api.example.com"],
            headers: { upgrade: "websocket" },
            ips: ["203.0.113.0/24", "2001:db8::/32"],
          },
          action: "limit",
          key: "tenant",
          count: "all",
          mode: "enforce",
          onError: "open",
          continue: false,
          pageSize: { param: "limit", default: 20, max: 1000, mode: "clamp" },
          limits: [
            { limit: { starter: 50, pro: 200, enterprise: 1000 }, window: "15m" },
            { limit: 20, window: "1s", algorithm: "token-bucket", burst: 40 },
            { limit: 250000, window: "1d" },
            { concurrency: 5 },
          ],
        },
      ],
    });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.compiled.rules[0]!.limits.map((l) => l.name)).toEqual([
      "transfers-15m",
      "transfers-1s",
      "transfers-1d",
      "transfers-conc",
    ]);
  });

  it("accepts every kind of key the contract names", () => {
    for (const key of ["tenant", "ip", "header:x-api-key", "query:email", "body:email", "body:user.email"]) {
      const result = validatePolicy({ version: 1, rules: [{ id: "a", key, limits: [{ limit: 1, window: "1s" }] }] });
      expect(result.ok ? [] : result.errors, key).toEqual([]);
    }
  });

  it("accepts a bypass or block rule with no limits, and a limit rule with only a pageSize", () => {
    const result = validatePolicy({
      version: 1,
      rules: [
        { id: "ws", action: "bypass", match: { headers: { upgrade: "websocket" } } },
        { id: "admin", action: "block", match: { paths: ["/admin/*"] } },
        { id: "list", pageSize: { default: 20, max: 1000, mode: "reject" } },
      ],
    });
    expect(result.ok ? [] : result.errors).toEqual([]);
  });
});

describe("shardsPerRegion", () => {
  const limits = [{ limit: 50_000, window: "1s" }];
  const errors = (rule: Record<string, unknown>) => {
    const result = validatePolicy({ version: 1, rules: [{ id: "hot", ...rule }] });
    return result.ok ? [] : result.errors;
  };

  it("accepts an integer from 1 to 16 and compiles it", () => {
    for (const shardsPerRegion of [1, 4, 16]) expect(errors({ shardsPerRegion, limits })).toEqual([]);
    const result = validatePolicy({ version: 1, rules: [{ id: "hot", shardsPerRegion: 2, limits }] });
    expect(result.ok && result.compiled.rules[0]!.shardsPerRegion).toBe(2);
  });

  it("refuses a number outside 1..16, beside shards, and where a tree cannot go", () => {
    const message = "must be an integer from 1 to 16";
    expect(errors({ shardsPerRegion: 0, limits })).toEqual([{ path: "rules[0].shardsPerRegion", message }]);
    expect(errors({ shardsPerRegion: 17, limits })).toEqual([{ path: "rules[0].shardsPerRegion", message }]);
    expect(errors({ shardsPerRegion: 1, shards: 4, limits })).toEqual([
      {
        path: "rules[0].shardsPerRegion",
        message: 'not allowed with "shards": a key\'s tree is hashed or regional, not both',
      },
    ]);
    expect(errors({ shardsPerRegion: 1, limits: [{ concurrency: 5 }] }).map((e) => e.path)).toEqual([
      "rules[0].shardsPerRegion",
    ]);
    expect(errors({ shardsPerRegion: 1, count: "failures", limits }).map((e) => e.path)).toEqual([
      "rules[0].shardsPerRegion",
    ]);
  });
});

describe("shards", () => {
  const limits = [{ limit: 50_000, window: "1s" }];
  const errors = (rule: Record<string, unknown>) => {
    const result = validatePolicy({ version: 1, rules: [{ id: "hot", ...rule }] });
    return result.ok ? [] : result.errors;
  };

  it("accepts an integer from 2 to 256 on a rule that counts every request, and compiles it", () => {
    for (const shards of [2, 16, 256]) expect(errors({ shards, limits }), String(shards)).toEqual([]);
    const result = validatePolicy({
      version: 1,
      rules: [
        {
          id: "hot",
          match: { paths: ["/api/*"] },
          key: "ip",
          shards: 16,
          limits: [...limits, { limit: 250_000, window: "1d", algorithm: "sliding" }],
        },
        { id: "plain", limits },
      ],
    });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.policy.rules[0]!.shards).toBe(16);
    expect(result.compiled.rules[0]!.shards).toBe(16);
    expect(result.compiled.rules[1]!.shards).toBeUndefined();
    expect("shards" in result.compiled.rules[1]!).toBe(false);
  });

  it("accepts a token bucket and a shadow rule", () => {
    expect(
      errors({ shards: 4, limits: [{ limit: 100, window: "1s", algorithm: "token-bucket", burst: 400 }] }),
    ).toEqual([]);
    expect(errors({ shards: 4, mode: "shadow", limits })).toEqual([]);
  });

  it("refuses a number outside 2..256 or not a whole number", () => {
    const message = "must be an integer from 2 to 256";
    expect(errors({ shards: 1, limits })).toEqual([{ path: "rules[0].shards", message }]);
    expect(errors({ shards: 257, limits })).toEqual([{ path: "rules[0].shards", message }]);
    expect(errors({ shards: 0, limits })).toEqual([{ path: "rules[0].shards", message }]);
    expect(errors({ shards: 2.5, limits }).map((e) => e.path)).toEqual(["rules[0].shards"]);
    expect(errors({ shards: "16", limits }).map((e) => e.path)).toEqual(["rules[0].shards"]);
  });

  it("refuses a rule with nothing to spread: no limits, or not a limit rule", () => {
    expect(errors({ shards: 4, pageSize: { default: 20, max: 100 } })).toEqual([
      { path: "rules[0].shards", message: "only allowed on a rule with limits" },
    ]);
    expect(errors({ shards: 4, action: "bypass" })).toEqual([
      { path: "rules[0].shards", message: 'not allowed with action "bypass"' },
    ]);
    expect(errors({ shards: 4, action: "block" })).toEqual([
      { path: "rules[0].shards", message: 'not allowed with action "block"' },
    ]);
  });

  it("refuses a concurrency limit: a slot is held per request and never leased", () => {
    expect(errors({ shards: 4, limits: [...limits, { concurrency: 5 }] })).toEqual([
      {
        path: "rules[0].shards",
        message:
          "not allowed with a concurrency limit (limits[1]): a slot is held for each request at the key's own object and is never leased",
      },
    ]);
  });

  it("refuses a penalty: it is set and read at the key's object on every request", () => {
    expect(errors({ shards: 4, penalty: "10m", limits })).toEqual([
      {
        path: "rules[0].shards",
        message: "not allowed with a penalty: a penalty is set and read at the key's own object on every request",
      },
    ]);
  });

  it("refuses count \"failures\": a shard's block cannot take a success's charge back", () => {
    expect(errors({ shards: 4, count: "failures", limits })).toEqual([
      {
        path: "rules[0].shards",
        message:
          "not allowed with count \"failures\": each success's charge is given back per request, and a shard's block cannot take it back",
      },
    ]);
  });

  it("says every reason at once", () => {
    expect(
      errors({ shards: 4, count: "failures", penalty: "10m", limits: [{ concurrency: 5 }] }).map((e) => e.message),
    ).toEqual([
      "not allowed with a concurrency limit (limits[0]): a slot is held for each request at the key's own object and is never leased",
      "not allowed with a penalty: a penalty is set and read at the key's own object on every request",
      "not allowed with count \"failures\": each success's charge is given back per request, and a shard's block cannot take it back",
    ]);
  });
});

describe("onLimit (delay instead of refuse)", () => {
  const limits = [{ limit: 10, window: "1s", algorithm: "token-bucket" }];
  const errors = (rule: Record<string, unknown>) => {
    const result = validatePolicy({ version: 1, rules: [{ id: "api", ...rule }] });
    return result.ok ? [] : result.errors;
  };

  it("accepts a bound of 1 ms to 60 s on every rate algorithm, and compiles it with its cap", () => {
    for (const delay of ["1ms", "500ms", "2s", "60s", "60000ms", "1m"])
      expect(errors({ onLimit: { delay }, limits }), delay).toEqual([]);
    for (const algorithm of ["fixed", "sliding"])
      expect(errors({ onLimit: { delay: "2s" }, limits: [{ limit: 5, window: "1s", algorithm }] })).toEqual([]);
    const result = validatePolicy({
      version: 1,
      rules: [
        { id: "api", onLimit: { delay: "2s" }, limits, continue: true },
        { id: "other", match: { paths: ["/other"] }, onLimit: { delay: "500ms", maxWaiting: 7 }, limits },
        { id: "plain", limits },
      ],
    });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.compiled.rules[0]!.delay).toEqual({ maxMs: 2_000, maxWaiting: 100, name: "api:waiting" });
    expect(result.compiled.rules[1]!.delay).toEqual({ maxMs: 500, maxWaiting: 7, name: "other:waiting" });
    expect("delay" in result.compiled.rules[2]!).toBe(false);
  });

  it("refuses a bound that is not a duration, or over 60 s", () => {
    expect(errors({ onLimit: { delay: "61s" }, limits })).toEqual([
      { path: "rules[0].onLimit.delay", message: "must be at most 60s" },
    ]);
    expect(errors({ onLimit: { delay: "60001ms" }, limits }).map((e) => e.path)).toEqual(["rules[0].onLimit.delay"]);
    expect(errors({ onLimit: { delay: "2m" }, limits }).map((e) => e.path)).toEqual(["rules[0].onLimit.delay"]);
    for (const delay of ["0s", "2", "2 s", "1h", 2_000])
      expect(
        errors({ onLimit: { delay }, limits }).map((e) => e.path),
        String(delay),
      ).toEqual(["rules[0].onLimit.delay"]);
    expect(errors({ onLimit: {}, limits }).map((e) => e.path)).toEqual(["rules[0].onLimit.delay"]);
    expect(errors({ onLimit: { delay: "2s", burst: 3 }, limits }).map((e) => e.path)).toEqual([
      "rules[0].onLimit.burst",
    ]);
  });

  it("refuses a cap outside 1..1000", () => {
    for (const maxWaiting of [0, 1_001, 2.5, "5"])
      expect(
        errors({ onLimit: { delay: "2s", maxWaiting }, limits }).map((e) => e.path),
        String(maxWaiting),
      ).toEqual(["rules[0].onLimit.maxWaiting"]);
  });

  it("refuses a concurrency limit, a shadow rule, shards, and a rule without limits", () => {
    expect(errors({ onLimit: { delay: "2s" }, limits: [...limits, { concurrency: 2 }] })).toEqual([
      {
        path: "rules[0].onLimit",
        message:
          "not allowed with a concurrency limit (limits[1]): a slot is held from now until the response ends, so no later slot can be reserved",
      },
    ]);
    expect(errors({ onLimit: { delay: "2s" }, mode: "shadow", limits }).map((e) => e.message)).toEqual([
      'not allowed with mode "shadow": a shadow rule never refuses, so never delays',
    ]);
    expect(errors({ onLimit: { delay: "2s" }, shards: 4, limits }).map((e) => e.message)).toEqual([
      "not allowed with shards: a delayed request's slot is reserved at the key's own object",
    ]);
    expect(errors({ onLimit: { delay: "2s" }, pageSize: { default: 20, max: 100 } })).toEqual([
      { path: "rules[0].onLimit", message: "only allowed on a rule with limits" },
    ]);
    expect(errors({ onLimit: { delay: "2s" }, action: "bypass" }).map((e) => e.path)).toEqual(["rules[0].onLimit"]);
  });
});

describe('scope: "region"', () => {
  const limits = [{ limit: 100, window: "1m" }];
  const errors = (rule: Record<string, unknown>) => {
    const result = validatePolicy({ version: 1, rules: [{ id: "per-ip", ...rule }] });
    return result.ok ? [] : result.errors;
  };

  it("compiles to a rule counted per region; global or absent counts once worldwide", () => {
    const compiled = (scope?: string) => {
      const result = validatePolicy({
        version: 1,
        rules: [{ id: "per-ip", key: "ip", ...(scope ? { scope } : {}), limits }],
      });
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      return result.compiled.rules[0]!;
    };
    expect(compiled("region").perRegion).toBe(true);
    expect(compiled("global").perRegion).toBeUndefined();
    expect(compiled().perRegion).toBeUndefined();
  });

  it("is an explicit choice even for tenant keys: allowed when asked for, never the default", () => {
    expect(errors({ key: "tenant", scope: "region", limits })).toEqual([]);
    const result = validatePolicy({ version: 1, rules: [{ id: "t", limits }] });
    expect(result.ok && result.compiled.rules[0]!.perRegion).toBeUndefined();
  });

  it("refuses another value, a rule that does not limit, and shardsPerRegion beside it", () => {
    expect(errors({ scope: "colo", limits }).map((e) => e.path)).toEqual(["rules[0].scope"]);
    expect(errors({ scope: "region", action: "block" })).toEqual([
      { path: "rules[0].scope", message: 'not allowed with action "block"' },
    ]);
    expect(errors({ scope: "region", shardsPerRegion: 1, limits })).toEqual([
      {
        path: "rules[0].shardsPerRegion",
        message: 'not allowed with scope "region": each region\'s count already lives in its own region',
      },
    ]);
  });
});
