/**
 * Overrides and penalties through the engine in plain Node, over the
 * in-memory counter store with an injected clock: an override raising one
 * tenant's limit while the tier's other tenant keeps its own, lapsing at its
 * expiry to the millisecond; a penalty outlasting its window, answered from
 * the refusal cache without a counter-store call, and ending on time.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine } from "../../src/engine/engine";
import type { CounterStore } from "../../src/engine/ports";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import type { Tenant } from "../../src/policy/tenant-record";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000; // a whole minute
const MIN = 60_000;

function harness(document: PolicyInput, tenants: Record<string, Tenant> = {}) {
  const checked = validatePolicy(document);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const clock = { at: T0, now: () => clock.at };
  const memory = new MemoryCounterStore(clock);
  let checks = 0;
  const store: CounterStore = {
    check: (key, request) => {
      checks++;
      return memory.check(key, request);
    },
    release: (key, charges) => memory.release(key, charges),
    inspect: (key, counters, penalties) => memory.inspect(key, counters, penalties),
    reset: (key, names) => memory.reset(key, names),
  };
  const byHash = Promise.all(Object.entries(tenants).map(async ([k, t]) => [await sha256Hex(k), t] as const)).then(
    (entries) => new Map(entries),
  );
  const ports: EnginePorts = {
    policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
    counters: store,
    tenants: { lookup: async (hash) => (await byHash).get(hash) ?? null },
    clock,
    observer: { decided: () => {} },
    background: { waitUntil: () => {} },
  };
  const engine = createEngine();
  return {
    clock,
    checks: () => checks,
    async send(headers: Record<string, string> = {}) {
      const h = new Headers({ "cf-connecting-ip": "203.0.113.9", ...headers });
      const outcome = await engine.decide(new Request("https://api.example.com/v1/x", { headers: h }), ports, {
        budgetMs: 0,
        sandbox: false,
      });
      const response = outcome.response ?? outcome.finish(new Response("ok"));
      return {
        status: response.status,
        reason: outcome.result.reason,
        limit: response.headers.get("RateLimit-Limit"),
        retryAfter: response.headers.get("Retry-After"),
      };
    },
    async statuses(n: number, headers: Record<string, string> = {}) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await this.send(headers)).status);
      return out;
    },
  };
}

const tiered: PolicyInput = {
  version: 1,
  rules: [{ id: "api", key: "tenant", limits: [{ limit: { starter: 3, pro: 5 }, window: "1m" }] }],
};

describe("overrides through the engine", () => {
  it("raise one tenant's limit; the tier's other tenant keeps its own", async () => {
    const h = harness(tiered, {
      "key-acme": { id: "acme", tier: "pro", sandbox: false, overrides: { "api-1m": { limit: 8 } } },
      "key-globex": { id: "globex", tier: "pro", sandbox: false },
    });
    const acme = { authorization: "Bearer key-acme" };
    const globex = { authorization: "Bearer key-globex" };
    expect(await h.statuses(9, acme)).toEqual([...Array(8).fill(200), 429]);
    expect(await h.statuses(6, globex)).toEqual([...Array(5).fill(200), 429]);
    expect((await h.send(acme)).limit).toBe("8");
    expect((await h.send(globex)).limit).toBe("5");
  });

  it("lapse at their expiry, to the millisecond", async () => {
    const expires = new Date(T0 + 30_000).toISOString();
    const h = harness(tiered, {
      "key-initech": {
        id: "initech",
        tier: "pro",
        sandbox: false,
        overrides: { "api-1m": { multiplier: 2, expires } },
      },
    });
    const initech = { authorization: "Bearer key-initech" };
    expect(await h.statuses(6, initech)).toEqual(Array(6).fill(200));
    h.clock.at = T0 + 30_000 - 1;
    const last = await h.send(initech);
    expect([last.status, last.limit]).toEqual([200, "10"]);
    h.clock.at = T0 + 30_000;
    const lapsed = await h.send(initech);
    expect([lapsed.status, lapsed.limit]).toEqual([429, "5"]);
  });
});

describe("penalty through the engine", () => {
  it("outlasts the window from the refusal cache, and ends on time", async () => {
    const h = harness({
      version: 1,
      rules: [{ id: "login", key: "ip", penalty: "10m", limits: [{ limit: 2, window: "1m" }] }],
    });
    expect(await h.statuses(2)).toEqual([200, 200]);
    h.clock.at = T0 + 20_000;
    const boxed = await h.send();
    expect([boxed.status, boxed.retryAfter, boxed.reason]).toEqual([429, "600", "limit"]);
    const checks = h.checks();

    h.clock.at = T0 + 3 * MIN;
    const later = await h.send();
    expect([later.status, later.retryAfter, later.reason]).toEqual([429, "440", "cached"]);
    expect(h.checks()).toBe(checks); // the isolate's memory answered

    h.clock.at = T0 + 20_000 + 10 * MIN;
    expect(await h.statuses(3)).toEqual([200, 200, 429]);
  });
});
