/**
 * What a Worker does with each decision: the log lines, the isolate's
 * per-minute stats, and a data point per rule to Workers Analytics Engine
 * when the `ANALYTICS` binding is present.
 * @module
 */
import type { DecisionObserver } from "../../engine/ports";
import { decisionLog } from "../../observability/decision-log";
import type { Stats } from "../../observability/stats";

export function workersObserver(stats: Stats, analytics: AnalyticsEngineDataset | undefined): DecisionObserver {
  return {
    decided(record) {
      decisionLog.decided(record);
      for (const { rule, verdict } of record.verdicts) {
        stats.record(rule, verdict);
        analytics?.writeDataPoint({ blobs: [rule, verdict], doubles: [1], indexes: [rule] });
      }
    },
  };
}
