/**
 * The three header families of the contract (section 4), from the counters'
 * results. `legacy` and `x` describe one limit (the one that refused, or the
 * one with the least room); `ietf` lists them all as Structured Field Lists.
 * @module
 */

import type { CounterResult } from "../limiter/types";
import type { CompiledPolicy } from "../policy/compile";

/** One counter's result with what the headers need to describe it. */
export interface LimitReport {
  result: CounterResult;
  concurrency: boolean;
  /** Window in seconds; undefined for concurrency. */
  windowSeconds: number | undefined;
  windowWords: string;
  rule: string;
}

export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** The report that `legacy` and `x` describe: the refusing one, else the one with least room left. */
export function headline(reports: readonly LimitReport[]): LimitReport | undefined {
  let best: LimitReport | undefined;
  for (const r of reports) {
    if (!r.result.allowed) return r;
    if (!best || r.result.remaining < best.result.remaining) best = r;
  }
  return best;
}

export function rateLimitHeaders(
  policy: CompiledPolicy,
  reports: readonly LimitReport[],
  now: number,
): [string, string][] {
  const out: [string, string][] = [];
  const head = headline(reports);
  if (!head) return out;
  const families = policy.headerFamilies;
  if (families.legacy) {
    const reset =
      policy.legacyReset === "delta" ? secondsUntil(head.result.resetAt, now) : Math.ceil(head.result.resetAt / 1000);
    out.push(
      ["RateLimit-Limit", String(head.result.limit)],
      ["RateLimit-Remaining", String(head.result.remaining)],
      ["RateLimit-Reset", String(reset)],
    );
  }
  if (families.x) {
    out.push(
      ["X-RateLimit-Limit", String(head.result.limit)],
      ["X-RateLimit-Remaining", String(head.result.remaining)],
      ["X-RateLimit-Reset", String(Math.ceil(head.result.resetAt / 1000))],
    );
  }
  if (families.ietf) {
    const policies = reports.map((r) =>
      r.concurrency
        ? `${sfString(r.result.name)};q=${r.result.limit};qu="concurrent-requests"`
        : `${sfString(r.result.name)};q=${r.result.limit};w=${r.windowSeconds}`,
    );
    const states = reports.map((r) =>
      r.concurrency
        ? `${sfString(r.result.name)};r=${r.result.remaining}`
        : `${sfString(r.result.name)};r=${r.result.remaining};t=${secondsUntil(r.result.resetAt, now)}`,
    );
    out.push(["RateLimit-Policy", policies.join(", ")], ["RateLimit", states.join(", ")]);
  }
  return out;
}

/** An sf-string; rule ids are `[a-z0-9_-]`, so no escaping is ever needed, but stay correct anyway. */
function sfString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
