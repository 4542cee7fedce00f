/**
 * End to end: a sharded rule (`shards: 8`) under a real `wrangler dev`, over
 * real HTTP. A burst at the limit admits exactly the limit through the tree
 * (isolate, shard object, root object), `GET /keys` sums the tree and
 * `DELETE /keys` resets it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PREFIX, adminJson, adminToken, bearer, fetchDrained, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { freePort, roomInWindow, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = adminToken("e2e-tree");
const LIMIT = 400;
const SHARDS = 8;
const KEYS = "/keys?rule=hot&key=127.0.0.1";

interface KeysAnswer {
  limits: Array<{ name: string; limit: number; remaining: number; leased: number }>;
  tree?: { held: number; sublet: number; shards: Array<{ shard: number; held: number; sublet: number }> };
}

describe("a sharded rule under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
    await putPolicy(dev.url, TOKEN, {
      version: 1,
      rules: [{ id: "hot", key: "ip", shards: SHARDS, limits: [{ limit: LIMIT, window: "1d" }] }],
    });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  it("a burst at the limit admits exactly the limit: 400 of 460, and the origin sees 400", async () => {
    // The day window must not turn over during the test.
    await roomInWindow(86_400_000, 120_000);
    const tag = `tree-${Date.now()}`;
    const statuses: number[] = [];
    // 460 requests, 46 in flight at a time: the tree leases blocks and pieces while the burst runs.
    for (let wave = 0; wave < 10; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 46 }, () => fetchDrained(`${dev.url}/e2e/hot`, { headers: { "x-test-tag": tag } })),
      );
      statuses.push(...answers.map((res) => res.status));
      if (wave === 1) {
        // Mid-burst the room is out in the tree: a shard holds part of a block or has sublet it (a block
        // lives up to 2 s), which only a request path through the shards can have done.
        const { tree } = (await adminJson(dev.url, TOKEN, KEYS)) as KeysAnswer;
        expect(tree!.held + tree!.sublet).toBeGreaterThan(0);
        expect(tree!.shards.some((s) => s.held + s.sublet > 0)).toBe(true);
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(460 - LIMIT);
    expect(origin.count(tag)).toBe(LIMIT);
  });

  it("GET /keys sums the tree: nothing left at the root nor held at a shard; DELETE /keys resets it", async () => {
    const body = (await adminJson(dev.url, TOKEN, KEYS)) as KeysAnswer;
    expect(body.limits[0]).toMatchObject({ limit: LIMIT, remaining: 0 });
    expect(body.tree!.shards).toHaveLength(SHARDS);
    expect(body.tree!.held).toBe(0);
    expect(body.tree!.shards.reduce((sum, s) => sum + s.held, 0)).toBe(0);

    const reset = await fetchDrained(`${dev.url}${ADMIN_PREFIX}${KEYS}`, { method: "DELETE", headers: bearer(TOKEN) });
    expect(reset.status).toBe(200);
    const after = await fetchDrained(`${dev.url}/e2e/hot`);
    expect(after.status).toBe(200);
  });
});
