/**
 * The judge can fail: known bugs injected at the simulation's seams (never
 * into src/) must each be reported as over-admissions, on runs the real code
 * passes with none. Plus the sequences of issue 26 against the real object,
 * and a few random worlds (fixed seeds, and fresh ones whose seeds are
 * printed when they fail: replay with `npm run simulate -- --quick --seed N`, the 3 s world they ran).
 */
import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MUTANT_CHECKS } from "../../scripts/simulation/mutants";
import { randomScenario, targetedScenarios } from "../../scripts/simulation/scenarios";
import { playSequences } from "../../scripts/simulation/sequences";
import { simulate } from "../../scripts/simulation/world";

describe("judge mutations: every injected bug is caught", () => {
  for (const check of MUTANT_CHECKS) {
    it(`${check.mutant}: over-admissions reported on its runs`, async () => {
      const [first] = check.runs(true);
      expect(first).toBeDefined();
      const outcome = await simulate(first!.scenario, first!.isolates, first!.seed, { mutant: check.mutant });
      expect(outcome.overAdmissions).toBeGreaterThan(0);
    }, 60_000);
  }

  it("the same runs without a mutant: no over-admission", async () => {
    for (const scenario of targetedScenarios()) {
      const outcome = await simulate(scenario, 4, 1);
      expect(outcome.firstOver, scenario.name).toEqual([]);
      expect(outcome.admitted).toBeGreaterThan(0);
    }
  }, 120_000);
});

describe("issue 26 sequences against the object", () => {
  // Before the fix in src/ (charges carry their epoch; a bucket refund gives back only the room its charge
  // still holds) these admitted 218 vs 200, 101 vs 100 and 110 vs 100.
  for (const [i, outcome] of playSequences().entries()) {
    it(`${outcome.scenario} (#${i + 1}): no over-admission`, () => {
      expect(outcome.overAdmissions).toBe(0);
    });
  }
});

describe("random worlds (npm run simulate -- --quick --seed N replays a 3 s one)", () => {
  it("fixed seeds: no over-admission", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { scenario, isolates } = randomScenario(seed, 3_000);
      const outcome = await simulate(scenario, isolates, seed);
      expect(outcome.firstOver, `seed ${seed}: ${scenario.name}`).toEqual([]);
    }
  }, 120_000);

  it("seeds that once failed, as `npm run simulate -- --seed N` plays them: no over-admission", async () => {
    // 1922077689: a tree's plain checks refunded at the root were not logged as refunds (the simulation's
    // bug, not the limiter's; 1702740696 was the same). 1131049676: a staged rollout of three limits, judged
    // stricter than the definitions in docs/leases.md ("Rollouts") before the judge followed them.
    for (const seed of [1922077689, 1131049676]) {
      const { scenario, isolates } = randomScenario(seed, 5_000);
      const outcome = await simulate(scenario, isolates, seed);
      expect(outcome.firstOver, `seed ${seed}: ${scenario.name}`).toEqual([]);
    }
  }, 120_000);

  it("fresh seeds: no over-admission (a failure names its seed)", async () => {
    for (let i = 0; i < 4; i++) {
      const seed = randomInt(1, 2 ** 31 - 1);
      const { scenario, isolates } = randomScenario(seed, 3_000);
      const outcome = await simulate(scenario, isolates, seed);
      expect(outcome.firstOver, `replay with: npm run simulate -- --quick --seed ${seed} (${scenario.name})`).toEqual(
        [],
      );
    }
  }, 120_000);
});
