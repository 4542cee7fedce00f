/**
 * The five published policies (examples/policies/, README "Policies"), each from
 * its document in examples/policies/, driven through the Worker: every figure
 * of each page, the N-th request admitted and the N+1-th refused.
 *
 * Limits in the thousands are reached by charging all but the last request
 * in one real call to the counter object (`check` with a cost of N-1), then
 * sending the last two requests through the Worker.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import fintech from "../../examples/policies/fintech-tiered.json";
import openBanking from "../../examples/policies/open-banking.json";
import partner from "../../examples/policies/partner-api.json";
import propertyManagement from "../../examples/policies/property-management.json";
import telematics from "../../examples/policies/telematics.json";
import { sha256Hex } from "../../src/hash";
import type { Algorithm } from "../../src/limiter/types";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";
import {
  type CallOptions,
  call,
  callMany,
  originCount,
  releaseHeld,
  uniqueIp,
  uniqueTag,
  usePolicy,
} from "../support/client";

const MINUTE = 60_000;
const QUARTER = 15 * MINUTE;
const DAY = 24 * 60 * MINUTE;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
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

/** A tenant with its own API key; returns the Authorization header and the counting object's name. */
async function tenant(tier: string, sandbox = false) {
  const apiKey = `sk_${uniqueTag()}`;
  const id = `tenant-${uniqueTag()}`;
  await env.POLICIES.put(`tenant:${await sha256Hex(apiKey)}`, JSON.stringify({ id, tier, sandbox }));
  return { headers: { authorization: `Bearer ${apiKey}` }, object: `${sandbox ? "sandbox:" : ""}tenant:${id}` };
}

/** Uses up `used` of a counter in one real call to its object. */
async function charge(
  object: string,
  counter: string,
  algorithm: Algorithm,
  windowMs: number,
  limit: number,
  used: number,
) {
  const result = await env.LIMITER.getByName(object).check({
    counters: [{ name: counter, algorithm, limit, windowMs, cost: used }],
  });
  expect(result.allowed).toBe(true);
}

/** The last request under the limit is admitted and the next one refused. */
async function expectBoundary(path: string, options: CallOptions) {
  expect(await callMany(2, path, options)).toEqual([200, 429]);
}

it("every example document validates", () => {
  for (const doc of [fintech, partner, propertyManagement, openBanking, telematics]) {
    const result = validatePolicy(doc);
    expect(result.ok, JSON.stringify(result.ok ? "" : result.errors)).toBe(true);
  }
});

describe("tiered fintech API (004)", () => {
  beforeAll(() => usePolicy(fintech as PolicyInput));

  it("sends RateLimit-Limit, -Remaining and -Reset (a Unix timestamp) on every response, and no other family", async () => {
    const t = await tenant("starter");
    const res = await call("/api/v1/accounts", { ip: uniqueIp(), headers: t.headers });
    await res.arrayBuffer();
    expect(res.headers.get("RateLimit-Limit")).toBe("100");
    expect(res.headers.get("RateLimit-Remaining")).toBe("99");
    const reset = Number(res.headers.get("RateLimit-Reset"));
    expect(reset * 1000).toBeGreaterThan(Date.now());
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + QUARTER + 1000);
    expect(reset % 900).toBe(0);
    expect(res.headers.get("X-RateLimit-Limit")).toBeNull();
    expect(res.headers.get("RateLimit-Policy")).toBeNull();
  });

  it("limits general endpoints per tenant to 100 / 500 / 2000 per 15 minutes", async () => {
    const starter = await tenant("starter");
    const tag = uniqueTag();
    const statuses = await callMany(101, "/api/v1/accounts", {
      ip: uniqueIp(),
      headers: { ...starter.headers, "x-test-tag": tag },
    });
    expect(statuses.slice(0, 100).every((s) => s === 200)).toBe(true);
    expect(statuses[100]).toBe(429);
    expect(await originCount(tag)).toBe(100);
    for (const [tier, limit] of [
      ["pro", 500],
      ["enterprise", 2000],
    ] as const) {
      const t = await tenant(tier);
      await charge(t.object, "general-15m", "fixed", QUARTER, limit, limit - 1);
      await expectBoundary("/api/v1/beneficiaries", { ip: uniqueIp(), headers: t.headers });
    }
  });

  it("limits transfers to 50 / 200 / 1000 and auth to 50 / 100 / 500, each group on its own counter", async () => {
    const starter = await tenant("starter");
    const ip = uniqueIp();
    const transfers = await callMany(51, "/api/v1/transfers", { ip, method: "POST", headers: starter.headers });
    expect(transfers.filter((s) => s === 200)).toHaveLength(50);
    expect(transfers[50]).toBe(429);
    expect(await callMany(1, "/api/v1/bulk-transfers", { ip, method: "POST", headers: starter.headers })).toEqual([
      429,
    ]);
    expect(await callMany(1, "/api/v1/accounts", { ip, headers: starter.headers })).toEqual([200]);
    const auth = await callMany(51, "/api/v1/auth/logout", { ip, method: "POST", headers: starter.headers });
    expect(auth.filter((s) => s === 200)).toHaveLength(50);
    expect(auth[50]).toBe(429);
    for (const [tier, transfersLimit, authLimit] of [
      ["pro", 200, 100],
      ["enterprise", 1000, 500],
    ] as const) {
      const t = await tenant(tier);
      await charge(t.object, "transfers-15m", "fixed", QUARTER, transfersLimit, transfersLimit - 1);
      await expectBoundary("/api/v1/transfers/42", { ip: uniqueIp(), method: "POST", headers: t.headers });
      await charge(t.object, "auth-15m", "fixed", QUARTER, authLimit, authLimit - 1);
      await expectBoundary("/api/v1/auth/sessions", { ip: uniqueIp(), headers: t.headers });
    }
  });

  it("gives sandbox environments 10x the limits", async () => {
    const res = await call("/api/v1/accounts", { ip: uniqueIp(), host: "sandbox.api.example.com" });
    await res.arrayBuffer();
    expect(res.headers.get("RateLimit-Limit")).toBe("1000");
    const t = await tenant("pro", true);
    const pro = await call("/api/v1/transfers", { ip: uniqueIp(), headers: t.headers });
    await pro.arrayBuffer();
    expect(pro.headers.get("RateLimit-Limit")).toBe("2000");
    await charge(t.object, "transfers-15m", "fixed", QUARTER, 2000, 1998);
    await expectBoundary("/api/v1/transfers", { ip: uniqueIp(), headers: t.headers });
  });

  it("answers 429 with Retry-After and the page's body", async () => {
    const t = await tenant("starter");
    await charge(t.object, "general-15m", "fixed", QUARTER, 100, 100);
    const res = await call("/api/v1/accounts", { ip: uniqueIp(), headers: t.headers });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get("RateLimit-Remaining")).toBe("0");
    expect(await res.json()).toEqual({ success: false, error: "Too many requests", code: "RATE_LIMIT_EXCEEDED" });
  });

  it("counts only failed logins against the login limit of 50", async () => {
    const ip = uniqueIp();
    const ok = { ip, method: "POST", headers: { "x-test-status": "200" } };
    const failed = { ip, method: "POST", headers: { "x-test-status": "401" } };
    expect((await callMany(60, "/api/v1/auth/login", ok)).every((s) => s === 200)).toBe(true);
    const fails = await callMany(51, "/api/v1/auth/login", failed);
    expect(fails.filter((s) => s === 401)).toHaveLength(50);
    expect(fails[50]).toBe(429);
  });

  it("limits refresh to 100, forgot-password to 10 per email address and reset-password to 10 per token", async () => {
    const refresh = await callMany(101, "/api/v1/auth/refresh", { ip: uniqueIp(), method: "POST" });
    expect(refresh.filter((s) => s === 200)).toHaveLength(100);
    expect(refresh[100]).toBe(429);

    const email = `${uniqueTag("who")}@example.com`;
    const forgot: number[] = [];
    for (let i = 0; i < 11; i++) {
      forgot.push(
        ...(await callMany(1, "/api/v1/registration/forgot-password", {
          ip: uniqueIp(),
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email }),
        })),
      );
    }
    expect(forgot).toEqual([...Array(10).fill(200), 429]);
    expect(
      await callMany(1, "/api/v1/registration/forgot-password", {
        ip: uniqueIp(),
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: `x${email}` }),
      }),
    ).toEqual([200]);

    const token = uniqueTag("reset");
    const reset: number[] = [];
    for (let i = 0; i < 11; i++) {
      reset.push(
        ...(await callMany(1, "/api/v1/registration/reset-password", {
          ip: uniqueIp(),
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token, password: "n3w" }),
        })),
      );
    }
    expect(reset).toEqual([...Array(10).fill(200), 429]);
  });

  it("does not limit WebSocket upgrades", async () => {
    const t = await tenant("starter");
    await charge(t.object, "general-15m", "fixed", QUARTER, 100, 100);
    const res = await call("/api/v1/stream", {
      ip: uniqueIp(),
      headers: { ...t.headers, upgrade: "websocket", connection: "Upgrade" },
    });
    await res.arrayBuffer();
    expect(res.status).not.toBe(429);
    expect(res.headers.get("RateLimit-Limit")).toBeNull();
  });

  it("gives public endpoints their own, higher limits", async () => {
    const ip = uniqueIp();
    for (const path of ["/api/v1/theme", "/api/v1/fx-rates", "/health"]) {
      const res = await call(path, { ip });
      await res.arrayBuffer();
      expect(res.headers.get("RateLimit-Limit"), path).toBe("5000");
    }
    const general = await call("/api/v1/accounts", { ip });
    await general.arrayBuffer();
    expect(general.headers.get("RateLimit-Remaining")).toBe("99");
    // The boundary on an address of its own: the three requests above may have left this isolate holding a
    // lease of that address's public room (its units are charged in the object until they are used or end).
    const fresh = uniqueIp();
    await charge(`ip:${fresh}`, "public-15m", "fixed", QUARTER, 5000, 5000 - 1);
    await expectBoundary("/health", { ip: fresh });
  });
});

describe("partner API (002)", () => {
  beforeAll(() => usePolicy(partner as PolicyInput));

  it("allows 300 requests per minute per client IP, with the X-RateLimit headers on every response", async () => {
    const ip = uniqueIp();
    const first = await call("/v1/balances", { ip });
    await first.arrayBuffer();
    expect(first.headers.get("X-RateLimit-Limit")).toBe("300");
    expect(first.headers.get("X-RateLimit-Remaining")).toBe("299");
    const reset = Number(first.headers.get("X-RateLimit-Reset"));
    expect(reset % 60).toBe(0);
    expect(reset * 1000).toBeGreaterThan(Date.now());
    expect(first.headers.get("RateLimit-Limit")).toBeNull();
    const statuses = await callMany(300, "/v1/balances", { ip });
    expect(statuses.slice(0, 299).every((s) => s === 200)).toBe(true);
    expect(statuses[299]).toBe(429);
    expect(await callMany(1, "/v1/balances", { ip: uniqueIp() })).toEqual([200]);
  });

  it("answers 429 with Retry-After and the page's JSON body", async () => {
    const ip = uniqueIp();
    await charge(`ip:${ip}`, "partner-1m", "fixed", MINUTE, 300, 300);
    const res = await call("/v1/transfers", { ip });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.headers.get("X-RateLimit-Remaining")).toBe("0");
    expect(await res.json()).toEqual({
      error: "Rate limit exceeded",
      message: "You have exceeded the maximum number of requests allowed (300 requests/min). Please try again later.",
      retry_after: retryAfter,
      limit: 300,
      window: "1 minute",
    });
  });

  it("gives enterprise partners their custom limit", async () => {
    const t = await tenant("enterprise");
    const ip = uniqueIp();
    const res = await call("/v1/balances", { ip, headers: t.headers });
    await res.arrayBuffer();
    expect(res.headers.get("X-RateLimit-Limit")).toBe("3000");
    await charge(`ip:${ip}`, "partner-1m", "fixed", MINUTE, 3000, 2998);
    await expectBoundary("/v1/balances", { ip, headers: t.headers });
  });
});

describe("property-management platform (001)", () => {
  beforeAll(() => usePolicy(propertyManagement as PolicyInput));

  it("allows 20 requests per second per customer", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2031-06-01T12:00:00.000Z"));
    const t = await tenant("customer");
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++)
      statuses.push(...(await callMany(1, "/v2/properties", { ip: uniqueIp(), headers: t.headers })));
    expect(statuses).toEqual([...Array(20).fill(200), 429]);
    vi.setSystemTime(new Date("2031-06-01T12:00:01.000Z"));
    expect(await callMany(21, "/v2/properties", { ip: uniqueIp(), headers: t.headers })).toEqual([
      ...Array(20).fill(200),
      429,
    ]);
  });

  it("allows at most 5 concurrent requests per customer", async () => {
    const t = await tenant("customer");
    const ids = Array.from({ length: 6 }, () => uniqueTag("hold"));
    const held = [];
    for (const id of ids.slice(0, 5)) {
      const res = await call(`/hold?id=${id}`, { ip: uniqueIp(), headers: t.headers });
      expect(res.status).toBe(200);
      held.push(res);
    }
    const sixth = await call(`/hold?id=${ids[5]}`, { ip: uniqueIp(), headers: t.headers });
    await sixth.arrayBuffer();
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get("RateLimit")).toContain('"customer-conc";r=0');
    for (const id of ids) await releaseHeld(id);
    await Promise.all(held.map((r) => r.arrayBuffer()));
  });

  it("allows 250,000 requests per day", async () => {
    const t = await tenant("customer");
    const first = await call("/v2/tenancies", { ip: uniqueIp(), headers: t.headers });
    await first.arrayBuffer();
    expect(first.headers.get("RateLimit-Policy")).toContain('"customer-1d";q=250000;w=86400');
    await charge(t.object, "customer-1d", "fixed", DAY, 250000, 250000 - 2);
    await expectBoundary("/v2/tenancies", { ip: uniqueIp(), headers: t.headers });
  });
});

describe("open-banking aggregator (000)", () => {
  beforeAll(() => usePolicy(openBanking as PolicyInput));

  it("allows 30 calls per minute", async () => {
    const t = await tenant("default");
    const statuses = await callMany(31, "/2.0/users/me/accounts", { ip: uniqueIp(), headers: t.headers });
    expect(statuses).toEqual([...Array(30).fill(200), 429]);
  });

  it("allows 86,400 calls per day", async () => {
    const t = await tenant("default");
    const first = await call("/2.0/users/me", { ip: uniqueIp(), headers: t.headers });
    await first.arrayBuffer();
    expect(first.headers.get("RateLimit-Policy")).toContain('"fair-usage-1d";q=86400;w=86400');
    await charge(t.object, "fair-usage-1d", "fixed", DAY, 86400, 86400 - 2);
    await expectBoundary("/2.0/users/me", { ip: uniqueIp(), headers: t.headers });
  });
});

describe("telematics API (003)", () => {
  beforeAll(() => usePolicy(telematics as PolicyInput));
  const query = async (res: Response) => ((await res.json()) as { query: Record<string, string> }).query;

  it("defaults collection page size to 20 and never lets it exceed 1000", async () => {
    const ip = uniqueIp();
    expect(await query(await call("/public/api/v1/units", { ip }))).toEqual({ size: "20" });
    expect(await query(await call("/public/api/v1/units?size=1000", { ip }))).toEqual({ size: "1000" });
    expect(await query(await call("/public/api/v1/units?size=1001", { ip }))).toEqual({ size: "1000" });
  });

  it("answers 429 when rate limited", async () => {
    const ip = uniqueIp();
    await charge(`ip:${ip}`, "api-1m", "fixed", MINUTE, 600, 599);
    await expectBoundary("/public/api/v1/units", { ip });
  });
});
