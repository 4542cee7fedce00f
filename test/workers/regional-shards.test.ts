/**
 * A regional tree through the Workers runtime with a faked `cf`: requests
 * from two continents lease from one shard each, named after their region
 * (`shard:<region>:<n>:<key>`, created by location hint), and a burst at the
 * limit from both admits exactly the limit.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { regionalShardName } from "../../src/durable/rate-limiter-client";
import { uniqueIp, usePolicy } from "../support/client";

function callFrom(continent: string, ip: string, longitude: string): Promise<Response> {
  const headers = new Headers({ "cf-connecting-ip": ip });
  return exports.default.fetch(
    new Request("http://api.example.com/r", {
      headers,
      redirect: "manual",
      cf: { continent, longitude },
    } as RequestInit),
  );
}

describe("regional shards (shardsPerRegion)", () => {
  it("a burst at the limit from two faked continents admits exactly the limit, through two regional shards", async () => {
    const limit = 300;
    await usePolicy({
      version: 1,
      rules: [{ id: "regional", key: "ip", shardsPerRegion: 1, limits: [{ limit, window: "1d" }] }],
    });
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < limit + 30; i++) {
      const res = i % 2 === 0 ? await callFrom("EU", ip, "2.35") : await callFrom("NA", ip, "-77.0");
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(limit);
    expect(statuses.slice(limit)).toEqual(Array(30).fill(429));
    // Each continent leased through its own region's shard; no hashed shard was used.
    const key = `ip:${ip}`;
    const view = (name: string) => env.LIMITER.getByName(name).shardView(key);
    const weur = await view(regionalShardName(key, "weur", 0));
    const enam = await view(regionalShardName(key, "enam", 0));
    expect(weur.held + weur.sublet).toBeGreaterThan(0);
    expect(enam.held + enam.sublet).toBeGreaterThan(0);
    const apac = await view(regionalShardName(key, "apac", 0));
    expect(apac.held + apac.sublet).toBe(0);
  });
});
