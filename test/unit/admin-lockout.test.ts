/**
 * The admin lockout counts wrong tokens through the counter-store port, whose Workers store leases
 * quota to isolates. Its exactness (the failure charged in the object before the token is compared)
 * holds because its counter is never leased: these tests fail if the leasing terms or the lockout's
 * limit change so that it would be.
 */
import { describe, expect, it } from "vitest";
import { ADMIN_FAILURES, ADMIN_UNLOCKS, lockoutObjectName } from "../../src/admin/lockout-counter";
import { readLockoutRecord, readUnlockMarker, ttlSeconds, unlockMarker } from "../../src/admin/unlock-key";
import { type LeaseTransport, LeasingClient } from "../../src/lease/client";
import { leaseUnits, lend } from "../../src/lease/ledger";
import { takeAndLend } from "../../src/lease/take";
import { DEFAULT_LEASE_TERMS } from "../../src/lease/types";
import { answerOf } from "../../src/limiter/answer";
import { decide } from "../../src/limiter/decide";
import type { CounterState } from "../../src/limiter/types";

const T0 = 1_800_000_000_000;

describe("the admin lockout's counter", () => {
  it("is never lent: its whole limit is less room than the object lends from", () => {
    expect(leaseUnits({ want: 1_000, held: 0 }, ADMIN_FAILURES.limit, DEFAULT_LEASE_TERMS)).toBe(0);
    // Nor is the one-unlock-per-lockout counter, whose window is the lockout's.
    expect(leaseUnits({ want: 1_000, held: 0 }, ADMIN_UNLOCKS.limit, DEFAULT_LEASE_TERMS)).toBe(0);
    expect(ADMIN_UNLOCKS).toMatchObject({ algorithm: "fixed", limit: 1, windowMs: ADMIN_FAILURES.windowMs });
  });

  it("is decided in the object on every guess: 200 at once from one address, exactly 10 charged, none from a lease", async () => {
    const now = T0 + 1_000;
    const states = new Map<string, CounterState>();
    const calls = { check: 0, take: 0, lend: 0 };
    const transport: LeaseTransport = {
      async check(specs) {
        calls.check++;
        const decision = decide(states, specs, now, "");
        for (const [name, state] of decision.updates) states.set(name, state);
        return answerOf(specs, decision, now);
      },
      async take(specs, ask) {
        calls.take++;
        const { answer, updates } = takeAndLend(states, specs, now, ask, 1, DEFAULT_LEASE_TERMS);
        for (const [name, state] of updates) states.set(name, state);
        return { ...answer, now };
      },
      async lend(specs, ask) {
        calls.lend++;
        return lend(states, specs, now, ask, 2, DEFAULT_LEASE_TERMS).grant;
      },
      giveBack: async () => {},
      waitUntil: () => {},
    };
    const client = new LeasingClient({ clock: () => now });
    const key = lockoutObjectName("203.0.113.7");
    const decisions = await Promise.all(
      Array.from({ length: 200 }, () => client.admit(key, [ADMIN_FAILURES], transport)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.filter((d) => d.local)).toHaveLength(0);
    expect(calls).toEqual({ check: 200, take: 0, lend: 0 });
    // And once more after the burst, with the client's view of the room up to date.
    const after = await client.admit(key, [ADMIN_FAILURES], transport);
    expect(after).toMatchObject({ allowed: false, local: false });
    expect(calls.check).toBe(201);
  });
});

describe("unlock markers", () => {
  it("name the lockout they lift; anything else (the old ISO date, garbage) names none", () => {
    expect(readUnlockMarker(unlockMarker(T0))).toBe(T0);
    expect(readUnlockMarker(null)).toBeUndefined();
    expect(readUnlockMarker("2026-11-23T10:00:00.000Z")).toBeUndefined();
    expect(readUnlockMarker('{"lifts":"1800000000000"}')).toBeUndefined();
    expect(readUnlockMarker('{"lifts":-1}')).toBeUndefined();
    expect(readUnlockMarker("null")).toBeUndefined();
    expect(readLockoutRecord('{"until":1800000000000}')).toBe(T0);
    expect(readLockoutRecord(unlockMarker(T0))).toBeUndefined();
  });

  it("expire with their lockout, and never sooner than KV's 60 s minimum", () => {
    expect(ttlSeconds(T0 + 600_000, T0)).toBe(600);
    expect(ttlSeconds(T0 + 600_001, T0)).toBe(601);
    expect(ttlSeconds(T0 + 5_000, T0)).toBe(60);
    expect(ttlSeconds(T0 - 5_000, T0)).toBe(60);
  });
});
