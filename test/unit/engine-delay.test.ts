/**
 * `onLimit.delay` through the engine, in plain Node over the in-memory store
 * with an injected clock whose `wait` records each wait and moves the clock:
 * a request held for its slot comes back admitted only once the clock has
 * reached that slot; what is not held (several keys, a call by key) refuses
 * as before; a delaying rule's refusal is not remembered.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine } from "../../src/engine/engine";
import type { CheckRequest, CounterStore } from "../../src/engine/ports";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000;

function harness(document: PolicyInput) {
  const checked = validatePolicy(document);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const waits: number[] = [];
  // Waits in order; a wait moves the clock to its end (requests are awaited one by one).
  const clock = {
    at: T0,
    now: () => clock.at,
    wait: async (ms: number) => {
      waits.push(ms);
      clock.at += ms;
    },
  };
  const memory = new MemoryCounterStore(clock);
  const asked: CheckRequest[] = [];
  const store: CounterStore = {
    check: (key, request) => {
      asked.push(request);
      return memory.check(key, request);
    },
    release: (key, charges) => memory.release(key, charges),
    inspect: (key, counters, penalties) => memory.inspect(key, counters, penalties),
    reset: (key, names) => memory.reset(key, names),
  };
  const engine = createEngine();
  const ports: EnginePorts = {
    policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
    counters: store,
    tenants: { lookup: async () => null },
    clock,
    observer: { decided: () => {} },
    background: { waitUntil: () => {} },
  };
  const settings = { budgetMs: 0, sandbox: false };
  return {
    clock,
    waits,
    asked,
    engine,
    decide: (path = "/api", ip = "203.0.113.7") =>
      engine.decide(
        new Request(`https://api.example.com${path}`, { headers: { "cf-connecting-ip": ip } }),
        ports,
        settings,
      ),
    decideKey: (key: string, rule: string) => engine.decideKey({ key, rule }, ports, settings),
  };
}

const bucketRule = {
  id: "api",
  key: "ip",
  onLimit: { delay: "2s", maxWaiting: 5 },
  limits: [{ limit: 10, window: "1s", algorithm: "token-bucket" as const }],
};

describe("the engine holds a delayed request until its slot", () => {
  it("waits the store's delay, then admits with delayedMs and headers; past the cap, refuses with a 429", async () => {
    const h = harness({ version: 1, headers: ["legacy", "ietf"], rules: [bucketRule] });
    const startedAt: number[] = [];
    const outcomes = [];
    for (let i = 0; i < 16; i++) {
      startedAt.push(h.clock.at);
      outcomes.push(await h.decide());
    }
    // Requests are awaited one by one, so each starts where the last one's wait left the clock.
    expect(outcomes.slice(0, 10).every((o) => o.result.success && o.result.delayedMs === undefined)).toBe(true);
    expect(outcomes.slice(10).map((o) => o.result.delayedMs)).toEqual([100, 100, 100, 100, 100, 100]);
    expect(h.waits).toEqual([100, 100, 100, 100, 100, 100]);
    expect(h.asked.every((r) => r.delay?.maxMs === 2_000 && r.delay.maxWaiting === 5)).toBe(true);
    const finished = outcomes[10]!.finish(new Response("ok"));
    expect(finished.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("a burst at one instant: each held for its own slot, and the cap refuses the rest", async () => {
    const h = harness({ version: 1, rules: [bucketRule] });
    // Decided all at T0 (the clock's wait is not awaited before the next decision starts).
    h.clock.wait = async (ms) => {
      h.waits.push(ms);
    };
    const outcomes = await Promise.all(Array.from({ length: 17 }, () => h.decide()));
    expect(outcomes.map((o) => o.result.delayedMs ?? (o.result.success ? 0 : "refused"))).toEqual([
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      100,
      200,
      300,
      400,
      500,
      "refused",
      "refused",
    ]);
    expect(outcomes[15]!.response?.status).toBe(429);
    // Not remembered: the next request after the first slot is held again, not refused from the cache.
    h.clock.at = T0 + 100;
    expect((await h.decide()).result.delayedMs).toBe(500);
  });

  it("does not hold a request counted under two keys, nor a call by key", async () => {
    const h = harness({
      version: 1,
      rules: [
        { ...bucketRule, continue: true },
        { id: "tenant", key: "header:x-user", limits: [{ limit: 100, window: "1m" }] },
      ],
    });
    for (let i = 0; i < 10; i++) await h.decide();
    expect(h.asked.every((r) => r.delay === undefined)).toBe(true);
    expect((await h.decide()).result.success).toBe(false);
    const k = harness({ version: 1, rules: [bucketRule] });
    for (let i = 0; i < 10; i++) await k.decideKey("job", "api");
    expect((await k.decideKey("job", "api")).success).toBe(false);
    expect(k.waits).toEqual([]);
  });

  it("stacked rules on one key delay only when each of them says so", async () => {
    const second = { id: "daily", key: "ip", limits: [{ limit: 1_000, window: "1d" }] };
    const h = harness({ version: 1, rules: [{ ...bucketRule, continue: true }, second] });
    await h.decide();
    expect(h.asked[0]!.delay).toBeUndefined();
    const both = harness({
      version: 1,
      rules: [
        { ...bucketRule, continue: true },
        { ...second, onLimit: { delay: "500ms", maxWaiting: 9 } },
      ],
    });
    await both.decide();
    expect(both.asked[0]!.delay).toEqual({ maxMs: 500, maxWaiting: 5, name: "api:waiting" });
  });
});
