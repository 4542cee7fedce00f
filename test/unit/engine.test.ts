/**
 * The engine's decisions in plain Node: the request flow over the in-memory
 * counter store (the same pure `decide` the Durable Object runs), with an
 * injected clock, a recording observer and a collected `waitUntil`.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine } from "../../src/engine/engine";
import type { EngineHooks } from "../../src/engine/outcome";
import type { CheckRequest, CounterStore, DecisionRecord } from "../../src/engine/ports";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import type { Tenant } from "../../src/policy/tenant-record";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000; // a whole minute, 2025-02-20T00:00:00Z

interface HarnessOptions {
  store?: (clock: { now(): number }) => CounterStore;
  tenants?: Record<string, Tenant>;
  budgetMs?: number;
  ceilingMs?: number;
  sandbox?: boolean;
  hooks?: EngineHooks;
}

function harness(document: PolicyInput, options: HarnessOptions = {}) {
  const checked = validatePolicy(document);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const clock = { at: T0, now: () => clock.at };
  const memory = new MemoryCounterStore(clock);
  const store = options.store ? options.store(clock) : memory;
  const records: DecisionRecord[] = [];
  const background: Promise<unknown>[] = [];
  const engine = createEngine(options.hooks);
  const tenantsByHash = new Map<string, Tenant>();
  const ready = Promise.all(
    Object.entries(options.tenants ?? {}).map(async ([key, t]) => tenantsByHash.set(await sha256Hex(key), t)),
  );
  const ports: EnginePorts = {
    policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
    counters: store,
    tenants: { lookup: async (hash) => tenantsByHash.get(hash) ?? null },
    clock,
    observer: { decided: (r) => records.push(r) },
    background: { waitUntil: (p) => background.push(p) },
  };
  const settings = {
    budgetMs: options.budgetMs ?? 0,
    ...(options.ceilingMs !== undefined ? { ceilingMs: options.ceilingMs } : {}),
    sandbox: options.sandbox ?? false,
  };
  return {
    clock,
    memory,
    records,
    engine,
    async decide(path: string, init: { ip?: string; headers?: Record<string, string>; method?: string } = {}) {
      await ready;
      const headers = new Headers(init.headers);
      headers.set("cf-connecting-ip", init.ip ?? "203.0.113.7");
      return engine.decide(
        new Request(`https://api.example.com${path}`, { method: init.method ?? "GET", headers }),
        ports,
        settings,
      );
    },
    /** Waits for everything handed to waitUntil (releases, rollbacks). */
    settled: () => Promise.all(background.splice(0)),
  };
}

const policy = (...rules: PolicyInput["rules"]): PolicyInput => ({ version: 1, headers: ["legacy", "ietf"], rules });

/** A store that counts its checks and passes them on. */
function counting(inner: CounterStore) {
  const calls: string[] = [];
  const store: CounterStore = {
    check: (key, request, background) => {
      calls.push(key);
      return inner.check(key, request, background);
    },
    release: (key, charges, background) => inner.release(key, charges, background),
    inspect: (key, counters) => inner.inspect(key, counters),
    reset: (key, names) => inner.reset(key, names),
  };
  return { store, calls };
}

describe("the engine over the in-memory store", () => {
  it("admits the limit-th request and refuses the next with the contract's 429", async () => {
    const h = harness(policy({ id: "api", key: "ip", limits: [{ limit: 3, window: "1m" }] }));
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await h.decide("/a");
      expect(outcome.response).toBeUndefined();
      expect(outcome.result).toMatchObject({ success: true, reason: "allowed", limit: 3, rules: ["api"] });
      remaining.push(outcome.finish(new Response("ok")).headers.get("RateLimit-Remaining")!);
    }
    expect(remaining).toEqual(["2", "1", "0"]);
    const refused = await h.decide("/a");
    expect(refused.result).toEqual({
      success: false,
      limit: 3,
      remaining: 0,
      reset: T0 + 60_000,
      reason: "limit",
      rules: ["api"],
    });
    expect(refused.response!.status).toBe(429);
    expect(refused.response!.headers.get("Retry-After")).toBe("60");
    expect(h.records.at(-1)!.verdicts).toEqual([{ rule: "api", verdict: "refused" }]);
    expect(h.records.at(-1)!.refusal?.key).toBe("ip:203.0.113.7");
  });

  it("lets the first matching rule decide, in document order", async () => {
    const h = harness(
      policy(
        { id: "narrow", key: "ip", match: { paths: ["/a"] }, limits: [{ limit: 1, window: "1m" }] },
        { id: "wide", key: "ip", limits: [{ limit: 5, window: "1m" }] },
      ),
    );
    expect((await h.decide("/a")).result.rules).toEqual(["narrow"]);
    expect((await h.decide("/a")).result.reason).toBe("limit");
    const other = await h.decide("/b");
    expect(other.result).toMatchObject({ rules: ["wide"], remaining: 4 });
  });

  it("stacks the next matching rule on `continue` and reports every limit", async () => {
    const h = harness(
      policy(
        { id: "burst", key: "ip", continue: true, limits: [{ limit: 2, window: "1s" }] },
        { id: "hourly", key: "ip", limits: [{ limit: 100, window: "1h" }] },
      ),
    );
    const outcome = await h.decide("/a");
    expect(outcome.result.rules).toEqual(["burst", "hourly"]);
    const headers = outcome.finish(new Response("ok")).headers;
    expect(headers.get("RateLimit-Policy")).toBe('"burst-1s";q=2;w=1, "hourly-1h";q=100;w=3600');
    expect(headers.get("RateLimit")).toBe('"burst-1s";r=1;t=1, "hourly-1h";r=99;t=3600');
  });

  it("rolls back the charges of a stacked key when another key refuses", async () => {
    const h = harness(
      policy(
        { id: "per-ip", key: "ip", continue: true, limits: [{ limit: 10, window: "1m" }] },
        { id: "per-user", key: "header:x-user", limits: [{ limit: 1, window: "1m" }] },
      ),
    );
    const user = { headers: { "x-user": "ada" } };
    expect((await h.decide("/a", user)).response).toBeUndefined();
    const refused = await h.decide("/a", user);
    expect(refused.result).toMatchObject({ reason: "limit", rules: ["per-ip", "per-user"] });
    expect(refused.response!.headers.get("RateLimit-Policy")).toBe('"per-ip-1m";q=10;w=60, "per-user-1m";q=1;w=60');
    await h.settled();
    const spec = { name: "per-ip-1m", algorithm: "fixed" as const, limit: 10, windowMs: 60_000, cost: 1 };
    const { results } = await h.memory.inspect("ip:203.0.113.7", [spec]);
    expect(results[0]!.remaining).toBe(9); // the refused request's charge on the per-ip key was given back
  });

  it("passes a bypass through uncounted, and a bypass after a stack ends the stack", async () => {
    // "never" is unreachable on purpose: the test shows that nothing after the bypass is counted.
    const h = harness({
      ...policy(
        { id: "health", action: "bypass", match: { paths: ["/health"] } },
        { id: "stack", key: "ip", continue: true, limits: [{ limit: 5, window: "1m" }] },
        { id: "stop", action: "bypass" },
        { id: "never", key: "ip", limits: [{ limit: 1, window: "1m" }] },
      ),
      allowUnreachableRules: true,
    });
    const health = await h.decide("/health");
    expect(health.result).toEqual({
      success: true,
      limit: 0,
      remaining: 0,
      reset: 0,
      reason: "bypass",
      rules: ["health"],
    });
    expect(health.finish(new Response("ok")).headers.has("RateLimit-Limit")).toBe(false);
    const stacked = await h.decide("/a");
    expect(stacked.result).toMatchObject({ reason: "allowed", rules: ["stack"], remaining: 4 });
  });

  it("answers a block rule with 403 before any counting", async () => {
    const { store, calls } = counting(new MemoryCounterStore());
    const h = harness(
      policy(
        { id: "deny", action: "block", match: { ips: ["203.0.113.0/24"] } },
        { id: "api", key: "ip", limits: [{ limit: 5, window: "1m" }] },
      ),
      { store: () => store },
    );
    const outcome = await h.decide("/a");
    expect(outcome.response!.status).toBe(403);
    expect(await outcome.response!.json()).toMatchObject({ code: "BLOCKED", rule: "deny" });
    expect(outcome.result).toMatchObject({ success: false, reason: "block", rules: ["deny"] });
    expect(h.records[0]!.verdicts).toEqual([{ rule: "deny", verdict: "blocked" }]);
    expect(calls).toEqual([]);
    expect((await h.decide("/a", { ip: "198.51.100.1" })).result.rules).toEqual(["api"]);
  });

  it("admits what a shadow rule would refuse, and says so", async () => {
    const h = harness(policy({ id: "trial", key: "ip", mode: "shadow", limits: [{ limit: 1, window: "1m" }] }));
    expect((await h.decide("/a")).result.reason).toBe("allowed");
    const second = await h.decide("/a");
    expect(second.response).toBeUndefined();
    expect(second.result).toMatchObject({ success: true, reason: "shadow", remaining: 0 });
    expect(h.records[1]!.verdicts).toEqual([{ rule: "trial", verdict: "shadow_refused" }]);
    expect(h.records[1]!.shadowRefusals.map((r) => r.result.name)).toEqual(["trial-1m"]);
  });

  it("clamps the page size into the forwarded request, and refuses it in reject mode", async () => {
    const h = harness(
      policy(
        {
          id: "strict",
          key: "ip",
          match: { paths: ["/strict"] },
          pageSize: { param: "limit", default: 10, max: 50, mode: "reject" },
        },
        {
          id: "list",
          key: "ip",
          pageSize: { param: "limit", default: 20, max: 100 },
          limits: [{ limit: 9, window: "1m" }],
        },
      ),
    );
    const clamped = await h.decide("/list?limit=5000&x=1");
    expect(new URL(clamped.request.url).search).toBe("?limit=100&x=1");
    expect(clamped.result).toMatchObject({ reason: "allowed", remaining: 8 });
    const rejected = await h.decide("/strict?limit=51");
    expect(rejected.response!.status).toBe(400);
    expect(await rejected.response!.json()).toMatchObject({ code: "INVALID_PAGE_SIZE" });
    expect(rejected.result).toMatchObject({ success: false, reason: "page-size", rules: ["strict"] });
    const defaulted = await h.decide("/strict");
    expect(defaulted.result).toMatchObject({ success: true, reason: "allowed", limit: 0 });
    expect(new URL(defaulted.request.url).searchParams.get("limit")).toBe("10");
  });

  it("fails open when the store throws and the rule says onError open", async () => {
    const memory = new MemoryCounterStore();
    const broken: CounterStore = {
      check: () => Promise.reject(new Error("store down")),
      release: (key, charges) => memory.release(key, charges),
      inspect: (key, counters) => memory.inspect(key, counters),
      reset: (key, names) => memory.reset(key, names),
    };
    const h = harness(policy({ id: "api", key: "ip", limits: [{ limit: 1, window: "1m" }] }), { store: () => broken });
    for (let i = 0; i < 2; i++) {
      const outcome = await h.decide("/a");
      expect(outcome.response).toBeUndefined();
      expect(outcome.result).toEqual({
        success: true,
        limit: 0,
        remaining: 0,
        reset: 0,
        reason: "error-open",
        rules: ["api"],
      });
      expect(outcome.finish(new Response("ok")).headers.has("RateLimit-Limit")).toBe(false);
    }
    expect(h.records.map((r) => r.verdicts)).toEqual([
      [{ rule: "api", verdict: "error_open" }],
      [{ rule: "api", verdict: "error_open" }],
    ]);
    // An error, not the budget: nothing is reported late.
    expect(h.records.map((r) => r.lateRules)).toEqual([undefined, undefined]);
  });

  it("waits for a new object up to the ceiling, and gives up on a known near one at its own budget", async () => {
    // The object's answers: the first takes 5 ms on the clock and 100 ms of real time (a cold start), then
    // one that takes 100 ms of real time again (a stall of an object known to answer in 5 ms).
    const memory = new MemoryCounterStore();
    const stalls: CounterStore = {
      check: async (key, request: CheckRequest) => {
        await new Promise((r) => setTimeout(r, 100));
        h.clock.at += 5;
        return memory.check(key, request);
      },
      release: (key, charges) => memory.release(key, charges),
      inspect: (key, counters) => memory.inspect(key, counters),
      reset: (key, names) => memory.reset(key, names),
    };
    const h = harness(policy({ id: "api", key: "ip", limits: [{ limit: 5, window: "1m" }] }), {
      store: () => stalls,
      budgetMs: 20,
      ceilingMs: 1000,
    });
    const first = await h.decide("/a");
    expect(first.result.reason).toBe("allowed");
    expect(first.finish(new Response("ok")).headers.get("RateLimit-Remaining")).toBe("4");
    // Learned: 5 ms, so its budget is max(20, 4 x (5 + 4 x 2.5)) = 60 ms, and 100 ms is past it.
    expect(h.engine.roundTrips.budget("ip:203.0.113.7", { floorMs: 20, ceilingMs: 1000 }, h.clock.at)).toBe(60);
    const second = await h.decide("/a");
    expect(second.result.reason).toBe("error-open");
    expect(h.records[1]!.lateRules).toEqual(["api"]);
  });

  it("remembers a refusal that a late answer brings: the next request is refused without a call", async () => {
    const memory = new MemoryCounterStore();
    let calls = 0;
    // Every answer lands 100 ms late, past the 20 ms budget (and ceiling).
    const late: CounterStore = {
      check: async (key, request: CheckRequest) => {
        calls++;
        await new Promise((r) => setTimeout(r, 100));
        return memory.check(key, request);
      },
      release: (key, charges) => memory.release(key, charges),
      inspect: (key, counters) => memory.inspect(key, counters),
      reset: (key, names) => memory.reset(key, names),
    };
    const h = harness(policy({ id: "api", key: "ip", limits: [{ limit: 1, window: "1m" }] }), {
      store: () => late,
      budgetMs: 20,
    });
    // The first is admitted when it lands; the second's answer is a refusal, after it failed open.
    for (let i = 0; i < 2; i++) {
      expect((await h.decide("/a")).result.reason).toBe("error-open");
      await new Promise((r) => setTimeout(r, 150));
    }
    const third = await h.decide("/a");
    expect(third.result.reason).toBe("cached");
    expect(third.response!.status).toBe(429);
    expect(calls).toBe(2);
  });

  it("fails closed with 503 when the store answers past the budget, and rolls back both keys' charges", async () => {
    const memory = new MemoryCounterStore();
    // The per-user key's object answers (and charges) 200 ms late.
    let userKey = "";
    const hangsOnUsers: CounterStore = {
      check: (key, request: CheckRequest) => {
        if (!key.startsWith("header:")) return memory.check(key, request);
        userKey = key;
        return new Promise((r) => setTimeout(r, 200)).then(() => memory.check(key, request));
      },
      release: (key, charges) => memory.release(key, charges),
      inspect: (key, counters) => memory.inspect(key, counters),
      reset: (key, names) => memory.reset(key, names),
    };
    const h = harness(
      policy(
        { id: "per-ip", key: "ip", continue: true, limits: [{ limit: 10, window: "1m" }] },
        { id: "per-user", key: "header:x-user", onError: "closed", limits: [{ limit: 5, window: "1m" }] },
      ),
      { store: () => hangsOnUsers, budgetMs: 20 },
    );
    const outcome = await h.decide("/a", { headers: { "x-user": "ada" } });
    expect(outcome.response!.status).toBe(503);
    expect(outcome.response!.headers.get("Retry-After")).toBe("1");
    expect(await outcome.response!.json()).toMatchObject({ code: "RATE_LIMITER_UNAVAILABLE" });
    expect(outcome.result).toMatchObject({ success: false, reason: "error-closed", rules: ["per-ip", "per-user"] });
    expect(h.records[0]!.verdicts).toEqual([
      { rule: "per-ip", verdict: "error_closed" },
      { rule: "per-user", verdict: "error_closed" },
    ]);
    // Only the rule whose key ran out of budget is late (the fleet figures count it as late_closed).
    expect(h.records[0]!.lateRules).toEqual(["per-user"]);
    await h.settled();
    const spec = { name: "per-ip-1m", algorithm: "fixed" as const, limit: 10, windowMs: 60_000, cost: 1 };
    expect((await memory.inspect("ip:203.0.113.7", [spec])).results[0]!.remaining).toBe(10);
    // The late answer charged the per-user key when it landed; the 503's request was never forwarded.
    await h.settled();
    const user = { name: "per-user-1m", algorithm: "fixed" as const, limit: 5, windowMs: 60_000, cost: 1 };
    expect((await memory.inspect(userKey, [user])).results[0]!.remaining).toBe(5);
  });

  it("refuses from the refusal cache without calling the store until the window ends", async () => {
    let calls: string[] = [];
    const h = harness(policy({ id: "api", key: "ip", limits: [{ limit: 1, window: "1m" }] }), {
      store: (clock) => {
        const wrapped = counting(new MemoryCounterStore(clock));
        calls = wrapped.calls;
        return wrapped.store;
      },
    });
    const first = await h.decide("/a");
    expect(first.result.reason).toBe("allowed");
    expect((await h.decide("/a")).result.reason).toBe("limit");
    h.clock.at += 15_000;
    const cached = await h.decide("/a");
    expect(cached.result).toEqual({
      success: false,
      limit: 1,
      remaining: 0,
      reset: T0 + 60_000,
      reason: "cached",
      rules: ["api"],
    });
    expect(cached.response!.status).toBe(429);
    expect(cached.response!.headers.get("Retry-After")).toBe("45");
    expect(calls).toHaveLength(2); // the third request never reached the store
    expect(h.engine.refusals.size).toBe(1);
    h.clock.at = T0 + 60_000;
    expect((await h.decide("/a")).result.reason).toBe("allowed");
    expect(calls).toHaveLength(3);
  });

  it("gives a concurrency slot back when the response body has been read, not before", async () => {
    const h = harness(policy({ id: "slots", key: "ip", limits: [{ concurrency: 1 }] }));
    const first = await h.decide("/a");
    const finished = first.finish(new Response("body"));
    expect(finished.headers.get("RateLimit-Remaining")).toBe("0");
    expect((await h.decide("/a")).response!.status).toBe(429); // the body is not read yet: the slot is held
    await finished.text();
    await h.settled();
    expect((await h.decide("/a")).result).toMatchObject({ success: true, remaining: 0 });
  });

  it("refunds a failures-only charge when the origin succeeded, and keeps it when it failed", async () => {
    const h = harness(policy({ id: "login", key: "ip", count: "failures", limits: [{ limit: 2, window: "15m" }] }));
    const ok = await h.decide("/login", { method: "POST" });
    expect(ok.finish(new Response("ok", { status: 200 })).headers.get("RateLimit-Remaining")).toBe("2");
    await h.settled();
    for (const remaining of ["1", "0"]) {
      const failed = await h.decide("/login", { method: "POST" });
      expect(failed.finish(new Response("no", { status: 401 })).headers.get("RateLimit-Remaining")).toBe(remaining);
      await h.settled();
    }
    expect((await h.decide("/login", { method: "POST" })).result.reason).toBe("limit");
  });

  it("counts a tenant by its id with its tier's numbers, and a sandbox tenant apart with the multiplier", async () => {
    const h = harness(
      {
        version: 1,
        sandbox: { multiplier: 2 },
        rules: [{ id: "api", key: "tenant", limits: [{ limit: { starter: 2, pro: 5 }, window: "1m" }] }],
      },
      {
        tenants: {
          "key-acme": { id: "acme", tier: "pro", sandbox: false },
          "key-test": { id: "acme", tier: "pro", sandbox: true },
        },
      },
    );
    const acme = await h.decide("/a", { headers: { authorization: "Bearer key-acme" } });
    expect(acme.result).toMatchObject({ limit: 5, remaining: 4 });
    const sandboxed = await h.decide("/a", { headers: { authorization: "Bearer key-test" } });
    expect(sandboxed.result).toMatchObject({ limit: 10, remaining: 9 });
    const anonymous = await h.decide("/a");
    expect(anonymous.result).toMatchObject({ limit: 2, remaining: 1 });
    const keys = h.records.map((r) => r.verdicts.length);
    expect(keys).toEqual([1, 1, 1]);
    const spec = { name: "api-1m", algorithm: "fixed" as const, limit: 5, windowMs: 60_000, cost: 1 };
    expect((await h.memory.inspect("tenant:acme", [spec])).results[0]!.remaining).toBe(4);
    expect((await h.memory.inspect("sandbox:tenant:acme", [{ ...spec, limit: 10 }])).results[0]!.remaining).toBe(9);
  });

  it("counts under the user's own key when the key hook gives one, and lets onRefuse shape the refusal", async () => {
    const h = harness(policy({ id: "per-user", key: "ip", limits: [{ limit: 1, window: "1m" }] }), {
      hooks: {
        key: (request) => request.headers.get("x-user-id") ?? undefined,
        onRefuse: (response, result) =>
          new Response(`slow down (${result.limit})`, { status: 429, headers: response.headers }),
      },
    });
    expect((await h.decide("/a", { ip: "198.51.100.1", headers: { "x-user-id": "u1" } })).result.reason).toBe(
      "allowed",
    );
    const sameUser = await h.decide("/a", { ip: "198.51.100.2", headers: { "x-user-id": "u1" } });
    expect(await sameUser.response!.text()).toBe("slow down (1)");
    expect(sameUser.response!.headers.get("Retry-After")).toBe("60");
    expect(h.records.at(-1)!.refusal?.key).toBe("custom:u1");
    expect((await h.decide("/a", { ip: "198.51.100.2" })).result.reason).toBe("allowed");
  });
});

describe("keys that cannot be dodged, in the engine", () => {
  const identity = (onConflict: "refuse" | "strictest"): PolicyInput["identity"] => ({
    apiKey: { header: "authorization", scheme: "Bearer", also: [{ query: "api_key" }], onConflict },
  });

  it("refuses two different API keys with a 400 naming the problem, checking no counter", async () => {
    const { store, calls } = counting(new MemoryCounterStore({ now: () => T0 }));
    const h = harness(
      {
        ...policy({ id: "tenants", key: "tenant", limits: [{ limit: 5, window: "1m" }] }),
        identity: identity("refuse"),
      },
      { store: () => store, tenants: { "key-a": { id: "a", sandbox: false }, "key-b": { id: "b", sandbox: false } } },
    );
    const outcome = await h.decide("/api?api_key=key-b", { headers: { authorization: "Bearer key-a" } });
    expect(outcome.response?.status).toBe(400);
    expect(((await outcome.response!.json()) as { code: string }).code).toBe("AMBIGUOUS_CREDENTIALS");
    expect(outcome.result).toMatchObject({ success: false, reason: "key-refused", rules: ["tenants"] });
    expect(h.records.at(-1)?.verdicts).toEqual([{ rule: "tenants", verdict: "refused" }]);
    expect(calls).toEqual([]);
  });

  it('under "strictest", counts on every reading; two readings on one key take the smaller numbers', async () => {
    const h = harness(
      {
        ...policy({ id: "per-ip", key: "ip", limits: [{ limit: { starter: 5, pro: 2 }, window: "1m" }] }),
        identity: identity("strictest"),
      },
      {
        tenants: {
          "key-a": { id: "a", tier: "starter", sandbox: false },
          "key-b": { id: "b", tier: "pro", sandbox: false },
        },
      },
    );
    const twoKeys = { headers: { authorization: "Bearer key-a" } };
    expect((await h.decide("/api?api_key=key-b", twoKeys)).result).toMatchObject({ success: true, limit: 2 });
    expect((await h.decide("/api?api_key=key-b", twoKeys)).result).toMatchObject({ success: true, remaining: 0 });
    const third = await h.decide("/api?api_key=key-b", twoKeys);
    expect(third.result).toMatchObject({ success: false, reason: "limit", limit: 2 });
  });
});

describe("shards in the store's request", () => {
  /** A store that keeps every check's request and passes it on. */
  function recording(inner: CounterStore) {
    const requests: Array<{ key: string; request: CheckRequest }> = [];
    const store: CounterStore = {
      check: (key, request, background) => {
        requests.push({ key, request });
        return inner.check(key, request, background);
      },
      release: (key, charges, background) => inner.release(key, charges, background),
      inspect: (key, counters) => inner.inspect(key, counters),
      reset: (key, names) => inner.reset(key, names),
    };
    return { store, requests };
  }

  const hot = (id: string, path: string, extra: Partial<PolicyInput["rules"][number]> = {}) => ({
    id,
    match: { paths: [path] },
    key: "ip",
    limits: [{ limit: 1000, window: "1s" }],
    ...extra,
  });

  function shardsSent(...rules: PolicyInput["rules"]) {
    const { store, requests } = recording(new MemoryCounterStore({ now: () => T0 }));
    const h = harness(policy(...rules), { store: () => store });
    return async (path: string, headers?: Record<string, string>) => {
      requests.length = 0;
      const outcome = await h.decide(path, headers ? { headers } : {});
      expect(outcome.result.success).toBe(true);
      return requests.map((r) => [r.key, r.request.shards]);
    };
  }

  it("a sharded rule's request carries its shards; a plain rule's carries none", async () => {
    const sent = shardsSent(hot("hot", "/hot", { shards: 16 }), hot("plain", "/plain"));
    expect(await sent("/hot")).toEqual([["ip:203.0.113.7", 16]]);
    expect(await sent("/plain")).toEqual([["ip:203.0.113.7", undefined]]);
  });

  it("stacked rules on one key take the largest shards; a plain rule under it does not lower it", async () => {
    const sent = shardsSent(
      hot("small", "/api/*", { shards: 4, continue: true }),
      hot("plain", "/api/*", { continue: true, limits: [{ limit: 5000, window: "1m" }] }),
      hot("large", "/api/*", { shards: 16, limits: [{ limit: 100_000, window: "1h" }] }),
    );
    expect(await sent("/api/x")).toEqual([["ip:203.0.113.7", 16]]);
  });

  it("a failures-only rule stacked on a sharded key sends that key's request without its tree", async () => {
    const sent = shardsSent(
      hot("hot", "/api/*", { shards: 16, continue: true }),
      hot("logins", "/api/login", { count: "failures", limits: [{ limit: 50, window: "15m" }] }),
    );
    expect(await sent("/api/login")).toEqual([["ip:203.0.113.7", undefined]]);
    expect(await sent("/api/other")).toEqual([["ip:203.0.113.7", 16]]);
  });

  it("a shadow rule's shards do not make a tree; rules on other keys keep their own", async () => {
    const sent = shardsSent(
      hot("trial", "/api/*", { shards: 32, mode: "shadow", continue: true }),
      hot("per-ip", "/api/*", { continue: true }),
      {
        id: "per-tenant",
        match: { paths: ["/api/*"] },
        key: "header:x-team",
        shards: 8,
        limits: [{ limit: 1000, window: "1s" }],
      },
    );
    expect(await sent("/api/x", { "x-team": "blue" })).toEqual([
      ["ip:203.0.113.7", undefined],
      [expect.stringMatching(/^header:x-team:/), 8],
    ]);
  });
});
