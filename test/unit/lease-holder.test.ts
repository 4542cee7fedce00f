/** The isolate's side of a key's leases at its exact boundaries. */
import { describe, expect, it } from "vitest";
import { LeaseHolder } from "../../src/lease/holder";
import type { LeaseGrant } from "../../src/lease/types";

const LENDING = { minUnits: 2, minRoom: 64, maxShare: 1 / 8 };
const TERMS = { safetyMs: 25, refreshLeadMs: 150, rateSlotMs: 250, horizonMs: 1_000, maxWant: 1_000 };

function grant(units: number, lifetimeMs: number, id = 1, remaining = 900): LeaseGrant {
  return {
    id,
    units,
    lifetimeMs,
    results: [{ name: "f", allowed: true, limit: 10_000, remaining, resetAt: 0, retryAfterMs: 0 }],
  };
}

describe("LeaseHolder", () => {
  it("admits a lease's units and not one more", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(3, 2_000), 1_000);
    expect([holder.take(1_001), holder.take(1_002), holder.take(1_003), holder.take(1_004)]).toEqual([
      1,
      1,
      1,
      undefined,
    ]);
  });

  it("expires a lease on its own clock, from when it asked, less the safety margin", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(10, 500), 1_000); // asked at 1000; whatever the object's clock said
    expect(holder.take(1_474)).toBe(1);
    expect(holder.take(1_475)).toBeUndefined();
  });

  it("hands over an expired lease's unused units once, to be given back", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(10, 500, 4), 1_000);
    holder.take(1_100);
    expect(holder.held(2_000)).toBe(0);
    expect(holder.takeLapsed()).toEqual([{ id: 4, unused: 9 }]);
    expect(holder.takeLapsed()).toEqual([]);
  });

  it("takes a handed-back unit into its lease while the lease lives, even once used up", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(1, 500, 3), 1_000);
    expect(holder.take(1_001)).toBe(3);
    expect(holder.take(1_002)).toBeUndefined();
    holder.giveBackUnit(3, 1_003);
    expect(holder.take(1_004)).toBe(3);
    holder.giveBackUnit(3, 1_475); // expired: the unit lapses with its lease
    expect(holder.take(1_476)).toBeUndefined();
  });

  it("ends every lease with its unused units", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(10, 2_000, 1), 1_000);
    holder.accept(grant(5, 2_000, 2), 1_010);
    holder.take(1_020);
    expect(holder.end(1_030)).toEqual([
      { id: 1, unused: 9 },
      { id: 2, unused: 5 },
    ]);
    expect(holder.take(1_040)).toBeUndefined();
  });

  it("asks for what the observed rate uses in the horizon (or the lifetime, if shorter)", () => {
    const holder = new LeaseHolder(TERMS);
    expect(holder.want(0)).toBe(0);
    holder.noteRequest(0);
    expect(holder.want(0)).toBe(0); // one request is no rate
    holder.noteRequest(1);
    expect(holder.want(1)).toBe(Math.ceil((2 / (1 + 250)) * 1_000));
    for (let t = 5; t < 250; t += 5) holder.noteRequest(t); // 51 requests in the first 250 ms slot
    expect(holder.want(249)).toBe(Math.ceil((51 / (249 + 250)) * 1_000));
    holder.accept(grant(1, 400), 249);
    expect(holder.want(249)).toBe(Math.ceil((51 / (249 + 250)) * 400));
  });

  it("shows room as the object had it after the grant plus the units still held", () => {
    const holder = new LeaseHolder(TERMS);
    holder.accept(grant(10, 2_000), 1_000);
    holder.take(1_001);
    expect(holder.results(1_001, [1])![0]!.remaining).toBe(909);
    expect(holder.results(1_001, [2])![0]!.remaining).toBe(918);
  });

  it("asks for the next lease when the units will not last the lead time", () => {
    const holder = new LeaseHolder(TERMS);
    for (let t = 0; t < 250; t += 1) holder.noteRequest(t); // 250 in the first slot: 0.5 per ms at 250
    holder.accept(grant(400, 2_000, 1, 9_000), 0);
    expect(holder.needsRefresh(250, LENDING, [1])).toBe(false); // 400 held, 75 needed in the lead time
    for (let i = 0; i < 325; i++) holder.take(250);
    expect(holder.needsRefresh(250, LENDING, [1])).toBe(false); // 75 held
    holder.take(250);
    expect(holder.needsRefresh(250, LENDING, [1])).toBe(true); // 74 held; its share of 9,000 is far more
  });

  it("does not ask for more than the object would lend: not past its share, nor where the room is small", () => {
    const holder = new LeaseHolder(TERMS);
    for (let t = 0; t < 250; t += 1) holder.noteRequest(t);
    holder.accept(grant(10, 2_000), 0); // the object had 900 left
    expect(holder.needsRefresh(250, LENDING, [1])).toBe(true); // (900 + 10) / 8 = 113: 103 more, over half
    expect(holder.needsRefresh(250, { ...LENDING, maxShare: 0.012 }, [1])).toBe(false); // 10 of 10.9: 0 more
    expect(holder.needsRefresh(250, { ...LENDING, minRoom: 901 }, [1])).toBe(false);
  });

  it("sizes asks by the latest lease's lifetime while it lasts, and by the full horizon once it has ended", () => {
    const holder = new LeaseHolder(TERMS);
    // 10 requests in [0, 250): 10 / (250 + 250) ms = 0.02 per ms.
    for (let t = 0; t < 250; t += 25) holder.noteRequest(t);
    expect(holder.want(250)).toBe(20); // 0.02/ms over the 1 s horizon
    // A lease cut short by its window's end: 125 ms, asked at 250, so usable until 350.
    holder.accept(grant(2, 125), 250);
    expect(holder.want(349)).toBe(3); // 10 / 599 per ms * 125 ms = 2.09, rounded up
    expect(holder.want(350)).toBe(17); // it has ended: 10 / 600 per ms over the whole 1 s horizon = 16.7
  });

  it("counts a counter whose figure has reached its reset time as having room again", () => {
    const holder = new LeaseHolder(TERMS);
    holder.noteResults([{ name: "f", allowed: false, limit: 100, remaining: 0, resetAt: 10_000, retryAfterMs: 0 }]);
    expect(holder.roomAtLeast(64, [1])).toBe(false);
    expect(holder.roomAtLeast(64, [1], 9_999)).toBe(false);
    expect(holder.roomAtLeast(64, [1], 10_000)).toBe(true);
  });

  it("would get more only while its share of the room, as last heard, is not held already", () => {
    const holder = new LeaseHolder(TERMS);
    expect(holder.mayGetMore(0, LENDING, [1])).toBe(false); // nothing heard yet
    // Room 800 after a grant of 100: a share is (800 + 100) / 8 = 112, so 12 more could come.
    holder.accept(grant(100, 2_000, 1, 800), 0);
    expect(holder.mayGetMore(1, LENDING, [1])).toBe(true);
    holder.accept(grant(11, 2_000, 2, 789), 0); // holds 111 of a share of (789 + 111) / 8 = 112
    expect(holder.mayGetMore(1, LENDING, [1])).toBe(false);
  });
});
