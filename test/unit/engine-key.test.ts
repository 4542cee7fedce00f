/**
 * The engine's decision by key (`decideKey`, behind `SluiceLimiter.limit(key, { rule })`), in plain Node
 * over the in-memory store with an injected clock: the same counters, refusal cache and observers
 * as a request.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine, KeyCallError } from "../../src/engine/engine";
import type { EngineHooks } from "../../src/engine/outcome";
import type { CounterStore, DecisionRecord } from "../../src/engine/ports";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000; // a whole minute

function harness(document: PolicyInput, hooks: EngineHooks = {}, store?: (clock: { now(): number }) => CounterStore) {
  const checked = validatePolicy(document);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const clock = { at: T0, now: () => clock.at };
  const memory = new MemoryCounterStore(clock);
  const records: DecisionRecord[] = [];
  const engine = createEngine(hooks);
  const ports: EnginePorts = {
    policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
    counters: store ? store(clock) : memory,
    tenants: { lookup: async () => null },
    clock,
    observer: { decided: (r) => records.push(r) },
    background: { waitUntil: () => {} },
  };
  const settings = { budgetMs: 0, sandbox: false };
  return {
    clock,
    memory,
    records,
    key: (key: string, rule: string, cost?: number) =>
      engine.decideKey({ key, rule, ...(cost !== undefined ? { cost } : {}) }, ports, settings),
    request: (path: string, headers: Record<string, string> = {}) =>
      engine.decide(
        new Request(`https://api.example.com${path}`, { headers: { "cf-connecting-ip": "203.0.113.7", ...headers } }),
        ports,
        settings,
      ),
  };
}

// Rules for calls by key need not be reachable by a request.
const policy = (...rules: PolicyInput["rules"]): PolicyInput => ({ version: 1, allowUnreachableRules: true, rules });

describe("decideKey: a decision without a request", () => {
  it("admits the limit-th call and refuses the next, with the result's numbers", async () => {
    const h = harness(policy({ id: "jobs", key: "ip", limits: [{ limit: 3, window: "1m" }] }));
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await h.key("u1", "jobs"));
    expect(results.map((r) => [r.success, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);
    expect(results[2]).toEqual({
      success: true,
      limit: 3,
      remaining: 0,
      reset: T0 + 60_000,
      reason: "allowed",
      rules: ["jobs"],
    });
    expect(await h.key("u1", "jobs")).toEqual({
      success: false,
      limit: 3,
      remaining: 0,
      reset: T0 + 60_000,
      reason: "limit",
      rules: ["jobs"],
    });
    // Another key has its own counter; the window's end gives room back.
    expect((await h.key("u2", "jobs")).success).toBe(true);
    h.clock.at = T0 + 60_000;
    expect(await h.key("u1", "jobs")).toMatchObject({ success: true, remaining: 2 });
  });

  it("charges `cost` units, exactly to the limit", async () => {
    const h = harness(policy({ id: "tokens", key: "ip", limits: [{ limit: 10, window: "1m" }] }));
    expect(await h.key("u1", "tokens", 4)).toMatchObject({ success: true, remaining: 6 });
    expect(await h.key("u1", "tokens", 6)).toMatchObject({ success: true, remaining: 0 });
    expect(await h.key("u1", "tokens", 1)).toMatchObject({ success: false, reason: "limit" });
    const other = harness(policy({ id: "tokens", key: "ip", limits: [{ limit: 10, window: "1m" }] }));
    expect(await other.key("u1", "tokens", 11)).toMatchObject({ success: false, remaining: 10 });
  });

  it("shares its counter with a request the `key` hook gives the same value", async () => {
    const h = harness(policy({ id: "per-user", key: "ip", limits: [{ limit: 2, window: "1m" }] }), {
      key: (request) => request.headers.get("x-user-id") ?? undefined,
    });
    expect((await h.key("u1", "per-user")).remaining).toBe(1);
    expect((await h.request("/a", { "x-user-id": "u1" })).result).toMatchObject({ success: true, remaining: 0 });
    expect(await h.key("u1", "per-user")).toMatchObject({ success: false, reason: "limit" });
  });

  it("answers a remembered refusal from the refusal cache, without the store", async () => {
    let checks = 0;
    const h = harness(policy({ id: "jobs", key: "ip", limits: [{ limit: 1, window: "1m" }] }), {}, (clock) => {
      const inner = new MemoryCounterStore(clock);
      return {
        check: (key, request) => {
          checks++;
          return inner.check(key, request);
        },
        release: (key, charges) => inner.release(key, charges),
        inspect: (key, counters) => inner.inspect(key, counters),
        reset: (key, names) => inner.reset(key, names),
      };
    });
    await h.key("u1", "jobs");
    expect((await h.key("u1", "jobs")).reason).toBe("limit");
    expect(await h.key("u1", "jobs")).toMatchObject({ success: false, reason: "cached", reset: T0 + 60_000 });
    expect(checks).toBe(2);
  });

  it("tells the observers: the verdict and the refusing key", async () => {
    const h = harness(policy({ id: "jobs", key: "ip", limits: [{ limit: 1, window: "1m" }] }));
    await h.key("u1", "jobs");
    await h.key("u1", "jobs");
    expect(h.records.map((r) => r.verdicts)).toEqual([
      [{ rule: "jobs", verdict: "admitted" }],
      [{ rule: "jobs", verdict: "refused" }],
    ]);
    expect(h.records[1]!.refusal?.key).toBe("custom:u1");
  });

  it("follows the rule's action and mode: bypass, block, shadow", async () => {
    const h = harness(
      policy(
        { id: "free", action: "bypass" },
        { id: "banned", action: "block" },
        { id: "trial", key: "ip", mode: "shadow", limits: [{ limit: 1, window: "1m" }] },
      ),
    );
    expect(await h.key("u1", "free")).toMatchObject({ success: true, reason: "bypass", rules: ["free"] });
    expect(await h.key("u1", "banned")).toMatchObject({ success: false, reason: "block", rules: ["banned"] });
    expect(await h.key("u1", "trial")).toMatchObject({ success: true, reason: "allowed" });
    expect(await h.key("u1", "trial")).toMatchObject({ success: true, reason: "shadow" });
  });

  it("rejects what it cannot decide as asked, naming the fault", async () => {
    const h = harness(
      policy(
        { id: "jobs", key: "ip", limits: [{ limit: 1, window: "1m" }] },
        { id: "exports", key: "ip", limits: [{ concurrency: 1 }] },
      ),
    );
    await expect(h.key("u1", "job")).rejects.toThrow(
      new KeyCallError('limit(): the policy in force has no rule "job" (its rules: jobs, exports)'),
    );
    await expect(h.key("u1", "exports")).rejects.toThrow(/concurrency limit/);
    await expect(h.key("", "jobs")).rejects.toThrow("limit(): key must be a non-empty string");
    await expect(h.key("u1", undefined as unknown as string)).rejects.toThrow("limit(): rule must be the id of a rule");
    await expect(h.key("u1", "jobs", 0)).rejects.toThrow("cost must be a whole number of at least 1, not 0");
    await expect(h.key("u1", "jobs", 1.5)).rejects.toThrow(KeyCallError);
    expect(h.records).toEqual([]);
  });
});
