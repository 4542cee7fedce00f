/**
 * The log lines of decisions: a block, a refusal (counted by the store, or
 * answered from the refusal cache: `cached: true`), a shadow rule that would
 * have refused. One structured line each (see log.ts), so the log counts the
 * same refusals as the stats.
 * @module
 */
import type { DecisionObserver, DecisionRecord } from "../engine/ports";
import { retryAfterSeconds } from "../http/refusal";
import { logEvent } from "../log";

export const decisionLog: DecisionObserver = {
  decided(record: DecisionRecord): void {
    const { result, refusal } = record;
    if (result.reason === "block") logEvent("request.blocked", { rule: result.rules[0], ip: record.ipKey });
    if ((result.reason === "limit" || result.reason === "cached") && refusal) {
      logEvent("request.refused", {
        rule: refusal.report.rule,
        policy: refusal.report.result.name,
        object: refusal.key,
        ...(refusal.label !== undefined ? { label: refusal.label } : {}),
        limit: refusal.report.result.limit,
        retryAfter: retryAfterSeconds(refusal.report.result.retryAfterMs),
        ...(result.reason === "cached" ? { cached: true } : {}),
      });
    }
    for (const s of record.shadowRefusals) {
      logEvent(
        "request.shadow_refused",
        {
          rule: s.rule,
          policy: s.result.name,
          limit: s.result.limit,
          retryAfter: retryAfterSeconds(s.result.retryAfterMs),
        },
        "warn",
      );
    }
  },
};
