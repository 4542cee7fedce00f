/**
 * The log lines of decisions: a block, a refusal (counted by the store, or
 * answered from the refusal cache: `cached: true`), a shadow rule that would
 * have refused. One structured line each (see log.ts), but for the repeats of
 * a refusal answered from the cache, which `decisionLogWith` folds into one
 * line with their `count` per key and interval (./repeated-refusals.ts): the
 * lines' counts add up to the same refusals as the stats.
 * @module
 */
import type { Background, DecisionObserver, DecisionRecord } from "../engine/ports";
import { retryAfterSeconds } from "../http/refusal";
import { logEvent } from "../log";
import { RepeatedRefusals } from "./repeated-refusals";

/** This isolate's cached refusals being counted (one per isolate: the log is the isolate's). */
const repeats = new RepeatedRefusals((fields) => logEvent("request.refused", fields));

/** Every line at once: for callers without a background to write the folded lines from. */
export const decisionLog: DecisionObserver = {
  decided(record: DecisionRecord): void {
    logDecision(record);
  },
};

/**
 * The decision log of one request: a cached refusal's repeats are counted, and the line that
 * carries their count is written from `background` (a timer the request's `waitUntil` keeps alive).
 */
export function decisionLogWith(background: Background): DecisionObserver {
  return {
    decided(record: DecisionRecord): void {
      logDecision(record, background);
    },
  };
}

function logDecision(record: DecisionRecord, background?: Background): void {
  const { result, refusal } = record;
  if (result.reason === "block") logEvent("request.blocked", { rule: result.rules[0], ip: record.ipKey });
  if ((result.reason === "limit" || result.reason === "cached") && refusal) {
    const fields = {
      rule: refusal.report.rule,
      policy: refusal.report.result.name,
      object: refusal.key,
      ...(refusal.label !== undefined ? { label: refusal.label } : {}),
      limit: refusal.report.result.limit,
      retryAfter: retryAfterSeconds(refusal.report.result.retryAfterMs),
      ...(result.reason === "cached" ? { cached: true } : {}),
    };
    if (result.reason === "cached" && background) {
      const id = JSON.stringify([fields.rule, fields.policy, fields.object]);
      const flushIn = repeats.note(id, fields, Date.now());
      if (flushIn !== undefined)
        background.waitUntil(new Promise<void>((resolve) => setTimeout(resolve, flushIn)).then(() => repeats.flush()));
    } else logEvent("request.refused", fields);
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
}
