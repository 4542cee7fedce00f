/**
 * `scope: "region"` through the Workers runtime with a faked `cf`: a rule
 * counted per region gives a client the limit in each region it reaches,
 * on keys `region:<hint>:<key>` that GET /keys reads with `region=`.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_ADMIN_PREFIX } from "../../src/admin/prefix";
import { uniqueIp, usePolicy } from "../support/client";

function callFrom(continent: string, ip: string): Promise<Response> {
  return exports.default.fetch(
    new Request("http://api.example.com/r", {
      headers: { "cf-connecting-ip": ip },
      redirect: "manual",
      cf: { continent, longitude: continent === "EU" ? "2.35" : "-77.0" },
    } as RequestInit),
  );
}

async function statusesFrom(continent: string, ip: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await callFrom(continent, ip);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

describe('scope: "region"', () => {
  it("a client reaching two regions gets exactly the limit in each, and the next is refused in each", async () => {
    const limit = 5;
    await usePolicy({
      version: 1,
      rules: [{ id: "per-ip", key: "ip", scope: "region", limits: [{ limit, window: "1d" }] }],
    });
    const ip = uniqueIp();
    const [eu, na] = await Promise.all([statusesFrom("EU", ip, limit + 2), statusesFrom("NA", ip, limit + 2)]);
    const expected = [...Array(limit).fill(200), 429, 429];
    expect(eu).toEqual(expected);
    expect(na).toEqual(expected);

    const keys = async (query: string) => {
      const res = await exports.default.fetch(
        new Request(`http://api.example.com${DEFAULT_ADMIN_PREFIX}/keys?rule=per-ip&key=${ip}${query}`, {
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
        }),
      );
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const weur = await keys("&region=weur");
    expect(weur.status).toBe(200);
    expect(weur.body.limits).toMatchObject([{ limit, remaining: 0 }]);
    const apac = await keys("&region=apac");
    expect(apac.body.limits).toMatchObject([{ limit, remaining: limit }]);
    const none = await keys("");
    expect(none.status).toBe(400);
    expect(JSON.stringify(none.body)).toContain("add region=");
  });

  it("POST /explain reads the region's own count when given one, and refuses a region that is not a hint", async () => {
    const limit = 3;
    await usePolicy({
      version: 1,
      rules: [{ id: "per-ip", key: "ip", scope: "region", limits: [{ limit, window: "1d" }] }],
    });
    const ip = uniqueIp();
    await statusesFrom("EU", ip, limit);
    const explain = (region: string) =>
      exports.default.fetch(
        new Request(`http://api.example.com${DEFAULT_ADMIN_PREFIX}/explain`, {
          method: "POST",
          headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ url: "http://api.example.com/r", headers: { "cf-connecting-ip": ip }, region }),
        }),
      );
    const weur = (await (await explain("weur")).json()) as {
      rules: Array<{ key: string; limits: Array<{ remaining: number }> }>;
    };
    expect(weur.rules[0]).toMatchObject({ key: `region:weur:ip:${ip}`, limits: [{ remaining: 0 }] });
    const enam = (await (await explain("enam")).json()) as { rules: Array<{ limits: Array<{ remaining: number }> }> };
    expect(enam.rules[0]!.limits[0]!.remaining).toBe(limit);
    expect((await explain("mars")).status).toBe(400);
  });

  it("without the scope the same client gets the limit once, whichever regions it reaches", async () => {
    const limit = 6;
    await usePolicy({ version: 1, rules: [{ id: "per-ip", key: "ip", limits: [{ limit, window: "1d" }] }] });
    const ip = uniqueIp();
    const statuses = [...(await statusesFrom("EU", ip, limit / 2)), ...(await statusesFrom("NA", ip, limit / 2 + 2))];
    expect(statuses).toEqual([...Array(limit).fill(200), 429, 429]);
  });
});
