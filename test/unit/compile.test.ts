/**
 * The compiled policy: counter names, tier lookup, window words, and the rule
 * matchers built from `match`.
 */
import { describe, expect, it } from "vitest";
import { parseIp } from "../../src/net/ip";
import { type CompiledPolicy, compilePolicy, type RequestFacts } from "../../src/policy/compile";
import { normalizePath } from "../../src/policy/normalize-path";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";
import { parseWindow, windowInWords } from "../../src/policy/window";

function compiled(doc: PolicyInput): CompiledPolicy {
  const result = validatePolicy(doc);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.compiled;
}

function facts(
  over: Partial<Omit<RequestFacts, "headers" | "ip">> & { headers?: Record<string, string>; ip?: string } = {},
): RequestFacts {
  return {
    method: over.method ?? "GET",
    path: normalizePath(over.path ?? "/"),
    host: over.host ?? "api.example.com",
    headers: new Headers(over.headers ?? {}),
    ip: parseIp(over.ip ?? "198.51.100.7"),
  };
}

describe("parseWindow and windowInWords", () => {
  it.each([
    ["1s", 1_000, "1 second"],
    ["30s", 30_000, "30 seconds"],
    ["1m", 60_000, "1 minute"],
    ["15m", 900_000, "15 minutes"],
    ["1h", 3_600_000, "1 hour"],
    ["1d", 86_400_000, "1 day"],
    ["366d", 366 * 86_400_000, "366 days"],
  ])("%s is %d ms, %s", (text, ms, words) => {
    const w = parseWindow(text);
    expect(w?.ms).toBe(ms);
    expect(windowInWords(w!)).toBe(words);
  });

  it.each(["0s", "01m", "1", "m", "1w", "1.5h", " 1m", "1M", "-1s", "367d", "1000000000s", ""])(
    "rejects %j",
    (text) => {
      expect(parseWindow(text)).toBeUndefined();
    },
  );
});

describe("compilePolicy", () => {
  const policy = compiled({
    version: 1,
    defaultTier: "starter",
    headers: ["x", "ietf"],
    legacyReset: "delta",
    sandbox: { multiplier: 10, hosts: ["Sandbox.API.example.com"] },
    identity: { apiKey: { header: "X-Api-Key" } },
    // "ws" comes after the catch-all "forgot" on purpose: it is compiled all the same.
    allowUnreachableRules: true,
    rules: [
      {
        id: "transfers",
        match: { methods: ["post", "PUT"], paths: ["/api/v1/transfers", "/api/v1/transfers/*"] },
        limits: [
          { limit: { starter: 50, pro: 200, enterprise: 1000 }, window: "15m" },
          { limit: 20, window: "1s", algorithm: "token-bucket", burst: 40 },
          { limit: 10, window: "1m", algorithm: "sliding" },
          { concurrency: 5 },
        ],
      },
      { id: "forgot", key: "body:user.email", limits: [{ limit: 10, window: "1h" }] },
      { id: "ws", action: "bypass", match: { headers: { Upgrade: "WebSocket" } } },
    ],
  });

  it("copies the document-level settings", () => {
    expect(policy.defaultTier).toBe("starter");
    expect(policy.headerFamilies).toEqual({ legacy: false, ietf: true, x: true });
    expect(policy.legacyReset).toBe("delta");
    expect(policy.sandboxMultiplier).toBe(10);
    expect([...policy.sandboxHosts]).toEqual(["sandbox.api.example.com"]);
    expect(policy.apiKeyHeader).toBe("x-api-key");
    expect(policy.apiKeyScheme).toBeUndefined();
    expect(policy.ipv6Prefix).toBe(64);
    expect(policy.needsTenant).toBe(true);
    expect(policy.readsBody).toBe(true);
  });

  it("names counters <rule>-<window> and <rule>-conc, with their algorithm and window", () => {
    const limits = policy.rules[0]!.limits;
    expect(limits.map((l) => [l.name, l.algorithm, l.windowMs, l.windowWords, l.burst])).toEqual([
      ["transfers-15m", "fixed", 900_000, "15 minutes", undefined],
      ["transfers-1s", "token-bucket", 1_000, "1 second", 40],
      ["transfers-1m", "sliding", 60_000, "1 minute", undefined],
      ["transfers-conc", "concurrency", 0, "at once", undefined],
    ]);
  });

  it("looks a tier's number up, falling back to defaultTier's", () => {
    const [tiered, flat, , conc] = policy.rules[0]!.limits;
    expect(tiered!.limitFor("starter")).toBe(50);
    expect(tiered!.limitFor("pro")).toBe(200);
    expect(tiered!.limitFor("enterprise")).toBe(1000);
    expect(tiered!.limitFor("unknown-tier")).toBe(50);
    expect(flat!.limitFor("pro")).toBe(20);
    expect(conc!.limitFor("pro")).toBe(5);
    expect(policy.rules[0]!.tiered).toBe(true);
    expect(policy.rules[1]!.tiered).toBe(false);
  });

  it("compiles keys", () => {
    expect(policy.rules[0]!.key).toEqual({ kind: "tenant" });
    expect(policy.rules[1]!.key).toEqual({ kind: "body", path: ["user", "email"], field: "user.email" });
    const p = compiled({
      version: 1,
      allowUnreachableRules: true, // every rule here is compiled and matched on its own
      rules: [
        { id: "a", key: "header:X-Client-Id", limits: [{ limit: 1, window: "1s" }] },
        { id: "b", key: "query:Email", limits: [{ limit: 1, window: "1s" }] },
        { id: "c", key: "ip", limits: [{ limit: 1, window: "1s" }] },
      ],
    });
    expect(p.rules.map((r) => r.key)).toEqual([
      { kind: "header", name: "x-client-id" },
      { kind: "query", name: "Email" },
      { kind: "ip" },
    ]);
    expect(p.needsTenant).toBe(false);
    expect(p.readsBody).toBe(false);
  });

  it("matches methods case-insensitively from the document, and lets a GET rule cover HEAD", () => {
    const rule = policy.rules[0]!;
    expect(rule.matches(facts({ method: "POST", path: "/api/v1/transfers" }))).toBe(true);
    expect(rule.matches(facts({ method: "PUT", path: "/API/v1/transfers/42/" }))).toBe(true);
    expect(rule.matches(facts({ method: "GET", path: "/api/v1/transfers" }))).toBe(false);
    expect(rule.matches(facts({ method: "POST", path: "/api/v1/other" }))).toBe(false);
    const get = compiled({
      version: 1,
      rules: [{ id: "g", match: { methods: ["GET"] }, limits: [{ limit: 1, window: "1s" }] }],
    }).rules[0]!;
    expect(get.matches(facts({ method: "HEAD" }))).toBe(true);
    expect(get.matches(facts({ method: "POST" }))).toBe(false);
  });

  it("matches a header's value case-insensitively, and any member of a list-valued header", () => {
    const ws = policy.rules[2]!;
    expect(ws.matches(facts({ headers: { upgrade: "websocket" } }))).toBe(true);
    expect(ws.matches(facts({ headers: { Upgrade: "WEBSOCKET" } }))).toBe(true);
    expect(ws.matches(facts({ headers: { upgrade: "h2c, websocket" } }))).toBe(true);
    expect(ws.matches(facts({ headers: { upgrade: "websockets" } }))).toBe(false);
    expect(ws.matches(facts())).toBe(false);
  });

  it("matches hosts exactly or by a *. suffix", () => {
    const p = compiled({
      version: 1,
      rules: [
        {
          id: "h",
          match: { hosts: ["API.example.com", "*.partners.example.com"] },
          limits: [{ limit: 1, window: "1s" }],
        },
      ],
    });
    const rule = p.rules[0]!;
    expect(rule.matches(facts({ host: "api.example.com" }))).toBe(true);
    expect(rule.matches(facts({ host: "acme.partners.example.com" }))).toBe(true);
    expect(rule.matches(facts({ host: "partners.example.com" }))).toBe(false);
    expect(rule.matches(facts({ host: "evilpartners.example.com" }))).toBe(false);
    expect(rule.matches(facts({ host: "www.example.com" }))).toBe(false);
  });

  it("matches client IPs against CIDR ranges, an IPv4-mapped client as IPv4", () => {
    const p = compiled({
      version: 1,
      rules: [{ id: "i", match: { ips: ["203.0.113.0/24", "2001:db8::/32"] }, limits: [{ limit: 1, window: "1s" }] }],
    });
    const rule = p.rules[0]!;
    expect(rule.matches(facts({ ip: "203.0.113.200" }))).toBe(true);
    expect(rule.matches(facts({ ip: "::ffff:203.0.113.200" }))).toBe(true);
    expect(rule.matches(facts({ ip: "2001:db8:1::1" }))).toBe(true);
    expect(rule.matches(facts({ ip: "203.0.114.1" }))).toBe(false);
    expect(rule.matches({ ...facts(), ip: undefined })).toBe(false);
  });

  it("matches everything with an empty match, and requires every given condition", () => {
    const p = compiled({
      version: 1,
      allowUnreachableRules: true, // every rule here is compiled and matched on its own
      rules: [
        { id: "all", limits: [{ limit: 1, window: "1s" }] },
        { id: "both", match: { methods: ["POST"], paths: ["/login"] }, limits: [{ limit: 1, window: "1s" }] },
      ],
    });
    expect(p.rules[0]!.matches(facts({ method: "DELETE", path: "/anything/at/all" }))).toBe(true);
    expect(p.rules[1]!.matches(facts({ method: "POST", path: "/login" }))).toBe(true);
    expect(p.rules[1]!.matches(facts({ method: "GET", path: "/login" }))).toBe(false);
    expect(p.rules[1]!.matches(facts({ method: "POST", path: "/logout" }))).toBe(false);
  });

  it("matches a path with a format suffix unless the rule sets formatSuffix: false", () => {
    const p = compiled({
      version: 1,
      // "exact" only matches requests "suffix" already takes: kept to compare the two matchers.
      allowUnreachableRules: true,
      rules: [
        { id: "suffix", match: { paths: ["/api/v1/transfers", "/files/*"] }, limits: [{ limit: 1, window: "1s" }] },
        {
          id: "exact",
          match: { paths: ["/api/v1/transfers"], formatSuffix: false },
          limits: [{ limit: 1, window: "1s" }],
        },
      ],
    });
    const [suffix, exact] = p.rules;
    for (const path of ["/api/v1/transfers.json", "/api/v1/transfers.xml", "/API/v1/Transfers.JSON;x=1"])
      expect(suffix!.matches(facts({ path }))).toBe(true);
    expect(suffix!.matches(facts({ path: "/files/report.pdf" }))).toBe(true);
    expect(suffix!.matches(facts({ path: "/api/v1/transfers-x.json" }))).toBe(false);
    expect(exact!.matches(facts({ path: "/api/v1/transfers.json" }))).toBe(false);
    expect(exact!.matches(facts({ path: "/api/v1/transfers" }))).toBe(true);
  });

  it("is what validatePolicy hands back", () => {
    const result = validatePolicy({ version: 1, rules: [{ id: "a", limits: [{ limit: 1, window: "1s" }] }] });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(compilePolicy(result.policy).rules.map((r) => r.limits.map((l) => l.name))).toEqual([["a-1s"]]);
    expect(result.compiled.document).toBe(result.policy);
  });
});

describe("match.methodOverride", () => {
  const policy = (methodOverride?: boolean) =>
    compiled({
      version: 1,
      rules: [
        {
          id: "deletes",
          match: { methods: ["DELETE"], paths: ["/api/v1/items/*"], ...(methodOverride ? { methodOverride } : {}) },
          key: "ip",
          limits: [{ limit: 3, window: "1m" }],
        },
      ],
    });
  const post = (overrides?: RequestFacts["overrides"]) => ({
    ...facts({ method: "POST", path: "/api/v1/items/1" }),
    ...(overrides ? { overrides } : {}),
  });

  it("matches a POST by the method it overrides to, only when the rule says so", () => {
    expect(policy(true).rules[0]!.matches(post(new Set(["DELETE"])))).toBe(true);
    expect(policy(true).rules[0]!.matches(post("any"))).toBe(true);
    expect(policy(true).rules[0]!.matches(post(new Set(["PUT"])))).toBe(false);
    expect(policy(true).rules[0]!.matches(post())).toBe(false);
    expect(policy(false).rules[0]!.matches(post(new Set(["DELETE"])))).toBe(false);
    expect(policy(true).methodOverride).toBe(true);
    expect(policy(false).methodOverride).toBe(false);
    // Overrides are read only where the rule could match without its methods.
    expect(policy(true).rules[0]!.mayMatchOverridden?.(post())).toBe(true);
    expect(policy(true).rules[0]!.mayMatchOverridden?.(facts({ method: "POST", path: "/other" }))).toBe(false);
    expect(policy(false).rules[0]!.mayMatchOverridden).toBeUndefined();
  });
});
