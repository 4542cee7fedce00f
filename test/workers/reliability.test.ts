/**
 * Faults, overload and hostile input: a failing counter store fails the way
 * the rule says, a flood is refused from memory, state survives restarts and
 * stays bounded, and no spelling or spoofed header gets around a rule.
 */
import {
  createExecutionContext,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MIGRATIONS } from "../../migrations";
import { TenantCache } from "../../src/adapters/workers/kv-tenants";
import { applyMigrations, schemaVersion } from "../../src/durable/migrations";
import { MAX_COUNTERS_PER_OBJECT } from "../../src/durable/rate-limiter";
import { objectCounts } from "../../src/observability/object-counts";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { call, callMany, originCount, releaseHeld, uniqueIp, uniqueTag, usePolicy } from "../support/client";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const oneRule = (extra: Record<string, unknown> = {}, limit = 3): PolicyInput => ({
  version: 1,
  rules: [{ id: "guarded", key: "ip", limits: [{ limit, window: "15m" }], ...extra }],
});

/** The calls counted under names that start with `prefix` (`RateLimiter.`, or "" for every object). */
function sumOf(calls: Record<string, number>, prefix: string): number {
  return Object.entries(calls).reduce((n, [name, count]) => (name.startsWith(prefix) ? n + count : n), 0);
}

/** Calls the Worker with bindings of our choosing, and waits for its waitUntil work. */
async function fetchWith(
  bindings: Partial<Cloudflare.Env>,
  path: string,
  ip: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch!(
    new Request(`http://api.example.com${path}`, { headers: { "cf-connecting-ip": ip, ...headers } }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    { ...env, ...bindings },
    ctx,
  );
  await res.arrayBuffer().catch(() => {});
  await waitOnExecutionContext(ctx);
  return res;
}

/** {@link fetchWith}, and how long the response took (the waitUntil work after it not counted). */
async function fetchTimed(
  bindings: Partial<Cloudflare.Env>,
  path: string,
  ip: string,
  headers: Record<string, string> = {},
): Promise<{ res: Response; answeredMs: number }> {
  const ctx = createExecutionContext();
  const started = Date.now();
  const res = await worker.fetch!(
    new Request(`http://api.example.com${path}`, { headers: { "cf-connecting-ip": ip, ...headers } }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    { ...env, ...bindings },
    ctx,
  );
  await res.arrayBuffer().catch(() => {});
  const answeredMs = Date.now() - started;
  await waitOnExecutionContext(ctx);
  return { res, answeredMs };
}

/** A LIMITER binding whose objects fail as told, then (optionally) pass calls to the real ones. */
function faultyNamespace(fault: (attempt: number) => Error | undefined) {
  let calls = 0;
  const ns = {
    getByName(name: string) {
      const real = env.LIMITER.getByName(name);
      return {
        check(req: unknown) {
          calls++;
          const error = fault(calls);
          if (error) return Promise.reject(error);
          return real.check(req as never);
        },
        release: (c: never) => real.release(c),
      };
    },
  } as unknown as Cloudflare.Env["LIMITER"];
  return { ns, calls: () => calls };
}

/**
 * A LIMITER binding whose objects are healthy but far: every call waits `delayMs` (the ocean's round trip)
 * before reaching the real object, as seen from an isolate on another continent.
 */
function distantNamespace(delayMs: number) {
  let calls = 0;
  const ns = {
    getByName(name: string) {
      const real = env.LIMITER.getByName(name) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      return new Proxy(
        {},
        {
          get(_target, method) {
            if (typeof method !== "string" || method === "then") return undefined;
            return async (...args: unknown[]) => {
              calls++;
              await new Promise((r) => setTimeout(r, delayMs));
              return real[method]!(...args);
            };
          },
        },
      );
    },
  } as unknown as Cloudflare.Env["LIMITER"];
  return { ns, calls: () => calls };
}

/**
 * The production floor, with the ceiling wrangler.toml sets: the defaults an operator deploys with. (No
 * STATS: its flush would hold each call's waitUntil for up to its 5 s interval.)
 */
const PRODUCTION_BUDGET = { LIMITER_TIMEOUT_MS: "50", STATS: undefined };

describe("a slow but healthy object (far away): a late answer is not a failure", () => {
  it("requests wait and are counted, with headers: the limit-th admitted, the next refused", async () => {
    await usePolicy(oneRule({}, 3));
    const far = distantNamespace(300);
    const ip = uniqueIp();
    const tag = uniqueTag();
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetchWith({ ...PRODUCTION_BUDGET, LIMITER: far.ns }, "/x", ip, { "x-test-tag": tag });
      answers.push([res.status, res.headers.get("RateLimit-Limit"), res.headers.get("RateLimit-Remaining")]);
    }
    expect(answers).toEqual([
      [200, "3", "2"],
      [200, "3", "1"],
      [200, "3", "0"],
      [429, "3", "0"],
    ]);
    expect(await originCount(tag)).toBe(3);
    expect(far.calls()).toBeGreaterThanOrEqual(3);
  });

  it("a concurrency slot taken by an answer past the ceiling is given back when that answer lands", async () => {
    await usePolicy({ version: 1, rules: [{ id: "slots", key: "ip", limits: [{ concurrency: 1 }] }] });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const ip = uniqueIp();
    // Past a 200 ms ceiling: fails open, without headers; the object takes the slot 600 ms in.
    const late = await fetchWith(
      { ...PRODUCTION_BUDGET, LIMITER_TIMEOUT_CEILING_MS: "200", LIMITER: distantNamespace(600).ns },
      "/x",
      ip,
    );
    expect(late.status).toBe(200);
    expect(late.headers.get("RateLimit-Limit")).toBeNull();
    // Until the late answer has surely landed (600 ms after it was sent)...
    await new Promise((r) => setTimeout(r, 700));
    // ...and the slot came back when it did: the next request has it.
    expect(await callMany(1, "/x", { ip })).toEqual([200]);
  });
});

describe("counter store failures", () => {
  it("an object that throws: onError open forwards without headers, closed answers 503 with Retry-After", async () => {
    for (const onError of ["open", "closed"] as const) {
      await usePolicy(oneRule({ onError }));
      const ip = uniqueIp();
      expect(await callMany(1, "/x", { ip })).toEqual([200]);
      // Break the object for real: its counters table is gone, so the next write fails.
      await runInDurableObject(env.LIMITER.getByName(`ip:${ip}`), (_o, state) => {
        state.storage.sql.exec("DROP TABLE counters");
      });
      const errors = vi.spyOn(console, "error").mockImplementation(() => {});
      const tag = uniqueTag();
      const res = await call("/x", { ip, headers: { "x-test-tag": tag } });
      await res.arrayBuffer();
      if (onError === "open") {
        expect(res.status).toBe(200);
        expect(res.headers.get("RateLimit-Limit")).toBeNull();
        expect(await originCount(tag)).toBe(1);
      } else {
        expect(res.status).toBe(503);
        expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
        expect(await originCount(tag)).toBe(0);
      }
      const line = errors.mock.calls.map((c) => String(c[0])).findLast((l) => l.includes("limiter.error"));
      expect(JSON.parse(line!)).toMatchObject({ event: "limiter.error", onError, rules: ["guarded"] });
    }
  });

  it("an object that hangs past LIMITER_TIMEOUT_CEILING_MS: open forwards, closed answers 503 and gives the late charge back", async () => {
    for (const onError of ["open", "closed"] as const) {
      await usePolicy(oneRule({ onError }));
      const ip = uniqueIp();
      expect(await callMany(1, "/x", { ip })).toEqual([200]);
      const errors = vi.spyOn(console, "error").mockImplementation(() => {});
      // Hold the object's input gate for 1.5 s, as a stuck object would.
      const stub = env.LIMITER.getByName(`ip:${ip}`);
      const busy = runInDurableObject(stub, (_o, state) =>
        state.blockConcurrencyWhile(() => new Promise((r) => setTimeout(r, 1500))),
      );
      await new Promise((r) => setTimeout(r, 50));
      const tag = uniqueTag();
      const { res, answeredMs } = await fetchTimed(
        { LIMITER_TIMEOUT_MS: "100", LIMITER_TIMEOUT_CEILING_MS: "300" },
        "/x",
        ip,
        { "x-test-tag": tag },
      );
      expect(answeredMs).toBeLessThan(1400);
      expect(res.status).toBe(onError === "open" ? 200 : 503);
      expect(res.headers.get("RateLimit-Limit")).toBeNull();
      expect(await originCount(tag)).toBe(onError === "open" ? 1 : 0);
      const logged = errors.mock.calls.map((c) => String(c[0])).findLast((l) => l.includes("limiter.error"));
      expect(JSON.parse(logged!)).toMatchObject({ onError, cause: "budget", rules: ["guarded"] });
      await busy;
      // The late answer charged the object when it landed: kept when the request was forwarded, given back
      // when it was answered 503.
      const spec = { name: "guarded-15m", algorithm: "fixed", limit: 3, windowMs: 900_000, cost: 1 } as const;
      expect((await stub.inspect([spec])).results[0]!.remaining).toBe(onError === "open" ? 1 : 2);
    }
  });

  it("an overloaded object is not retried; the rule's onError decides", async () => {
    await usePolicy(oneRule({ onError: "closed" }));
    vi.spyOn(console, "error").mockImplementation(() => {});
    const faulty = faultyNamespace(() =>
      Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), {
        overloaded: true,
        retryable: true,
      }),
    );
    const res = await fetchWith({ LIMITER: faulty.ns }, "/x", uniqueIp());
    expect(res.status).toBe(503);
    expect(faulty.calls()).toBe(1);
  });

  it("a retryable error is retried once, at once, on a fresh stub", async () => {
    await usePolicy(oneRule());
    const faulty = faultyNamespace((n) =>
      n === 1 ? Object.assign(new Error("Network connection lost."), { retryable: true }) : undefined,
    );
    const res = await fetchWith({ LIMITER: faulty.ns }, "/x", uniqueIp());
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit-Remaining")).toBe("2");
    expect(faulty.calls()).toBe(2);
  });

  it("a non-retryable error is not retried", async () => {
    await usePolicy(oneRule());
    vi.spyOn(console, "error").mockImplementation(() => {});
    const faulty = faultyNamespace(() => new Error("boom"));
    const res = await fetchWith({ LIMITER: faulty.ns }, "/x", uniqueIp());
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit-Limit")).toBeNull();
    expect(faulty.calls()).toBe(1);
  });
});

describe("isolate-local refusal cache", () => {
  it("refuses later requests of a refused key until its reset without calling the object", async () => {
    await usePolicy(oneRule({}, 2));
    const faulty = faultyNamespace(() => undefined);
    // No statistics store: each request here waits for its waitUntil work, which would include the
    // isolate's next flush of its figures (up to 5 s each); they are not what this test is about.
    const bindings = { LIMITER: faulty.ns, STATS: undefined };
    const ip = uniqueIp();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetchWith(bindings, "/x", ip)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(faulty.calls()).toBe(3);
    for (let i = 0; i < 20; i++) {
      const res = await fetchWith(bindings, "/x", ip);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
      expect(res.headers.get("RateLimit-Remaining")).toBe("0");
    }
    expect(faulty.calls()).toBe(3);
  });

  it("answers a refusal it holds with no call to any object, as the objects count them", async () => {
    await usePolicy(oneRule({}, 2));
    const ip = uniqueIp();
    const calls = () => {
      const { calls } = objectCounts();
      return { limiter: sumOf(calls, "RateLimiter."), all: sumOf(calls, "") };
    };
    const before = calls();
    expect(await callMany(3, "/x", { ip })).toEqual([200, 200, 429]);
    const afterFirst = calls();
    // The counter sees the objects of this isolate: the first three asked the key's object.
    expect(afterFirst.limiter - before.limiter).toBeGreaterThanOrEqual(3);
    expect(await callMany(50, "/x", { ip })).toEqual(Array(50).fill(429));
    const afterRepeats = calls();
    expect(afterRepeats.limiter - afterFirst.limiter).toBe(0);
    // Not one object (the statistics store is sent this isolate's figures at most every 5 s).
    expect(afterRepeats.all - afterFirst.all).toBeLessThanOrEqual(1);
    // The counts are served to the bench only where they mean something (OBJECT_COUNTS, local runs).
    const route = async (extra: Partial<Cloudflare.Env>) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch!(
        new Request("http://api.example.com/__ratelimit/object-counts", {
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": uniqueIp() },
        }) as Request<unknown, IncomingRequestCfProperties>,
        { ...env, ...extra },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await route({})).status).toBe(404);
    const served = await route({ OBJECT_COUNTS: "true" });
    expect(served.status).toBe(200);
    const body = (await served.json()) as ReturnType<typeof objectCounts>;
    expect(sumOf(body.calls, "RateLimiter.")).toBeGreaterThanOrEqual(afterRepeats.limiter);
  });

  // 25 runs of up to 25 requests through workerd: more than the default 5 s on a busy machine. A timeout
  // would leave the property running, with its fake clock, under the tests that follow.
  it("never refuses what the object would admit, nor admits what it would refuse (property)", {
    timeout: 60_000,
  }, async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let base = Date.UTC(2032, 0, 1);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("fixed", "sliding", "token-bucket"),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2500 })), { minLength: 5, maxLength: 25 }),
        async (algorithm, limit, steps) => {
          base += 10 * 86_400_000;
          let now = base;
          vi.setSystemTime(now);
          await usePolicy({
            version: 1,
            rules: [{ id: "prop", key: "ip", limits: [{ limit, window: "2s", algorithm }] }],
          });
          const ip = uniqueIp();
          const stub = env.LIMITER.getByName(`ip:${ip}`);
          const spec = { name: "prop-2s", algorithm, limit, windowMs: 2000, cost: 1 } as const;
          for (const step of steps) {
            now += step;
            vi.setSystemTime(now);
            const { results } = await stub.inspect([spec]);
            const objectWouldAdmit = results[0]!.remaining >= 1;
            const res = await call("/p", { ip });
            await res.arrayBuffer();
            expect(res.status).toBe(objectWouldAdmit ? 200 : 429);
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("restarts and migrations", () => {
  it("keeps concurrency slots and reserved failure charges across a restart", async () => {
    await usePolicy({
      version: 1,
      rules: [
        { id: "slots", match: { paths: ["/hold"] }, key: "ip", limits: [{ concurrency: 1 }] },
        { id: "fails", match: { paths: ["/f"] }, key: "ip", count: "failures", limits: [{ limit: 1, window: "15m" }] },
      ],
    });
    const ip = uniqueIp();
    const held = uniqueTag("hold");
    const first = await call(`/hold?id=${held}`, { ip });
    expect(first.status).toBe(200);
    // A failures-only charge reserved by an in-flight request, then the object restarts.
    const failing = await call(`/f`, { ip, headers: { "x-test-status": "500" } });
    expect(failing.status).toBe(500);
    await failing.arrayBuffer();
    await evictDurableObject(env.LIMITER.getByName(`ip:${ip}`));
    expect(await callMany(1, `/hold?id=${uniqueTag()}`, { ip })).toEqual([429]);
    expect(await callMany(1, "/f", { ip })).toEqual([429]);
    await releaseHeld(held);
    await first.arrayBuffer();
  });

  it("applies migrations once, in order, in a transaction, and upgrades an older object without losing counters", async () => {
    await usePolicy(oneRule({}, 5));
    const ip = uniqueIp();
    expect(await callMany(2, "/m", { ip })).toEqual([200, 200]);
    const stub = env.LIMITER.getByName(`ip:${ip}`);
    await runInDurableObject(stub, (_o, state) => {
      expect(schemaVersion(state.storage)).toBe(MIGRATIONS.length);
      expect(applyMigrations(state.storage, MIGRATIONS)).toEqual([]);
      const next = [
        ...MIGRATIONS,
        {
          version: 2,
          name: "0002_test_note",
          sql: "ALTER TABLE counters ADD COLUMN note TEXT; UPDATE counters SET note = 'kept';",
        },
      ];
      expect(applyMigrations(state.storage, next)).toEqual([2]);
      expect(applyMigrations(state.storage, next)).toEqual([]);
      const rows = state.storage.sql.exec<{ name: string; note: string }>("SELECT name, note FROM counters").toArray();
      expect(rows).toEqual([{ name: "guarded-15m", note: "kept" }]);
      // A failing migration leaves nothing behind: neither its change nor its bookkeeping row.
      const broken = [
        ...next,
        { version: 3, name: "0003_broken", sql: "ALTER TABLE counters ADD COLUMN half TEXT; THIS IS NOT SQL;" },
      ];
      expect(() => applyMigrations(state.storage, broken)).toThrow();
      expect(schemaVersion(state.storage)).toBe(2);
      const columns = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('counters')")
        .toArray()
        .map((c) => c.name);
      expect(columns).not.toContain("half");
    });
    await evictDurableObject(stub);
    const after = await call("/m", { ip });
    await after.arrayBuffer();
    expect(after.headers.get("RateLimit-Remaining")).toBe("2");
  });
});

describe("bounded state", () => {
  it("removes idle counters in the alarm, not on requests", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2033, 0, 1, 12, 0, 0));
    await usePolicy({ version: 1, rules: [{ id: "idle", key: "ip", limits: [{ limit: 5, window: "1m" }] }] });
    const ip = uniqueIp();
    expect(await callMany(1, "/i", { ip })).toEqual([200]);
    const stub = env.LIMITER.getByName(`ip:${ip}`);
    expect(await stub.size()).toBe(1);
    vi.setSystemTime(Date.UTC(2033, 0, 1, 12, 1, 0));
    expect(await stub.size()).toBe(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.size()).toBe(0);
    const rows = await runInDurableObject(
      stub,
      (_o, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM counters").one().n,
    );
    expect(rows).toBe(0);
  });

  it("holds at most MAX_COUNTERS_PER_OBJECT counters in one object", async () => {
    const stub = env.LIMITER.getByName(`bounded:${uniqueTag()}`);
    const counters = Array.from({ length: MAX_COUNTERS_PER_OBJECT + 100 }, (_, i) => ({
      name: `c${i}`,
      algorithm: "fixed" as const,
      limit: 10,
      windowMs: 3_600_000,
      cost: 1,
    }));
    for (let i = 0; i < counters.length; i += 100) await stub.check({ counters: counters.slice(i, i + 100) });
    expect(await stub.size()).toBe(MAX_COUNTERS_PER_OBJECT);
  });

  it("counts every address of one IPv6 /64 on one counter", async () => {
    await usePolicy(oneRule({}, 3));
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    const statuses = [];
    for (const address of [`${prefix}::1`, `${prefix}::2`, `${prefix}:abcd:ef01:2345:6789`, `${prefix}:0:0:0:FFFF`]) {
      statuses.push(...(await callMany(1, "/v6", { ip: address })));
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("keeps the tenant cache bounded when a client invents API keys, and its tenants cached", async () => {
    const cache = new TenantCache(100, 100);
    const known = uniqueTag().padEnd(64, "a");
    await env.POLICIES.put(`tenant:${known}`, JSON.stringify({ id: uniqueTag(), tier: "pro" }));
    expect((await cache.lookup(env.POLICIES, known, 30_000))?.tier).toBe("pro");
    for (let i = 0; i < 250; i++) await cache.lookup(env.POLICIES, `${uniqueTag()}${i}`.padEnd(64, "0"), 30_000);
    expect(cache.unknownSize).toBe(100);
    expect(cache.size).toBe(101); // the invented keys fill only the negative cache: the tenant stays
    await env.POLICIES.delete(`tenant:${known}`);
    expect((await cache.lookup(env.POLICIES, known, 30_000))?.tier).toBe("pro"); // from the cache, no KV read
  });
});

describe("hostile input", () => {
  const transfersPolicy: PolicyInput = {
    version: 1,
    rules: [
      {
        id: "transfers",
        match: { methods: ["POST"], paths: ["/api/v1/transfers", "/api/v1/transfers/*"] },
        key: "ip",
        limits: [{ limit: 1000, window: "15m" }],
      },
      { id: "other", key: "ip", limits: [{ limit: 100000, window: "15m" }] },
    ],
  };

  it("no spelling of a limited path escapes its counter (fuzzed)", async () => {
    await usePolicy(transfersPolicy);
    const ip = uniqueIp();
    let expectedRemaining = 1000;
    const segment = (s: string) =>
      fc
        .tuple(
          ...[...s].map((ch) =>
            fc.constantFrom(
              ch,
              ch.toUpperCase(),
              `%${ch.charCodeAt(0).toString(16)}`,
              `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
            ),
          ),
        )
        .map((parts) => parts.join(""));
    const sep = fc.constantFrom("/", "//", "/./", "/x/../", "\\", "/%2F", "/%2e/");
    const spelling = fc
      .tuple(
        sep,
        segment("api"),
        sep,
        segment("v1"),
        sep,
        segment("transfers"),
        fc.constantFrom("", "/", "//", "/.", "/9", "/9/"),
      )
      .map((p) => p.join(""));
    await fc.assert(
      fc.asyncProperty(spelling, fc.constantFrom("POST", "post"), async (path, method) => {
        const res = await call(path, { ip, method });
        await res.arrayBuffer();
        expectedRemaining--;
        expect(res.status, path).not.toBe(500);
        expect(res.headers.get("RateLimit-Limit"), path).toBe("1000");
        expect(res.headers.get("RateLimit-Remaining"), path).toBe(String(expectedRemaining));
      }),
      { numRuns: 60 },
    );
  });

  it("ignores X-Forwarded-For and True-Client-IP, and counts a missing client IP on one shared counter", async () => {
    await usePolicy(oneRule({}, 2));
    const ip = uniqueIp();
    const spoofs: Array<Record<string, string>> = [
      { "x-forwarded-for": uniqueIp() },
      { "true-client-ip": uniqueIp() },
      { "x-real-ip": uniqueIp() },
    ];
    const statuses = [];
    for (const h of spoofs) statuses.push(...(await callMany(1, "/s", { ip, headers: h })));
    expect(statuses).toEqual([200, 200, 429]);
    const anonymous = await callMany(3, "/s", { headers: { "x-forwarded-for": uniqueIp() } });
    expect(anonymous.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  });

  it("gives huge headers, odd API keys and odd methods the documented behaviour, never a 500", async () => {
    await usePolicy({ ...oneRule({ key: "tenant" }, 50), identity: { apiKey: { header: "x-api-key" } } });
    const ip = uniqueIp();
    const keys = ["k", "x".repeat(8000), "ключ-🔑", "a b\tc", "' OR 1=1 --", "%00%ff"];
    let remaining = 50;
    for (const key of keys) {
      const res = await call("/k", { ip, headers: { "x-api-key": key, "x-junk": "j".repeat(4_000) } });
      await res.arrayBuffer();
      remaining--;
      expect(res.status, key.slice(0, 20)).toBe(200);
      expect(res.headers.get("RateLimit-Remaining")).toBe(String(remaining)); // unknown keys: counted by IP
    }
    for (const method of ["OPTIONS", "HEAD", "PATCH", "DELETE"]) {
      const res = await call("/k", { ip, method });
      await res.arrayBuffer();
      remaining--;
      expect(res.status, method).toBe(200);
      expect(res.headers.get("RateLimit-Remaining"), method).toBe(String(remaining));
    }
  });

  it("lets a HEAD request count on a GET rule", async () => {
    await usePolicy({
      version: 1,
      rules: [{ id: "reads", match: { methods: ["GET"] }, key: "ip", limits: [{ limit: 2, window: "15m" }] }],
    });
    const ip = uniqueIp();
    expect(await callMany(1, "/r", { ip, method: "HEAD" })).toEqual([200]);
    expect(await callMany(2, "/r", { ip })).toEqual([200, 429]);
  });
});
