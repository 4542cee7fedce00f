import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS_MS } from "../../src/observability/latency-buckets";
import { labelValue, renderOpenMetrics } from "../../src/observability/openmetrics";

const totals = {
  counts: [
    { rule: "api", verdict: "admitted", n: 7 },
    { rule: "api", verdict: "refused", n: 2 },
    { rule: "api", verdict: "error_open", n: 1 },
    { rule: "api", verdict: "late_open", n: 4 },
    { rule: 'we"ird\\rule', verdict: "cached_refusal", n: 3 },
  ],
  latency: [
    { bucket: 0, n: 4 },
    { bucket: 3, n: 5 },
    { bucket: LATENCY_BUCKETS_MS.length, n: 1 },
  ],
  latencySumMs: 3500,
  droppedFlushes: 2,
  batches: 9,
};

type Family = {
  name: string;
  type: string;
  metrics: Array<{
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
};

describe("OpenMetrics text", () => {
  const text = renderOpenMetrics({
    totals,
    policyVersion: 4,
    policyPublishedAt: 1_795_000_000_500,
    isolateFailedFlushes: 1,
  });

  it("ends with # EOF and parses with a Prometheus text parser into the same figures", () => {
    expect(text.endsWith("# EOF\n")).toBe(true);
    const families = parsePrometheusTextFormat(text) as Family[];
    const byName = new Map(families.map((f) => [f.name, f]));
    const decisions = byName.get("sluice_decisions_total") ?? byName.get("sluice_decisions");
    expect(decisions).toBeDefined();
    const value = (rule: string, verdict: string) =>
      Number(decisions!.metrics.find((m) => m.labels?.rule === rule && m.labels?.verdict === verdict)?.value);
    expect(value("api", "admitted")).toBe(7);
    expect(value("api", "refused")).toBe(2);
    expect(value("api", "bypass")).toBe(0);
    expect(value("api", "late_open")).toBe(4);
    expect(value("api", "late_closed")).toBe(0);
    expect(value('we"ird\\rule', "cached_refusal")).toBe(3);

    const hist = byName.get("sluice_decision_latency_seconds")!;
    expect(hist.type).toBe("HISTOGRAM");
    expect(hist.metrics[0]!.count).toBe("10");
    expect(Number(hist.metrics[0]!.sum)).toBe(3.5);
    expect(hist.metrics[0]!.buckets).toMatchObject({ "0.001": "4", "0.01": "9", "2.5": "9", "+Inf": "10" });

    const errors = byName.get("sluice_counter_store_errors_total") ?? byName.get("sluice_counter_store_errors");
    expect(errors!.metrics.find((m) => m.labels?.rule === "api")!.value).toBe("5");
    expect(byName.get("sluice_policy_version")!.metrics[0]!.value).toBe("4");
    expect(Number(byName.get("sluice_policy_published_timestamp_seconds")!.metrics[0]!.value)).toBe(1_795_000_000.5);
  });

  it("declares every family once, before its samples, with counters' samples ending in _total", () => {
    const lines = text.trimEnd().split("\n");
    const typed = new Map<string, string>();
    for (const line of lines) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t) {
        expect(typed.has(t[1]!)).toBe(false);
        typed.set(t[1]!, t[2]!);
        continue;
      }
      if (line.startsWith("#")) continue;
      const name = /^([a-z_]+)/.exec(line)![1]!;
      const family = [...typed.keys()].find((f) => name === f || name.startsWith(`${f}_`));
      expect(family, line).toBeDefined();
      if (typed.get(family!) === "counter") expect(name).toBe(`${family}_total`);
    }
  });

  it("escapes backslash, quote and line feed in label values", () => {
    expect(labelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });

  it("leaves the publication time out when it is unknown", () => {
    const none = renderOpenMetrics({ totals: { ...totals, counts: [] }, policyVersion: 0, isolateFailedFlushes: 0 });
    expect(none).toContain("sluice_policy_version 0\n");
    expect(none).not.toContain("sluice_policy_published_timestamp_seconds");
  });
});
