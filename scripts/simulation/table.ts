/** The simulation's results as Markdown tables. */
import type { Outcome } from "./world";

const pct = (part: number, whole: number) => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);

/** Room left unused in the windows the demand saturated: over all of them, and the worst one. */
const unused = (o: Outcome) =>
  o.saturatedWindows === 0
    ? "-"
    : `${pct(o.saturatedUnused, o.saturatedIdeal)} (worst ${(100 * o.worstWindowUnused).toFixed(1)}%, ${o.saturatedWindows} windows)`;

export function markdownTable(outcomes: readonly Outcome[]): string {
  const lines = [
    "| scenario | isolates | demand | admitted | over-admissions | under-admission (of ideal) | unused in saturated windows | from a lease | object calls per admitted | busiest object, peak calls/s | root peak calls/s |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const o of outcomes) {
    lines.push(
      `| ${o.scenario} | ${o.isolates} | ${o.demand} | ${o.admitted} | **${o.overAdmissions}** | ${o.underAdmission} (${pct(o.underAdmission, o.ideal)}) | ${unused(o)} | ${pct(o.fromLease, o.admitted)} | ${o.admitted === 0 ? "-" : (o.calls / o.admitted).toFixed(3)} | ${o.busiest.callsPerSecond} | ${o.rootPeak.callsPerSecond} |`,
    );
  }
  return lines.join("\n");
}

/** The tree of leases: per-object load next to exactness. */
export function treeTable(outcomes: readonly Outcome[]): string {
  const lines = [
    "| scenario | isolates | shards | rate (req/s) | demand | admitted | over-admissions | under-admission (of ideal) | unused in saturated windows | busiest object, peak calls/s (after the 1st s) | root peak calls/s (after the 1st s) | root mean calls/s | shard mean calls/s |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const o of outcomes) {
    const shard = o.shards > 0 ? o.shardCallsPerSecond.toFixed(0) : "-";
    lines.push(
      `| ${o.scenario} | ${o.isolates} | ${o.shards || "none"} | ${o.rate} | ${o.demand} | ${o.admitted} | **${o.overAdmissions}** | ${o.underAdmission} (${pct(o.underAdmission, o.ideal)}) | ${unused(o)} | ${o.busiest.callsPerSecond} (${o.busiestWarm.callsPerSecond}) | ${o.rootPeak.callsPerSecond} (${o.rootPeakWarm.callsPerSecond}) | ${o.rootCallsPerSecond.toFixed(0)} | ${shard} |`,
    );
  }
  return lines.join("\n");
}
