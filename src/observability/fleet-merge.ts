/**
 * Merging what the statistics shards answer into one fleet-wide view. Pure.
 * @module
 */
import type { KeyTotal, SeriesRow, Totals } from "./fleet-rows";

export function mergeSeries(parts: SeriesRow[][]): SeriesRow[] {
  const sum = new Map<string, SeriesRow>();
  for (const rows of parts)
    for (const r of rows) {
      const id = JSON.stringify([r.minute, r.rule, r.verdict]);
      const known = sum.get(id);
      if (known) known.n += r.n;
      else sum.set(id, { ...r });
    }
  return [...sum.values()].sort((a, b) => a.minute - b.minute || cmp(a.rule, b.rule) || cmp(a.verdict, b.verdict));
}

/** A key refused on several shards adds up; the heaviest `limit` are kept. */
export function mergeKeys(parts: KeyTotal[][], limit: number): KeyTotal[] {
  const sum = new Map<string, KeyTotal>();
  for (const rows of parts)
    for (const r of rows) {
      const id = JSON.stringify([r.rule, r.key]);
      const known = sum.get(id);
      if (known) {
        known.n += r.n;
        if (known.label === undefined && r.label !== undefined) known.label = r.label;
      } else sum.set(id, { ...r });
    }
  return [...sum.values()].sort((a, b) => b.n - a.n || cmp(a.rule, b.rule) || cmp(a.key, b.key)).slice(0, limit);
}

export function mergeTotals(parts: Totals[]): Totals {
  const counts = new Map<string, { rule: string; verdict: string; n: number }>();
  const latency = new Map<number, number>();
  let droppedFlushes = 0;
  let latencySumMs = 0;
  let batches = 0;
  const notifications = new Map<string, { rule: string; threshold: number; outcome: string; n: number }>();
  for (const t of parts) {
    for (const x of t.notifications ?? []) {
      const id = JSON.stringify([x.rule, x.threshold, x.outcome]);
      const known = notifications.get(id);
      if (known) known.n += x.n;
      else notifications.set(id, { ...x });
    }
    for (const c of t.counts) {
      const id = JSON.stringify([c.rule, c.verdict]);
      const known = counts.get(id);
      if (known) known.n += c.n;
      else counts.set(id, { ...c });
    }
    for (const l of t.latency) latency.set(l.bucket, (latency.get(l.bucket) ?? 0) + l.n);
    droppedFlushes += t.droppedFlushes;
    latencySumMs += t.latencySumMs;
    batches += t.batches;
  }
  return {
    counts: [...counts.values()].sort((a, b) => cmp(a.rule, b.rule) || cmp(a.verdict, b.verdict)),
    latency: [...latency.entries()].sort(([a], [b]) => a - b).map(([bucket, n]) => ({ bucket, n })),
    latencySumMs,
    droppedFlushes,
    batches,
    ...(notifications.size > 0
      ? {
          notifications: [...notifications.values()].sort(
            (a, b) => cmp(a.rule, b.rule) || a.threshold - b.threshold || cmp(a.outcome, b.outcome),
          ),
        }
      : {}),
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
