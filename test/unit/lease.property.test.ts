/**
 * Leases never over-admit, whatever the isolates do with them: every leased
 * unit is used at an adversarial time inside its lease (at once, at the last
 * moment, anywhere between) or given back unused, mixed with plain requests
 * and resets, and every admission is then replayed through the exact
 * single-object algorithm, which must admit them all.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { carryLent, keepLent, lend, takeBack } from "../../src/lease/ledger";
import { takeAndLend } from "../../src/lease/take";
import type { LeaseTerms } from "../../src/lease/types";
import { decide } from "../../src/limiter/decide";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

interface Admission {
  at: number;
  seq: number;
}

const before = (a: Admission, b: Admission) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** Replays admissions in time order; returns how many the reference refuses. */
function refusedByReference(specs: CounterSpec[], admissions: Admission[], resets: Admission[]): number {
  const sorted = [...admissions].sort((a, b) => a.at - b.at || a.seq - b.seq);
  let states = new Map<string, CounterState>();
  let nextReset = 0;
  let refused = 0;
  for (const a of sorted) {
    while (nextReset < resets.length && before(resets[nextReset]!, a)) {
      states = new Map();
      nextReset++;
    }
    const { outcome, updates } = decide(states, specs, a.at, "");
    if (!outcome.allowed) refused++;
    for (const [name, state] of updates) states.set(name, state);
  }
  return refused;
}

const specArb: fc.Arbitrary<CounterSpec[]> = fc.oneof(
  fc
    .record({ limit: fc.integer({ min: 1, max: 12 }), windowMs: fc.constantFrom(1_000, 5_000, 60_000, 86_400_000) })
    .map(({ limit, windowMs }) => [{ name: "f", algorithm: "fixed" as const, limit, windowMs, cost: 1 }]),
  fc
    .record({ limit: fc.integer({ min: 1, max: 12 }), windowMs: fc.constantFrom(1_000, 5_000, 60_000) })
    .map(({ limit, windowMs }) => [{ name: "s", algorithm: "sliding" as const, limit, windowMs, cost: 1 }]),
  fc
    .record({
      limit: fc.integer({ min: 1, max: 12 }),
      windowMs: fc.constantFrom(1_000, 3_000, 7_000, 60_000),
      extra: fc.integer({ min: 0, max: 12 }),
    })
    .map(({ limit, windowMs, extra }) => [
      { name: "b", algorithm: "token-bucket" as const, limit, windowMs, burst: limit + extra, cost: 1 },
    ]),
  fc
    .record({
      a: fc.integer({ min: 2, max: 40 }),
      b: fc.integer({ min: 2, max: 40 }),
      cost: fc.integer({ min: 1, max: 3 }),
    })
    .map(({ a, b, cost }) => [
      { name: "f", algorithm: "fixed" as const, limit: a * cost, windowMs: 2_000, cost },
      { name: "b", algorithm: "token-bucket" as const, limit: b, windowMs: 1_000, burst: b * cost, cost },
    ]),
);

const termsArb: fc.Arbitrary<LeaseTerms> = fc.record({
  maxLifetimeMs: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 5_000 })),
  minLifetimeMs: fc.constant(1),
  minRoom: fc.integer({ min: 1, max: 4 }),
  maxShare: fc.constantFrom(1, 0.5, 0.125),
  minUnits: fc.constant(1),
  maxUnits: fc.constant(1_000),
  bucketLifetimeShare: fc.constantFrom(1, 0.5, 0.125),
});

const opArb = fc.record({
  dt: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 20 }),
    fc.integer({ min: 0, max: 400 }),
    fc.integer({ min: 0, max: 3_000 }),
  ),
  kind: fc.constantFrom("take", "take", "flood", "lend", "lend", "reset"),
  want: fc.integer({ min: 0, max: 12 }),
  /** When the lease's units are used: all at once, all at the last moment, spread out, or anywhere (0 = at once, 1 = last). */
  pattern: fc.constantFrom("start", "end", "end", "spread", "random"),
  random: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
  giveBackAt: fc.option(fc.double({ min: 0, max: 1.5, noNaN: true }), { nil: undefined, freq: 3 }),
});

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

function useAt(op: Op, unit: number, units: number): number {
  switch (op.pattern) {
    case "start":
      return 0;
    case "end":
      return 1;
    case "spread":
      return units <= 1 ? 1 : unit / (units - 1);
    default:
      return op.random[unit % op.random.length]!;
  }
}

describe("leased quota against the exact reference", () => {
  it("admits nothing the single-object algorithm would refuse", () => {
    fc.assert(
      fc.property(
        specArb,
        termsArb,
        fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 }),
        fc.array(opArb, { minLength: 1, maxLength: 80 }),
        (specs, terms, t0, ops) => {
          let states = new Map<string, CounterState>();
          const apply = (updates: Map<string, CounterState>, now: number) => {
            for (const [name, state] of updates) states.set(name, carryLent(states.get(name), state, now));
          };
          const admissions: Admission[] = [];
          const resets: Admission[] = [];
          let seq = 0;
          let id = 1;
          /** Give-backs due at a time: object calls made later, in time order with the rest. */
          const giveBacks: { at: number; id: number; unused: number }[] = [];
          const runGiveBacks = (upTo: number) => {
            giveBacks.sort((a, b) => a.at - b.at);
            while (giveBacks.length > 0 && giveBacks[0]!.at <= upTo) {
              const g = giveBacks.shift()!;
              apply(takeBack(states, specs, g.at, g.id, g.unused), g.at);
            }
          };
          const useLease = (
            now: number,
            grant: { id: number; units: number; lifetimeMs: number },
            op: typeof opArb extends fc.Arbitrary<infer T> ? T : never,
          ) => {
            const end = now + grant.lifetimeMs; // the object started the lifetime at `now`; the last usable ms is end - 1
            const giveBackAt =
              op.giveBackAt === undefined ? undefined : now + Math.floor(op.giveBackAt * grant.lifetimeMs);
            let used = 0;
            for (let u = 0; u < grant.units; u++) {
              const where = useAt(op, u, grant.units);
              const at = now + Math.floor(where * (grant.lifetimeMs - 1));
              if (at >= end) continue;
              if (giveBackAt !== undefined && at >= giveBackAt) continue; // after giving back, nothing is used
              admissions.push({ at, seq: seq++ });
              used++;
            }
            if (giveBackAt !== undefined) giveBacks.push({ at: giveBackAt, id: grant.id, unused: grant.units - used });
          };
          let now = t0;
          for (const op of ops) {
            now += op.dt;
            runGiveBacks(now);
            if (op.kind === "reset") {
              resets.push({ at: now, seq: seq++ });
              const next = new Map<string, CounterState>();
              for (const spec of specs) {
                const kept = keepLent(states.get(spec.name), now, spec);
                if (kept) next.set(spec.name, kept);
              }
              states = next;
            } else if (op.kind === "flood") {
              // Plain requests at one instant until one is refused: whatever room is left, used at once.
              for (let i = 0; i < 40; i++) {
                const { answer, updates } = takeAndLend(states, specs, now, { want: 0, held: 0 }, id++, terms);
                apply(updates, now);
                if (!answer.allowed) break;
                admissions.push({ at: now, seq: seq++ });
              }
            } else if (op.kind === "take") {
              const { answer, updates } = takeAndLend(states, specs, now, { want: op.want, held: 0 }, id++, terms);
              apply(updates, now);
              if (answer.allowed) admissions.push({ at: now, seq: seq++ });
              if (answer.grant) useLease(now, answer.grant, op);
            } else {
              const { grant, updates } = lend(states, specs, now, { want: op.want, held: 0 }, id++, terms);
              apply(updates, now);
              if (grant) useLease(now, grant, op);
            }
          }
          runGiveBacks(Number.POSITIVE_INFINITY);
          expect(refusedByReference(specs, admissions, resets)).toBe(0);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
