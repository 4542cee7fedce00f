/**
 * The front door through the Workers runtime: `exports.default.fetch` → the
 * Hono Worker → the RateLimiter Durable Object → a real loopback origin.
 */
import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { parseList } from "structured-headers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import {
  call,
  callMany,
  forgetHistory,
  originCount,
  uniqueIp,
  uniqueTag,
  useBuiltinPolicy,
  usePolicy,
} from "../support/client";

const tenantPolicy = (extra: Partial<PolicyInput> = {}): PolicyInput => ({
  version: 1,
  defaultTier: "starter",
  sandbox: { multiplier: 10, hosts: ["sandbox.api.example.com"] },
  headers: ["legacy", "ietf", "x"],
  rules: [
    {
      id: "transfers",
      match: { paths: ["/api/v1/transfers", "/api/v1/transfers/*"] },
      limits: [{ limit: { starter: 5, pro: 8 }, window: "15m" }],
    },
    { id: "general", match: { paths: ["/api/*"] }, limits: [{ limit: { starter: 3, pro: 6 }, window: "1m" }] },
  ],
  ...extra,
});

async function addTenant(apiKey: string, record: { id: string; tier?: string; sandbox?: boolean }) {
  await env.POLICIES.put(`tenant:${await sha256Hex(apiKey)}`, JSON.stringify(record));
}

afterEach(async () => {
  vi.restoreAllMocks();
  await useBuiltinPolicy();
});

// Every figure here is counted within one window. Time stands still at the middle of a minute, of a
// quarter hour and of a day, so that no window rolls over while a test counts (tests that need time to
// move set it themselves).
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date("2035-06-15T12:07:30.000Z"));
});
afterEach(() => {
  vi.useRealTimers();
});

describe("built-in default policy", () => {
  beforeEach(useBuiltinPolicy);

  it("sends the legacy and ietf headers on every response, counting per IP", async () => {
    const ip = uniqueIp();
    const first = await call("/anything", { ip });
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit-Limit")).toBe("300");
    expect(first.headers.get("RateLimit-Remaining")).toBe("299");
    const reset = Number(first.headers.get("RateLimit-Reset"));
    const nowS = Date.now() / 1000;
    expect(reset).toBeGreaterThan(nowS);
    expect(reset).toBeLessThanOrEqual(Math.ceil(nowS) + 60);
    expect(reset % 60).toBe(0); // 1-minute windows are aligned to whole minutes
    expect(first.headers.get("X-RateLimit-Limit")).toBeNull();
    await first.arrayBuffer();

    const second = await call("/anything", { ip });
    expect(second.headers.get("RateLimit-Remaining")).toBe("298");
    const other = await call("/anything", { ip: uniqueIp() });
    expect(other.headers.get("RateLimit-Remaining")).toBe("299");
  });

  it("admits the 300th request of a minute and refuses the 301st", async () => {
    const ip = uniqueIp();
    const statuses = await callMany(299, "/x", { ip });
    expect(statuses.every((s) => s === 200)).toBe(true);
    const last = await call("/x", { ip });
    expect(last.status).toBe(200);
    expect(last.headers.get("RateLimit-Remaining")).toBe("0");
    const refused = await call("/x", { ip });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
  });
});

describe("refusals", () => {
  it("carries Retry-After, no-store, the header families and the filled body, and never reaches the origin", async () => {
    await usePolicy({
      version: 1,
      headers: ["legacy", "ietf", "x"],
      response: {
        status: 429,
        body: {
          success: false,
          message: "{{limit}} requests per {{window}}",
          retry_after: "{{retry_after}}",
          limit: "{{limit}}",
          remaining: "{{remaining}}",
          reset: "{{reset}}",
          window: "{{window}}",
          policy: "{{policy}}",
          rule: "{{rule}}",
        },
      },
      rules: [{ id: "tiny", key: "ip", limits: [{ limit: 2, window: "15m" }] }],
    });
    const ip = uniqueIp();
    const tag = uniqueTag();
    expect(await callMany(2, "/p", { ip, headers: { "x-test-tag": tag } })).toEqual([200, 200]);
    const refused = await call("/p", { ip, headers: { "x-test-tag": tag } });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(refused.headers.get("Cache-Control")).toBe("no-store");
    expect(refused.headers.get("RateLimit-Limit")).toBe("2");
    expect(refused.headers.get("X-RateLimit-Remaining")).toBe("0");
    expect(refused.headers.get("RateLimit")).toContain('"tiny-15m";r=0');
    const body = (await refused.json()) as Record<string, unknown>;
    const reset = Number(refused.headers.get("RateLimit-Reset"));
    expect(body).toEqual({
      success: false,
      message: "2 requests per 15 minutes",
      retry_after: retryAfter,
      limit: 2,
      remaining: 0,
      reset,
      window: "15 minutes",
      policy: "tiny-15m",
      rule: "tiny",
    });
    expect(reset % 900).toBe(0);
    expect(await originCount(tag)).toBe(2);
  });

  it("passes the origin's status, headers and body through untouched", async () => {
    await usePolicy({ version: 1, rules: [{ id: "r", key: "ip", limits: [{ limit: 10, window: "1m" }] }] });
    const res = await call("/status/418", { ip: uniqueIp() });
    expect(res.status).toBe(418);
    expect(res.headers.get("x-origin")).toBe("loopback");
    expect(await res.json()).toEqual({ status: 418 });
    const echo = await call("/echo?a=1&b=two", {
      ip: uniqueIp(),
      method: "POST",
      body: "hello",
      headers: { "content-type": "text/plain" },
    });
    expect(echo.headers.get("set-cookie")).toBe("origin=1");
    const seen = (await echo.json()) as { method: string; path: string; query: Record<string, string>; body: string };
    expect(seen).toMatchObject({ method: "POST", path: "/echo", query: { a: "1", b: "two" }, body: "hello" });
  });
});

describe("ietf headers", () => {
  it("parse as Structured Field Lists with the contract's parameters", async () => {
    await usePolicy({
      version: 1,
      headers: ["ietf"],
      rules: [{ id: "transfers", key: "ip", limits: [{ limit: 200, window: "15m" }, { concurrency: 5 }] }],
    });
    const res = await call("/t", { ip: uniqueIp() });
    await res.arrayBuffer();
    expect(res.headers.get("RateLimit-Limit")).toBeNull();
    const policy = parseList(res.headers.get("RateLimit-Policy")!);
    expect(policy.map(([name]) => name)).toEqual(["transfers-15m", "transfers-conc"]);
    expect(Object.fromEntries(policy[0]![1])).toEqual({ q: 200, w: 900 });
    expect(Object.fromEntries(policy[1]![1])).toEqual({ q: 5, qu: "concurrent-requests" });
    const state = parseList(res.headers.get("RateLimit")!);
    expect(state[0]![0]).toBe("transfers-15m");
    const params = Object.fromEntries(state[0]![1]);
    expect(params.r).toBe(199);
    expect(params.t).toBeGreaterThan(0);
    expect(params.t).toBeLessThanOrEqual(900);
    expect(state[1]![0]).toBe("transfers-conc");
    expect(Object.fromEntries(state[1]![1]).r).toBe(4);
    expect(res.headers.get("RateLimit-Policy")).not.toContain("pk=");
  });
});

describe("tiers and the sandbox", () => {
  beforeEach(() => usePolicy(tenantPolicy()));

  it("gives a tenant its tier's numbers and counts per tenant, not per IP", async () => {
    const key = `key-${uniqueTag()}`;
    await addTenant(key, { id: `acme-${uniqueTag()}`, tier: "pro" });
    const a = await call("/api/v1/transfers", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } });
    expect(a.headers.get("RateLimit-Limit")).toBe("8");
    expect(a.headers.get("RateLimit-Remaining")).toBe("7");
    // Another IP, same key: same counter.
    const b = await call("/api/v1/transfers/123", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } });
    expect(b.headers.get("RateLimit-Remaining")).toBe("6");
  });

  it("counts an unknown or missing key by IP under defaultTier", async () => {
    const ip = uniqueIp();
    const a = await call("/api/v1/transfers", { ip, headers: { authorization: "Bearer nobody-knows-this-key" } });
    expect(a.headers.get("RateLimit-Limit")).toBe("5");
    expect(a.headers.get("RateLimit-Remaining")).toBe("4");
    const b = await call("/api/v1/transfers", { ip });
    expect(b.headers.get("RateLimit-Remaining")).toBe("3");
  });

  it("uses defaultTier's number for a tier the limit does not name", async () => {
    const key = `key-${uniqueTag()}`;
    await addTenant(key, { id: `t-${uniqueTag()}`, tier: "platinum" });
    const res = await call("/api/v1/transfers", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } });
    expect(res.headers.get("RateLimit-Limit")).toBe("5");
  });

  it("multiplies every limit for a sandbox tenant, a sandbox host, and SANDBOX=true, in counters apart from production", async () => {
    const key = `key-${uniqueTag()}`;
    await addTenant(key, { id: `sbx-${uniqueTag()}`, tier: "pro", sandbox: true });
    const tenant = await call("/api/v1/transfers", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } });
    expect(tenant.headers.get("RateLimit-Limit")).toBe("80");

    const ip = uniqueIp();
    const host = await call("/api/v1/transfers", { ip, host: "sandbox.api.example.com" });
    expect(host.headers.get("RateLimit-Limit")).toBe("50");
    expect(host.headers.get("RateLimit-Remaining")).toBe("49");
    const prod = await call("/api/v1/transfers", { ip });
    expect(prod.headers.get("RateLimit-Limit")).toBe("5");
    expect(prod.headers.get("RateLimit-Remaining")).toBe("4");

    const ctx = createExecutionContext();
    const whole = await worker.fetch!(
      new Request("http://api.example.com/api/v1/transfers", {
        headers: { "cf-connecting-ip": uniqueIp() },
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, SANDBOX: "true" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(whole.headers.get("RateLimit-Limit")).toBe("50");
  });

  it("rounds a fractional multiplier down, and never below 1", async () => {
    await usePolicy(tenantPolicy({ sandbox: { multiplier: 0.5, hosts: ["sandbox.api.example.com"] } }));
    const a = await call("/api/v1/transfers", { ip: uniqueIp(), host: "sandbox.api.example.com" });
    expect(a.headers.get("RateLimit-Limit")).toBe("2"); // floor(5 * 0.5)
    await usePolicy(tenantPolicy({ sandbox: { multiplier: 0.01, hosts: ["sandbox.api.example.com"] } }));
    const b = await call("/api/v1/transfers", { ip: uniqueIp(), host: "sandbox.api.example.com" });
    expect(b.headers.get("RateLimit-Limit")).toBe("1");
  });
});

describe("rule order and matching", () => {
  it("lets the first matching rule decide, and sends no headers when no rule matches", async () => {
    await usePolicy(tenantPolicy());
    const ip = uniqueIp();
    const transfers = await call("/api/v1/transfers/9", { ip });
    expect(transfers.headers.get("RateLimit-Limit")).toBe("5");
    const general = await call("/api/v1/accounts", { ip });
    expect(general.headers.get("RateLimit-Limit")).toBe("3");
    expect(general.headers.get("RateLimit-Remaining")).toBe("2"); // separate counter from transfers
    const none = await call("/public/page", { ip });
    expect(none.status).toBe(200);
    expect(none.headers.get("RateLimit-Limit")).toBeNull();
    expect(none.headers.get("RateLimit")).toBeNull();
  });

  it("keeps two rules' counters apart even on the same key", async () => {
    await usePolicy({
      version: 1,
      rules: [
        { id: "a", match: { paths: ["/a"] }, key: "ip", limits: [{ limit: 2, window: "1m" }] },
        { id: "b", match: { paths: ["/b"] }, key: "ip", limits: [{ limit: 2, window: "1m" }] },
      ],
    });
    const ip = uniqueIp();
    expect(await callMany(3, "/a", { ip })).toEqual([200, 200, 429]);
    expect(await callMany(3, "/b", { ip })).toEqual([200, 200, 429]);
  });

  const spellings = [
    "/api/v1/transfers",
    "/api/v1/transfers/",
    "//api//v1//transfers",
    "/API/V1/Transfers",
    "/api/v1/%74ransfers",
    "/api/v1/trans%66ers",
    "/api/v1/x/../transfers",
    "/api/v1/./transfers",
    "/api%2Fv1%2Ftransfers",
    "/api/v1/%2e%2e/v1/transfers",
  ];

  it("counts every spelling of a limited path on the same counter", async () => {
    await usePolicy({
      version: 1,
      rules: [
        {
          id: "transfers",
          match: { paths: ["/api/v1/transfers"] },
          key: "ip",
          limits: [{ limit: spellings.length, window: "15m" }],
        },
        { id: "rest", match: { paths: ["/*"] }, key: "ip", limits: [{ limit: 1000, window: "15m" }] },
      ],
    });
    const ip = uniqueIp();
    for (const [i, path] of spellings.entries()) {
      const res = await call(path, { ip });
      await res.arrayBuffer();
      expect(res.status, path).toBe(200);
      expect(res.headers.get("RateLimit-Limit"), path).toBe(String(spellings.length));
      expect(res.headers.get("RateLimit-Remaining"), path).toBe(String(spellings.length - i - 1));
    }
    for (const path of spellings) {
      const res = await call(path, { ip });
      await res.arrayBuffer();
      expect(res.status, path).toBe(429);
    }
  });
});

describe("strong consistency", () => {
  it("admits exactly 50 of 200 requests fired at once at one key", async () => {
    await usePolicy({ version: 1, rules: [{ id: "burst", key: "ip", limits: [{ limit: 50, window: "15m" }] }] });
    const ip = uniqueIp();
    const tag = uniqueTag();
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => call("/burst", { ip, headers: { "x-test-tag": tag } })),
    );
    const statuses = await Promise.all(
      responses.map(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(150);
    expect(await originCount(tag)).toBe(50);
  });
});

describe("persistence", () => {
  it("keeps counters when the Durable Object is restarted", async () => {
    await usePolicy({ version: 1, rules: [{ id: "persist", key: "ip", limits: [{ limit: 5, window: "15m" }] }] });
    const ip = uniqueIp();
    expect(await callMany(3, "/p", { ip })).toEqual([200, 200, 200]);
    await evictDurableObject(env.LIMITER.getByName(`ip:${ip}`));
    const after = await call("/p", { ip });
    expect(after.headers.get("RateLimit-Remaining")).toBe("1");
    expect(await callMany(2, "/p", { ip })).toEqual([200, 429]);
  });
});

describe("a bad policy in KV", () => {
  const good: PolicyInput = { version: 1, rules: [{ id: "good", key: "ip", limits: [{ limit: 7, window: "1m" }] }] };
  const bad: Array<[string, string, string]> = [
    ["invalid JSON", "{ not json", ""],
    ["an unknown field", JSON.stringify({ ...good, colour: "blue" }), "colour"],
    [
      "a wrong type",
      JSON.stringify({ ...good, rules: [{ id: "good", key: "ip", limits: [{ limit: "7", window: "1m" }] }] }),
      "rules[0].limits[0].limit",
    ],
  ];

  for (const [what, text, path] of bad) {
    it(`is not put in force (${what}): the last good one stays and the error is logged with its path`, async () => {
      await usePolicy(good);
      const before = await call("/x", { ip: uniqueIp() });
      expect(before.headers.get("RateLimit-Limit")).toBe("7");
      const errors = vi.spyOn(console, "error").mockImplementation(() => {});
      await usePolicy(text);
      const after = await call("/x", { ip: uniqueIp() });
      expect(after.status).toBe(200);
      expect(after.headers.get("RateLimit-Limit")).toBe("7");
      const logged = errors.mock.calls.map((c) => String(c[0])).find((l) => l.includes("policy.invalid"));
      expect(logged).toBeDefined();
      const entry = JSON.parse(logged!) as { errors: Array<{ path: string; message: string }> };
      expect(entry.errors.map((e) => e.path)).toContain(path);
    });
  }

  it("falls back to the built-in default when the first document ever read is bad and none was ever valid", async () => {
    await useBuiltinPolicy();
    // Earlier tests' documents were recorded in history once seen; a valid one there would be in force.
    await forgetHistory();
    await call("/warm", { ip: uniqueIp() });
    vi.spyOn(console, "error").mockImplementation(() => {});
    await usePolicy("[]");
    const res = await call("/x", { ip: uniqueIp() });
    expect(res.headers.get("RateLimit-Limit")).toBe("300");
  });
});
