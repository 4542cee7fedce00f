/**
 * `onLimit.delay` in the simulated world: isolates send every request to its
 * key's object, which reserves a held request's slot; each is counted by the
 * judge when its isolate forwards it after waiting. No over-admission, and
 * requests were held (and some refused past the bound or the cap).
 */
import { describe, expect, it } from "vitest";
import { delayScenarios } from "../../scripts/simulation/scenarios";
import { simulate } from "../../scripts/simulation/world";

describe("delay instead of refuse, simulated", () => {
  for (const scenario of delayScenarios({ durationMs: 6_000 })) {
    it(`${scenario.name}: no over-admission with 4 and 16 isolates`, async () => {
      for (const isolates of [4, 16]) {
        const outcome = await simulate(scenario, isolates);
        expect(outcome.firstOver).toEqual([]);
        expect(outcome.overAdmissions).toBe(0);
        expect(outcome.early).toBe(0);
        expect(outcome.admitted).toBeGreaterThan(0);
        expect(outcome.admitted).toBeLessThan(outcome.demand);
      }
    });
  }
});
