/**
 * The object's leasing calls through the Workers runtime: a lease is charged
 * and stored before it is answered (a restarted object does not lend the
 * same room again), given back once, shown by `inspect`, and kept charged
 * through a reset.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CounterSpec } from "../../src/limiter/types";
import { call, uniqueIp, uniqueTag, usePolicy } from "../support/client";

// A day window: the few seconds of a test do not cross a window's end (unless run at midnight UTC).
const day: CounterSpec = { name: "api-1d", algorithm: "fixed", limit: 200, windowMs: 86_400_000, cost: 1 };
const login: CounterSpec = { name: "login-15m", algorithm: "fixed", limit: 50, windowMs: 900_000, cost: 1 };

/** Plain checks until one is refused. */
async function admitAll(name: string, specs: CounterSpec[]): Promise<number> {
  const stub = env.LIMITER.getByName(name);
  for (let n = 0; ; n++) {
    const { allowed } = await stub.check({ counters: specs });
    if (!allowed) return n;
  }
}

describe("leased quota in the object", () => {
  it("decides the request and lends room with it, stored before the answer: a restart lends nothing twice", async () => {
    const name = `lease:${uniqueTag()}`;
    const stub = env.LIMITER.getByName(name);
    const answer = await stub.take([day], 20, 0);
    expect(answer.allowed).toBe(true);
    expect(answer.grant?.units).toBe(20);
    expect(answer.grant?.results[0]?.remaining).toBe(179);
    await evictDurableObject(stub);
    const { results } = await env.LIMITER.getByName(name).inspect([day]);
    expect(results[0]).toMatchObject({ remaining: 179, leased: 20 });
    expect(await admitAll(name, [day])).toBe(179);
  });

  it("gives back unused units once", async () => {
    const name = `lease:${uniqueTag()}`;
    const stub = env.LIMITER.getByName(name);
    const grant = await stub.lend([day], 20, 0);
    expect(grant?.units).toBe(20);
    await stub.giveBack([day], grant!.id, 15);
    await stub.giveBack([day], grant!.id, 15);
    const { results } = await stub.inspect([day]);
    expect(results[0]).toMatchObject({ remaining: 195, leased: 0 });
  });

  it("never lends a small limit (a login limit of 50)", async () => {
    const stub = env.LIMITER.getByName(`lease:${uniqueTag()}`);
    const answer = await stub.take([login], 1_000, 0);
    expect(answer.allowed).toBe(true);
    expect(answer.grant).toBeUndefined();
    expect(await stub.lend([login], 1_000, 0)).toBeNull();
  });

  it("keeps units out on leases charged through a reset", async () => {
    const name = `lease:${uniqueTag()}`;
    const stub = env.LIMITER.getByName(name);
    await stub.lend([day], 20, 0);
    for (let i = 0; i < 10; i++) await stub.check({ counters: [day] });
    await stub.reset([day.name], [day]);
    const { results } = await stub.inspect([day]);
    expect(results[0]).toMatchObject({ remaining: 180, leased: 20 });
  });
});

describe("a reset served by the isolate that holds the key's lease", () => {
  const admin = (path: string, method = "GET") =>
    call(`/__ratelimit${path}`, { method, headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` }, ip: uniqueIp() });

  it("ends that lease first: the next response shows the full limit less one, and GET /keys the full limit", async () => {
    await usePolicy({ version: 1, rules: [{ id: "hot", key: "ip", limits: [{ limit: 300, window: "1d" }] }] });
    const ip = uniqueIp();
    const remaining: number[] = [];
    // A hot key: from its second request on, this isolate leases room and admits from it.
    for (let i = 0; i < 10; i++) {
      const res = await call("/h", { ip });
      await res.arrayBuffer();
      remaining.push(Number(res.headers.get("RateLimit-Remaining")));
    }
    expect(remaining).toEqual([299, 298, 297, 296, 295, 294, 293, 292, 291, 290]);
    const before = (await (await admin(`/keys?rule=hot&key=${ip}`)).json()) as {
      limits: Array<{ remaining: number; leased: number }>;
    };
    expect(before.limits[0]!.leased).toBeGreaterThan(0); // the isolate holds a lease: the case at hand

    const reset = await admin(`/keys?rule=hot&key=${ip}`, "DELETE");
    expect(reset.status).toBe(200);
    const shown = (await (await admin(`/keys?rule=hot&key=${ip}`)).json()) as {
      limits: Array<{ remaining: number; leased: number }>;
    };
    expect(shown.limits[0]).toMatchObject({ remaining: 300, leased: 0 });
    const next = await call("/h", { ip });
    await next.arrayBuffer();
    expect(next.status).toBe(200);
    expect(next.headers.get("RateLimit-Remaining")).toBe("299");
  });
});
