/**
 * The fleet-wide figures as a decision observer: each decision goes to the
 * isolate's FleetRecorder, which sends its figures to the `STATS` store in
 * the request's background (see ./observe-decision.ts).
 * @module
 */
import type { DecisionObserver } from "../../engine/ports";
import type { Env } from "../../env";
import type { FleetRecorder } from "../../observability/fleet-recorder";
import { observeDecision } from "./observe-decision";

/** `startedAt`: when the request reached the limiter (the latency histogram measures from there). */
export function fleetObserver(
  recorder: FleetRecorder,
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  startedAt: number,
): DecisionObserver {
  return {
    decided(record) {
      observeDecision(
        recorder,
        {
          reason: record.result.reason,
          rules: record.result.rules,
          verdicts: record.verdicts.map(({ rule, verdict }) => [rule, verdict] as const),
          ...(record.refusal ? { refusedKey: record.refusal.key } : {}),
          ...(record.refusal?.label !== undefined ? { refusedLabel: record.refusal.label } : {}),
          ...(record.lateRules ? { lateRules: record.lateRules } : {}),
          ...(record.tenant !== undefined ? { tenant: record.tenant, costs: record.costs ?? {} } : {}),
        },
        env,
        ctx,
        startedAt,
      );
    },
  };
}
