/**
 * One explain (src/engine/explain.ts): the engine's own walk, identity and counter specs for a
 * request, charging nothing; and `policy explain`'s words (src/cli/explain.ts) said from it.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import { explainLines } from "../../src/cli/explain";
import { type Explanation, explain } from "../../src/engine/explain";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import type { Tenant } from "../../src/policy/tenant-record";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000;

function compiled(document: PolicyInput) {
  const checked = validatePolicy(document);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.compiled;
}

function ports(tenants: Record<string, Tenant> = {}) {
  const clock = { now: () => T0 };
  const counters = new MemoryCounterStore(clock);
  const byHash = Promise.all(Object.entries(tenants).map(async ([k, t]) => [await sha256Hex(k), t] as const)).then(
    (entries) => new Map(entries),
  );
  return { counters, clock, tenants: { lookup: async (hash: string) => (await byHash).get(hash) ?? null } };
}

function request(path: string, headers: Record<string, string> = {}, host = "api.example.com") {
  return {
    method: "get",
    url: new URL(`https://${host}${path}`),
    headers: new Headers({ "cf-connecting-ip": "203.0.113.9", ...headers }),
  };
}

const steps = (plan: Explanation) =>
  plan.kind === "explained" ? plan.rules.map((r) => [r.rule.id, r.step]) : plan.kind;

const walk = compiled({
  version: 1,
  rules: [
    { id: "deny", action: "block", match: { paths: ["/deny"] } },
    { id: "health", action: "bypass", match: { paths: ["/health", "/stacked"] } },
    { id: "burst", key: "ip", continue: true, limits: [{ limit: 2, window: "1s" }] },
    { id: "stop", action: "bypass", match: { paths: ["/after"] } },
    { id: "per-ip", key: "ip", match: { methods: ["GET"] }, limits: [{ limit: 10, window: "1m" }] },
    { id: "writes", key: "ip", limits: [{ limit: 1, window: "1m" }] },
  ],
});

describe("explain: the engine's walk, charging nothing", () => {
  it("first match decides, continue stacks, a block or bypass ends the walk", async () => {
    expect(steps(await explain(walk, request("/x"), ports()))).toEqual([
      ["deny", "no-match"],
      ["health", "no-match"],
      ["burst", "applies"],
      ["stop", "no-match"],
      ["per-ip", "applies"],
      ["writes", "not-reached"],
    ]);
    expect(steps(await explain(walk, request("/deny"), ports()))).toEqual([
      ["deny", "blocks"],
      ...walk.rules.slice(1).map((r) => [r.id, "not-reached"]),
    ]);
    expect(steps(await explain(walk, request("/after"), ports()))).toEqual([
      ["deny", "no-match"],
      ["health", "no-match"],
      ["burst", "applies"],
      ["stop", "bypasses"],
      ["per-ip", "not-reached"],
      ["writes", "not-reached"],
    ]);
  });

  it("peeks: the room it shows is the room a request then uses", async () => {
    const p = ports();
    const room = async () => {
      const plan = await explain(walk, request("/x"), p);
      return plan.kind === "explained" ? plan.rules[2]!.limits!.map((l) => [l.room.remaining, l.room.allowed]) : [];
    };
    expect(await room()).toEqual([[2, true]]);
    expect(await room()).toEqual([[2, true]]);
    const plan = await explain(walk, request("/x"), p);
    const burst = plan.kind === "explained" ? plan.rules[2]! : undefined;
    expect(burst?.key).toBe("ip:203.0.113.9");
    for (let i = 0; i < 2; i++) await p.counters.check(burst!.key!, { counters: burst!.limits!.map((l) => l.spec) });
    expect(await room()).toEqual([[0, false]]);
  });

  it("sizes limits as the engine does: the tenant's tier and override, the sandbox host's multiplier", async () => {
    const policy = compiled({
      version: 1,
      identity: { apiKey: { header: "x-api-key" } },
      sandbox: { multiplier: 10, hosts: ["sandbox.example.com"] },
      rules: [{ id: "api", key: "tenant", limits: [{ limit: { starter: 3, pro: 5 }, window: "1m" }] }],
    });
    const p = ports({ "key-acme": { id: "acme", tier: "pro", sandbox: false, overrides: { "api-1m": { limit: 8 } } } });
    const limitOf = (plan: Explanation) =>
      plan.kind === "explained" ? [plan.client, plan.rules[0]!.key, plan.rules[0]!.limits![0]!.spec.limit] : [];
    expect(limitOf(await explain(policy, request("/x", { "x-api-key": "key-acme" }), p))).toEqual([
      { ipKey: "203.0.113.9", tenant: "acme", tier: "pro", sandbox: false },
      "tenant:acme",
      8,
    ]);
    expect(limitOf(await explain(policy, request("/x", {}, "sandbox.example.com"), p))).toEqual([
      { ipKey: "203.0.113.9", tenant: null, tier: "starter", sandbox: true },
      "sandbox:ip:203.0.113.9",
      30,
    ]);
    // An operator's "what if": another tier, no tenant.
    expect(limitOf(await explain(policy, request("/x"), p, { tier: "pro" }))[2]).toBe(5);
  });

  it("a CF-Connecting-IP that is not one address is explained as the 400 it gets", async () => {
    const plan = await explain(walk, request("/x", { "cf-connecting-ip": "1.2.3.4:80" }), ports());
    expect(plan).toEqual({ kind: "invalid-client-ip", method: "GET", malformed: "1.2.3.4:80" });
  });
});

describe("policy explain's words", () => {
  it("say the plan rule by rule and stop where the walk stops", async () => {
    const req = request("/x");
    const lines = explainLines(await explain(walk, req, ports()), req.url, req.headers, "203.0.113.9", 1);
    expect(lines).toEqual([
      "GET https://api.example.com/x (path matched as /x, client 203.0.113.9, tier starter)",
      "  rules[0] deny: does not match",
      "  rules[1] health: does not match",
      "  rules[2] burst: matches: counted by the client address (203.0.113.9)",
      "    burst-1s: 2 per 1 second (fixed)",
      "  rules[3] stop: does not match",
      "  rules[4] per-ip: matches: counted by the client address (203.0.113.9)",
      "    per-ip-1m: 10 per 1 minute (fixed)",
      "  (first match decides: rules below rules[4] are not tried)",
    ]);
  });
});
