/**
 * One shard of a tree of leases over an in-memory root (the real pure
 * object-side code): it hands on only what it holds, a piece never outlives
 * its block, a burst at the limit admits exactly the limit, and a used-up
 * key stops costing the root a call per request.
 */
import { describe, expect, it } from "vitest";
import { type LeaseTransport, LeasingClient } from "../../src/lease/client";
import { carryLent, lend, takeBack } from "../../src/lease/ledger";
import { BLOCK_LEASE_TERMS, ShardLender } from "../../src/lease/shard";
import { takeAndLend } from "../../src/lease/take";
import { answerOf } from "../../src/limiter/answer";
import { decide } from "../../src/limiter/decide";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

/** A minute boundary, so that windows start where the tests expect. */
const T0 = 30_000_000 * 60_000;
const KEY = "tenant:big";

const perMinute = (limit: number): CounterSpec => ({
  name: "api-1m",
  algorithm: "fixed",
  limit,
  windowMs: 60_000,
  cost: 1,
});

/** The key's root in memory, lending blocks as the real root does for a shard; counts its calls. */
function memoryRoot(clock: () => number) {
  const states = new Map<string, CounterState>();
  const calls = { check: 0, take: 0, lend: 0, giveBack: 0 };
  let failing = false;
  let id = 1;
  const apply = (updates: Map<string, CounterState>) => {
    for (const [name, state] of updates) states.set(name, carryLent(states.get(name), state, clock()));
  };
  const guard = () => {
    if (failing) throw Object.assign(new Error("overloaded"), { overloaded: true });
  };
  const transport: LeaseTransport = {
    async check(specs) {
      calls.check++;
      guard();
      const decision = decide(states, specs, clock(), "");
      apply(decision.updates);
      return answerOf(specs, decision, clock());
    },
    async take(specs, ask) {
      calls.take++;
      guard();
      const { answer, updates } = takeAndLend(states, specs, clock(), ask, id++, BLOCK_LEASE_TERMS);
      apply(updates);
      return answer;
    },
    async lend(specs, ask) {
      calls.lend++;
      guard();
      const { grant, updates } = lend(states, specs, clock(), ask, id++, BLOCK_LEASE_TERMS);
      apply(updates);
      return grant;
    },
    async giveBack(specs, leaseId, unused) {
      calls.giveBack++;
      apply(takeBack(states, specs, clock(), leaseId, unused));
    },
    waitUntil: () => undefined,
  };
  const total = () => calls.check + calls.take + calls.lend + calls.giveBack;
  return {
    transport,
    calls,
    total,
    states,
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

/** An isolate's transport to the shard, as the Worker's leasing store builds it. */
function toShard(shard: ShardLender, root: LeaseTransport): LeaseTransport {
  return {
    check: (specs) => shard.take(KEY, specs, { want: 0, held: 0 }, root),
    take: (specs, ask) => shard.take(KEY, specs, ask, root),
    lend: (specs, ask) => shard.lend(KEY, specs, ask, root),
    giveBack: async (_specs, id, unused) => shard.giveBack(KEY, id, unused),
    waitUntil: () => undefined,
  };
}

describe("ShardLender", () => {
  it("a burst at the limit through one shard and three isolates admits exactly the limit", async () => {
    let now = T0 + 1_000;
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    const isolates = [0, 1, 2].map(() => new LeasingClient({ clock }));
    const spec = perMinute(1_000);
    let admitted = 0;
    for (let i = 0; i < 1_200; i++) {
      const client = isolates[i % 3]!;
      const decision = await client.admit(KEY, [spec], toShard(shard, root.transport));
      if (decision.allowed) admitted++;
      // The 1,000th request is admitted and the next one refused, whichever level held the room.
      if (i === 999) expect(decision.allowed).toBe(true);
      if (i === 1_000) expect(decision.allowed).toBe(false);
      now += 1; // 1,200 requests in 1.2 s: well inside the minute
    }
    expect(admitted).toBe(1_000);
    // The root saw blocks and, with fewer than 64 left, each request's check: far fewer calls than requests.
    expect(root.total()).toBeLessThan(1_200 / 4);
  });

  it("sublets only what it holds, for no longer than its block has left", async () => {
    const now = T0 + 1_000;
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    const spec = perMinute(100_000);
    // The shard learns the key's room from a plain check, then an isolate asks for a piece.
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    const answer = await shard.take(KEY, [spec], { want: 40, held: 0 }, root.transport);
    expect(answer.allowed).toBe(true);
    const lent = (root.states.get("api-1m") as CounterState & { lent?: Array<{ n: number; until: number }> }).lent!;
    const piece = answer.grant!;
    expect(piece.units).toBeGreaterThan(0);
    expect(piece.units).toBeLessThanOrEqual(40);
    // The piece ends no later than the block it came from (the first) at the root, less the shard's margin.
    expect(now + piece.lifetimeMs).toBeLessThanOrEqual(lent[0]!.until - 25);
    // What the shard holds, what it sublet and what it admitted itself add up to the blocks, no more.
    const view = shard.view(KEY);
    expect(view.sublet).toBe(piece.units);
    expect(view.held + view.sublet + 1).toBe(lent.reduce((sum, block) => sum + block.n, 0));
  });

  it("takes unused units back into their block once, and lets them lapse after it", async () => {
    let now = T0 + 1_000;
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    const spec = perMinute(100_000);
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    const { grant } = await shard.take(KEY, [spec], { want: 40, held: 0 }, root.transport);
    const before = shard.view(KEY).held;
    // Back into the block: at most what the piece had, once.
    shard.giveBack(KEY, grant!.id, grant!.units + 10);
    expect(shard.view(KEY).held).toBe(before + grant!.units);
    shard.giveBack(KEY, grant!.id, grant!.units);
    expect(shard.view(KEY).held).toBe(before + grant!.units);
    const second = await shard.lend(KEY, [spec], { want: 20, held: 0 }, root.transport);
    now += second!.lifetimeMs + 1;
    shard.giveBack(KEY, second!.id, 5); // its block has ended: nothing comes back
    expect(shard.view(KEY).held).toBe(0);
  });

  it("a used-up key costs the root one call per shard per second, not one per request", async () => {
    let now = T0 + 1_000;
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    const spec = perMinute(10);
    for (let i = 0; i < 10; i++) {
      const answer = await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
      expect(answer.allowed).toBe(true);
    }
    const refused = await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    expect(refused.allowed).toBe(false);
    const callsAtRefusal = root.total();
    for (let i = 0; i < 100; i++) {
      now += 5;
      const again = await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
      expect(again.allowed).toBe(false);
      // The remembered refusal counts its time down.
      expect(again.counters[0]!.result.retryAfterMs).toBe(refused.counters[0]!.result.retryAfterMs - (i + 1) * 5);
    }
    expect(root.total()).toBe(callsAtRefusal);
    now += 500; // a second after the refusal: the root is asked again
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    expect(root.total()).toBe(callsAtRefusal + 1);
    // A refusal under other numbers (a published policy raised the limit) is not answered from memory.
    const raised = await shard.take(KEY, [perMinute(20)], { want: 0, held: 0 }, root.transport);
    expect(raised.allowed).toBe(true);
    expect(root.total()).toBe(callsAtRefusal + 2);
    // A reset of the tree makes the shard forget the refusal at once.
    shard.reset(KEY);
    now += 1;
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    expect(root.total()).toBe(callsAtRefusal + 3);
  });

  it("fails when the root fails and it holds nothing: the rule's onError decides, nothing is admitted", async () => {
    const now = T0 + 1_000;
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    root.fail(true);
    await expect(shard.take(KEY, [perMinute(100_000)], { want: 10, held: 0 }, root.transport)).rejects.toThrow(
      "overloaded",
    );
  });

  it("a block ends with its window, and so does every piece of it", async () => {
    let now = T0 + 59_000; // one second before the minute ends
    const clock = () => now;
    const root = memoryRoot(clock);
    const shard = new ShardLender(clock);
    const spec = perMinute(100_000);
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    now += 10;
    await shard.take(KEY, [spec], { want: 0, held: 0 }, root.transport);
    now += 10;
    const { grant } = await shard.take(KEY, [spec], { want: 40, held: 0 }, root.transport);
    expect(grant).toBeDefined();
    expect(now + grant!.lifetimeMs).toBeLessThanOrEqual(T0 + 60_000);
  });
});
