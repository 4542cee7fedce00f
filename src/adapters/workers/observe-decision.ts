/**
 * The hook between the limiter and the fleet-wide figures: called once per
 * decision, after it is made. It records in memory (every refusal, cached ones
 * too, is logged by the decision log), and hands the next flush
 * to `ctx.waitUntil` (at once when due, else after the rest of the interval), so nothing here waits on I/O or can fail a request.
 * @module
 */

import { statsSink } from "../../durable/stats-store-client";
import type { Env } from "../../env";
import { logEvent } from "../../log";
import type { FleetRecorder } from "../../observability/fleet-recorder";
import type { DecisionFacts } from "../../observability/fleet-verdict";

export function observeDecision(
  recorder: FleetRecorder,
  decision: DecisionFacts,
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  startedAt: number,
): void {
  try {
    const now = Date.now();
    recorder.observe(decision, now - startedAt, now);
    const wait = env.STATS ? recorder.claimFlush(now) : undefined;
    if (env.STATS && wait !== undefined) {
      const sink = statsSink(env.STATS);
      ctx.waitUntil(
        wait === 0
          ? recorder.flush(sink, now)
          : new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => recorder.flush(sink, Date.now())),
      );
    }
  } catch (e) {
    // Figures are worth less than the request: a fault here is logged and the request goes on.
    logEvent("stats.observe_failed", { message: e instanceof Error ? e.message : String(e) }, "warn");
  }
}

/** Sends this isolate's pending figures now (the admin reads call it first, so their own isolate is included). */
export async function flushNow(recorder: FleetRecorder, env: Env): Promise<void> {
  if (env.STATS) await recorder.flush(statsSink(env.STATS), Date.now());
}
