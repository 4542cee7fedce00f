/**
 * Every kind of limit of the rule language, through the Worker: concurrency,
 * failures-only counting, token bucket, day windows, keys from the request,
 * cost, continue, bypass, block, shadow and page size.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, callMany, originCount, releaseHeld, uniqueIp, uniqueTag, usePolicy } from "../support/client";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function statusesOf(responses: Response[]): Promise<number[]> {
  return Promise.all(
    responses.map(async (r) => {
      await r.arrayBuffer();
      return r.status;
    }),
  );
}

/** Retries `probe` until it returns true or ~3 s pass (a slot's release runs after the response, in waitUntil). */
async function eventually(probe: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe("concurrency", () => {
  const policy: PolicyInput = {
    version: 1,
    headers: ["legacy", "ietf"],
    rules: [{ id: "conc", key: "ip", limits: [{ concurrency: 2 }] }],
  };

  it("admits exactly N in flight, and gives a slot back when the body has been sent", async () => {
    await usePolicy(policy);
    const ip = uniqueIp();
    const [a, b] = [uniqueTag("hold"), uniqueTag("hold")];
    const first = await call(`/hold?id=${a}`, { ip });
    const second = await call(`/hold?id=${b}`, { ip });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get("RateLimit-Remaining")).toBe("0");

    const third = await call("/quick", { ip });
    await third.arrayBuffer();
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);

    // The first response has its headers but not its whole body: the slot is still held.
    const reader = first.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
    const stillHeld = await call("/quick", { ip });
    await stillHeld.arrayBuffer();
    expect(stillHeld.status).toBe(429);

    await releaseHeld(a);
    while (!(await reader.read()).done);
    expect(
      await eventually(async () => {
        const r = await call("/quick", { ip });
        await r.arrayBuffer();
        return r.status === 200;
      }),
    ).toBe(true);
    await releaseHeld(b);
    await second.arrayBuffer();
  });

  it("admits exactly N of many parallel requests held open", async () => {
    await usePolicy({ version: 1, rules: [{ id: "conc5", key: "ip", limits: [{ concurrency: 5 }] }] });
    const ip = uniqueIp();
    const ids = Array.from({ length: 12 }, () => uniqueTag("hold"));
    const responses = await Promise.all(ids.map((id) => call(`/hold?id=${id}`, { ip })));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(5);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(7);
    await Promise.all(ids.map((id) => releaseHeld(id)));
    await statusesOf(responses);
  });

  it("expires a slot whose release never comes after 60 s", async () => {
    await usePolicy({ version: 1, rules: [{ id: "lost", key: "ip", limits: [{ concurrency: 1 }] }] });
    const ip = uniqueIp();
    const held = uniqueTag("hold");
    const first = await call(`/hold?id=${held}`, { ip });
    expect(first.status).toBe(200);
    const refused = await call("/q", { ip });
    await refused.arrayBuffer();
    expect(refused.status).toBe(429);
    // The client vanished without the body ending and the release was lost: move the lease's
    // expiry 60 s into the past, as if that time had passed, and restart the object.
    const stub = env.LIMITER.getByName(`ip:${ip}`);
    await runInDurableObject(stub, (_instance, state) => {
      const row = state.storage.sql
        .exec<{ state: string }>("SELECT state FROM counters WHERE name = 'lost-conc'")
        .one();
      const s = JSON.parse(row.state) as { leases: Array<{ id: string; expiresAt: number }> };
      expect(s.leases).toHaveLength(1);
      s.leases[0]!.expiresAt = Date.now() - 1;
      state.storage.sql.exec("UPDATE counters SET state = ? WHERE name = 'lost-conc'", JSON.stringify(s));
    });
    await evictDurableObject(stub);
    const after = await call("/q", { ip });
    await after.arrayBuffer();
    expect(after.status).toBe(200);
    await releaseHeld(held);
    await first.arrayBuffer();
  });
});

describe("failures-only counting", () => {
  const login = (limit: number): PolicyInput => ({
    version: 1,
    rules: [
      {
        id: "login",
        match: { paths: ["/status/*"] },
        key: "ip",
        count: "failures",
        limits: [{ limit, window: "15m" }],
      },
    ],
  });

  it("never uses the limit up with successes, and refuses the failure after the limit", async () => {
    await usePolicy(login(3));
    const ip = uniqueIp();
    for (let i = 0; i < 6; i++) {
      const ok = await call("/status/200", { ip });
      await ok.arrayBuffer();
      expect(ok.status).toBe(200);
      expect(ok.headers.get("RateLimit-Remaining")).toBe("3");
    }
    const fails = await callMany(3, "/status/401", { ip });
    expect(fails).toEqual([401, 401, 401]);
    const refused = await call("/status/401", { ip });
    await refused.arrayBuffer();
    expect(refused.status).toBe(429);
    // Once failures used it up, a success is refused too: the limit is on attempts while failures are over it.
    const blocked = await call("/status/200", { ip });
    await blocked.arrayBuffer();
    expect(blocked.status).toBe(429);
  });

  it("admits at most 50 of 100 concurrent failing logins", async () => {
    await usePolicy(login(50));
    const ip = uniqueIp();
    const tag = uniqueTag();
    const statuses = await statusesOf(
      await Promise.all(Array.from({ length: 100 }, () => call("/status/401", { ip, headers: { "x-test-tag": tag } }))),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50);
    expect(await originCount(tag)).toBe(50);
  });

  it("never admits more failures than the limit when failing and succeeding logins race", async () => {
    await usePolicy(login(20));
    const ip = uniqueIp();
    const paths = Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? "/status/401" : "/status/200"));
    const statuses = await statusesOf(await Promise.all(paths.map((p) => call(p, { ip }))));
    const failuresAdmitted = statuses.filter((s) => s === 401).length;
    expect(failuresAdmitted).toBeLessThanOrEqual(20);
    expect(failuresAdmitted).toBeGreaterThan(0);
    // Successes gave their charges back; wait for the refunds, then the room left is exactly limit - failures.
    expect(
      await eventually(async () => {
        const r = await call("/status/204", { ip });
        await r.arrayBuffer();
        return r.headers.get("RateLimit-Remaining") === String(20 - failuresAdmitted);
      }),
    ).toBe(true);
  });
});

describe("token bucket", () => {
  it("admits a burst, then refills at the rate", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00.000Z"));
    await usePolicy({
      version: 1,
      headers: ["legacy", "ietf"],
      rules: [{ id: "bucket", key: "ip", limits: [{ limit: 20, window: "1s", algorithm: "token-bucket", burst: 40 }] }],
    });
    const ip = uniqueIp();
    const statuses = await statusesOf(await Promise.all(Array.from({ length: 41 }, () => call("/b", { ip }))));
    expect(statuses.filter((s) => s === 200)).toHaveLength(40);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    vi.setSystemTime(new Date("2030-01-01T00:00:00.049Z"));
    expect(await callMany(1, "/b", { ip })).toEqual([429]);
    vi.setSystemTime(new Date("2030-01-01T00:00:00.050Z"));
    expect(await callMany(2, "/b", { ip })).toEqual([200, 429]);
    vi.setSystemTime(new Date("2030-01-01T00:00:01.050Z"));
    expect(await callMany(21, "/b", { ip })).toEqual([...Array(20).fill(200), 429]);
  });
});

describe("day windows", () => {
  it("are aligned to 00:00 UTC, with RateLimit-Reset at the next midnight", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-03-04T23:59:58.000Z"));
    await usePolicy({ version: 1, rules: [{ id: "daily", key: "ip", limits: [{ limit: 2, window: "1d" }] }] });
    const ip = uniqueIp();
    const first = await call("/d", { ip });
    await first.arrayBuffer();
    expect(first.headers.get("RateLimit-Reset")).toBe(String(Date.UTC(2030, 2, 5) / 1000));
    expect(await callMany(2, "/d", { ip })).toEqual([200, 429]);
    const refused = await call("/d", { ip });
    await refused.arrayBuffer();
    expect(refused.headers.get("Retry-After")).toBe("2");
    vi.setSystemTime(new Date("2030-03-05T00:00:00.000Z"));
    const next = await call("/d", { ip });
    await next.arrayBuffer();
    expect(next.status).toBe(200);
    expect(next.headers.get("RateLimit-Remaining")).toBe("1");
    expect(next.headers.get("RateLimit-Reset")).toBe(String(Date.UTC(2030, 2, 6) / 1000));
  });
});

describe("keys from the request", () => {
  const forgot: PolicyInput = {
    version: 1,
    rules: [
      {
        id: "forgot",
        match: { methods: ["POST"], paths: ["/forgot"] },
        key: "body:email",
        limits: [{ limit: 2, window: "15m" }],
      },
    ],
  };
  const json = (body: unknown) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

  it("counts per email address across IPs, whatever its case, and leaves the body intact for the origin", async () => {
    await usePolicy(forgot);
    const email = `${uniqueTag("user")}@Example.com`;
    const a = await call("/forgot", { ip: uniqueIp(), ...json({ email }) });
    expect(a.status).toBe(200);
    expect(((await a.json()) as { body: string }).body).toBe(JSON.stringify({ email }));
    expect(await callMany(1, "/forgot", { ip: uniqueIp(), ...json({ email: email.toLowerCase() }) })).toEqual([200]);
    expect(await callMany(1, "/forgot", { ip: uniqueIp(), ...json({ email: email.toUpperCase() }) })).toEqual([429]);
    expect(await callMany(1, "/forgot", { ip: uniqueIp(), ...json({ email: `other-${email}` }) })).toEqual([200]);
  });

  it("reads a form body too", async () => {
    await usePolicy(forgot);
    const email = `${uniqueTag("form")}@example.com`;
    const form = {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email }).toString(),
    };
    expect(await callMany(3, "/forgot", { ip: uniqueIp(), ...form })).toEqual([200, 200, 429]);
  });

  it("counts by IP a body that lacks the field, reads one over 16 KiB, refuses one that is not JSON, and forwards it whole", async () => {
    await usePolicy(forgot);
    const ip = uniqueIp();
    const email = `${uniqueTag("big")}@example.com`;
    const big = JSON.stringify({ email, pad: "x".repeat(20 * 1024) });
    const r1 = await call("/forgot", {
      ip,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "not json at all",
    });
    // Sluice cannot read the key of a body that says JSON and is not: the rule's default is to refuse it.
    expect(r1.status).toBe(400);
    expect(await r1.json()).toMatchObject({ code: "BODY_KEY_UNREADABLE", rule: "forgot" });
    const r2 = await call("/forgot", { ip, ...json({ name: "no email here" }) });
    await r2.arrayBuffer();
    expect(r2.headers.get("RateLimit-Remaining")).toBe("1");
    // A body of 20 KiB is read (the default bodyKey.maxBytes is 64 KiB): counted by its address, not the IP.
    for (const expected of [200, 200, 429]) {
      const res = await call("/forgot", {
        ip: uniqueIp(),
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      expect(res.status).toBe(expected);
      if (expected === 200) expect(((await res.json()) as { body: string }).body.length).toBe(big.length);
      else await res.arrayBuffer();
    }
  });

  it("reads a chunked body without a length", async () => {
    await usePolicy(forgot);
    const email = `${uniqueTag("chunked")}@example.com`;
    const text = JSON.stringify({ email });
    const chunked = () =>
      new ReadableStream({
        start(c) {
          const bytes = new TextEncoder().encode(text);
          c.enqueue(bytes.slice(0, 5));
          c.enqueue(bytes.slice(5));
          c.close();
        },
      });
    for (const expected of [200, 200, 429]) {
      const res = await call("/forgot", {
        ip: uniqueIp(),
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chunked(),
      });
      expect(res.status).toBe(expected);
      if (expected === 200) expect(((await res.json()) as { body: string }).body).toBe(text);
      else await res.arrayBuffer();
    }
  });

  it("keys by a header or a query parameter, hashed, falling back to the IP", async () => {
    await usePolicy({
      version: 1,
      rules: [
        { id: "by-header", match: { paths: ["/h"] }, key: "header:x-user", limits: [{ limit: 1, window: "15m" }] },
        { id: "by-query", match: { paths: ["/q"] }, key: "query:token", limits: [{ limit: 1, window: "15m" }] },
      ],
    });
    const user = uniqueTag("u");
    expect(await callMany(1, "/h", { ip: uniqueIp(), headers: { "x-user": user } })).toEqual([200]);
    expect(await callMany(1, "/h", { ip: uniqueIp(), headers: { "x-user": user } })).toEqual([429]);
    const token = uniqueTag("tok");
    expect(await callMany(1, `/q?token=${token}`, { ip: uniqueIp() })).toEqual([200]);
    expect(await callMany(1, `/q?token=${token}`, { ip: uniqueIp() })).toEqual([429]);
    const ip = uniqueIp();
    expect(await callMany(2, "/q", { ip })).toEqual([200, 429]);
    // No raw value is used as an object name.
    const ids = await import("cloudflare:test").then((t) => t.listDurableObjectIds(env.LIMITER));
    expect(ids.some((id) => id.name?.includes(user) || id.name?.includes(token))).toBe(false);
  });
});

describe("cost, continue, bypass, block, shadow", () => {
  it("charges a rule's cost per request", async () => {
    await usePolicy({
      version: 1,
      rules: [{ id: "costly", key: "ip", cost: 2, limits: [{ limit: 5, window: "15m" }] }],
    });
    const ip = uniqueIp();
    expect(await callMany(3, "/c", { ip })).toEqual([200, 200, 429]);
  });

  it("stacks rules with continue: a daily quota over a per-group limit, and a refused request charges neither", async () => {
    await usePolicy({
      version: 1,
      headers: ["legacy", "ietf"],
      rules: [
        { id: "quota", key: "ip", continue: true, limits: [{ limit: 4, window: "1d" }] },
        { id: "group", match: { paths: ["/g/*"] }, key: "ip", limits: [{ limit: 2, window: "15m" }] },
      ],
    });
    const ip = uniqueIp();
    const first = await call("/g/1", { ip });
    await first.arrayBuffer();
    expect(first.headers.get("RateLimit")).toMatch(/"quota-1d";r=3;t=\d+, "group-15m";r=1;t=\d+/);
    expect(first.headers.get("RateLimit-Policy")).toContain('"quota-1d"');
    expect(first.headers.get("RateLimit-Policy")).toContain('"group-15m"');
    expect(first.headers.get("RateLimit-Limit")).toBe("2"); // the one with least room
    expect(await callMany(2, "/g/1", { ip })).toEqual([200, 429]);
    // The refused one did not charge the quota: two more fit outside the group.
    expect(await callMany(3, "/other", { ip })).toEqual([200, 200, 429]);
  });

  it("bypasses websocket upgrades: no counting, no headers", async () => {
    await usePolicy({
      version: 1,
      rules: [
        { id: "ws", match: { headers: { upgrade: "websocket" } }, action: "bypass" },
        { id: "all", key: "ip", limits: [{ limit: 1, window: "15m" }] },
      ],
    });
    const ip = uniqueIp();
    for (let i = 0; i < 3; i++) {
      const res = await call("/ws", { ip, headers: { upgrade: "WebSocket" } });
      await res.arrayBuffer();
      expect(res.headers.get("RateLimit-Limit")).toBeNull();
      expect(res.status).not.toBe(429);
    }
    expect(await callMany(2, "/x", { ip })).toEqual([200, 429]);
  });

  it("blocks an IP range with 403 and a JSON body, before the origin", async () => {
    await usePolicy({
      version: 1,
      rules: [
        { id: "deny", match: { ips: ["203.0.113.0/24", "2001:db8::/32"] }, action: "block" },
        { id: "all", key: "ip", limits: [{ limit: 100, window: "15m" }] },
      ],
    });
    const tag = uniqueTag();
    for (const ip of ["203.0.113.9", "2001:db8:1:2::7", "::ffff:203.0.113.10"]) {
      const res = await call("/x", { ip, headers: { "x-test-tag": tag } });
      expect(res.status, ip).toBe(403);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(((await res.json()) as { code: string }).code).toBe("BLOCKED");
    }
    expect(await originCount(tag)).toBe(0);
    expect(await callMany(1, "/x", { ip: "203.0.114.9" })).toEqual([200]);
  });

  it("in shadow mode counts and sends headers, never refuses, and logs each would-be refusal as one JSON line", async () => {
    await usePolicy({
      version: 1,
      rules: [{ id: "trial", key: "ip", mode: "shadow", limits: [{ limit: 2, window: "15m" }] }],
    });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const ip = uniqueIp();
    expect(await callMany(2, "/s", { ip })).toEqual([200, 200]);
    expect(warn.mock.calls.filter((c) => String(c[0]).includes("shadow_refused"))).toHaveLength(0);
    const third = await call("/s", { ip });
    await third.arrayBuffer();
    expect(third.status).toBe(200);
    expect(third.headers.get("RateLimit-Remaining")).toBe("0");
    const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("shadow_refused"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      event: "request.shadow_refused",
      rule: "trial",
      policy: "trial-15m",
      limit: 2,
    });
  });
});

describe("page size", () => {
  const policy = (mode: "clamp" | "reject"): PolicyInput => ({
    version: 1,
    rules: [
      {
        id: "units",
        match: { methods: ["GET"], paths: ["/units"] },
        key: "ip",
        pageSize: { param: "size", default: 20, max: 1000, mode },
        limits: [{ limit: 100, window: "1m" }],
      },
    ],
  });
  const seenQuery = async (res: Response) => ((await res.json()) as { query: Record<string, string> }).query;

  it("adds the default when absent and clamps to max", async () => {
    await usePolicy(policy("clamp"));
    const ip = uniqueIp();
    expect(await seenQuery(await call("/units", { ip }))).toEqual({ size: "20" });
    expect(await seenQuery(await call("/units?size=5000&x=1", { ip }))).toEqual({ size: "1000", x: "1" });
    expect(await seenQuery(await call("/units?size=50", { ip }))).toEqual({ size: "50" });
    expect(await seenQuery(await call("/units?size=abc", { ip }))).toEqual({ size: "20" });
  });

  it("refuses an oversized page with 400 in reject mode, without counting it", async () => {
    await usePolicy(policy("reject"));
    const ip = uniqueIp();
    const bad = await call("/units?size=1001", { ip });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("INVALID_PAGE_SIZE");
    const ok = await call("/units?size=1000", { ip });
    expect(ok.headers.get("RateLimit-Remaining")).toBe("99");
    expect(await seenQuery(ok)).toEqual({ size: "1000" });
  });
});

describe("WebSocket upgrades on a limited rule", () => {
  it("keep their socket: finish() passes a 101 on with the headers and gives the slot back", async () => {
    const { createLimiter } = await import("../../src/adapters/workers/limiter");
    const { validatePolicy } = await import("../../src/policy/validate");
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const checked = validatePolicy({
      version: 1,
      headers: ["legacy"],
      rules: [{ id: "ws-conc", key: "ip", limits: [{ concurrency: 1 }] }],
    });
    if (!checked.ok) throw new Error("policy should validate");
    const limiter = createLimiter({ policy: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) });
    const ip = uniqueIp();
    const request = () =>
      new Request("http://api.example.com/socket", { headers: { "cf-connecting-ip": ip, upgrade: "websocket" } });
    const ctx = createExecutionContext();
    const outcome = await limiter.limit(request(), env, ctx);
    expect(outcome.response).toBeUndefined();
    const pair = new WebSocketPair();
    const upgraded = outcome.finish(new Response(null, { status: 101, webSocket: pair[0] }));
    expect(upgraded.status).toBe(101);
    expect(upgraded.webSocket).toBe(pair[0]);
    expect(upgraded.headers.get("RateLimit-Limit")).toBe("1");
    await waitOnExecutionContext(ctx);
    const next = await limiter.limit(request(), env, createExecutionContext());
    expect(next.response).toBeUndefined();
  });
});
