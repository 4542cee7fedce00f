/**
 * Calendar windows in the policy and through the engine (plain Node, the
 * in-memory counter store, an injected clock): validation messages, the
 * compiled counter, the tenant's billing period over the policy's anchor,
 * a month quota at its boundary with its headers, and a reset when paid.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine } from "../../src/engine/engine";
import { ruleCounterSpecs } from "../../src/engine/plan";
import { CALENDAR_REFUSAL_MEMORY_MS } from "../../src/engine/refusal-cache";
import { sha256Hex } from "../../src/hash";
import { OverridesSchema } from "../../src/policy/overrides";
import type { PolicyInput } from "../../src/policy/schema";
import { parseTenant, type Tenant } from "../../src/policy/tenant-record";
import { validatePolicy } from "../../src/policy/validate";

const at = (iso: string) => Date.parse(iso);

function errorsOf(limit: Record<string, unknown>) {
  const r = validatePolicy({ version: 1, rules: [{ id: "quota", limits: [limit] }] });
  return r.ok ? [] : r.errors;
}

describe("validation", () => {
  it("accepts the calendar windows with and without an anchor", () => {
    expect(errorsOf({ limit: 10, window: "month" })).toEqual([]);
    expect(errorsOf({ limit: 10, window: "week", anchor: { weekday: "friday", time: "17:00" } })).toEqual([]);
    expect(errorsOf({ limit: 10, window: "year", anchor: { month: 2, day: 29, timeZone: "Asia/Tokyo" } })).toEqual([]);
    expect(errorsOf({ limit: 10, window: "month", algorithm: "fixed", anchor: { day: 31 } })).toEqual([]);
  });

  it("names the field at fault", () => {
    const at0 = "rules[0].limits[0]";
    expect(errorsOf({ limit: 10, window: "month", anchor: { timeZone: "Mars/Olympus" } })).toEqual([
      {
        path: `${at0}.anchor.timeZone`,
        message: 'must be an IANA time zone, e.g. "UTC", "Europe/Berlin", "America/New_York"',
      },
    ]);
    expect(errorsOf({ limit: 10, window: "month", anchor: { day: 0 } })[0]?.path).toBe(`${at0}.anchor.day`);
    expect(errorsOf({ limit: 10, window: "month", anchor: { time: "7:00" } })[0]?.path).toBe(`${at0}.anchor.time`);
    expect(errorsOf({ limit: 10, window: "week", anchor: { day: 3 } })).toEqual([
      { path: `${at0}.anchor.day`, message: 'not allowed with window "week" (give weekday)' },
    ]);
    expect(errorsOf({ limit: 10, window: "month", anchor: { month: 3 } })[0]?.path).toBe(`${at0}.anchor.month`);
    expect(errorsOf({ limit: 10, window: "year", anchor: { month: 2, day: 30 } })).toEqual([
      { path: `${at0}.anchor.day`, message: "February has at most 29 days" },
    ]);
    expect(errorsOf({ limit: 10, window: "1d", anchor: { day: 1 } })[0]?.path).toBe(`${at0}.anchor`);
    expect(errorsOf({ limit: 10, window: "month", algorithm: "token-bucket" })[0]?.path).toBe(`${at0}.algorithm`);
    expect(errorsOf({ concurrency: 2, anchor: { day: 1 } })[0]?.path).toBe(`${at0}.anchor`);
    expect(errorsOf({ limit: 10, window: "months" })[0]?.path).toBe(`${at0}.window`);
  });

  it("a tenant's billing is checked, and overrides may name a calendar counter", () => {
    expect(parseTenant({ id: "acme", billing: { day: 15, timeZone: "America/New_York" } }).success).toBe(true);
    const bad = parseTenant({ id: "acme", billing: { day: 32, time: "24:00", timeZone: "Nowhere/Land" } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join("."))).toEqual(["billing.day", "billing.time", "billing.timeZone"]);
    for (const name of ["api-month", "api-week", "api-year", "api-1d", "api-conc"])
      expect(OverridesSchema.safeParse({ [name]: { limit: 5 } }).success, name).toBe(true);
    expect(OverridesSchema.safeParse({ "api-months": { limit: 5 } }).success).toBe(false);
  });
});

describe("compiled counters and the tenant's billing period", () => {
  const checked = validatePolicy({
    version: 1,
    rules: [
      {
        id: "quota",
        key: "tenant",
        continue: true,
        limits: [
          { limit: 1000, window: "month", anchor: { day: 31, timeZone: "Europe/Berlin" } },
          { limit: 100, window: "week" },
        ],
      },
      { id: "by-ip", key: "ip", limits: [{ limit: 50, window: "month" }] },
    ],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const policy = checked.compiled;
  const [quota, byIp] = policy.rules;

  it("names the counters <rule>-month and <rule>-week, fixed windows anchored by the policy", () => {
    const specs = ruleCounterSpecs(policy, quota!, "starter", false);
    expect(specs.map((s) => [s.name, s.algorithm])).toEqual([
      ["quota-month", "fixed"],
      ["quota-week", "fixed"],
    ]);
    expect(specs[0]!.calendar).toEqual({ period: "month", day: 31, minute: 0, timeZone: "Europe/Berlin" });
    expect(specs[1]!.calendar).toEqual({ period: "week", day: 1, minute: 0, timeZone: "UTC" });
    expect(quota!.limits[0]!.windowWords).toBe("month");
  });

  it("the tenant's billing wins field by field on a tenant-keyed rule: day for months, zone and time for all", () => {
    const billing = { day: 15, timeZone: "America/New_York" };
    const specs = ruleCounterSpecs(policy, quota!, "starter", false, undefined, 0, billing);
    expect(specs[0]!.calendar).toEqual({ period: "month", day: 15, minute: 0, timeZone: "America/New_York" });
    expect(specs[1]!.calendar).toEqual({ period: "week", day: 1, minute: 0, timeZone: "America/New_York" });
    const withTime = ruleCounterSpecs(policy, quota!, "starter", false, undefined, 0, { time: "06:30" });
    expect(withTime[0]!.calendar).toEqual({ period: "month", day: 31, minute: 390, timeZone: "Europe/Berlin" });
  });

  it("a rule keyed otherwise keeps the policy's anchor whatever the tenant's billing", () => {
    const specs = ruleCounterSpecs(policy, byIp!, "starter", false, undefined, 0, { day: 15, timeZone: "Asia/Tokyo" });
    expect(specs[0]!.calendar).toEqual({ period: "month", day: 1, minute: 0, timeZone: "UTC" });
  });
});

describe("a month quota through the engine", () => {
  const document: PolicyInput = {
    version: 1,
    headers: ["legacy", "ietf"],
    rules: [
      {
        id: "quota",
        key: "tenant",
        limits: [{ limit: 3, window: "month", anchor: { day: 31, timeZone: "Europe/Berlin" } }],
      },
    ],
  };
  const tenants: Record<string, Tenant> = {
    "key-acme": { id: "acme", sandbox: false },
    "key-nyc": { id: "nyc", sandbox: false, billing: { day: 15, timeZone: "America/New_York" } },
  };

  function harness(start: number) {
    const checked = validatePolicy(document);
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const clock = { at: start, now: () => clock.at };
    const memory = new MemoryCounterStore(clock);
    const byHash = Promise.all(Object.entries(tenants).map(async ([k, t]) => [await sha256Hex(k), t] as const)).then(
      (entries) => new Map(entries),
    );
    const ports: EnginePorts = {
      policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
      counters: memory,
      tenants: { lookup: async (hash) => (await byHash).get(hash) ?? null },
      clock,
      observer: { decided: () => {} },
      background: { waitUntil: () => {} },
    };
    const engine = createEngine();
    return {
      clock,
      memory,
      engine,
      async send(key: string) {
        const headers = new Headers({ "cf-connecting-ip": "203.0.113.9", authorization: `Bearer ${key}` });
        const outcome = await engine.decide(new Request("https://api.example.com/v1/x", { headers }), ports, {
          budgetMs: 0,
          sandbox: false,
        });
        const response = outcome.response ?? outcome.finish(new Response("ok"));
        return {
          status: response.status,
          policy: response.headers.get("RateLimit-Policy"),
          rateLimit: response.headers.get("RateLimit"),
          reset: response.headers.get("RateLimit-Reset"),
        };
      },
    };
  }

  it("refuses the 4th request of February 2027 until 28 Feb, 00:00 Berlin, then admits; headers give t and w", async () => {
    const feb28 = at("2027-02-27T23:00:00Z");
    const h = harness(feb28 - 3_600_000); // 27 Feb, 23:00 Berlin: the period from 31 Jan
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push(await h.send("key-acme"));
    expect(sent.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(sent[0]!.policy).toBe(`"quota-month";q=3;w=${28 * 86_400}`); // 31 Jan to 28 Feb
    expect(sent[2]!.rateLimit).toBe('"quota-month";r=0;t=3600');
    expect(sent[3]!.reset).toBe(String(feb28 / 1000));
    h.clock.at = feb28 - 1;
    expect((await h.send("key-acme")).status).toBe(429);
    h.clock.at = feb28;
    const next = await h.send("key-acme");
    expect(next.status).toBe(200);
    // 28 Feb to 31 Mar (an hour short: the clocks go forward on 28 Mar).
    expect(next.policy).toBe(`"quota-month";q=3;w=${31 * 86_400 - 3600}`);
    expect(next.rateLimit).toBe(`"quota-month";r=2;t=${31 * 86_400 - 3600}`);
  });

  it("a tenant with billing day 15 in New York resets at its own local midnight", async () => {
    const mar15 = at("2027-03-15T04:00:00Z"); // 15 Mar 00:00 EDT
    const h = harness(mar15 - 60_000);
    for (let i = 0; i < 3; i++) expect((await h.send("key-nyc")).status).toBe(200);
    const refused = await h.send("key-nyc");
    expect(refused.status).toBe(429);
    expect(refused.rateLimit).toBe('"quota-month";r=0;t=60');
    // 15 Feb 00:00 EST to 15 Mar 00:00 EDT: 28 days less the hour of 14 Mar.
    expect(refused.policy).toBe(`"quota-month";q=3;w=${28 * 86_400 - 3600}`);
    h.clock.at = mar15;
    expect((await h.send("key-nyc")).status).toBe(200);
  });

  it("a reset when paid empties the counter; the period's end stays the calendar's", async () => {
    const h = harness(at("2027-04-10T12:00:00Z"));
    for (let i = 0; i < 3; i++) await h.send("key-acme");
    expect((await h.send("key-acme")).status).toBe(429);
    const removed = await h.memory.reset("tenant:acme", ["quota-month"]);
    expect(removed).toBe(1);
    // An isolate that did not serve the reset still remembers the refusal, for a minute at most.
    const remembered = await h.send("key-acme");
    expect(remembered.status).toBe(429);
    expect(remembered.reset).toBe(String(at("2027-04-29T22:00:00Z") / 1000));
    h.clock.at += CALENDAR_REFUSAL_MEMORY_MS;
    const after = await h.send("key-acme");
    expect(after.status).toBe(200);
    expect(after.reset).toBe(String(at("2027-04-29T22:00:00Z") / 1000)); // 30 Apr 00:00 Berlin
  });
});
