/**
 * Batching through the Workers runtime (the `workers-batch` project runs the Worker with `LIMITER_BATCH=on`): concurrent requests of one key, each
 * in its own request context (`exports.default.fetch`), are decided exactly
 * (the limit-th admitted, every later one refused) in fewer object calls
 * than checks, with no request using another's I/O ("Cannot perform I/O on
 * behalf of a different request" would fail them with a 5xx or fail open).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LeasingCounterStore } from "../../src/adapters/workers/leasing-store";
import type { RateLimiter } from "../../src/durable/rate-limiter";
import type { CounterSpec } from "../../src/limiter/types";
import { call, uniqueIp, uniqueTag, usePolicy } from "../support/client";

const LIMIT = 5;
const REQUESTS = 24;

describe("concurrent checks of one key from one isolate", () => {
  it(`${REQUESTS} at once against a limit of ${LIMIT}: exactly ${LIMIT} admitted, in fewer calls than checks`, async () => {
    await usePolicy({ version: 1, rules: [{ id: "burst", key: "ip", limits: [{ limit: LIMIT, window: "1d" }] }] });
    const ip = uniqueIp();
    const responses = await Promise.all(Array.from({ length: REQUESTS }, () => call("/batch", { ip })));
    const statuses = await Promise.all(
      responses.map(async (res) => {
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(REQUESTS - LIMIT);
    // Every admitted response counts down from the one object's answer: none failed open without headers.
    const remaining = responses
      .filter((res) => res.status === 200)
      .map((res) => Number(res.headers.get("RateLimit-Remaining")))
      .sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4]);
    const { calls, checks } = await env.LIMITER.getByName(`ip:${ip}`).checkCounts();
    expect(checks).toBeGreaterThan(LIMIT);
    expect(calls).toBeLessThan(checks);
  });
});

describe("the object's checkBatch", () => {
  const spec: CounterSpec = { name: "o-1d", algorithm: "fixed", limit: 2, windowMs: 86_400_000, cost: 1 };

  it("decides each entry in order as separate checks would; an entry that throws fails alone", async () => {
    const stub = env.LIMITER.getByName(`batch:${uniqueTag()}`);
    // biome-ignore lint/suspicious/noExplicitAny: a request without counters, as a broken caller might send.
    const broken = {} as any;
    const answers = await stub.checkBatch([{ counters: [spec] }, broken, { counters: [spec] }, { counters: [spec] }]);
    expect(answers.map((a) => (a.ok ? a.value.allowed : "error"))).toEqual([true, "error", true, false]);
    expect(answers.map((a) => (a.ok ? a.value.counters[0]?.result.remaining : undefined))).toEqual([
      1,
      undefined,
      0,
      0,
    ]);
    // The next plain check sees the batch's charges, stored.
    expect((await stub.check({ counters: [spec] })).allowed).toBe(false);
    expect(await stub.checkCounts()).toEqual({ calls: 2, checks: 5 });
  });
});

describe("a batch whose call fails", () => {
  const spec: CounterSpec = { name: "b-1d", algorithm: "fixed", limit: 3, windowMs: 86_400_000, cost: 1 };

  it("its leader meets the error; each follower asks alone and is decided exactly", async () => {
    const real = env.LIMITER;
    // The namespace as the isolate sees it, but every batch call fails (a lost connection, an object reset).
    const failing = new Proxy(real, {
      get(target, prop) {
        if (prop === "getByName") {
          return (name: string) => {
            const stub = target.getByName(name);
            return new Proxy(stub, {
              get(s, p) {
                if (p === "checkBatch") return () => Promise.reject(new Error("batch call lost"));
                // biome-ignore lint/suspicious/noExplicitAny: any method of the stub, called as the store calls it.
                return (...args: unknown[]) => (s as any)[p](...args);
              },
            });
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as DurableObjectNamespace<RateLimiter>;
    const store = new LeasingCounterStore(failing, undefined, {});
    const key = `batch:${uniqueTag()}`;
    const background = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        store.check(key, { counters: [spec] }, background).then(
          (r) => r.allowed,
          (e: Error) => e.message,
        ),
      ),
    );
    expect(answers).toEqual(["batch call lost", true, true, true, false]);
    expect(store.batcher).toMatchObject({ calls: 5, checks: 5 });
  });
});
