/**
 * The fleet-wide figures as text for a Prometheus scrape (what `GET <admin>/metrics` answers): OpenMetrics
 * 1.0.0 by default, or the Prometheus text format 0.0.4 when the scraper asks for it (./metrics-format.ts
 * chooses). Both are written from one list of families, so they always carry the same figures. Counters
 * come from the statistics store's all-time totals, so they only grow while the store keeps them.
 * Pure: rendering is tested in plain Node.
 * @module
 */
import type { Totals } from "./fleet-rows";
import { FLEET_VERDICTS, STORE_FAILURE_VERDICTS } from "./fleet-verdict";
import { LATENCY_BUCKETS_MS } from "./latency-buckets";

export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
export const PROMETHEUS_TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsInput {
  totals: Totals;
  /** The latest version published through the admin API (0: none; the built-in or a KV-written document). */
  policyVersion: number;
  /** When that version was published, epoch ms; undefined when unknown. */
  policyPublishedAt?: number;
  /** Flushes this isolate dropped (the store's own count only has those reported after). */
  isolateFailedFlushes: number;
}

/** One sample: the family's name plus `suffix` (`_total`, `_bucket`, ...), its labels, its value. */
interface Sample {
  suffix: string;
  labels: Array<[string, string]>;
  value: string;
}

/** A metric family as OpenMetrics names it: a counter `x` has the samples `x_total`. */
interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  unit?: string;
  samples: Sample[];
}

/** A label value escaped as both formats require: backslash, double quote and line feed. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(6)));
}

function families(m: MetricsInput): Family[] {
  const out: Family[] = [];
  const byRule = new Map<string, Map<string, number>>();
  for (const c of m.totals.counts) {
    let verdicts = byRule.get(c.rule);
    if (!verdicts) {
      verdicts = new Map();
      byRule.set(c.rule, verdicts);
    }
    verdicts.set(c.verdict, (verdicts.get(c.verdict) ?? 0) + c.n);
  }

  const decisions: Sample[] = [];
  // Every verdict of a rule that was seen, zeros included, so a rate() has a series from the start.
  for (const [rule, verdicts] of byRule)
    for (const v of FLEET_VERDICTS)
      decisions.push({
        suffix: "_total",
        labels: [
          ["rule", rule],
          ["verdict", v],
        ],
        value: num(verdicts.get(v) ?? 0),
      });
  out.push({
    name: "sluice_decisions",
    type: "counter",
    help: "Decisions per rule and verdict, fleet-wide.",
    samples: decisions,
  });

  out.push({
    name: "sluice_counter_store_errors",
    type: "counter",
    help: "Decisions per rule made without the counter store because it failed or did not answer within its budget (error_open, error_closed, late_open, late_closed).",
    samples: [...byRule].map(([rule, verdicts]) => ({
      suffix: "_total",
      labels: [["rule", rule]],
      value: num(STORE_FAILURE_VERDICTS.reduce((n, v) => n + (verdicts.get(v) ?? 0), 0)),
    })),
  });

  const latency: Sample[] = [];
  const perBucket = new Map(m.totals.latency.map((l) => [l.bucket, l.n]));
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS_MS.length; i++) {
    cumulative += perBucket.get(i) ?? 0;
    const le = i < LATENCY_BUCKETS_MS.length ? num(LATENCY_BUCKETS_MS[i]! / 1000) : "+Inf";
    latency.push({ suffix: "_bucket", labels: [["le", le]], value: String(cumulative) });
  }
  latency.push({ suffix: "_count", labels: [], value: String(cumulative) });
  latency.push({ suffix: "_sum", labels: [], value: num(m.totals.latencySumMs / 1000) });
  out.push({
    name: "sluice_decision_latency_seconds",
    type: "histogram",
    help: "Time to decide a request, fleet-wide.",
    unit: "seconds",
    samples: latency,
  });

  out.push({
    name: "sluice_policy_version",
    type: "gauge",
    help: "The latest policy version published through the admin API.",
    samples: [{ suffix: "", labels: [], value: String(m.policyVersion) }],
  });
  if (m.policyPublishedAt !== undefined)
    out.push({
      name: "sluice_policy_published_timestamp_seconds",
      type: "gauge",
      help: "When that version was published.",
      unit: "seconds",
      samples: [{ suffix: "", labels: [], value: num(m.policyPublishedAt / 1000) }],
    });

  out.push({
    name: "sluice_stats_flushes_dropped",
    type: "counter",
    help: "Statistics batches dropped because the store was unreachable.",
    samples: [
      { suffix: "_total", labels: [["scope", "fleet"]], value: String(m.totals.droppedFlushes) },
      { suffix: "_total", labels: [["scope", "isolate"]], value: String(m.isolateFailedFlushes) },
    ],
  });

  out.push({
    name: "sluice_stats_batches",
    type: "counter",
    help: "Statistics batches the store received.",
    samples: [{ suffix: "_total", labels: [], value: String(m.totals.batches) }],
  });

  const notifications = m.totals.notifications ?? [];
  if (notifications.length > 0)
    out.push({
      name: "sluice_threshold_notifications",
      type: "counter",
      help: "Threshold webhook attempts by rule, threshold and outcome (delivered, retrying, dropped).",
      samples: notifications.map((x) => ({
        suffix: "_total",
        labels: [
          ["rule", x.rule],
          ["threshold", String(x.threshold)],
          ["outcome", x.outcome],
        ],
        value: String(x.n),
      })),
    });
  return out;
}

function sampleLine(family: string, s: Sample): string {
  const labels = s.labels.length ? `{${s.labels.map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}` : "";
  return `${family}${s.suffix}${labels} ${s.value}`;
}

/** OpenMetrics 1.0.0: `# TYPE x counter` over samples `x_total`, `# UNIT` where there is one, ending in `# EOF`. */
export function renderOpenMetrics(m: MetricsInput): string {
  const out: string[] = [];
  for (const f of families(m)) {
    out.push(`# TYPE ${f.name} ${f.type}`);
    if (f.unit) out.push(`# UNIT ${f.name} ${f.unit}`);
    out.push(`# HELP ${f.name} ${f.help}`);
    for (const s of f.samples) out.push(sampleLine(f.name, s));
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}

/**
 * The Prometheus text format 0.0.4: a counter's family is named as its samples are (`# TYPE x_total
 * counter` over `x_total`), there is no `# UNIT` and no `# EOF`. The family names differ from
 * OpenMetrics' only there; the samples and their values are the same.
 */
export function renderPrometheusText(m: MetricsInput): string {
  const out: string[] = [];
  for (const f of families(m)) {
    const name = f.type === "counter" ? `${f.name}_total` : f.name;
    out.push(`# HELP ${name} ${f.help}`);
    out.push(`# TYPE ${name} ${f.type}`);
    for (const s of f.samples) out.push(sampleLine(f.type === "counter" ? f.name : name, s));
  }
  return `${out.join("\n")}\n`;
}
