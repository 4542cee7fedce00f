/**
 * Known bugs, injected at the simulation's seams (never into src/), and the
 * runs that must catch each (`npm run simulate -- --mutants`,
 * test/unit/judge-mutations.test.ts). Each mutant gets scenarios that give
 * its bug a chance to matter (random traffic alone is weak at timing bugs):
 * - `lease-overrun`: isolates use a lease 300 ms past its end (a window that
 *   turned meanwhile, a bucket that refilled);
 * - `bucket-charged-at-grant`: a bucket's lease charged at its grant, not at
 *   the end of its lifetime (a burst at the end of the lease finds both the
 *   held units and a refilled bucket);
 * - `double-refund`: every refund applied twice (at the object and into a lease);
 * - `stale-reset`: `DELETE /keys` keeps the units out on leases in a stale
 *   window, so the current one starts empty while they are still used;
 * - `settle-lost-debt`: a settle above its estimate never reaches the object
 *   (its give-backs still do), so requests are admitted into a debt.
 */
import { settleScenarios, targetedScenarios } from "./scenarios";
import type { Mutant, Scenario } from "./world";

export interface MutantCheck {
  mutant: Mutant;
  runs(quick: boolean): { scenario: Scenario; isolates: number; seed: number }[];
}

function named(list: Scenario[], ...names: string[]): Scenario[] {
  return names.map((name) => {
    const found = list.find((s) => s.name === name);
    if (!found) throw new Error(`no scenario ${name}`);
    return found;
  });
}

/** Each scenario with 4 and 16 isolates, over a few seeds (one with --quick). */
function grid(list: Scenario[], quick: boolean) {
  const seeds = quick ? [1] : [1, 2, 3];
  return list.flatMap((scenario) => [4, 16].flatMap((isolates) => seeds.map((seed) => ({ scenario, isolates, seed }))));
}

const targeted = (quick: boolean, ...names: string[]) => grid(named(targetedScenarios(), ...names), quick);

export const MUTANT_CHECKS: MutantCheck[] = [
  {
    mutant: "lease-overrun",
    runs: (quick) => targeted(quick, "fixed 1000/1s, a burst at every other window's start (leases out at its end)"),
  },
  {
    mutant: "bucket-charged-at-grant",
    runs: (quick) => targeted(quick, "bucket 100/s burst 800, bursts at the end of leases"),
  },
  {
    mutant: "double-refund",
    runs: (quick) =>
      targeted(
        quick,
        "charges given back (70%), fixed 1000/10s used up",
        "charges given back (70%), bucket 100/s burst 500 used up",
      ),
  },
  {
    mutant: "stale-reset",
    runs: (quick) => targeted(quick, "reset with leases out, then the window used up, fixed 1000/10s"),
  },
  {
    mutant: "settle-lost-debt",
    runs: (quick) =>
      grid(named(settleScenarios({ durationMs: 8_000 }), "settle (estimate 10, 0 to 40), fixed 2000/10s"), quick),
  },
];
