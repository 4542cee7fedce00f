/**
 * End to end: a sharded rule (`shards: 8`) under a real `wrangler dev`, over
 * real HTTP. A burst at the limit admits exactly the limit through the tree
 * (isolate, shard object, root object), `GET /keys` sums the tree and
 * `DELETE /keys` resets it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { freePort, roomInWindow, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = `e2e-admin-${Math.random().toString(36).slice(2)}`;
const LIMIT = 400;
const SHARDS = 8;

interface KeysAnswer {
  limits: Array<{ name: string; limit: number; remaining: number; leased: number }>;
  tree?: { held: number; sublet: number; shards: Array<{ shard: number; held: number; sublet: number }> };
}

describe("a sharded rule under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;
  let admin: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({
      vars: {
        ORIGIN: `http://127.0.0.1:${origin.port}`,
        LIMITER_TIMEOUT_MS: "5000",
        POLICY_TTL_SECONDS: "0",
        ADMIN_TOKEN: TOKEN,
      },
    });
    admin = `${dev.url}/__ratelimit`;
    const policy = {
      version: 1,
      rules: [{ id: "hot", key: "ip", shards: SHARDS, limits: [{ limit: LIMIT, window: "1d" }] }],
    };
    const put = await fetch(`${admin}/policy`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(policy),
    });
    expect(put.status).toBe(200);
    await put.arrayBuffer();
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
        Array.from({ length: 46 }, () => fetch(`${dev.url}/e2e/hot`, { headers: { "x-test-tag": tag } })),
      );
      for (const res of answers) {
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      if (wave === 1) {
        // Mid-burst the room is out in the tree: a shard holds part of a block or has sublet it (a block
        // lives up to 2 s), which only a request path through the shards can have done.
        const keys = await fetch(`${admin}/keys?rule=hot&key=127.0.0.1`, { headers: auth });
        const body = (await keys.json()) as KeysAnswer;
        expect(body.tree!.held + body.tree!.sublet).toBeGreaterThan(0);
        expect(body.tree!.shards.some((s) => s.held + s.sublet > 0)).toBe(true);
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(460 - LIMIT);
    const count = await fetch(`http://127.0.0.1:${origin.port}/__origin/count?tag=${tag}`);
    expect(((await count.json()) as { count: number }).count).toBe(LIMIT);
  });

  it("GET /keys sums the tree: nothing left at the root nor held at a shard; DELETE /keys resets it", async () => {
    const keys = await fetch(`${admin}/keys?rule=hot&key=127.0.0.1`, { headers: auth });
    expect(keys.status).toBe(200);
    const body = (await keys.json()) as KeysAnswer;
    expect(body.limits[0]).toMatchObject({ limit: LIMIT, remaining: 0 });
    expect(body.tree!.shards).toHaveLength(SHARDS);
    expect(body.tree!.held).toBe(0);
    expect(body.tree!.shards.reduce((sum, s) => sum + s.held, 0)).toBe(0);

    const reset = await fetch(`${admin}/keys?rule=hot&key=127.0.0.1`, { method: "DELETE", headers: auth });
    expect(reset.status).toBe(200);
    await reset.arrayBuffer();
    const after = await fetch(`${dev.url}/e2e/hot`);
    await after.arrayBuffer();
    expect(after.status).toBe(200);
  });
});
