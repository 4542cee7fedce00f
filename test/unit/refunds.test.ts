/**
 * Refunds that would give back more than their charge still holds: the two
 * sequences of issue 26, each exact to the unit, and the rule behind them
 * (a refund frees only room its charge still holds in the state it is
 * applied to; a reset starts a new epoch and older charges hold nothing in it).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import { carryLent, keepLent, lend } from "../../src/lease/ledger";
import type { LeaseTerms } from "../../src/lease/types";
import { DEFAULT_LEASE_TERMS as TERMS } from "../../src/lease/types";
import { chargesOf } from "../../src/limiter/answer";
import { decide, giveBack } from "../../src/limiter/decide";
import type { Charge, CounterSpec, CounterState } from "../../src/limiter/types";

const T0 = 1_800_000_000_000; // a multiple of every window below

type States = Map<string, CounterState>;

function apply(states: States, updates: Map<string, CounterState>, now: number): void {
  for (const [name, state] of updates) states.set(name, carryLent(states.get(name), state, now));
}

/** One plain check; its charges when admitted. */
function plain(states: States, specs: CounterSpec[], now: number): Charge[] | undefined {
  const { outcome, updates } = decide(states, specs, now, "");
  if (!outcome.allowed) return undefined;
  apply(states, updates, now);
  return outcome.charges;
}

/** Plain checks at one instant until one is refused: how many were admitted. */
function admitAll(states: States, specs: CounterSpec[], now: number): number {
  for (let n = 0; ; n++) if (!plain(states, specs, now)) return n;
}

describe("a token bucket's refunds after a lease was granted", () => {
  // 10/s, burst 200: one token per 100 ms.
  const bucket: CounterSpec = { name: "b", algorithm: "token-bucket", limit: 10, windowMs: 1_000, burst: 200, cost: 1 };

  it("give back nothing the lease's accounting absorbed: 22 leased + plain stay within the burst", () => {
    const states: States = new Map();
    const charges: Charge[][] = [];
    for (let i = 0; i < 19; i++) charges.push(plain(states, [bucket], T0)!);
    expect(charges.every(Boolean)).toBe(true);

    const { grant, updates } = lend(states, [bucket], T0, { want: 22, held: 0 }, 1, TERMS);
    expect(grant).toMatchObject({ units: 22, lifetimeMs: 2_000 });
    apply(states, updates, T0);

    // The nineteen are given back (failures-only successes).
    for (const c of charges) apply(states, giveBack(states, c, T0 + 1), T0 + 1);

    // The lease's last moment (the isolate's 25 ms margin before its end): its 22 units and
    // whatever plain checks the object admits there all fall into one instant.
    const lastUse = T0 + grant!.lifetimeMs - 25;
    const admitted = admitAll(states, [bucket], lastUse);
    expect(grant!.units + admitted).toBeLessThanOrEqual(200);
    // Exactly what the bucket holds without the nineteen: the lease accounted at its end
    // (2,000 ms of refill forgone, 22 units on top) leaves 177 at lastUse.
    expect(admitted).toBe(177);
  });

  it("still give back a charge the bucket holds above a lease's end", () => {
    const states: States = new Map();
    // 40 plain at once: tat 4,000 ms ahead, past the lease's 2,000 ms end.
    const charges: Charge[][] = [];
    for (let i = 0; i < 40; i++) charges.push(plain(states, [bucket], T0)!);
    const { grant, updates } = lend(states, [bucket], T0, { want: 8, held: 0 }, 1, TERMS);
    expect(grant?.units).toBe(8);
    apply(states, updates, T0);
    const before = admitAll(new Map(states), [bucket], T0);
    apply(states, giveBack(states, charges[39]!, T0), T0);
    expect(admitAll(states, [bucket], T0)).toBe(before + 1);
  });

  it("give back nothing of a charge whose room has refilled, even when charges came after it", () => {
    const states: States = new Map();
    const first = plain(states, [bucket], T0)!; // tat T0 + 100
    plain(states, [bucket], T0 + 100); // the bucket had drained: this one starts afresh
    apply(states, giveBack(states, first, T0 + 100), T0 + 100);
    // One charge holds the bucket: 199 more at this instant, not 200.
    expect(admitAll(states, [bucket], T0 + 100)).toBe(199);
  });
});

describe("a charge made before a reset, refunded after it", () => {
  const fixed: CounterSpec = { name: "f", algorithm: "fixed", limit: 100, windowMs: 60_000, cost: 1 };

  it("does not lower the count the reset kept for a lease: 12 leased + plain stay within 100", () => {
    const states: States = new Map();
    const old = plain(states, [fixed], T0)!;
    const { grant, updates } = lend(states, [fixed], T0, { want: 12, held: 0 }, 1, TERMS);
    expect(grant?.units).toBe(12);
    apply(states, updates, T0);

    // DELETE /keys: the counter keeps only the units out on the lease.
    const kept = keepLent(states.get("f"), T0 + 1, fixed);
    expect(kept).toMatchObject({ count: 12 });
    states.set("f", kept!);

    apply(states, giveBack(states, old, T0 + 2), T0 + 2);
    const admitted = admitAll(states, [fixed], T0 + 3);
    expect(grant!.units + admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBe(88);
  });

  it("does not credit a window a later check recreated (no leases: the in-memory store)", async () => {
    const small: CounterSpec = { ...fixed, limit: 5 };
    let now = T0;
    const store = new MemoryCounterStore({ now: () => now });
    const first = await store.check("k", { counters: [small] });
    expect(first.allowed).toBe(true);
    now += 1;
    await store.reset("k");
    now += 1;
    let admitted = 0;
    for (let i = 0; i < 5; i++) if ((await store.check("k", { counters: [small] })).allowed) admitted++;
    expect(admitted).toBe(5);
    await store.release("k", chargesOf(first));
    const after = await store.check("k", { counters: [small] });
    expect(after.allowed).toBe(false);
  });

  it("does not credit a recreated token bucket either, even within the same millisecond", async () => {
    const bucket: CounterSpec = { name: "b", algorithm: "token-bucket", limit: 5, windowMs: 60_000, cost: 1 };
    const store = new MemoryCounterStore({ now: () => T0 });
    const first = await store.check("k", { counters: [bucket] });
    await store.reset("k");
    let admitted = 0;
    for (let i = 0; i < 5; i++) if ((await store.check("k", { counters: [bucket] })).allowed) admitted++;
    expect(admitted).toBe(5);
    await store.release("k", chargesOf(first));
    expect((await store.check("k", { counters: [bucket] })).allowed).toBe(false);
  });

  it("still refunds a charge made after the reset", async () => {
    const small: CounterSpec = { ...fixed, limit: 5 };
    const store = new MemoryCounterStore({ now: () => T0 });
    await store.check("k", { counters: [small] });
    await store.reset("k");
    const charged = await store.check("k", { counters: [small] });
    await store.release("k", chargesOf(charged));
    const { results } = await store.inspect("k", [small]);
    expect(results[0]!.remaining).toBe(5);
  });
});

/**
 * The bucket's definition, checked directly (no replay through the deciding
 * code): over any span [a, b] of use times, the units used that were not
 * given back are at most burst + (b - a) / interval. Plain checks, leases
 * (every unit used at the lease's start or at its very end), refunds of any
 * earlier plain charge in any order, and clock steps, drawn at random.
 */
describe("a token bucket under grants, uses and refunds in any order", () => {
  const terms: LeaseTerms = { ...TERMS, minRoom: 4, minUnits: 1, maxShare: 1 / 2 };
  type Op =
    | { kind: "plain"; dt: number }
    | { kind: "fill"; dt: number }
    | { kind: "toLeaseEnd"; dt: number }
    | { kind: "lease"; dt: number; want: number; atEnd: boolean }
    | { kind: "refund"; dt: number; pick: number };
  const dt = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3_000 }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("plain" as const), dt }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("fill" as const), dt }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("toLeaseEnd" as const), dt: fc.constant(0) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("lease" as const),
        dt,
        want: fc.integer({ min: 1, max: 30 }),
        atEnd: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("refund" as const), dt, pick: fc.nat() }),
    },
  );

  it("never puts more than burst + rate x span into any span", () => {
    fc.assert(
      fc.property(
        fc.record({
          limit: fc.integer({ min: 1, max: 20 }),
          windowMs: fc.constantFrom(1_000, 3_000, 7_000),
          extra: fc.integer({ min: 0, max: 40 }),
          cost: fc.integer({ min: 1, max: 3 }),
        }),
        fc.array(op, { minLength: 1, maxLength: 120 }),
        ({ limit, windowMs, extra, cost }, ops) => {
          const spec: CounterSpec = {
            name: "b",
            algorithm: "token-bucket",
            limit,
            windowMs,
            burst: limit + extra,
            cost,
          };
          const burst = limit + extra;
          const states: States = new Map();
          const uses: { at: number; units: number; refunded: boolean }[] = [];
          const refundable: { use: number; charges: Charge[] }[] = [];
          let now = T0;
          let id = 1;
          let leaseEnd = 0;
          for (const o of ops) {
            now += o.dt;
            if (o.kind === "plain" || o.kind === "fill") {
              for (;;) {
                const charges = plain(states, [spec], now);
                if (!charges) break;
                refundable.push({ use: uses.length, charges });
                uses.push({ at: now, units: cost, refunded: false });
                if (o.kind === "plain") break;
              }
            } else if (o.kind === "toLeaseEnd") {
              now = Math.max(now, leaseEnd);
            } else if (o.kind === "lease") {
              const { grant, updates } = lend(states, [spec], now, { want: o.want, held: 0 }, id++, terms);
              if (grant) {
                apply(states, updates, now);
                leaseEnd = now + grant.lifetimeMs;
                uses.push({ at: o.atEnd ? now + grant.lifetimeMs : now, units: grant.units * cost, refunded: false });
              }
            } else if (refundable.length > 0) {
              const [one] = refundable.splice(o.pick % refundable.length, 1);
              apply(states, giveBack(states, one!.charges, now), now);
              uses[one!.use]!.refunded = true;
            }
          }
          // In exact integers: units x windowMs <= burst x windowMs + span x limit.
          const counted = uses.filter((u) => !u.refunded).sort((a, b) => a.at - b.at);
          for (let i = 0; i < counted.length; i++) {
            let units = 0;
            for (let j = i; j < counted.length; j++) {
              units += counted[j]!.units;
              const span = counted[j]!.at - counted[i]!.at;
              expect(units * windowMs).toBeLessThanOrEqual(burst * windowMs + span * limit);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  }, 30_000);
});
