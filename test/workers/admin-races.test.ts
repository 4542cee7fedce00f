/**
 * The admin API under races: the lockout charges a failure before it compares a token (so
 * parallel guesses get at most 10 comparisons), counts only requests that present a token, has
 * a way out, and fails with 503 rather than 500; publishes go through one writer, so `If-Match`
 * is a compare-and-set and no history entry is lost.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { lockoutKey, readLockoutRecord, ttlSeconds, unlockKey, unlockMarker } from "../../src/admin/unlock-key";
import { readHistoryEntry } from "../../src/kv/policy-history";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { call, uniqueIp } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string>; ip?: string } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? env.ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return call(`${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers: Object.fromEntries(headers),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    ip: init.ip ?? uniqueIp(),
  });
}

const policy = (limit: number): PolicyInput => ({
  version: 1,
  headers: ["legacy"],
  rules: [{ id: "api", key: "ip", limits: [{ limit, window: "15m" }] }],
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the lockout under parallel guesses", () => {
  it("200 wrong tokens at once from one address: exactly 10 are compared (401), the rest refused (429)", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => admin("/policy", { token: `wrong-${i}`, ip })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(190);
    expect((await admin("/policy", { ip })).status).toBe(429);
  });

  it("a right token gives its charge back: 10 wrong tokens after 50 right ones still lock, the 10th wrong one is the last compared", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    for (let i = 0; i < 50; i++) expect((await admin("/policy", { ip })).status).toBe(200);
    for (let i = 0; i < 9; i++) expect((await admin("/policy", { token: `w${i}`, ip })).status).toBe(401);
    expect((await admin("/policy", { ip })).status).toBe(200);
    expect((await admin("/policy", { token: "w9", ip })).status).toBe(401);
    expect((await admin("/policy", { token: "w10", ip })).status).toBe(429);
  });

  it("requests without a token and preflights never count towards a lockout", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    for (let i = 0; i < 15; i++) expect((await admin("/policy", { token: null, ip })).status).toBe(401);
    for (let i = 0; i < 15; i++) {
      const preflight = await admin("/policy", {
        method: "OPTIONS",
        token: null,
        ip,
        headers: { origin: "https://evil.example", "access-control-request-method": "PUT" },
      });
      expect(preflight.status).toBe(401);
    }
    expect((await admin("/policy", { ip })).status).toBe(200);
  });

  it("logs the client address on every admin.unauthorized line", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    await admin("/policy", { token: null, ip });
    await admin("/policy", { token: "wrong", ip });
    const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("admin.unauthorized"));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l).ip).toBe(ip);
  });
});

describe("a way out of the lockout", () => {
  it("POST /unlock from another address lets the locked address in again at once", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) await admin("/policy", { token: `wrong-${i}`, ip });
    expect((await admin("/policy", { ip })).status).toBe(429);
    const unlock = await admin("/unlock", { method: "POST", body: { address: ip } });
    expect(unlock.status).toBe(200);
    expect(await unlock.json()).toEqual({ unlocked: ip, cleared: true });
    expect((await admin("/policy", { ip })).status).toBe(200);
    expect((await admin("/unlock", { method: "POST", body: { address: "not-an-ip" } })).status).toBe(400);
  });

  /** Ten wrong tokens: the address is locked out; the lockout the Worker records (what the CLI reads). */
  async function lockOut(ip: string): Promise<number> {
    for (let i = 0; i < 10; i++) expect((await admin("/policy", { token: `wrong-${i}`, ip })).status).toBe(401);
    expect((await admin("/policy", { ip })).status).toBe(429);
    const until = readLockoutRecord(await env.POLICIES.get(lockoutKey(ip)));
    expect(until).toBeGreaterThan(Date.now());
    return until!;
  }

  it("an unlock marker in KV (what `policy unlock --local` writes) lets the locked address in, once", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    const until = await lockOut(ip);
    // The record expires with the lockout (KV's TTL, at least 60 s; KV counts it from its own clock's second).
    const { keys } = await env.POLICIES.list({ prefix: lockoutKey(ip) });
    const expiration = keys[0]?.expiration ?? 0;
    expect(expiration).toBeGreaterThanOrEqual(Math.floor(until / 1000) - 1);
    expect(expiration).toBeLessThanOrEqual(Math.max(Math.ceil(until / 1000), Math.floor(Date.now() / 1000) + 60) + 1);
    await env.POLICIES.put(unlockKey(ip), unlockMarker(until), { expirationTtl: ttlSeconds(until, Date.now()) });
    expect((await admin("/policy", { ip })).status).toBe(200);
    expect(await env.POLICIES.get(unlockKey(ip))).toBeNull();
    expect(await env.POLICIES.get(lockoutKey(ip))).toBeNull();
  });

  it("an unlock written while nobody is locked out does not cancel the next lockout: the 11th and 12th wrong tokens are refused", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    // What `policy unlock --local` wrote before, with nobody locked out: it stayed, and lifted the next lockout.
    await env.POLICIES.put(unlockKey(ip), new Date().toISOString());
    for (let i = 0; i < 10; i++) expect((await admin("/policy", { token: `wrong-${i}`, ip })).status).toBe(401);
    expect((await admin("/policy", { token: "wrong-10", ip })).status).toBe(429);
    expect((await admin("/policy", { token: "wrong-11", ip })).status).toBe(429);
    expect((await admin("/policy", { ip })).status).toBe(429);
  });

  it("a marker for an older lockout does not lift the one in force", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    const until = await lockOut(ip);
    await env.POLICIES.put(unlockKey(ip), unlockMarker(until - 15 * 60_000));
    expect((await admin("/policy", { token: "wrong-10", ip })).status).toBe(429);
    expect((await admin("/policy", { ip })).status).toBe(429);
  });

  it("a marker lifts its lockout once: read again (KV's delete not yet seen elsewhere), it does not lift the next one", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    const until = await lockOut(ip);
    await env.POLICIES.put(unlockKey(ip), unlockMarker(until));
    expect((await admin("/policy", { ip })).status).toBe(200);
    expect(await lockOut(ip)).toBe(until);
    await env.POLICIES.put(unlockKey(ip), unlockMarker(until));
    expect((await admin("/policy", { token: "wrong-10", ip })).status).toBe(429);
    expect((await admin("/policy", { ip })).status).toBe(429);
  });

  it("POST /unlock removes the lockout record, so no marker is written for a lockout already lifted", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    await lockOut(ip);
    expect((await admin("/unlock", { method: "POST", body: { address: ip } })).status).toBe(200);
    expect(await env.POLICIES.get(lockoutKey(ip))).toBeNull();
  });
});

describe("the lockout store failing", () => {
  it("answers 503 with Retry-After, not 500, and compares nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const failing = {
      getByName: () => ({
        check: () => Promise.reject(new Error("object unavailable")),
        release: () => Promise.reject(new Error("object unavailable")),
      }),
    } as unknown as typeof env.LIMITER;
    const ctx = createExecutionContext();
    const res = await worker.fetch!(
      new Request(`http://api.example.com${PREFIX}/policy`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": uniqueIp() },
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, LIMITER: failing },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(((await res.json()) as { error: string }).error).toBe("lockout_unavailable");
  });

  it("a locked-out address stays locked out (429, not 503) when KV cannot be read for its unlock marker", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) await admin("/policy", { token: `wrong-${i}`, ip });
    const kv = new Proxy(env.POLICIES, {
      get: (target, name) =>
        name === "get" || name === "put"
          ? () => Promise.reject(new Error("KV unavailable"))
          : Reflect.get(target, name, target),
    });
    const ctx = createExecutionContext();
    const res = await worker.fetch!(
      new Request(`http://api.example.com${PREFIX}/policy`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "cf-connecting-ip": ip },
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, POLICIES: kv },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(429);
  });
});

describe("publishes through one writer", () => {
  it("4 concurrent PUTs with the same If-Match: exactly one 200, the others 412, history intact", async () => {
    await admin("/policy", { method: "PUT", body: policy(40) });
    const etag = (await admin("/policy")).headers.get("ETag")!;
    const answers = await Promise.all(
      [41, 42, 43, 44].map((n) => admin("/policy", { method: "PUT", body: policy(n), headers: { "if-match": etag } })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(3);
    const winner = answers[statuses.indexOf(200)]!;
    const { version } = (await winner.json()) as { version: number };
    const stored = JSON.parse((await env.POLICIES.get("policy"))!) as PolicyInput;
    const entry = await readHistoryEntry(env.POLICIES, version);
    expect(JSON.parse(entry!.text)).toEqual(stored);
    expect(await readHistoryEntry(env.POLICIES, version + 1)).toBeNull();
    expect(JSON.parse((await readHistoryEntry(env.POLICIES, version - 1))!.text)).toEqual(policy(40));
  });

  it("4 concurrent PUTs without If-Match: 4 versions in a row, each document in history", async () => {
    const before = (await (await admin("/policy", { method: "PUT", body: policy(50) })).json()) as { version: number };
    const answers = await Promise.all(
      [51, 52, 53, 54].map((n) => admin("/policy", { method: "PUT", body: policy(n) })),
    );
    const versions = await Promise.all(answers.map(async (r) => ((await r.json()) as { version: number }).version));
    expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4].map((d) => before.version + d));
    const texts = await Promise.all(versions.map((v) => readHistoryEntry(env.POLICIES, v)));
    expect(texts.map((e) => JSON.parse(e!.text).rules[0].limits[0].limit).sort()).toEqual([51, 52, 53, 54]);
  });
});
