/**
 * `npm run simulate`: leased quota judged by an independent exact reference
 * (scripts/simulation/judge/, written from docs/policy.md), for many isolates,
 * workloads and faults. Prints a Markdown table; exits non-zero on any
 * over-admission.
 *
 * Options:
 * - `--quick` (shorter runs), `--isolates 1,4,16,64`, `--only <text>` (scenarios whose name contains it);
 * - `--tree`: the tree-of-leases set at one hot key instead (its scenarios bring their own isolate counts;
 *   `--only` also finds them by name, e.g. `--only tree`);
 * - `--seed N`: replays random world N (all drawn from N: algorithm, flat or tree, load, faults);
 * - `--seeds K` (or `--random K`): K fresh random worlds; prints every failing seed, to replay with `--seed`;
 * - `--geo`: keys used from several continents (scripts/simulation/geo-scenarios.ts), each with one root,
 *   with hashed shards and with regional shards; prints per region the added latency, far decisions and
 *   fail-opens beside exactness and unused room (`--only` filters by name);
 * - `--mutants`: injects known bugs at the simulation's seams and requires the judge to catch each
 *   (exits non-zero if one goes unseen).
 */
import { randomInt } from "node:crypto";
import { type GeoRow, geoTable } from "./simulation/geo";
import { geoScenarios } from "./simulation/geo-scenarios";
import { MUTANT_CHECKS } from "./simulation/mutants";
import {
  delayScenarios,
  harshScenarios,
  harshTreeScenarios,
  randomScenario,
  scenarios,
  settleScenarios,
  targetedScenarios,
  treeScenarios,
} from "./simulation/scenarios";
import { playSequences } from "./simulation/sequences";
import { markdownTable, treeTable } from "./simulation/table";
import { type Outcome, simulate } from "./simulation/world";

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const tree = process.argv.includes("--tree");
const isolateCounts = (option("--isolates") ?? "1,4,16,64").split(",").map(Number);
const only = option("--only");
const seedOption = option("--seed");
const seedsOption = option("--seeds") ?? option("--random");
const outcomes: Outcome[] = [];
const durationMs = quick ? 8_000 : 20_000;
const started = Date.now();

function report(outcome: Outcome): void {
  process.stderr.write(
    `${outcome.scenario}${outcome.mutant ? ` [mutant ${outcome.mutant}]` : ""} x${outcome.isolates} (seed ${outcome.seed}): over ${outcome.overAdmissions}, under ${outcome.underAdmission}, unused in saturated windows ${outcome.saturatedUnused}/${outcome.saturatedIdeal}, calls ${outcome.calls}, errors ${outcome.errors}, busiest ${outcome.busiest.object} ${outcome.busiest.callsPerSecond}/s in second ${outcome.busiest.second}, root ${outcome.rootPeak.callsPerSecond}/s in second ${outcome.rootPeak.second}\n`,
  );
  for (const over of outcome.firstOver) process.stderr.write(`  over-admitted: ${JSON.stringify(over)}\n`);
}

if (process.argv.includes("--geo")) {
  const rows: GeoRow[] = [];
  for (const scenario of geoScenarios({ durationMs })) {
    if (only && !scenario.name.includes(only)) continue;
    const outcome = await simulate(scenario, scenario.isolates);
    report(outcome);
    for (const r of outcome.regions ?? [])
      process.stderr.write(
        `  ${r.region}: p50 ${r.p50} p99 ${r.p99.toFixed(1)} max ${r.max.toFixed(0)} ms, far ${r.far}/${r.decided}, fail-open ${r.failOpen} (fixed 50 ms: ${r.failOpenFixed})\n`,
      );
    rows.push({
      workload: scenario.workload,
      layout: scenario.layout,
      regions: outcome.regions ?? [],
      overAdmissions: outcome.overAdmissions,
      saturatedUnused: outcome.saturatedUnused,
      saturatedIdeal: outcome.saturatedIdeal,
      worstWindowUnused: outcome.worstWindowUnused,
      saturatedWindows: outcome.saturatedWindows,
      rootPeakWarm: outcome.rootPeakWarm.callsPerSecond,
      rootCallsPerSecond: outcome.rootCallsPerSecond,
    });
    outcomes.push(outcome);
  }
  process.stdout.write(`${geoTable(rows)}\n`);
  const over = outcomes.reduce((sum, o) => sum + o.overAdmissions, 0);
  process.stderr.write(`geo: ${over} over-admissions (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (over > 0) process.exitCode = 1;
} else if (process.argv.includes("--mutants")) {
  // Every mutant on its scenarios: caught when the judge reports an over-admission in any of its runs.
  let missed = 0;
  const lines = ["| mutant | runs | runs that caught it | over-admissions found |", "|---|--:|--:|--:|"];
  for (const check of MUTANT_CHECKS) {
    let caught = 0;
    let over = 0;
    let runs = 0;
    for (const run of check.runs(quick)) {
      const outcome = await simulate(run.scenario, run.isolates, run.seed, { mutant: check.mutant });
      runs++;
      over += outcome.overAdmissions;
      if (outcome.overAdmissions > 0) caught++;
      process.stderr.write(
        `${check.mutant}: ${run.scenario.name} x${run.isolates} seed ${run.seed}: over ${outcome.overAdmissions}\n`,
      );
    }
    if (caught === 0) missed++;
    lines.push(`| ${check.mutant} | ${runs} | ${caught} | ${over} |`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  process.stderr.write(
    `mutants: ${MUTANT_CHECKS.length - missed} of ${MUTANT_CHECKS.length} caught (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  if (missed > 0) process.exitCode = 1;
} else if (seedOption !== undefined || seedsOption !== undefined) {
  const seeds =
    seedOption !== undefined
      ? seedOption.split(",").map(Number)
      : Array.from({ length: Number(seedsOption) }, () => randomInt(1, 2 ** 31 - 1));
  const failing: number[] = [];
  for (const seed of seeds) {
    const { scenario, isolates } = randomScenario(seed, quick ? 3_000 : 5_000);
    const outcome = await simulate(scenario, isolates, seed);
    outcomes.push(outcome);
    report(outcome);
    if (outcome.overAdmissions > 0) failing.push(seed);
  }
  process.stdout.write(`${markdownTable(outcomes)}\n`);
  const over = outcomes.reduce((sum, o) => sum + o.overAdmissions, 0);
  process.stderr.write(
    `${seeds.length} random runs, ${over} over-admissions (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  if (failing.length > 0) {
    process.stderr.write(`failing seeds (replay with npm run simulate -- --seed N): ${failing.join(", ")}\n`);
    process.exitCode = 1;
  }
} else {
  const hotKeys = [...treeScenarios({ durationMs }), ...harshTreeScenarios({ durationMs })];
  const flat = [
    ...scenarios({ durationMs }),
    ...harshScenarios({ durationMs }),
    ...targetedScenarios(),
    ...delayScenarios({ durationMs }),
    ...settleScenarios({ durationMs }),
  ];
  // The hot-key set runs with --tree, or when --only names some of it (e.g. `--only tree`, `--only 10k/s`).
  const selected = tree ? hotKeys : only ? [...flat, ...hotKeys] : flat;
  const hotKeyNames = new Set(hotKeys.map((s) => s.name));
  for (const scenario of selected) {
    if (only && !scenario.name.includes(only)) continue;
    for (const isolates of scenario.isolates ? [scenario.isolates] : isolateCounts) {
      const outcome = await simulate(scenario, isolates);
      outcomes.push(outcome);
      report(outcome);
    }
  }
  // The sequences of issue 26, played step by step against the object.
  if (!tree) {
    for (const outcome of playSequences()) {
      if (only && !outcome.scenario.includes(only)) continue;
      outcomes.push(outcome);
      report(outcome);
    }
  }
  const allHotKeys = outcomes.length > 0 && outcomes.every((o) => hotKeyNames.has(o.scenario));
  process.stdout.write(`${allHotKeys ? treeTable(outcomes) : markdownTable(outcomes)}\n`);
  const over = outcomes.reduce((sum, o) => sum + o.overAdmissions, 0);
  if (over > 0) {
    process.stderr.write(`${over} over-admissions\n`);
    process.exitCode = 1;
  }
  const early = outcomes.reduce((sum, o) => sum + o.early, 0);
  if (early > 0) {
    process.stderr.write(`${early} held requests forwarded before their slot\n`);
    process.exitCode = 1;
  }
}
