/**
 * ittyRateLimit() wired in the ways an app may wire it, in workerd with the itty example's
 * bindings: plain Router and AutoRouter, a route that matched nothing, a route that throws,
 * page-size rewriting, a `before` that runs twice.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { AutoRouter, json, Router } from "itty-router";
import { createLimiter, type Env, fixedPolicy, ittyRateLimit, type PolicyInput } from "sluice/itty";
import { describe, expect, it } from "vitest";
import { uniqueIp } from "../../shared/client";

const env = workerEnv as unknown as Env;

/** Calls a router as the runtime would, and waits for its waitUntil work (releases, refunds). */
async function send(
  router: { fetch: (request: Request, env: Env, ctx: ExecutionContext) => Promise<unknown> },
  path: string,
  ip: string,
): Promise<Response> {
  const ctx = createExecutionContext();
  const res = (await router.fetch(
    new Request(`http://api.example.com${path}`, { headers: { "cf-connecting-ip": ip } }),
    env,
    ctx,
  )) as Response | undefined;
  if (res instanceof Response) await res.arrayBuffer().catch(() => {});
  await waitOnExecutionContext(ctx);
  return res as Response;
}

const policy = (rule: PolicyInput["rules"][number]): PolicyInput => ({
  version: 1,
  headers: ["legacy"],
  rules: [rule],
});

describe("ittyRateLimit() with a plain Router", () => {
  it("answers a refusal from before without running the route, and finally leaves it as it is", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "two", key: "ip", limits: [{ limit: 2, window: "1h" }] })),
    });
    let routeRuns = 0;
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/x", () => {
      routeRuns++;
      return new Response("ok");
    });
    const ip = uniqueIp();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(router, "/x", ip)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(routeRuns).toBe(2);
  });

  it("gives the slot back when nothing answered (finally got no Response)", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "one-at-a-time", key: "ip", limits: [{ concurrency: 1 }] })),
    });
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/x", () => new Response("ok"));
    const ip = uniqueIp();
    expect(await send(router, "/nowhere", ip)).toBeUndefined();
    expect((await send(router, "/x", ip)).status).toBe(200);
  });

  it("decides a request once when before runs twice (router stage and route)", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "once", key: "ip", limits: [{ limit: 10, window: "1h" }] })),
    });
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/x", limit.before, (request) => new Response(String(limit.result(request)?.remaining)));
    const ip = uniqueIp();
    const res = await router.fetch(
      new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": ip } }),
      env,
      createExecutionContext(),
    );
    expect(await res.text()).toBe("9");
    expect(res.headers.get("RateLimit-Remaining")).toBe("9");
  });

  it("counts one Request object sent through the router again as a new request", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "again", key: "ip", limits: [{ limit: 2, window: "1h" }] })),
    });
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/x", () => new Response("ok"));
    const request = new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } });
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(((await router.fetch(request, env, createExecutionContext())) as Response).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it("shows the route the clamped page size", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(
        policy({
          id: "pages",
          key: "ip",
          pageSize: { param: "limit", default: 20, max: 100, mode: "clamp" },
          limits: [{ limit: 10, window: "1h" }],
        }),
      ),
    });
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/list", (request) =>
      json({ query: request.query.limit, forwarded: new URL(limit.request(request).url).searchParams.get("limit") }),
    );
    const res = await router.fetch(
      new Request("http://api.example.com/list?limit=5000", { headers: { "cf-connecting-ip": uniqueIp() } }),
      env,
      createExecutionContext(),
    );
    expect(await res.json()).toEqual({ query: "100", forwarded: "100" });
  });

  it("refuses to run without the Worker's ctx, and refuses a limiter with limiter options", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "ctx", key: "ip", limits: [{ limit: 10, window: "1h" }] })),
    });
    const router = Router({ before: [limit.before], finally: [limit.finally] });
    router.get("/x", () => new Response("ok"));
    await expect(router.fetch(new Request("http://api.example.com/x"), env)).rejects.toThrow(/ctx/);
    expect(() => ittyRateLimit({ limiter: createLimiter(), key: () => "k" })).toThrow(TypeError);
  });
});

describe("ittyRateLimit() with AutoRouter", () => {
  it("finishes the response its catch made of a thrown error: a failure, and the slot given back", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy({
        version: 1,
        headers: ["legacy"],
        rules: [
          { id: "boom", key: "ip", count: "failures", continue: true, limits: [{ limit: 2, window: "1h" }] },
          { id: "boom-conc", key: "ip", limits: [{ concurrency: 1 }] },
        ],
      }),
    });
    const router = AutoRouter({ before: [limit.before], finally: [limit.finally] });
    router.get("/boom", () => {
      throw new Error("the route failed");
    });
    const ip = uniqueIp();
    const first = await send(router, "/boom", ip);
    expect(first.status).toBe(500);
    // The headline is the limit with least room: the one concurrency slot, taken by this request.
    expect(first.headers.get("RateLimit-Limit")).toBe("1");
    expect(first.headers.get("RateLimit-Remaining")).toBe("0");
    // The slot came back (else 429 from boom-conc); the failure stayed (one left, then none).
    expect((await send(router, "/boom", ip)).status).toBe(500);
    expect((await send(router, "/boom", ip)).status).toBe(429);
  });

  it("keeps the outcome for the request AutoRouter hands its handlers (a proxy with route params)", async () => {
    const limit = ittyRateLimit({
      policy: fixedPolicy(policy({ id: "proxied", key: "ip", limits: [{ limit: 3, window: "1h" }] })),
    });
    const router = AutoRouter({ before: [limit.before], finally: [limit.finally] });
    router.get("/items/:id", (request) => ({ id: request.id as string, remaining: limit.result(request)?.remaining }));
    const ip = uniqueIp();
    const res = await router.fetch(
      new Request("http://api.example.com/items/42", { headers: { "cf-connecting-ip": ip } }),
      env,
      createExecutionContext(),
    );
    expect(await res.json()).toEqual({ id: "42", remaining: 2 });
    expect(res.headers.get("RateLimit-Remaining")).toBe("2");
  });
});

describe("ittyRateLimit() with an inline limit and skip", () => {
  it("admits the limit-th request per IP, refuses the next, and leaves skipped requests untouched", async () => {
    const limit = ittyRateLimit({
      limit: 2,
      window: "1h",
      key: "ip",
      skip: (request) => new URL(request.url).pathname === "/health",
    });
    const router = AutoRouter({ before: [limit.before], finally: [limit.finally] });
    router.get("/health", () => new Response("ok"));
    router.get("/x", () => new Response("ok"));
    const ip = uniqueIp();
    for (let i = 0; i < 3; i++) {
      const health = await send(router, "/health", ip);
      expect(health.status).toBe(200);
      expect(health.headers.get("RateLimit-Limit")).toBeNull();
    }
    const counted = [];
    for (let i = 0; i < 3; i++) counted.push(await send(router, "/x", ip));
    expect(counted.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(counted.map((r) => r.headers.get("RateLimit-Remaining"))).toEqual(["1", "0", "0"]);
    expect((await send(router, "/health", ip)).status).toBe(200);
  });

  it("checks its options when it is made", () => {
    expect(() => ittyRateLimit({ limit: 2, window: "2 hours" })).toThrow(/^ittyRateLimit\(\): window: /);
    expect(() => ittyRateLimit({ skip: "no" } as never)).toThrow("ittyRateLimit(): skip must be a function");
  });
});
