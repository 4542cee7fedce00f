/**
 * End to end: a real `wrangler dev` (workerd, the SQLite Durable Object, local KV) driven over
 * real HTTP by Node's fetch, in front of the loopback origin.
 *
 * `wrangler dev` sets CF-Connecting-IP itself from the socket, so every request here is the one
 * client 127.0.0.1 and shares its counters: the tests below run in order and count exactly.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseList } from "structured-headers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PREFIX, adminToken, bearer } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import {
  freePort,
  PROJECT_ROOT,
  roomInWindow,
  sluiceVars,
  startNpmRunDev,
  startWranglerDev,
  type WranglerDev,
} from "../support/wrangler-dev";

const TOKEN = adminToken("e2e-admin");

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers, redirect: "manual" });
}

function ietfItems(header: string | null): Array<{ name: unknown; params: Record<string, unknown> }> {
  expect(header).not.toBeNull();
  return parseList(header!).map(([value, params]) => ({ name: value, params: Object.fromEntries(params) }));
}

describe("wrangler dev in front of the loopback origin", () => {
  let origin: OriginServer;
  let dev: WranglerDev;
  let admin: string;
  const auth = bearer(TOKEN);

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
    admin = `${dev.url}${ADMIN_PREFIX}`;
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  it("forwards to ORIGIN (its colons intact) under the built-in policy: 300 admitted, the 301st refused", async () => {
    const tag = `default-${Date.now()}`;
    const refusedTag = `${tag}-refused`;
    // 300 requests take a few seconds; keep them in one minute window.
    await roomInWindow(60_000, 15_000);

    const first = await get(`${dev.url}/e2e/first?n=1`, { "x-test-tag": tag });
    expect(first.status).toBe(200);
    // It came from the loopback origin, so ORIGIN arrived as http://127.0.0.1:<port>.
    expect(first.headers.get("x-origin")).toBe("loopback");
    const echoed = (await first.json()) as { method: string; path: string; query: Record<string, string> };
    expect(echoed).toMatchObject({ method: "GET", path: "/e2e/first", query: { n: "1" } });

    expect(first.headers.get("RateLimit-Limit")).toBe("300");
    expect(first.headers.get("RateLimit-Remaining")).toBe("299");
    const reset = Number(first.headers.get("RateLimit-Reset"));
    expect(reset % 60).toBe(0);
    expect(reset * 1000).toBeGreaterThan(Date.now());
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 61_000);
    expect(ietfItems(first.headers.get("RateLimit-Policy"))).toEqual([
      { name: "default-1m", params: { q: 300, w: 60 } },
    ]);
    const state = ietfItems(first.headers.get("RateLimit"));
    expect(state).toHaveLength(1);
    expect(state[0]!.name).toBe("default-1m");
    expect(state[0]!.params.r).toBe(299);
    expect(state[0]!.params.t).toBeGreaterThanOrEqual(0);
    expect(state[0]!.params.t).toBeLessThanOrEqual(60);
    // Built-in policy: legacy + ietf only.
    expect(first.headers.get("X-RateLimit-Limit")).toBeNull();

    // Requests 2..299, ten at a time: each is admitted and gets its own remaining value.
    const remaining: number[] = [];
    for (let sent = 1; sent < 299; ) {
      const batch = Math.min(10, 299 - sent);
      const responses = await Promise.all(
        Array.from({ length: batch }, () => get(`${dev.url}/e2e/burst`, { "x-test-tag": tag })),
      );
      for (const res of responses) {
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        expect(res.headers.get("RateLimit-Reset")).toBe(String(reset));
        remaining.push(Number(res.headers.get("RateLimit-Remaining")));
      }
      sent += batch;
    }
    expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: 298 }, (_, i) => i + 1));

    const r300 = await get(`${dev.url}/e2e/300`, { "x-test-tag": tag });
    await r300.arrayBuffer();
    expect(r300.status).toBe(200);
    expect(r300.headers.get("RateLimit-Remaining")).toBe("0");
    expect(r300.headers.get("RateLimit-Reset")).toBe(String(reset));

    const r301 = await get(`${dev.url}/e2e/301`, { "x-test-tag": refusedTag });
    expect(r301.status).toBe(429);
    expect(r301.headers.get("Cache-Control")).toBe("no-store");
    expect(r301.headers.get("Content-Type")).toContain("application/json");
    expect(r301.headers.get("RateLimit-Limit")).toBe("300");
    expect(r301.headers.get("RateLimit-Remaining")).toBe("0");
    expect(r301.headers.get("RateLimit-Reset")).toBe(String(reset));
    const retryAfter = Number(r301.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Math.abs(reset - Date.now() / 1000 - retryAfter)).toBeLessThanOrEqual(2);
    expect(ietfItems(r301.headers.get("RateLimit"))[0]!.params.r).toBe(0);
    expect(await r301.json()).toEqual({
      success: false,
      error: "Too many requests",
      code: "RATE_LIMIT_EXCEEDED",
      message:
        "You have exceeded the maximum number of requests allowed (300 requests per 1 minute). Please try again later.",
      retry_after: retryAfter,
      limit: 300,
      window: "1 minute",
    });

    // The origin saw exactly the 300 admitted requests and never the refused one.
    expect(origin.count(tag)).toBe(300);
    expect(origin.count(refusedTag)).toBe(0);
  });

  it("puts a policy published through the admin API in force at once", async () => {
    const policy = {
      version: 1,
      headers: ["legacy", "x"],
      rules: [{ id: "tight", key: "ip", limits: [{ limit: 3, window: "1h" }] }],
    };
    const text = JSON.stringify(policy, null, 2);

    // A wrong token changes nothing.
    const denied = await fetch(`${admin}/policy`, {
      method: "PUT",
      headers: { authorization: "Bearer wrong" },
      body: text,
    });
    expect(denied.status).toBe(401);
    const before = await fetch(`${admin}/policy`, { headers: auth });
    expect(before.headers.get("X-Sluice-Policy-Source")).toBe("builtin");
    await before.arrayBuffer();

    const put = await fetch(`${admin}/policy`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: text,
    });
    expect(put.status).toBe(200);
    const stored = (await put.json()) as { stored: boolean; etag: string };
    expect(stored.stored).toBe(true);
    expect(put.headers.get("ETag")).toBe(stored.etag);

    const inForce = await fetch(`${admin}/policy`, { headers: auth });
    expect(await inForce.text()).toBe(text);
    expect(inForce.headers.get("ETag")).toBe(stored.etag);

    // This counter is counted on in the next test too.
    await roomInWindow(3_600_000, 60_000);
    const tag = `tight-${Date.now()}`;
    for (const left of [2, 1, 0]) {
      const res = await get(`${dev.url}/e2e/tight`, { "x-test-tag": tag });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      expect(res.headers.get("RateLimit-Limit")).toBe("3");
      expect(res.headers.get("RateLimit-Remaining")).toBe(String(left));
      expect(res.headers.get("X-RateLimit-Limit")).toBe("3");
      // This policy asks for legacy + x: no ietf.
      expect(res.headers.get("RateLimit-Policy")).toBeNull();
    }
    const refused = await get(`${dev.url}/e2e/tight`, { "x-test-tag": tag });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { limit: unknown; window: unknown };
    expect(body.limit).toBe(3);
    expect(body.window).toBe("1 hour");
    expect(origin.count(tag)).toBe(3);
  });

  it("refuses a bad policy with 400 and {path, message} errors, and keeps the old one in force", async () => {
    const inForce = await fetch(`${admin}/policy`, { headers: auth });
    const oldText = await inForce.text();
    const oldEtag = inForce.headers.get("ETag");
    expect(JSON.parse(oldText).rules[0].id).toBe("tight");

    const bad = {
      version: 1,
      rules: [{ id: "loose", key: "ip", colour: "red", limits: [{ limit: 1000, window: "5 minutes" }] }],
    };
    const res = await fetch(`${admin}/policy`, { method: "PUT", headers: auth, body: JSON.stringify(bad) });
    expect(res.status).toBe(400);
    const problem = (await res.json()) as { error: string; errors: Array<{ path: string; message: string }> };
    expect(problem.error).toBe("invalid_policy");
    for (const e of problem.errors) {
      expect(Object.keys(e).sort()).toEqual(["message", "path"]);
      expect(typeof e.message).toBe("string");
    }
    expect(problem.errors.map((e) => e.path).sort()).toEqual(["rules[0].colour", "rules[0].limits[0].window"]);
    expect(problem.errors.find((e) => e.path === "rules[0].colour")!.message).toBe("unknown field");

    const notJson = await fetch(`${admin}/policy`, { method: "PUT", headers: auth, body: "{ not json" });
    expect(notJson.status).toBe(400);
    const notJsonProblem = (await notJson.json()) as { errors: Array<{ path: string; message: string }> };
    expect(notJsonProblem.errors).toHaveLength(1);
    expect(notJsonProblem.errors[0]!.path).toBe("");
    expect(notJsonProblem.errors[0]!.message).toMatch(/^invalid JSON/);

    const after = await fetch(`${admin}/policy`, { headers: auth });
    expect(await after.text()).toBe(oldText);
    expect(after.headers.get("ETag")).toBe(oldEtag);
    // The "tight" counter is still spent: the old policy is what answers.
    const still = await get(`${dev.url}/e2e/tight`);
    expect(still.status).toBe(429);
    expect(still.headers.get("RateLimit-Limit")).toBe("3");
    await still.arrayBuffer();
  });
});

describe("npm run dev -- --port N (built-in echo origin)", () => {
  let dev: WranglerDev;

  beforeAll(async () => {
    const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const words = pkg.scripts.dev!.trim().split(/\s+/);
    // `wrangler dev ... --var ORIGIN:builtin:echo`, run as a user would: `npm run dev -- --port N`
    // (the script fixes no port of its own, so a port given after `--` is the only one).
    expect(words.slice(0, 2)).toEqual(["wrangler", "dev"]);
    expect(words).toContain("ORIGIN:builtin:echo");
    expect(words).not.toContain("--port");
    dev = await startNpmRunDev("sluice-e2e-echo");
  });

  afterAll(async () => {
    await dev?.stop();
  });

  it("answers with a JSON echo of the request and the rate-limit headers", async () => {
    await roomInWindow(60_000, 5_000);
    const res = await fetch(`${dev.url}/hello/world?greeting=hi`, { headers: { authorization: "Bearer secret-key" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toContain("application/json");
    const body = (await res.json()) as {
      echo: boolean;
      method: string;
      path: string;
      query: Record<string, string>;
      headers: Record<string, string>;
    };
    expect(body).toMatchObject({ echo: true, method: "GET", path: "/hello/world", query: { greeting: "hi" } });
    // The echo never hands a credential back.
    expect(body.headers.authorization).toBe("[redacted]");
    expect(res.headers.get("RateLimit-Limit")).toBe("300");
    expect(res.headers.get("RateLimit-Remaining")).toBe("299");
    expect(ietfItems(res.headers.get("RateLimit-Policy"))).toEqual([{ name: "default-1m", params: { q: 300, w: 60 } }]);
    expect(ietfItems(res.headers.get("RateLimit"))[0]!.params.r).toBe(299);
  });
});
