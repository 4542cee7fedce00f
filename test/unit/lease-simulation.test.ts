/**
 * The simulation's small set, in CI: isolates running the real leasing code
 * against one object per key, every admission judged by the exact
 * single-object algorithm. Any over-admission fails.
 */
import { describe, expect, it } from "vitest";
import { scenarios } from "../../scripts/simulation/scenarios";
import { simulate } from "../../scripts/simulation/world";

const CI_SET = [
  "steady, fixed 1000/10s",
  "steady, sliding 1000/10s",
  "bursty, token bucket 100/s burst 500",
  "steady, three limits (1s, 1m, bucket)",
  "Zipf keys (1000, s=1.1), fixed 100/10s",
  "login 50/15min (no leases)",
  "isolates die holding leases, fixed",
  "charges given back (70% failures-only successes), fixed",
  "policy change mid-window (1000 -> 400 /10s)",
  "object restart mid-window, bucket",
  "reset (DELETE /keys) mid-window, fixed",
];

describe("leased quota simulation (CI set)", () => {
  const all = scenarios({ durationMs: 6_000 });
  for (const name of CI_SET) {
    const scenario = all.find((s) => s.name === name);
    it(`${name}: no over-admission with 4 and 16 isolates`, async () => {
      expect(scenario).toBeDefined();
      for (const isolates of [4, 16]) {
        const outcome = await simulate(scenario!, isolates);
        expect(outcome.firstOver).toEqual([]);
        expect(outcome.overAdmissions).toBe(0);
        expect(outcome.admitted).toBeGreaterThan(0);
      }
    });
  }

  it("leases a hot key: most admissions need no call", async () => {
    const steady = all.find((s) => s.name === "steady, fixed 1000/10s")!;
    const outcome = await simulate(steady, 4);
    expect(outcome.fromLease / outcome.admitted).toBeGreaterThan(0.5);
  });

  it("never leases a login limit of 50: every request asks the object, and it admits exactly what one object would", async () => {
    const login = all.find((s) => s.name === "login 50/15min (no leases)")!;
    const outcome = await simulate(login, 16);
    expect(outcome.fromLease).toBe(0);
    expect(outcome.calls).toBe(outcome.demand);
    // The run crosses a 15-minute boundary: 50 before it, and what came after it (under 50).
    expect(outcome.ideal).toBeGreaterThan(50);
    expect(outcome.admitted).toBe(outcome.ideal);
  });
});
