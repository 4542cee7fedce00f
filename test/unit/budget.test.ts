import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUDGET_MULTIPLIER, ROUND_TRIP_IDLE_MS, RoundTrips } from "../../src/engine/budget";

const terms = { floorMs: 50, ceilingMs: 2000 };
const T0 = 1_000_000;

/** `n` calls of `key`, each answered after `ms`, one every 10 ms from `from`; returns the time of the last. */
function observeMany(trips: RoundTrips, key: string, ms: number, n: number, from = T0): number {
  let now = from;
  for (let i = 0; i < n; i++) {
    now += 10;
    trips.observe(key, ms, now);
  }
  return now;
}

describe("RoundTrips: a call's time budget", () => {
  it("gives a key it has not heard from the ceiling (a new object, a cold start, a far object's first call)", () => {
    const trips = new RoundTrips();
    expect(trips.budget("ip:203.0.113.7", terms, T0)).toBe(2000);
  });

  it("keeps a near object at the floor: 5 ms round trips give 50 ms", () => {
    const trips = new RoundTrips();
    const now = observeMany(trips, "ip:a", 5, 50);
    expect(trips.budget("ip:a", terms, now)).toBe(50);
  });

  it("waits for a far object: steady 200 ms round trips give 4 x (srtt + 4 rttvar), well above 200 and under the ceiling", () => {
    const trips = new RoundTrips();
    const now = observeMany(trips, "tenant:far", 200, 60);
    const e = trips.estimate("tenant:far")!;
    expect(e.srtt).toBeCloseTo(200, 6);
    expect(trips.budget("tenant:far", terms, now)).toBe(Math.ceil(BUDGET_MULTIPLIER * (e.srtt + 4 * e.rttvar)));
    expect(trips.budget("tenant:far", terms, now)).toBeGreaterThanOrEqual(800);
    expect(trips.budget("tenant:far", terms, now)).toBeLessThan(2000);
  });

  it("follows RFC 6298: the first sample sets srtt = R and rttvar = R/2, later ones move them by 1/8 and 1/4", () => {
    const trips = new RoundTrips();
    trips.observe("k", 100, T0);
    expect(trips.estimate("k")).toEqual({ srtt: 100, rttvar: 50, at: T0 });
    // First call of a key that took 100 ms: 4 x (100 + 200) = 1200.
    expect(trips.budget("k", terms, T0)).toBe(1200);
    trips.observe("k", 20, T0 + 1);
    // rttvar = 3/4 x 50 + 1/4 x |100 - 20| = 57.5; srtt = 7/8 x 100 + 1/8 x 20 = 90.
    expect(trips.estimate("k")).toEqual({ srtt: 90, rttvar: 57.5, at: T0 + 1 });
    expect(trips.budget("k", terms, T0 + 1)).toBe(1280);
  });

  it("never waits past the ceiling, whatever the object took", () => {
    const trips = new RoundTrips();
    const now = observeMany(trips, "k", 5000, 5);
    expect(trips.budget("k", terms, now)).toBe(2000);
  });

  it("budgets a key idle for longer than ROUND_TRIP_IDLE_MS as a new one (its object may have left memory)", () => {
    const trips = new RoundTrips();
    const now = observeMany(trips, "k", 5, 20);
    expect(trips.budget("k", terms, now + ROUND_TRIP_IDLE_MS)).toBe(50);
    expect(trips.budget("k", terms, now + ROUND_TRIP_IDLE_MS + 1)).toBe(2000);
  });

  it("LIMITER_TIMEOUT_MS = 0 is no budget at all; a ceiling at or below the floor is a fixed budget (the old behaviour)", () => {
    const trips = new RoundTrips();
    observeMany(trips, "k", 5, 20);
    expect(trips.budget("k", { floorMs: 0, ceilingMs: 2000 }, T0)).toBe(0);
    expect(trips.budget("new", { floorMs: 0, ceilingMs: 2000 }, T0)).toBe(0);
    expect(trips.budget("new", { floorMs: 50, ceilingMs: 0 }, T0)).toBe(50);
    expect(trips.budget("new", { floorMs: 5000, ceilingMs: 2000 }, T0)).toBe(5000);
    expect(trips.budget("k", { floorMs: 50, ceilingMs: 50 }, T0 + 200)).toBe(50);
  });

  it("stays bounded when clients invent keys, forgetting the least recently heard from first", () => {
    const trips = new RoundTrips(100);
    let now = T0;
    trips.observe("tenant:kept", 5, now);
    for (let i = 0; i < 250; i++) {
      trips.observe(`ip:10.0.0.${i}`, 5, ++now);
      if (i % 50 === 0) trips.observe("tenant:kept", 5, ++now); // heard from again: not the oldest
    }
    expect(trips.size).toBe(100);
    expect(trips.estimate("tenant:kept")).toBeDefined();
    expect(trips.estimate("ip:10.0.0.0")).toBeUndefined();
    expect(trips.budget("ip:10.0.0.0", terms, now)).toBe(2000);
  });

  it("a flood of new keys can make a key's budget longer (forgotten: the ceiling), never shorter (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 500 }),
        (samples, flood) => {
          const trips = new RoundTrips(64);
          let now = T0;
          for (const s of samples) trips.observe("victim", s, ++now);
          const before = trips.budget("victim", terms, now);
          for (let i = 0; i < flood; i++) trips.observe(`ip:${i}`, 0, ++now);
          // Time moves on only by the flood's own calls, well within the idle limit.
          expect(trips.budget("victim", terms, now)).toBeGreaterThanOrEqual(before);
        },
      ),
    );
  });

  it("never gives up on a call within 4x the quickest round trip the key has shown (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 50 }),
        (quickest, spread) => {
          const trips = new RoundTrips();
          let now = T0;
          // Every sample between the quickest and 4x it.
          for (const s of spread) trips.observe("k", quickest + (s % (3 * quickest + 1)), ++now);
          const budget = trips.budget("k", terms, now);
          expect(budget).toBeGreaterThanOrEqual(Math.min(terms.ceilingMs, 4 * quickest));
          expect(budget).toBeGreaterThanOrEqual(terms.floorMs);
          expect(budget).toBeLessThanOrEqual(terms.ceilingMs);
        },
      ),
    );
  });
});
