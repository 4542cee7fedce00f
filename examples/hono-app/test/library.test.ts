/**
 * The library API beyond the example app, in workerd with the Hono example's bindings and
 * "sluice" as a user imports it (the built package): `limiter.limit(key, { rule })` for work
 * that is not an HTTP request, the inline `rateLimit({ limit, window, key })`, `skip`, and
 * `sluiceAdmin()` mounted in one's own app. Each against the real counters (the Durable Object
 * behind isolate leases), with exact boundaries.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { Hono } from "hono";
import {
  createLimiter,
  type Env,
  fixedPolicy,
  KeyCallError,
  type PolicyInput,
  type RateLimitVariables,
  rateLimit,
  sluiceAdmin,
} from "sluice";
import { describe, expect, it } from "vitest";
import { uniqueIp, uniqueTag } from "../../shared/client";

const env = workerEnv as unknown as Env;
type AppEnv = { Bindings: Env; Variables: RateLimitVariables };

/** Calls an app as the runtime would, and waits for its waitUntil work. */
async function send(
  app: Hono<AppEnv>,
  path: string,
  init: { ip?: string; headers?: Record<string, string>; method?: string; body?: string; env?: Env } = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", init.ip ?? "198.51.100.1");
  const res = await app.fetch(
    new Request(`http://api.example.com${path}`, { method: init.method ?? "GET", headers, body: init.body ?? null }),
    init.env ?? env,
    ctx,
  );
  await res.clone().arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

const jobsPolicy: PolicyInput = {
  version: 1,
  headers: ["legacy"],
  rules: [{ id: "jobs", key: "ip", limits: [{ limit: 3, window: "1h" }] }],
};

describe("limiter.limit(key, { rule }): a decision without an HTTP request", () => {
  it("admits the limit-th call and refuses the next, with the documented result", async () => {
    const limiter = createLimiter({ policy: fixedPolicy(jobsPolicy) });
    const key = uniqueTag("user");
    const before = Date.now();
    const results = [];
    for (let i = 0; i < 4; i++) {
      const ctx = createExecutionContext();
      results.push(await limiter.limit(key, { rule: "jobs", env, ctx }));
      await waitOnExecutionContext(ctx);
    }
    expect(results.map((r) => [r.success, r.limit, r.remaining, r.reason])).toEqual([
      [true, 3, 2, "allowed"],
      [true, 3, 1, "allowed"],
      [true, 3, 0, "allowed"],
      [false, 3, 0, "limit"],
    ]);
    // reset: epoch ms when the window has room again, within the hour.
    const refused = results[3]!;
    expect(refused.reset).toBeGreaterThan(before);
    expect(refused.reset).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(refused.rules).toEqual(["jobs"]);
    // Counted in the limiter's stats like requests.
    const counts = limiter.stats.snapshot().map((m) => m.rules.jobs);
    expect(counts.reduce((n, c) => n + (c?.admitted ?? 0), 0)).toBe(3);
    expect(counts.reduce((n, c) => n + (c?.refused ?? 0), 0)).toBe(1);
    // Another key has its own counter, and no ctx is needed.
    expect(await limiter.limit(uniqueTag("user"), { rule: "jobs", env })).toMatchObject({
      success: true,
      remaining: 2,
    });
  });

  it("is exact on a key hot enough to be leased: 100 admitted, the 101st refused", async () => {
    const limiter = createLimiter({
      policy: fixedPolicy({ version: 1, rules: [{ id: "hot", key: "ip", limits: [{ limit: 100, window: "1h" }] }] }),
    });
    const key = uniqueTag("hot");
    let admitted = 0;
    let refusedAt = -1;
    for (let i = 1; i <= 101; i++) {
      const ctx = createExecutionContext();
      const result = await limiter.limit(key, { rule: "hot", env, ctx });
      await waitOnExecutionContext(ctx);
      if (result.success) admitted++;
      else if (refusedAt < 0) refusedAt = i;
    }
    expect(admitted).toBe(100);
    expect(refusedAt).toBe(101);
  });

  it("charges cost units, exactly to the limit", async () => {
    const limiter = createLimiter({
      policy: fixedPolicy({
        version: 1,
        rules: [{ id: "tokens", key: "ip", limits: [{ limit: 10, window: "1h" }] }],
      }),
    });
    const key = uniqueTag("user");
    expect(await limiter.limit(key, { rule: "tokens", cost: 4, env })).toMatchObject({ success: true, remaining: 6 });
    expect(await limiter.limit(key, { rule: "tokens", cost: 6, env })).toMatchObject({ success: true, remaining: 0 });
    expect(await limiter.limit(key, { rule: "tokens", cost: 1, env })).toMatchObject({
      success: false,
      reason: "limit",
    });
  });

  it("shares a counter with the HTTP requests the key hook gives the same value", async () => {
    const limiter = createLimiter({
      policy: fixedPolicy(jobsPolicy),
      key: (request) => request.headers.get("x-user-id") ?? undefined,
    });
    const app = new Hono<AppEnv>();
    app.use("*", rateLimit({ limiter }));
    app.get("/job", (c) => c.text("ok"));
    const user = uniqueTag("user");
    await limiter.limit(user, { rule: "jobs", env });
    await limiter.limit(user, { rule: "jobs", env });
    const third = await send(app, "/job", { headers: { "x-user-id": user } });
    expect(third.status).toBe(200);
    expect(third.headers.get("RateLimit-Remaining")).toBe("0");
    expect(await limiter.limit(user, { rule: "jobs", env })).toMatchObject({ success: false, reason: "limit" });
    expect((await send(app, "/job", { headers: { "x-user-id": user } })).status).toBe(429);
  });

  it("rejects a rule the policy does not have, naming the rules it has", async () => {
    const limiter = createLimiter({ policy: fixedPolicy(jobsPolicy) });
    const call = limiter.limit("u1", { rule: "job", env });
    await expect(call).rejects.toBeInstanceOf(KeyCallError);
    await expect(call).rejects.toThrow('no rule "job" (its rules: jobs)');
  });
});

describe("rateLimit({ limit, window, key }): one limit, no policy document", () => {
  it("admits the limit-th request per IP and refuses the next with a 429", async () => {
    const app = new Hono<AppEnv>();
    app.use("*", rateLimit({ limit: 3, window: "1h", key: "ip" }));
    app.get("/x", (c) => c.json({ remaining: c.get("rateLimit").remaining }));
    const ip = uniqueIp();
    const statuses = [];
    const remaining = [];
    for (let i = 0; i < 4; i++) {
      const res = await send(app, "/x", { ip });
      statuses.push(res.status);
      remaining.push(res.headers.get("RateLimit-Remaining"));
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(remaining).toEqual(["2", "1", "0", "0"]);
    const refused = await send(app, "/x", { ip });
    expect(refused.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(refused.headers.get("RateLimit-Policy")).toBe('"inline-1h";q=3;w=3600');
    expect((await send(app, "/x", { ip: uniqueIp() })).status).toBe(200);
  });

  it("counts by a header, or by a function of the request with the IP as fallback", async () => {
    const byHeader = new Hono<AppEnv>();
    byHeader.use("*", rateLimit({ limit: 1, window: "1h", key: "header:x-api-key" }));
    byHeader.get("/x", (c) => c.text("ok"));
    const apiKey = uniqueTag("key");
    expect((await send(byHeader, "/x", { ip: uniqueIp(), headers: { "x-api-key": apiKey } })).status).toBe(200);
    expect((await send(byHeader, "/x", { ip: uniqueIp(), headers: { "x-api-key": apiKey } })).status).toBe(429);

    const byUser = new Hono<AppEnv>();
    byUser.use(
      "*",
      rateLimit({ limit: 1, window: "1h", key: (request) => request.headers.get("x-user") ?? undefined }),
    );
    byUser.get("/x", (c) => c.text("ok"));
    const user = uniqueTag("user");
    expect((await send(byUser, "/x", { ip: uniqueIp(), headers: { "x-user": user } })).status).toBe(200);
    expect((await send(byUser, "/x", { ip: uniqueIp(), headers: { "x-user": user } })).status).toBe(429);
    const ip = uniqueIp();
    expect((await send(byUser, "/x", { ip })).status).toBe(200);
    expect((await send(byUser, "/x", { ip })).status).toBe(429);
  });

  it("checks its options once, when it is made, naming the option at fault", () => {
    const made = (options: unknown) => () => rateLimit(options as Parameters<typeof rateLimit>[0]);
    expect(made({ limit: 0, window: "1m" })).toThrow(/^rateLimit\(\): limit: /);
    expect(made({ limit: 100, window: "1 minute" })).toThrow(/^rateLimit\(\): window: /);
    expect(made({ limit: 100, window: "1m", key: "ipp" })).toThrow(/^rateLimit\(\): key: /);
    expect(made({ limit: 100, windowMs: 60_000 })).toThrow(
      'rateLimit(): unknown option "windowMs"; did you mean "window"?',
    );
    expect(made({ limit: 100 })).toThrow("an inline limit needs both limit and window");
    expect(made({ limit: 100, window: "1m", policy: fixedPolicy(jobsPolicy) })).toThrow(
      'rateLimit(): "policy" cannot be given with an inline limit',
    );
    expect(made({ policy: jobsPolicy })).toThrow(
      "policy must be a function, not object (wrap a document in fixedPolicy",
    );
    expect(made({ skip: true })).toThrow("rateLimit(): skip must be a function, not boolean");
    expect(made({ limit: 100, window: "1m", skp: () => true })).toThrow('unknown option "skp"; did you mean "skip"?');
  });
});

describe("skip: requests neither counted nor given headers", () => {
  it("passes skipped requests untouched and counts the rest exactly", async () => {
    const app = new Hono<AppEnv>();
    app.use(
      "*",
      rateLimit({
        limit: 2,
        window: "1h",
        // A promise works as well as a boolean.
        skip: async (c) => c.req.path === "/health" || c.req.header("x-internal") === "yes",
      }),
    );
    app.get("/health", (c) => c.json({ decided: c.get("rateLimit") ?? null }));
    app.get("/x", (c) => c.text("ok"));
    const ip = uniqueIp();
    for (let i = 0; i < 5; i++) {
      const res = await send(app, "/health", { ip });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ decided: null });
      expect(res.headers.get("RateLimit-Limit")).toBeNull();
      expect(res.headers.get("RateLimit-Policy")).toBeNull();
    }
    expect((await send(app, "/x", { ip, headers: { "x-internal": "yes" } })).headers.get("RateLimit-Limit")).toBeNull();
    const counted = [];
    for (let i = 0; i < 3; i++) counted.push((await send(app, "/x", { ip })).status);
    expect(counted).toEqual([200, 200, 429]);
    // A skipped request still passes after the limit is reached.
    expect((await send(app, "/health", { ip })).status).toBe(200);
  });

  it("works with a shared limiter and a policy from KV's form too", async () => {
    const limiter = createLimiter({ policy: fixedPolicy(jobsPolicy) });
    const app = new Hono<AppEnv>();
    app.use("*", rateLimit({ limiter, skip: (c) => c.req.method === "OPTIONS" }));
    app.all("/x", (c) => c.text("ok"));
    const ip = uniqueIp();
    for (let i = 0; i < 4; i++) expect((await send(app, "/x", { ip, method: "OPTIONS" })).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(app, "/x", { ip })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe("sluiceAdmin(): the admin API, console and /metrics in one's own app", () => {
  const TOKEN = "library-admin-token-0123456789";
  const adminEnv = { ...env, ADMIN_TOKEN: TOKEN } as Env;
  const auth = { authorization: `Bearer ${TOKEN}` };

  function appWithAdmin(prefix?: string) {
    const limiter = createLimiter();
    const app = new Hono<AppEnv>();
    app.use("*", sluiceAdmin({ limiter, ...(prefix ? { prefix } : {}) }));
    app.use("*", rateLimit({ limiter }));
    app.get("/lib/*", (c) => c.text("ok"));
    return app;
  }

  it("publishes a policy that the app's rateLimit() enforces at once, exactly", async () => {
    const app = appWithAdmin();
    const policy = {
      version: 1,
      headers: ["legacy"],
      rules: [{ id: "lib", match: { paths: ["/lib/*"] }, key: "ip", limits: [{ limit: 2, window: "1h" }] }],
    };
    const put = await send(app, "/__ratelimit/policy", {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(policy),
      env: adminEnv,
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ stored: true });
    const ip = uniqueIp();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(app, "/lib/a", { ip, env: adminEnv })).status);
    expect(statuses).toEqual([200, 200, 429]);
    // Admin calls are not counted by the rate limit mounted after it.
    const got = await send(app, "/__ratelimit/policy", { ip, headers: auth, env: adminEnv });
    expect(got.status).toBe(200);
    expect(JSON.parse(await got.text())).toMatchObject({ rules: [{ id: "lib" }] });
  });

  it("serves /metrics and the console under the prefix, and needs the token", async () => {
    const app = appWithAdmin("/ops/");
    const metrics = await send(app, "/ops/metrics", { headers: auth, env: adminEnv });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toContain("openmetrics");
    expect(new TextDecoder().decode(await metrics.arrayBuffer())).toMatch(/# EOF\n$/);
    const page = await send(app, "/ops/console", { env: adminEnv });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect((await send(app, "/ops/metrics", { env: adminEnv })).status).toBe(401);
    // Without ADMIN_TOKEN the whole API answers 404; other paths go on to the app.
    expect((await send(app, "/ops/metrics", { headers: auth })).status).toBe(404);
    expect((await send(app, "/__ratelimit/metrics", { headers: auth, env: adminEnv })).status).toBe(404);
  });

  it("checks its options when it is made", () => {
    expect(() => sluiceAdmin({} as never)).toThrow("sluiceAdmin(): options.limiter is required");
    expect(() => sluiceAdmin({ limiter: createLimiter(), prefix: "ops" })).toThrow("prefix must be a path");
    expect(() => sluiceAdmin({ limiter: createLimiter(), token: "x" } as never)).toThrow('unknown option "token"');
  });
});
