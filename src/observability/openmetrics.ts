/**
 * The fleet-wide figures as OpenMetrics text (what `GET <admin>/metrics`
 * answers), ready for a Prometheus scrape. Counters come from the statistics
 * store's all-time totals, so they only grow while the store keeps them.
 * Pure: rendering is tested in plain Node.
 * @module
 */
import type { Totals } from "./fleet-rows";
import { FLEET_VERDICTS, STORE_FAILURE_VERDICTS } from "./fleet-verdict";
import { LATENCY_BUCKETS_MS } from "./latency-buckets";

export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export interface MetricsInput {
  totals: Totals;
  /** The latest version published through the admin API (0: none; the built-in or a KV-written document). */
  policyVersion: number;
  /** When that version was published, epoch ms; undefined when unknown. */
  policyPublishedAt?: number;
  /** Flushes this isolate dropped (the store's own count only has those reported after). */
  isolateFailedFlushes: number;
}

/** A label value escaped as the format requires: backslash, double quote and line feed. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(6)));
}

export function renderOpenMetrics(m: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, unit?: string) => {
    out.push(`# TYPE ${name} ${type}`);
    if (unit) out.push(`# UNIT ${name} ${unit}`);
    out.push(`# HELP ${name} ${help}`);
  };

  family("sluice_decisions", "counter", "Decisions per rule and verdict, fleet-wide.");
  const byRule = new Map<string, Map<string, number>>();
  for (const c of m.totals.counts) {
    let verdicts = byRule.get(c.rule);
    if (!verdicts) {
      verdicts = new Map();
      byRule.set(c.rule, verdicts);
    }
    verdicts.set(c.verdict, (verdicts.get(c.verdict) ?? 0) + c.n);
  }
  // Every verdict of a rule that was seen, zeros included, so a rate() has a series from the start.
  for (const [rule, verdicts] of byRule)
    for (const v of FLEET_VERDICTS)
      out.push(`sluice_decisions_total{rule="${labelValue(rule)}",verdict="${v}"} ${num(verdicts.get(v) ?? 0)}`);

  family(
    "sluice_counter_store_errors",
    "counter",
    "Decisions per rule made without the counter store because it failed or did not answer within its budget (error_open, error_closed, late_open, late_closed).",
  );
  for (const [rule, verdicts] of byRule)
    out.push(
      `sluice_counter_store_errors_total{rule="${labelValue(rule)}"} ${num(STORE_FAILURE_VERDICTS.reduce((n, v) => n + (verdicts.get(v) ?? 0), 0))}`,
    );

  family("sluice_decision_latency_seconds", "histogram", "Time to decide a request, fleet-wide.", "seconds");
  const perBucket = new Map(m.totals.latency.map((l) => [l.bucket, l.n]));
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS_MS.length; i++) {
    cumulative += perBucket.get(i) ?? 0;
    const le = i < LATENCY_BUCKETS_MS.length ? num(LATENCY_BUCKETS_MS[i]! / 1000) : "+Inf";
    out.push(`sluice_decision_latency_seconds_bucket{le="${le}"} ${cumulative}`);
  }
  out.push(`sluice_decision_latency_seconds_count ${cumulative}`);
  out.push(`sluice_decision_latency_seconds_sum ${num(m.totals.latencySumMs / 1000)}`);

  family("sluice_policy_version", "gauge", "The latest policy version published through the admin API.");
  out.push(`sluice_policy_version ${m.policyVersion}`);
  if (m.policyPublishedAt !== undefined) {
    family("sluice_policy_published_timestamp_seconds", "gauge", "When that version was published.", "seconds");
    out.push(`sluice_policy_published_timestamp_seconds ${num(m.policyPublishedAt / 1000)}`);
  }

  family("sluice_stats_flushes_dropped", "counter", "Statistics batches dropped because the store was unreachable.");
  out.push(`sluice_stats_flushes_dropped_total{scope="fleet"} ${m.totals.droppedFlushes}`);
  out.push(`sluice_stats_flushes_dropped_total{scope="isolate"} ${m.isolateFailedFlushes}`);

  family("sluice_stats_batches", "counter", "Statistics batches the store received.");
  out.push(`sluice_stats_batches_total ${m.totals.batches}`);

  out.push("# EOF");
  return `${out.join("\n")}\n`;
}
