/**
 * Mistakes that parse: each refused with a `{path, message}` that says what to write instead.
 */
import { describe, expect, it } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { tenantProblems } from "../../src/policy/tenant-checks";
import { MAX_POLICY_BYTES, validatePolicy, validatePolicyText } from "../../src/policy/validate";

const errorsOf = (doc: unknown) => {
  const r = validatePolicy(doc);
  return r.ok ? [] : r.errors;
};
const rule = (extra: Record<string, unknown> = {}) => ({
  id: "api",
  key: "ip",
  limits: [{ limit: 10, window: "1m" }],
  ...extra,
});

describe("burst", () => {
  it("refuses a burst under the limit of any tier, names the tier, and takes one equal to the largest", () => {
    const doc = (burst: number): PolicyInput => ({
      version: 1,
      rules: [
        {
          id: "b",
          key: "ip",
          limits: [{ limit: { starter: 10, pro: 50 }, window: "1m", algorithm: "token-bucket", burst }],
        },
      ],
    });
    expect(errorsOf(doc(5))).toEqual([
      { path: "rules[0].limits[0].burst", message: expect.stringContaining('10 for tier "starter"') },
    ]);
    expect(errorsOf(doc(49))[0]!.message).toContain('50 for tier "pro"');
    expect(errorsOf(doc(50))).toEqual([]);
  });
});

describe("methods", () => {
  it("refuses a method outside the HTTP set, with a hint for a typo, and takes every real one in any case", () => {
    const doc = (methods: string[]) => ({ version: 1, rules: [rule({ match: { methods } })] });
    expect(errorsOf(doc(["FETCH"]))).toEqual([
      { path: "rules[0].match.methods[0]", message: expect.stringContaining('"FETCH" is not an HTTP method') },
    ]);
    expect(errorsOf(doc(["GTE"]))[0]!.message).toContain('did you mean "GET"?');
    expect(errorsOf(doc(["get", "HEAD", "post", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]))).toEqual([]);
  });
});

describe("rule lists that limit nothing or cannot be reached", () => {
  it('refuses "rules": [] unless "allowEmptyRules": true', () => {
    expect(errorsOf({ version: 1, rules: [] })).toEqual([{ path: "rules", message: expect.stringContaining("empty") }]);
    expect(errorsOf({ version: 1, rules: [], allowEmptyRules: true })).toEqual([]);
  });

  it("refuses a rule below a catch-all that stops, unless allowed; continue or a narrower match keeps it reachable", () => {
    const bypass = { id: "health", match: { paths: ["/health"] }, action: "bypass" };
    expect(errorsOf({ version: 1, rules: [rule(), bypass] })).toEqual([
      { path: "rules[1]", message: expect.stringContaining('rule "health" can never apply: rules[0] ("api")') },
    ]);
    expect(errorsOf({ version: 1, rules: [rule(), bypass], allowUnreachableRules: true })).toEqual([]);
    expect(errorsOf({ version: 1, rules: [rule({ continue: true }), bypass] })).toEqual([]);
    expect(errorsOf({ version: 1, rules: [bypass, rule()] })).toEqual([]);
    expect(errorsOf({ version: 1, rules: [rule({ match: { methods: ["POST"] } }), bypass] })).toEqual([]);
    // The same match twice: the second never applies.
    const get = { match: { methods: ["GET"], paths: ["/a"] } };
    expect(errorsOf({ version: 1, rules: [rule(get), { ...rule(get), id: "again" }] })[0]!.path).toBe("rules[1]");
  });

  it("keeps a rule with methodOverride reachable below the same rule without it (it also matches overridden POSTs)", () => {
    const del = (methodOverride?: boolean) => ({
      match: { methods: ["DELETE"], paths: ["/a"], ...(methodOverride !== undefined ? { methodOverride } : {}) },
    });
    expect(errorsOf({ version: 1, rules: [rule(del()), { ...rule(del(true)), id: "overridden" }] })).toEqual([]);
    expect(errorsOf({ version: 1, rules: [rule(del(true)), { ...rule(del(true)), id: "again" }] })[0]!.path).toBe(
      "rules[1]",
    );
    expect(errorsOf({ version: 1, rules: [rule(del(true)), { ...rule(del()), id: "again" }] })[0]!.path).toBe(
      "rules[1]",
    );
  });
});

describe("fields", () => {
  it("accepts $schema and says 'did you mean' for a misspelt field", () => {
    expect(errorsOf({ $schema: "./policy.schema.json", version: 1, rules: [rule()] })).toEqual([]);
    expect(errorsOf({ version: 1, rules: [{ ...rule(), limts: [] }] })).toContainEqual({
      path: "rules[0].limts",
      message: 'unknown field; did you mean "limits"?',
    });
    expect(errorsOf({ version: 1, rules: [rule()], defaultTeir: "pro" })).toContainEqual({
      path: "defaultTeir",
      message: 'unknown field; did you mean "defaultTier"?',
    });
  });
});

describe("JSON errors and size", () => {
  it("gives the line and column of a JSON error", () => {
    const r = validatePolicyText('{\n  "version": 1,\n  "rules": [}\n}');
    expect(r.ok ? "" : r.errors[0]!.message).toMatch(/^invalid JSON: .+ at line 3, column 13$/);
    const cut = validatePolicyText('{"version":1,"rules":[{"id":"x",');
    expect(cut.ok ? "" : cut.errors[0]!.message).toMatch(/ at line 1, column 33$/);
  });

  it("refuses a document over the size limit, whatever it holds, and takes one at the limit", () => {
    const padded = (bytes: number) => {
      const base = JSON.stringify({ version: 1, rules: [rule()] });
      return `${base}${" ".repeat(bytes - base.length)}`;
    };
    const over = validatePolicyText(padded(MAX_POLICY_BYTES + 1));
    expect(over.ok ? "" : over.errors[0]!.message).toBe("the document is 1.0 MiB; a policy may be at most 1 MiB");
    expect(validatePolicyText(padded(MAX_POLICY_BYTES)).ok).toBe(true);
    const huge = validatePolicyText(" ".repeat(30 * 1024 * 1024));
    expect(huge.ok ? "" : huge.errors[0]!.message).toBe("the document is 30 MiB; a policy may be at most 1 MiB");
  });
});

describe("tenants against the policy", () => {
  const policy = { defaultTier: "starter", rules: [] as never[] };
  const tiered = validatePolicy({
    version: 1,
    rules: [{ id: "t", limits: [{ limit: { starter: 1, pro: 2 }, window: "1m" }] }],
  });
  it("refuses a tier the policy does not define (with a hint) and an id that cannot name counters", () => {
    if (!tiered.ok) throw new Error("fixture");
    expect(tenantProblems({ id: "acme", tier: "Pro", sandbox: false }, tiered.policy)).toEqual([
      { path: "tier", message: expect.stringContaining('tier "Pro" is not defined by the policy in force') },
    ]);
    expect(tenantProblems({ id: "acme", tier: "Pro", sandbox: false }, tiered.policy)[0]!.message).toContain(
      'did you mean "pro"?',
    );
    expect(tenantProblems({ id: "acme", tier: "gold", sandbox: false }, policy)[0]!.path).toBe("tier");
    expect(tenantProblems({ id: "Acme Corp!", sandbox: false }, policy)[0]!.path).toBe("id");
    expect(tenantProblems({ id: "acme", tier: "pro", sandbox: false }, tiered.policy)).toEqual([]);
  });
});

describe("long rule lists in output", () => {
  it("prints ten ids and how many more, not 20,000", async () => {
    const { idList } = await import("../../src/cli/id-list");
    const ids = Array.from({ length: 20_000 }, (_, i) => `r${i}`);
    expect(idList(ids)).toBe("r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 and 19,990 more");
    expect(idList(ids.slice(0, 10))).toBe(ids.slice(0, 10).join(", "));
  });
});
