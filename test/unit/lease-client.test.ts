/**
 * One isolate's leasing client over an in-memory object (the real pure
 * object-side code): calls are shared, hot keys are admitted without calls,
 * headers count down exactly, a changed policy gives its leases back.
 */
import { describe, expect, it } from "vitest";
import { type LeaseTransport, LeasingClient } from "../../src/lease/client";
import { carryLent, keepLent, lend, takeBack } from "../../src/lease/ledger";
import { takeAndLend } from "../../src/lease/take";
import { DEFAULT_LEASE_TERMS } from "../../src/lease/types";
import { answerOf } from "../../src/limiter/answer";
import { decide } from "../../src/limiter/decide";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

const T0 = 1_800_000_000_000;

/** An object in memory answering after a microtask, counting its calls. */
function memoryObject(clock: () => number) {
  const states = new Map<string, CounterState>();
  const calls = { check: 0, take: 0, lend: 0, giveBack: [] as Array<{ id: number; unused: number }> };
  let id = 1;
  const apply = (updates: Map<string, CounterState>) => {
    for (const [name, state] of updates) states.set(name, carryLent(states.get(name), state, clock()));
  };
  const background: Promise<unknown>[] = [];
  const transport: LeaseTransport = {
    async check(specs) {
      calls.check++;
      const decision = decide(states, specs, clock(), "");
      apply(decision.updates);
      return answerOf(specs, decision, clock());
    },
    async take(specs, ask) {
      calls.take++;
      const { answer, updates } = takeAndLend(states, specs, clock(), ask, id++, DEFAULT_LEASE_TERMS);
      apply(updates);
      return answer;
    },
    async lend(specs, ask) {
      calls.lend++;
      const { grant, updates } = lend(states, specs, clock(), ask, id++, DEFAULT_LEASE_TERMS);
      apply(updates);
      return grant;
    },
    async giveBack(specs, leaseId, unused) {
      calls.giveBack.push({ id: leaseId, unused });
      apply(takeBack(states, specs, clock(), leaseId, unused));
    },
    waitUntil: (work) => {
      background.push(work);
    },
  };
  return { transport, calls, states, settle: () => Promise.all(background) };
}

const spec = (limit: number): CounterSpec => ({ name: "api-1m", algorithm: "fixed", limit, windowMs: 60_000, cost: 1 });

describe("LeasingClient", () => {
  it("admits a hot key from leases, and its headers count down exactly as one object's would", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    const remaining: number[] = [];
    let admitted = 0;
    for (let i = 0; i < 1_200; i++) {
      now += 1;
      const d = await client.admit("k", [spec(1_000)], object.transport);
      if (d.allowed) {
        admitted++;
        remaining.push(d.counters[0]!.result.remaining);
      }
      await object.settle();
    }
    expect(admitted).toBe(1_000);
    expect(remaining).toEqual(Array.from({ length: 1_000 }, (_, i) => 999 - i));
    // Plain checks: the first (a lone request), the last 63 or so (room under 64) and the 200 refused.
    expect(object.calls.check).toBeLessThanOrEqual(270);
    expect(object.calls.take + object.calls.lend).toBeLessThan(60);
  });

  it("makes concurrent first requests share one call's lease", async () => {
    const now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    await client.admit("k", [spec(1_000)], object.transport); // seen once: a plain check
    const decisions = await Promise.all(
      Array.from({ length: 5 }, () => client.admit("k", [spec(1_000)], object.transport)),
    );
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(object.calls.take).toBe(1);
    expect(decisions.filter((d) => d.local)).toHaveLength(4);
    expect(decisions.map((d) => d.counters[0]!.result.remaining).sort((a, b) => b - a)).toEqual([
      998, 997, 996, 995, 994,
    ]);
  });

  it("asks for no lease where the room is small: every request is a plain check", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    let admitted = 0;
    for (let i = 0; i < 80; i++) {
      now += 1;
      if ((await client.admit("login", [spec(50)], object.transport)).allowed) admitted++;
    }
    expect(admitted).toBe(50);
    expect(object.calls).toMatchObject({ check: 80, take: 0, lend: 0 });
  });

  it("gives a changed rule's unused units back, and decides by the new one", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    for (let i = 0; i < 3; i++) {
      now += 1;
      await client.admit("k", [spec(1_000)], object.transport);
    }
    const held = client.held();
    expect(held).toBeGreaterThan(0);
    now += 1;
    const d = await client.admit("k", [spec(400)], object.transport);
    await object.settle();
    expect(object.calls.giveBack.reduce((sum, g) => sum + g.unused, 0)).toBe(held);
    expect(d.allowed).toBe(true);
    // Charged so far: the three requests and this one; the given-back units are room again.
    expect(d.counters[0]!.result.remaining).toBe(396);
  });

  it("keeps leases of one key's other counters (another rule, the admin lockout) while it decides those", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    const failures: CounterSpec = { name: "admin-failures", algorithm: "fixed", limit: 10, windowMs: 900_000, cost: 1 };
    for (let i = 0; i < 3; i++) {
      now += 1;
      await client.admit("k", [spec(1_000)], object.transport);
    }
    const held = client.held();
    expect(held).toBeGreaterThan(0);
    // A request of the same key that charges another counter leaves the rule's lease alone.
    now += 1;
    expect((await client.admit("k", [failures], object.transport)).allowed).toBe(true);
    await object.settle();
    expect(object.calls.giveBack).toEqual([]);
    now += 1;
    expect((await client.admit("k", [spec(1_000)], object.transport)).local).toBe(true);
    expect(client.held()).toBe(held - 1);
  });

  it("takes back a rolled-back request's unit into its lease", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    for (let i = 0; i < 2; i++) {
      now += 1;
      await client.admit("k", [spec(1_000)], object.transport);
    }
    const before = client.held();
    now += 1;
    const d = await client.admit("k", [spec(1_000)], object.transport);
    expect(d.local).toBe(true);
    expect(client.held()).toBe(before - 1);
    client.returnUnit("k", d.counters[0]!.charge!.lease!);
    expect(client.held()).toBe(before);
  });

  it("ends a key's leases before its reset, used up or not: the reset keeps none, the next request shows the limit less one", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now });
    for (let i = 0; i < 40; i++) {
      now += 1;
      await client.admit("k", [spec(1_000)], object.transport);
      await object.settle();
    }
    expect(client.held()).toBeGreaterThan(0);

    await client.endKey("k", ["api-1m"]);
    expect(object.calls.giveBack.length).toBeGreaterThan(0);
    // DELETE /keys: the object keeps only units still out on leases; there are none left.
    const kept = keepLent(object.states.get("api-1m"), now, spec(1_000));
    expect(kept).toBeUndefined();
    object.states.delete("api-1m");

    now += 1;
    const next = await client.admit("k", [spec(1_000)], object.transport);
    expect(next).toMatchObject({ allowed: true, local: false });
    expect(next.counters[0]!.result.remaining).toBe(999);
  });

  it("tracks at most maxKeys keys, ending the least recently used (its units given back), not the most recently added", async () => {
    let now = T0;
    const object = memoryObject(() => now);
    const client = new LeasingClient({ clock: () => now, maxKeys: 3 });
    // "hot" gets a lease, then three cold keys come; "hot" is used between them, so "a" is ended first.
    for (let i = 0; i < 10; i++) {
      now += 1;
      await client.admit("hot", [spec(1_000)], object.transport);
    }
    await object.settle();
    expect(client.heldFor("hot")).toBeGreaterThan(0);
    for (const key of ["a", "b"]) {
      now += 1;
      await client.admit(key, [spec(1_000)], object.transport);
    }
    now += 1;
    await client.admit("hot", [spec(1_000)], object.transport);
    await client.admit("c", [spec(1_000)], object.transport);
    expect(client.size).toBe(3);
    expect(client.heldFor("hot")).toBeGreaterThan(0); // used recently: kept
    for (let i = 0; i < 1_000; i++) await client.admit(`k${i}`, [spec(1_000)], object.transport);
    expect(client.size).toBe(3);
    expect(client.heldFor("hot")).toBe(0); // ended at last: its units went back
    expect(object.calls.giveBack.length).toBeGreaterThan(0);
  });

  it("keeps no request's context alive: an entry holds its key's giveBack, not the transport's waitUntil", async () => {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    let now = T0;
    const client = new LeasingClient({ clock: () => now });
    const giveBack = async () => {};
    let context: WeakRef<object> | undefined;
    await (async () => {
      const requestContext = { big: new Array(1_000).fill("x") };
      context = new WeakRef(requestContext);
      const transport: LeaseTransport = {
        check: async (specs) => answerOf(specs, decide(new Map(), specs, now, ""), now),
        take: async () => {
          throw new Error("not hot");
        },
        lend: async () => undefined,
        giveBack,
        waitUntil: (work) => void requestContext.big.push(String(work)),
      };
      now += 1;
      await client.admit("k", [spec(10)], transport);
    })();
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(client.size).toBe(1);
    expect(context?.deref()).toBeUndefined();
  });
});
