/**
 * What a Worker does with each decision: the log lines (a cached refusal's repeats folded, written
 * from the request's `background`), the isolate's
 * per-minute stats, and a data point per rule to Workers Analytics Engine
 * when the `ANALYTICS` binding is present.
 * @module
 */
import type { Background, DecisionObserver } from "../../engine/ports";
import { decisionLogWith } from "../../observability/decision-log";
import type { Stats } from "../../observability/stats";

export function workersObserver(
  stats: Stats,
  analytics: AnalyticsEngineDataset | undefined,
  background: Background,
): DecisionObserver {
  const log = decisionLogWith(background);
  return {
    decided(record) {
      log.decided(record);
      for (const { rule, verdict } of record.verdicts) {
        stats.record(rule, verdict);
        analytics?.writeDataPoint({ blobs: [rule, verdict], doubles: [1], indexes: [rule] });
      }
    },
  };
}
