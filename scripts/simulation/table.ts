/** The simulation's results as a Markdown table. */
import type { Outcome } from "./world";

const pct = (part: number, whole: number) => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);

export function markdownTable(outcomes: readonly Outcome[]): string {
  const lines = [
    "| scenario | isolates | demand | admitted | over-admissions | under-admission (of ideal) | from a lease | object calls per admitted |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const o of outcomes) {
    lines.push(
      `| ${o.scenario} | ${o.isolates} | ${o.demand} | ${o.admitted} | **${o.overAdmissions}** | ${o.underAdmission} (${pct(o.underAdmission, o.ideal)}) | ${pct(o.fromLease, o.admitted)} | ${o.admitted === 0 ? "-" : (o.calls / o.admitted).toFixed(3)} |`,
    );
  }
  return lines.join("\n");
}
