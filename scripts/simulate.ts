/**
 * `npm run simulate`: leased quota against the exact single-object
 * reference, for many isolates and workloads. Prints a Markdown table; exits
 * non-zero on any over-admission.
 *
 * Options: `--quick` (shorter runs), `--isolates 1,4,16,64`, `--only <text>` (scenarios whose name contains it),
 * `--tree` (the tree-of-leases set at one hot key instead: 10,000 and 100,000 requests/s; its scenarios
 * bring their own isolate counts; `--only` also finds them by name, e.g. `--only tree`).
 */
import { scenarios, treeScenarios } from "./simulation/scenarios";
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
const outcomes: Outcome[] = [];
const durationMs = quick ? 8_000 : 20_000;
const hotKeys = treeScenarios({ durationMs });
// The hot-key set runs with --tree, or when --only names some of it (e.g. `--only tree`, `--only 10k/s`).
const selected = tree ? hotKeys : only ? [...scenarios({ durationMs }), ...hotKeys] : scenarios({ durationMs });
const hotKeyNames = new Set(hotKeys.map((s) => s.name));
for (const scenario of selected) {
  if (only && !scenario.name.includes(only)) continue;
  for (const isolates of scenario.isolates ? [scenario.isolates] : isolateCounts) {
    const outcome = await simulate(scenario, isolates);
    outcomes.push(outcome);
    process.stderr.write(
      `${scenario.name} x${isolates}: over ${outcome.overAdmissions}, under ${outcome.underAdmission}, calls ${outcome.calls}, busiest ${outcome.busiest.object} ${outcome.busiest.callsPerSecond}/s in second ${outcome.busiest.second} (after the 1st s: ${outcome.busiestWarm.object} ${outcome.busiestWarm.callsPerSecond}/s in second ${outcome.busiestWarm.second}), root ${outcome.rootPeak.callsPerSecond}/s in second ${outcome.rootPeak.second}\n`,
    );
    for (const over of outcome.firstOver) process.stderr.write(`  over-admitted: ${JSON.stringify(over)}\n`);
  }
}
const allHotKeys = outcomes.length > 0 && outcomes.every((o) => hotKeyNames.has(o.scenario));
process.stdout.write(`${allHotKeys ? treeTable(outcomes) : markdownTable(outcomes)}\n`);
const over = outcomes.reduce((sum, o) => sum + o.overAdmissions, 0);
if (over > 0) {
  process.stderr.write(`${over} over-admissions\n`);
  process.exitCode = 1;
}
