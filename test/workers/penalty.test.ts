/**
 * The penalty box through the Worker and its Durable Object: a refusal by a
 * rule with a `penalty` keeps the key out past its window's end, Retry-After
 * counts down to the penalty's end, GET /keys shows it, DELETE /keys lifts it.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, callMany, originCount, uniqueIp, uniqueTag, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(path: string, method = "GET"): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    method,
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    ip: uniqueIp(),
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("penalty", () => {
  it("outlasts the window with Retry-After to its end, and DELETE /keys lifts it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2031, 4, 6, 10, 0, 0);
    vi.setSystemTime(start);
    await usePolicy({
      version: 1,
      headers: ["legacy", "ietf"],
      rules: [{ id: "login", key: "ip", penalty: "10m", limits: [{ limit: 3, window: "1m" }] }],
    });
    const ip = uniqueIp();
    expect(await callMany(3, "/login", { ip })).toEqual([200, 200, 200]);

    vi.setSystemTime(start + 20_000);
    const first = await call("/login", { ip });
    expect(first.status).toBe(429);
    expect(first.headers.get("Retry-After")).toBe("600");
    expect(first.headers.get("RateLimit-Reset")).toBe(String((start + 20_000 + 600_000) / 1000));
    const body = (await first.json()) as { retry_after: number };
    expect(body.retry_after).toBe(600);

    // Three windows later the counter has room again; the penalty still refuses, counting down.
    vi.setSystemTime(start + 3 * 60_000);
    const later = await call("/login", { ip });
    await later.arrayBuffer();
    expect(later.status).toBe(429);
    expect(later.headers.get("Retry-After")).toBe(String(600 - 160));
    expect(later.headers.get("RateLimit-Remaining")).toBe("0");

    const shown = (await (await admin(`/keys?rule=login&key=${ip}`)).json()) as {
      penalty?: { until: number; retryAfter: number };
    };
    expect(shown.penalty).toEqual({ until: (start + 620_000) / 1000, retryAfter: 440 });

    // The last millisecond of the penalty still refuses; its end admits.
    vi.setSystemTime(start + 620_000 - 1);
    expect(await callMany(1, "/login", { ip })).toEqual([429]);
    vi.setSystemTime(start + 620_000);
    expect(await callMany(4, "/login", { ip })).toEqual([200, 200, 200, 429]);

    // A fresh penalty, lifted by DELETE /keys: the next request is admitted at once.
    vi.setSystemTime(start + 620_000 + 1000);
    expect(await callMany(1, "/login", { ip })).toEqual([429]);
    const reset = await admin(`/keys?rule=login&key=${ip}`, "DELETE");
    expect(reset.status).toBe(200);
    const after = (await (await admin(`/keys?rule=login&key=${ip}`)).json()) as { penalty?: unknown };
    expect(after.penalty).toBeUndefined();
    expect(await callMany(4, "/login", { ip })).toEqual([200, 200, 200, 429]);
  });

  it("boxes a brute-force login by failures: even a right password waits out the penalty, and the origin sees none of it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2031, 4, 7, 10, 0, 0);
    vi.setSystemTime(start);
    await usePolicy({
      version: 1,
      rules: [
        {
          id: "login",
          match: { paths: ["/login"] },
          key: "body:email",
          count: "failures",
          penalty: "15m",
          limits: [{ limit: 3, window: "1m" }],
        },
      ],
    });
    const email = `${uniqueTag("user")}@example.com`;
    const tag = uniqueTag("login");
    const attempt = async (status: number) => {
      const res = await call("/login", {
        method: "POST",
        ip: uniqueIp(), // a botnet: every attempt from another address
        headers: { "content-type": "application/json", "x-test-status": String(status), "x-test-tag": tag },
        body: JSON.stringify({ email, password: "guess" }),
      });
      await res.arrayBuffer();
      return res;
    };
    for (let i = 0; i < 3; i++) expect((await attempt(401)).status).toBe(401);
    const boxed = await attempt(401);
    expect(boxed.status).toBe(429);
    expect(boxed.headers.get("Retry-After")).toBe("900");

    vi.setSystemTime(start + 5 * 60_000); // the window has rolled five times over
    const rightPassword = await attempt(200);
    expect(rightPassword.status).toBe(429);
    expect(rightPassword.headers.get("Retry-After")).toBe("600");
    expect(await originCount(tag)).toBe(3);

    vi.setSystemTime(start + 15 * 60_000);
    expect((await attempt(200)).status).toBe(200);
    expect(await originCount(tag)).toBe(4);
  });

  it("is held in the key's object: it survives the object's restart", async () => {
    const stub = env.LIMITER.getByName(`ip:${uniqueIp()}`);
    const spec = { name: "login-1m", algorithm: "fixed" as const, limit: 1, windowMs: 60_000, cost: 1 };
    const penalty = { name: "login:penalty", counters: ["login-1m"], durationMs: 3_600_000 };
    expect((await stub.check({ counters: [spec], penalties: [penalty] })).allowed).toBe(true);
    const refused = await stub.check({ counters: [spec], penalties: [penalty] });
    expect(refused.allowed).toBe(false);
    const until = refused.counters[0]!.result.penaltyUntil!;
    await evictDurableObject(stub);
    const after = await stub.check({ counters: [spec], penalties: [penalty] });
    expect(after.allowed).toBe(false);
    expect(after.counters[0]!.result.penaltyUntil).toBe(until);
    expect((await stub.inspect([spec], ["login:penalty"])).penalties).toEqual([{ name: "login:penalty", until }]);
  });

  it("is refused by validation when it is not a duration", async () => {
    const res = await call(`${PREFIX}/policy/validate`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: JSON.stringify({
        version: 1,
        rules: [{ id: "login", penalty: "ten minutes", limits: [{ limit: 3, window: "1m" }] }],
      }),
      ip: uniqueIp(),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string }> };
    expect(body.errors.map((e) => e.path)).toEqual(["rules[0].penalty"]);
  });
});
