/** The object's side of leasing at its exact boundaries. */
import { describe, expect, it } from "vitest";
import { carryLent, keepLent, leasedOut, leaseUnits, lend, takeBack } from "../../src/lease/ledger";
import { takeAndLend } from "../../src/lease/take";
import { DEFAULT_LEASE_TERMS as TERMS } from "../../src/lease/types";
import { decide } from "../../src/limiter/decide";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

const T0 = 1_800_000_000_000; // a multiple of every window below
const fixed: CounterSpec = { name: "f", algorithm: "fixed", limit: 1_000, windowMs: 60_000, cost: 1 };
const bucket: CounterSpec = { name: "b", algorithm: "token-bucket", limit: 100, windowMs: 1_000, burst: 800, cost: 1 };

function apply(states: Map<string, CounterState>, updates: Map<string, CounterState>, now: number) {
  for (const [name, state] of updates) states.set(name, carryLent(states.get(name), state, now));
}

/** Plain requests at one instant until one is refused; returns how many were admitted. */
function admitAll(states: Map<string, CounterState>, specs: CounterSpec[], now: number): number {
  for (let n = 0; ; n++) {
    const { outcome, updates } = decide(states, specs, now, "");
    if (!outcome.allowed) return n;
    apply(states, updates, now);
  }
}

describe("lease sizing", () => {
  it("lends nothing below the minimum room, and an eighth of the room from it", () => {
    expect(leaseUnits({ want: 100, held: 0 }, 63, TERMS)).toBe(0);
    expect(leaseUnits({ want: 100, held: 0 }, 64, TERMS)).toBe(8);
    expect(leaseUnits({ want: 5, held: 0 }, 1_000, TERMS)).toBe(5);
  });

  it("counts what the isolate already holds against its share", () => {
    expect(leaseUnits({ want: 100, held: 8 }, 800, TERMS)).toBe(93); // (800 + 8) / 8 = 101, minus 8 held
    expect(leaseUnits({ want: 100, held: 9 }, 64, TERMS)).toBe(0); // (64 + 9) / 8 = 9, minus 9 held
  });

  it("never hands out a login limit of 50: the request is decided, no lease comes with it", () => {
    const login: CounterSpec = { name: "login", algorithm: "fixed", limit: 50, windowMs: 900_000, cost: 1 };
    const { answer } = takeAndLend(new Map(), [login], T0, { want: 1_000, held: 0 }, 1, TERMS);
    expect(answer.allowed).toBe(true);
    expect(answer.counters[0]!.result.remaining).toBe(49);
    expect(answer.grant).toBeUndefined();
  });

  it("does not lease concurrency slots", () => {
    const slots: CounterSpec = { name: "c", algorithm: "concurrency", limit: 1_000, windowMs: 0, cost: 1 };
    expect(lend(new Map(), [slots], T0, { want: 10, held: 0 }, 1, TERMS).grant).toBeUndefined();
  });
});

describe("fixed window leases", () => {
  it("charges the lease in its window: what is left for plain requests is exactly the rest", () => {
    const states = new Map<string, CounterState>();
    const { grant, updates } = lend(states, [fixed], T0 + 1_000, { want: 40, held: 0 }, 7, TERMS);
    expect(grant).toMatchObject({ id: 7, units: 40, lifetimeMs: 2_000 });
    expect(grant!.results[0]!.remaining).toBe(960);
    apply(states, updates, T0 + 1_000);
    expect(leasedOut(states.get("f"), T0 + 1_000)).toBe(40);
    expect(admitAll(states, [fixed], T0 + 1_001)).toBe(960);
  });

  it("ends a lease with its window, and lends nothing in a window's last 100 ms", () => {
    const near = lend(new Map(), [fixed], T0 + 60_000 - 500, { want: 40, held: 0 }, 1, TERMS);
    expect(near.grant?.lifetimeMs).toBe(500);
    expect(lend(new Map(), [fixed], T0 + 60_000 - 100, { want: 40, held: 0 }, 1, TERMS).grant?.lifetimeMs).toBe(100);
    expect(lend(new Map(), [fixed], T0 + 60_000 - 99, { want: 40, held: 0 }, 1, TERMS).grant).toBeUndefined();
  });

  it("takes back unused units once, no more than were lent, and only into the window they came from", () => {
    const states = new Map<string, CounterState>();
    apply(states, lend(states, [fixed], T0, { want: 40, held: 0 }, 7, TERMS).updates, T0);
    apply(states, takeBack(states, [fixed], T0 + 10, 7, 30), T0 + 10);
    expect((states.get("f") as { count: number }).count).toBe(10);
    expect(takeBack(states, [fixed], T0 + 20, 7, 30).size).toBe(0); // the same lease again: nothing
    expect(takeBack(states, [fixed], T0 + 20, 8, 30).size).toBe(0); // a lease it never lent: nothing

    const other = new Map<string, CounterState>();
    apply(other, lend(other, [fixed], T0, { want: 40, held: 0 }, 9, TERMS).updates, T0);
    apply(other, takeBack(other, [fixed], T0 + 10, 9, 1_000), T0 + 10);
    expect((other.get("f") as { count: number }).count).toBe(0); // clamped at the 40 lent

    const late = new Map<string, CounterState>();
    apply(late, lend(late, [fixed], T0 + 59_000, { want: 40, held: 0 }, 3, TERMS).updates, T0 + 59_000);
    expect(takeBack(late, [fixed], T0 + 60_000, 3, 40).size).toBe(0); // its window is over
  });

  it("gives back after expiry too, while the window lasts: the isolate stopped using it at expiry", () => {
    const states = new Map<string, CounterState>();
    apply(states, lend(states, [fixed], T0, { want: 40, held: 0 }, 7, TERMS).updates, T0);
    apply(states, takeBack(states, [fixed], T0 + 30_000, 7, 15), T0 + 30_000);
    expect((states.get("f") as { count: number }).count).toBe(25);
    expect(leasedOut(states.get("f"), T0 + 30_000)).toBe(0);
  });

  it("keeps units still out on leases charged through a reset, and only those", () => {
    const states = new Map<string, CounterState>();
    apply(states, lend(states, [fixed], T0, { want: 40, held: 0 }, 7, TERMS).updates, T0);
    expect(admitAll(states, [fixed], T0 + 1)).toBe(960);
    const kept = keepLent(states.get("f"), T0 + 2);
    expect(kept).toMatchObject({ algorithm: "fixed", windowStart: T0, count: 40 });
    const after = new Map<string, CounterState>([["f", kept!]]);
    expect(admitAll(after, [fixed], T0 + 3)).toBe(960);
    expect(keepLent(states.get("f"), T0 + 2_000)).toBeUndefined(); // the lease has ended
  });
});

describe("token bucket leases", () => {
  it("accounts leased units as used at the end of the lease: exactly that much room is left at once", () => {
    // 100 per s (an interval of 10 ms), burst 800: a lifetime may cost an eighth of 8 s, so 1 s = 100 tokens.
    const states = new Map<string, CounterState>();
    const { grant, updates } = lend(states, [bucket], T0, { want: 50, held: 0 }, 1, TERMS);
    expect(grant).toMatchObject({ units: 50, lifetimeMs: 1_000 });
    expect(grant!.results[0]!.remaining).toBe(650); // 800 - 100 (the lifetime) - 50 (the lease)
    apply(states, updates, T0);
    expect(admitAll(states, [bucket], T0)).toBe(650);
  });

  it("gives nothing back to a bucket, and keeps the lease known across plain requests", () => {
    const states = new Map<string, CounterState>();
    apply(states, lend(states, [bucket], T0, { want: 50, held: 0 }, 1, TERMS).updates, T0);
    apply(states, decide(states, [bucket], T0 + 5, "").updates, T0 + 5);
    expect(leasedOut(states.get("b"), T0 + 5)).toBe(50);
    const before = JSON.stringify({ ...states.get("b"), lent: undefined });
    apply(states, takeBack(states, [bucket], T0 + 6, 1, 50), T0 + 6);
    expect(JSON.stringify({ ...states.get("b"), lent: undefined })).toBe(before);
    expect(leasedOut(states.get("b"), T0 + 6)).toBe(0);
  });

  it("after a reset, holds back the units still out until the end of their lease", () => {
    const states = new Map<string, CounterState>();
    apply(states, lend(states, [bucket], T0, { want: 50, held: 0 }, 1, TERMS).updates, T0);
    const kept = new Map<string, CounterState>([["b", keepLent(states.get("b"), T0 + 10, bucket)!]]);
    // As lent at the reset: 990 ms of the lifetime still to run (99 tokens) plus the 50 units.
    expect(admitAll(kept, [bucket], T0 + 10)).toBe(800 - 99 - 50);
  });
});
