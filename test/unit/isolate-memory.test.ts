/**
 * Bounded memory of one isolate under random keys: 100,000 requests, each with
 * its own API key and its own client IP, through `createLimiter()` (the
 * Worker's own wiring: tenant cache and its negative cache, refusal cache,
 * leases held, per-minute stats, fleet figures and their top-k) in plain Node.
 * The bindings behind it keep nothing per key: the Durable Object namespace
 * answers from the key's name alone (every other key refused), KV knows no
 * tenant. So what grows is the isolate's own state, and it must stop growing
 * at each map's bound (docs/architecture.md, "Per-isolate memory").
 *
 * It prints the growth after each tenth of the keys (`--silent=false` to see
 * it); `SLUICE_MEMORY_KEYS` sends fewer for a quick look.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { MAX_TENANTS, MAX_UNKNOWN } from "../../src/adapters/workers/kv-tenants";
import type { LeasingCounterStore } from "../../src/adapters/workers/leasing-store";
import { counterStoreOf, createLimiter } from "../../src/adapters/workers/limiter";
import type { CheckRequest } from "../../src/engine/ports";
import { MAX_REFUSALS } from "../../src/engine/refusal-cache";
import type { Env } from "../../src/env";
import { DEFAULT_MAX_KEYS } from "../../src/lease/client";
import type { CounterAnswer, CounterResult, CounterSpec } from "../../src/limiter/types";
import { MAX_PENDING_MINUTES, TOP_KEYS_PER_MINUTE } from "../../src/observability/fleet-aggregate";
import { STATS_MINUTES } from "../../src/observability/stats";
import { fixedPolicy } from "../../src/policy/fixed-policy";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const KEYS = Number(process.env.SLUICE_MEMORY_KEYS ?? 100_000);
/** The isolate's heap may grow by this much over 100,000 distinct keys, all of its maps full. */
const HEAP_BOUND_BYTES = 16 * 1024 * 1024;

const POLICY = fixedPolicy({
  version: 1,
  identity: { apiKey: { header: "authorization", scheme: "Bearer" } },
  rules: [
    {
      id: "per-key",
      match: { paths: ["/api/*"] },
      key: "header:authorization",
      continue: true,
      limits: [{ limit: 100, window: "1m" }],
    },
    { id: "tenants", match: { paths: ["/api/*"] }, limits: [{ limit: 100, window: "1m" }] },
  ],
});

/** A key's object answers from its name alone: keys whose name ends in 0-7 are refused for 30 s. Nothing is kept. */
function statelessObject(name: string) {
  const refused = /[0-7]$/.test(name);
  const answer = (specs: CounterSpec[]): CounterAnswer => {
    const now = Date.now();
    const results: CounterResult[] = specs.map((s) => ({
      name: s.name,
      allowed: !refused,
      limit: s.limit,
      remaining: refused ? 0 : s.limit - 1,
      resetAt: now + 60_000,
      retryAfterMs: refused ? 30_000 : 0,
    }));
    const counters = specs.map((s, i) => ({
      result: results[i]!,
      ...(refused
        ? {}
        : { charge: { name: s.name, algorithm: s.algorithm, cost: s.cost, windowMs: s.windowMs, limit: s.limit } }),
    }));
    return { now, allowed: !refused, counters };
  };
  return {
    check: async (request: CheckRequest): Promise<CounterAnswer> => answer(request.counters),
    take: async (specs: CounterSpec[]) => answer(specs),
    lend: async () => null,
    giveBack: async () => undefined,
    release: async () => undefined,
  };
}

function bindings(): Env {
  return {
    LIMITER: { getByName: statelessObject },
    POLICIES: { get: async () => null },
    POLICY_TTL_SECONDS: "30",
    LIMITER_TIMEOUT_MS: "1000",
    SANDBOX: "false",
  } as unknown as Env;
}

function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

describe("isolate memory under random keys", () => {
  it(`grows the heap by less than ${HEAP_BOUND_BYTES / 1048576} MB over ${KEYS} distinct API keys and IPs, each map within its bound`, async () => {
    const limiter = createLimiter({ policy: POLICY });
    const env = bindings();
    let pending: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (p: Promise<unknown>) => void pending.push(p),
      passThroughOnException: () => {},
      props: {},
    } as unknown as ExecutionContext;
    let statuses: Record<number, number> = {};
    const send = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const request = new Request(`https://api.example.com/api/things/${i % 7}`, {
          headers: {
            authorization: `Bearer key-${i}-${Math.random().toString(36).slice(2)}`,
            "cf-connecting-ip": ipOf(i),
          },
        });
        const outcome = await limiter.limit(request, env, ctx);
        const response = outcome.response ?? outcome.finish(new Response("ok"));
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        if (pending.length > 256) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending.splice(0));
    };
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    // Log lines of 50,000 refusals would be kept by the test runner: silenced, not recorded.
    const { log, warn } = console;
    console.log = () => {};
    console.warn = () => {};
    const figures: string[] = [];
    try {
      await send(0, 2_000); // code compiled, every structure created
      const before = heap();
      let at = 2_000;
      for (let step = 1; step <= 10; step++) {
        await send(at, KEYS / 10);
        at += KEYS / 10;
        figures.push(`${(step * KEYS) / 10}: +${((heap() - before) / 1048576).toFixed(2)} MB`);
      }
      const growth = heap() - before;
      console.info(`heap growth over ${KEYS} distinct keys: ${figures.join(", ")}`, statuses);
      expect(statuses[200]! + statuses[429]!).toBe(KEYS + 2_000);
      expect(statuses[429]).toBeGreaterThan(KEYS / 2);
      expect(growth).toBeLessThan(HEAP_BOUND_BYTES);
      // Each map full, and no fuller than its bound.
      expect(limiter.tenants.unknownSize).toBe(Math.min(MAX_UNKNOWN, KEYS));
      expect(limiter.tenants.size - limiter.tenants.unknownSize).toBeLessThanOrEqual(MAX_TENANTS);
      expect(limiter.refusals.size).toBeLessThanOrEqual(MAX_REFUSALS);
      expect((counterStoreOf(env) as LeasingCounterStore).trackedKeys).toBeLessThanOrEqual(DEFAULT_MAX_KEYS);
      const fleet = limiter.fleet.aggregate.footprint();
      expect(fleet.minutes).toBeLessThanOrEqual(MAX_PENDING_MINUTES);
      expect(fleet.keys).toBeLessThanOrEqual(TOP_KEYS_PER_MINUTE);
      expect(limiter.stats.footprint().minutes).toBeLessThanOrEqual(STATS_MINUTES);
      console.info("sizes", {
        unknownTenants: limiter.tenants.unknownSize,
        refusals: limiter.refusals.size,
        leaseKeys: (counterStoreOf(env) as LeasingCounterStore).trackedKeys,
        fleet,
      });
    } finally {
      console.log = log;
      console.warn = warn;
      statuses = {};
      pending = [];
    }
  }, 240_000);
});
