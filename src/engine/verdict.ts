/**
 * From the counter store's results to the verdict, without I/O: a report per
 * limit (for the headers), the limit that refused, the shadow limits that
 * would have, the result a caller sees and each rule's verdict.
 * @module
 */
import { headline, type LimitReport } from "../http/rate-limit-headers";
import { calendarWindow } from "../limiter/calendar";
import type { Charge, CounterResult, CounterSpec } from "../limiter/types";
import type { CompiledRule } from "../policy/compile";
import type { KeyResult } from "./execute";
import type { LimitReason, RateLimitResult } from "./outcome";
import { isShadow, type PlannedLimit } from "./plan";
import type { Verdict } from "./ports";

/** A limit with its result: the plan's entry, the key it was counted under, its report and its charge. */
export interface CountedLimit {
  key: string;
  /** The key's display label (see key-label.ts), when it has one. */
  label?: string | undefined;
  planned: PlannedLimit;
  report: LimitReport;
  /** What the store charged for it (none when refused, or a shadow limit without room). */
  charge: Charge | undefined;
}

export interface Tally {
  /** The stores' latest clock (the one the headers' seconds are counted from). */
  now: number;
  counted: CountedLimit[];
  /** The first enforced limit that refused. */
  refusedBy: CountedLimit | undefined;
  shadowRefusals: CountedLimit[];
}

/** Pairs each planned limit with its answer's entry: the store answers one entry per counter, in the order asked. */
export function tally(results: readonly KeyResult[], fallbackNow: number): Tally {
  const counted: CountedLimit[] = [];
  let now = 0;
  for (const r of results) {
    if (!r.ok) continue;
    now = Math.max(now, r.response.now);
    r.plan.limits.forEach((planned, i) => {
      const entry = r.response.counters[i];
      if (!entry) return;
      const { key, label } = r.plan;
      counted.push({ key, label, planned, report: reportOf(planned, entry.result), charge: entry.charge });
    });
  }
  const refused = counted.filter((c) => !c.report.result.allowed);
  return {
    now: now || fallbackNow,
    counted,
    refusedBy: refused.find((c) => !isShadow(c.planned)),
    shadowRefusals: refused.filter((c) => isShadow(c.planned)),
  };
}

function reportOf(planned: PlannedLimit, result: CounterResult): LimitReport {
  return {
    result,
    concurrency: planned.limit.algorithm === "concurrency",
    windowSeconds: advertisedWindow(planned.spec, result),
    windowWords: planned.limit.windowWords,
    rule: planned.rule.id,
    algorithm: planned.spec.algorithm,
  };
}

/**
 * The `w` of a limit's `ietf` item. A token bucket advertises its burst as `q`,
 * so its `w` is the time that burst takes to refill: `q` per `w` is then its rate.
 * A calendar window's `w` is the length of the period the result is counted in
 * (the one ending at its `resetAt`): a month of 28 to 31 days, give or take a
 * daylight-saving hour.
 */
export function advertisedWindow(spec: CounterSpec, result: Pick<CounterResult, "resetAt">): number | undefined {
  if (spec.algorithm === "concurrency") return undefined;
  if (spec.calendar) {
    const { start, end } = calendarWindow(result.resetAt - 1, spec.calendar);
    return Math.round((end - start) / 1000);
  }
  if (spec.algorithm !== "token-bucket") return spec.windowMs / 1000;
  const burst = spec.burst ?? spec.limit;
  return Math.max(1, Math.ceil((burst * spec.windowMs) / spec.limit / 1000));
}

/** The result of a refusal by `refusedBy`. */
export function refusedResult(refusedBy: LimitReport, reason: "limit" | "cached", rules: string[]): RateLimitResult {
  const { limit, remaining, resetAt } = refusedBy.result;
  return { success: false, limit, remaining, reset: resetAt, reason, rules };
}

/** The result of an admitted request: the headline limit's numbers. */
export function admittedResult(t: Tally, anyFailed: boolean, rules: string[]): RateLimitResult {
  const head = headline(t.counted.map((c) => c.report));
  const reason: LimitReason = anyFailed ? "error-open" : t.shadowRefusals.length > 0 ? "shadow" : "allowed";
  return {
    success: true,
    limit: head?.result.limit ?? 0,
    remaining: head?.result.remaining ?? 0,
    reset: head?.result.resetAt ?? 0,
    reason,
    rules,
  };
}

/** Each limited rule's verdict on an admitted request. */
export function admittedVerdicts(
  limited: readonly CompiledRule[],
  failedRules: ReadonlySet<CompiledRule>,
  t: Tally,
): Array<{ rule: string; verdict: Verdict }> {
  const shadowRefused = new Set(t.shadowRefusals.map((s) => s.planned.rule));
  return limited.map((rule) => ({
    rule: rule.id,
    verdict: failedRules.has(rule) ? "error_open" : shadowRefused.has(rule) ? "shadow_refused" : "admitted",
  }));
}
