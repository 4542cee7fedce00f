/**
 * End to end: regional shards (`shardsPerRegion`) and `scope: "region"` under a real `wrangler dev`,
 * over real HTTP. `wrangler dev` has one location, so the request's place is faked with
 * `x-sluice-dev-cf-*` headers, which the Worker reads only when run with `DEV_FAKE_CF=1`; a second
 * `wrangler dev` without the var shows that the same headers change nothing there.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminJson, adminToken, fetchDrained, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { freePort, roomInWindow, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = adminToken("e2e-regions");
const LIMIT = 200;
const PER_REGION = 5;

const POLICY = {
  version: 1,
  rules: [
    {
      id: "tree",
      match: { paths: ["/e2e/tree/*"] },
      key: "header:x-user",
      shardsPerRegion: 1,
      limits: [{ limit: LIMIT, window: "1d" }],
    },
    {
      id: "per-region",
      match: { paths: ["/e2e/regional/*"] },
      key: "header:x-user",
      scope: "region",
      limits: [{ limit: PER_REGION, window: "1d" }],
    },
  ],
};

interface KeysAnswer {
  limits: Array<{ limit: number; remaining: number }>;
  tree?: {
    held: number;
    sublet: number;
    shards: Array<{ region?: string; shard: number; held: number; sublet: number }>;
  };
}

/** A request from a faked continent: Europe (west of 20° E: `weur`) or North America (east of 100° W: `enam`). */
function from(continent: "EU" | "NA" | "AS", headers: Record<string, string>): Record<string, string> {
  return { ...headers, "x-sluice-dev-cf-continent": continent };
}

describe("regional shards and scope region under wrangler dev, with a faked cf (DEV_FAKE_CF=1)", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: { ...sluiceVars({ origin: origin.url, token: TOKEN }), DEV_FAKE_CF: "1" } });
    await putPolicy(dev.url, TOKEN, POLICY);
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  it("a burst at the limit from two faked continents admits exactly the limit, through shard:weur and shard:enam", async () => {
    await roomInWindow(86_400_000, 120_000);
    const tag = `regions-${Date.now()}`;
    const user = `u-${tag}`;
    const statuses: number[] = [];
    // 230 requests, 23 in flight at a time, Europe and North America interleaved.
    for (let wave = 0; wave < 10; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 23 }, (_, i) =>
          fetchDrained(`${dev.url}/e2e/tree/x`, {
            headers: from(i % 2 === 0 ? "EU" : "NA", { "x-user": user, "x-test-tag": tag }),
          }),
        ),
      );
      statuses.push(...answers.map((res) => res.status));
      if (wave === 1) {
        // Mid-burst each continent's isolate leases from its own region's shard; no other region's shard holds any.
        const { tree } = (await adminJson(dev.url, TOKEN, `/keys?rule=tree&key=${user}`)) as KeysAnswer;
        const busy = tree!.shards.filter((s) => s.held + s.sublet > 0).map((s) => `${s.region}:${s.shard}`);
        expect(busy.length).toBeGreaterThan(0);
        expect(busy.every((name) => name === "weur:0" || name === "enam:0")).toBe(true);
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(230 - LIMIT);
    expect(origin.count(tag)).toBe(LIMIT);
  });

  it('scope "region": a client reaching two faked regions gets exactly the limit in each', async () => {
    const user = `r-${Date.now()}`;
    const burst = (continent: "EU" | "AS") =>
      Promise.all(
        Array.from({ length: PER_REGION + 3 }, () =>
          fetchDrained(`${dev.url}/e2e/regional/x`, { headers: from(continent, { "x-user": user }) }),
        ),
      );
    const [eu, asia] = await Promise.all([burst("EU"), burst("AS")]);
    for (const answers of [eu, asia]) {
      expect(answers.filter((r) => r.status === 200)).toHaveLength(PER_REGION);
      expect(answers.filter((r) => r.status === 429)).toHaveLength(3);
    }
    const apac = (await adminJson(dev.url, TOKEN, `/keys?rule=per-region&key=${user}&region=apac`)) as KeysAnswer;
    expect(apac.limits[0]).toMatchObject({ limit: PER_REGION, remaining: 0 });
    const enam = (await adminJson(dev.url, TOKEN, `/keys?rule=per-region&key=${user}&region=enam`)) as KeysAnswer;
    expect(enam.limits[0]).toMatchObject({ limit: PER_REGION, remaining: PER_REGION });
  });
});

describe("without DEV_FAKE_CF the faked-cf headers are ignored", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
    await putPolicy(dev.url, TOKEN, POLICY);
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  it('a client claiming other continents, in any spelling, still gets the scope "region" limit once', async () => {
    const user = `s-${Date.now()}`;
    const spellings: Array<Record<string, string>> = [
      { "x-sluice-dev-cf-continent": "EU" },
      { "X-Sluice-Dev-Cf-Continent": "AS" },
      { "X-SLUICE-DEV-CF-CONTINENT": "OC", "x-sluice-dev-cf-colo": "SYD" },
      { "x-sluice-dev-cf-continent": "SA", "x-sluice-dev-cf-longitude": "-46.6" },
    ];
    const statuses: number[] = [];
    for (let i = 0; i < PER_REGION + 3; i++) {
      const res = await fetchDrained(`${dev.url}/e2e/regional/x`, {
        headers: { "x-user": user, ...spellings[i % spellings.length] },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array(PER_REGION).fill(200), 429, 429, 429]);
  });
});
