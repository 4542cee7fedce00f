/**
 * A sharded key's tree of leases through the Workers runtime: the isolate's
 * store talks to one shard object, the shard to the key's root, and a burst
 * admits exactly the limit; `inspect` sums the tree and `reset` resets it.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { counterStoreOf } from "../../src/adapters/workers/limiter";
import { shardName } from "../../src/durable/rate-limiter-client";
import type { Background } from "../../src/engine/ports";
import type { CounterSpec } from "../../src/limiter/types";
import { uniqueTag } from "../support/client";

// A day window: the few seconds of a test do not cross a window's end (unless run at midnight UTC).
const day = (limit: number): CounterSpec => ({
  name: "api-1d",
  algorithm: "fixed",
  limit,
  windowMs: 86_400_000,
  cost: 1,
});

function background(): Background & { settle(): Promise<unknown> } {
  const work: Promise<unknown>[] = [];
  return {
    waitUntil: (promise) => {
      work.push(promise.catch(() => undefined));
    },
    settle: () => Promise.all(work),
  };
}

describe("tree of leases", () => {
  it("a burst through the tree admits exactly the limit: the limit-th admitted, the next refused", async () => {
    const key = `tenant:tree-${uniqueTag()}`;
    const store = counterStoreOf(env);
    const work = background();
    const limit = 500;
    const decisions: boolean[] = [];
    // Sequential, so that the limit-th request is a known one; the room is spread over blocks and pieces.
    for (let i = 0; i < limit + 30; i++) {
      const { allowed } = await store.check(key, { counters: [day(limit)], shards: 4 }, work);
      decisions.push(allowed);
    }
    await work.settle();
    expect(decisions.filter(Boolean)).toHaveLength(limit);
    expect(decisions[limit - 1]).toBe(true);
    expect(decisions.slice(limit)).toEqual(Array(30).fill(false));
    // The tree summed up: nothing is left at the root, nor held unsublet at a shard. (`sublet` counts units
    // on pieces that have not ended, used or not: a shard does not hear what an isolate used.)
    const { results, shards } = await store.inspect(key, [day(limit)], [], 4);
    expect(results[0]).toMatchObject({ limit, remaining: 0 });
    expect(shards).toHaveLength(4);
    expect(shards!.reduce((sum, s) => sum + s.held, 0)).toBe(0);
    expect(shards!.reduce((sum, s) => sum + s.sublet, 0)).toBeGreaterThan(0);
  });

  it("the root lends a shard a block, which GET /keys shows as leased at the root and held at the shard", async () => {
    const key = `tenant:tree-${uniqueTag()}`;
    const specs = [day(100_000)];
    const shard = env.LIMITER.getByName(shardName(key, 2));
    // A plain check first (the shard learns the room), then two more: the shard's rate asks for a block.
    for (let i = 0; i < 3; i++) expect((await shard.shardTake(key, specs, 0, 0)).allowed).toBe(true);
    const store = counterStoreOf(env);
    const { results, shards } = await store.inspect(key, specs, [], 4);
    const held = shards!.find((s) => s.shard === 2)!.held;
    expect(held).toBeGreaterThan(0);
    // Every unit the root charged is a request admitted or a unit the shard holds: the tree sums exactly.
    expect(100_000 - results[0]!.remaining).toBe(3 + held);
    expect(results[0]!.leased).toBe(held + 1); // the block, with the request the shard admitted from it
    expect(shards!.filter((s) => s.shard !== 2).every((s) => s.held === 0 && s.sublet === 0)).toBe(true);
  });

  it("a reset of the tree empties the root and makes its shards forget a refusal", async () => {
    const key = `tenant:tree-${uniqueTag()}`;
    const store = counterStoreOf(env);
    const work = background();
    const request = { counters: [day(5)], shards: 2 };
    for (let i = 0; i < 5; i++) expect((await store.check(key, request, work)).allowed).toBe(true);
    expect((await store.check(key, request, work)).allowed).toBe(false);
    await store.reset(key, ["api-1d"], 2);
    expect((await store.check(key, request, work)).allowed).toBe(true);
    await work.settle();
  });
});
