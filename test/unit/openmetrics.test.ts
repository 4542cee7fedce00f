import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS_MS } from "../../src/observability/latency-buckets";
import { metricsFormat } from "../../src/observability/metrics-format";
import { labelValue, renderOpenMetrics, renderPrometheusText } from "../../src/observability/openmetrics";
import { parseOpenMetricsStrict } from "../support/openmetrics-check";

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
  help: string;
  type: string;
  metrics: Array<{
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
};

const input = { totals, policyVersion: 4, policyPublishedAt: 1_795_000_000_500, isolateFailedFlushes: 1 };

describe("OpenMetrics text", () => {
  const text = renderOpenMetrics(input);

  it("passes a strict OpenMetrics reader, with the same figures", () => {
    const families = parseOpenMetricsStrict(text);
    expect([...families.values()].map((f) => [f.name, f.type, f.unit])).toEqual([
      ["sluice_decisions", "counter", undefined],
      ["sluice_counter_store_errors", "counter", undefined],
      ["sluice_decision_latency_seconds", "histogram", "seconds"],
      ["sluice_policy_version", "gauge", undefined],
      ["sluice_policy_published_timestamp_seconds", "gauge", "seconds"],
      ["sluice_stats_flushes_dropped", "counter", undefined],
      ["sluice_stats_batches", "counter", undefined],
    ]);
    const decisions = families.get("sluice_decisions")!.samples;
    const value = (rule: string, verdict: string) =>
      decisions.find((m) => m.labels.rule === rule && m.labels.verdict === verdict)?.value;
    expect(value("api", "admitted")).toBe(7);
    expect(value("api", "refused")).toBe(2);
    expect(value("api", "bypass")).toBe(0);
    expect(value("api", "late_open")).toBe(4);
    expect(value("api", "late_closed")).toBe(0);
    expect(value('we"ird\\rule', "cached_refusal")).toBe(3);
    expect(decisions.every((m) => m.name === "sluice_decisions_total")).toBe(true);
    const hist = families.get("sluice_decision_latency_seconds")!.samples;
    const bucket = (le: string) => hist.find((m) => m.labels.le === le)?.value;
    expect([bucket("0.001"), bucket("0.01"), bucket("2.5"), bucket("+Inf")]).toEqual([4, 9, 9, 10]);
    expect(hist.find((m) => m.name.endsWith("_sum"))?.value).toBe(3.5);
    expect(families.get("sluice_policy_published_timestamp_seconds")!.samples[0]!.value).toBe(1_795_000_000.5);
    // error_open, error_closed, late_open and late_closed: every decision made without the store.
    const errors = families.get("sluice_counter_store_errors")!.samples;
    expect(errors.find((m) => m.labels.rule === "api")?.value).toBe(5);
  });

  it("the strict reader refuses what the 0.0.4 text would be in OpenMetrics: no # EOF, counters typed as _total", () => {
    expect(() => parseOpenMetricsStrict(renderPrometheusText(input))).toThrow(/# EOF/);
    expect(() => parseOpenMetricsStrict(`${renderPrometheusText(input)}# EOF\n`)).toThrow(/_total/);
    expect(() => parseOpenMetricsStrict(text.replace("# EOF\n", "# EOF\n\n"))).toThrow();
    expect(() => parseOpenMetricsStrict(text.replace("sluice_decisions_total{", "sluice_decisions{"))).toThrow(
      /does not belong/,
    );
  });

  it("escapes backslash, quote and line feed in label values", () => {
    expect(labelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });

  it("leaves the publication time out when it is unknown", () => {
    const none = renderOpenMetrics({ totals: { ...totals, counts: [] }, policyVersion: 0, isolateFailedFlushes: 0 });
    expect(none).toContain("sluice_policy_version 0\n");
    expect(none).not.toContain("sluice_policy_published_timestamp_seconds");
    parseOpenMetricsStrict(none);
  });
});

describe("Prometheus text format 0.0.4", () => {
  const text = renderPrometheusText(input);
  const families = parsePrometheusTextFormat(text) as Family[];
  const byName = new Map(families.map((f) => [f.name, f]));

  it("parses with a 0.0.4 parser into typed families only, counters named with _total", () => {
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ["sluice_decisions_total", "COUNTER"],
      ["sluice_counter_store_errors_total", "COUNTER"],
      ["sluice_decision_latency_seconds", "HISTOGRAM"],
      ["sluice_policy_version", "GAUGE"],
      ["sluice_policy_published_timestamp_seconds", "GAUGE"],
      ["sluice_stats_flushes_dropped_total", "COUNTER"],
      ["sluice_stats_batches_total", "COUNTER"],
    ]);
    expect(families.every((f) => f.metrics.length > 0)).toBe(true);
    expect(byName.get("sluice_decisions_total")!.help).toBe("Decisions per rule and verdict, fleet-wide.");
  });

  it("carries the same figures as the OpenMetrics text", () => {
    const decisions = byName.get("sluice_decisions_total")!;
    const value = (rule: string, verdict: string) =>
      Number(decisions.metrics.find((m) => m.labels?.rule === rule && m.labels?.verdict === verdict)?.value);
    expect(value("api", "admitted")).toBe(7);
    expect(value("api", "refused")).toBe(2);
    expect(value("api", "bypass")).toBe(0);
    expect(value('we"ird\\rule', "cached_refusal")).toBe(3);
    const hist = byName.get("sluice_decision_latency_seconds")!;
    expect(hist.metrics[0]!.count).toBe("10");
    expect(Number(hist.metrics[0]!.sum)).toBe(3.5);
    expect(hist.metrics[0]!.buckets).toMatchObject({ "0.001": "4", "0.01": "9", "2.5": "9", "+Inf": "10" });
    // The fixture's api rule: one error_open and four late_open, all made without the store.
    const errors = byName.get("sluice_counter_store_errors_total")!;
    expect(errors.metrics.find((m) => m.labels?.rule === "api")!.value).toBe("5");
    expect(byName.get("sluice_policy_version")!.metrics[0]!.value).toBe("4");
    expect(byName.get("sluice_stats_flushes_dropped_total")!.metrics).toEqual([
      { labels: { scope: "fleet" }, value: "2" },
      { labels: { scope: "isolate" }, value: "1" },
    ]);
    expect(byName.get("sluice_stats_batches_total")!.metrics).toEqual([{ value: "9" }]);
    // Line for line the same samples: only the metadata lines differ.
    const samples = (t: string) => t.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(samples(text)).toEqual(samples(renderOpenMetrics(input)));
  });

  it("has HELP then TYPE before each family's samples, named as its samples are; no # UNIT, no # EOF", () => {
    const lines = text.trimEnd().split("\n");
    expect(text.endsWith("\n")).toBe(true);
    expect(lines.some((l) => l.startsWith("# EOF") || l.startsWith("# UNIT"))).toBe(false);
    const typed = new Map<string, string>();
    lines.forEach((line, i) => {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t) {
        expect(typed.has(t[1]!)).toBe(false);
        expect(lines[i - 1]).toMatch(new RegExp(`^# HELP ${t[1]} `));
        typed.set(t[1]!, t[2]!);
        return;
      }
      if (line.startsWith("#")) return;
      const name = /^([a-z_]+)/.exec(line)![1]!;
      const family = [...typed.keys()].at(-1)!;
      if (typed.get(family) === "histogram") expect(name).toMatch(new RegExp(`^${family}_(bucket|count|sum)$`));
      else expect(name).toBe(family);
    });
  });
});

describe("choosing the format from Accept", () => {
  it.each([
    [undefined, "openmetrics"],
    ["", "openmetrics"],
    ["*/*", "openmetrics"],
    ["application/openmetrics-text", "openmetrics"],
    ["application/openmetrics-text; version=1.0.0", "openmetrics"],
    ["application/json", "openmetrics"],
    ["text/plain", "prometheus-text"],
    ["text/plain;version=0.0.4", "prometheus-text"],
    ['text/plain; version="0.0.4"; charset=utf-8', "prometheus-text"],
    ["TEXT/Plain", "prometheus-text"],
    ["text/*", "prometheus-text"],
    ["text/plain;version=1.0.0", "openmetrics"],
    ["text/plain;q=0", "openmetrics"],
    // A tie goes to OpenMetrics; otherwise the weights decide, not the order.
    ["text/plain, application/openmetrics-text", "openmetrics"],
    ["application/openmetrics-text;q=0.4, text/plain;version=0.0.4;q=0.5", "prometheus-text"],
    ["text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.4", "prometheus-text"],
    ["text/plain;version=0.0.4, */*;q=0.1", "prometheus-text"],
    ["text/plain;version=0.0.4;q=0.3, */*;q=0.4", "openmetrics"],
    // The most specific range names a format's weight: here text/plain 0.0.4 is refused outright.
    ["text/plain;version=0.0.4;q=0, text/*", "openmetrics"],
    // What Prometheus 2.x sends by default, and with scrape_protocols: [PrometheusText0.0.4].
    [
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "openmetrics",
    ],
    ["text/plain;version=0.0.4;q=1,*/*;q=0.1", "prometheus-text"],
  ])("Accept %j: %s", (accept, format) => {
    expect(metricsFormat(accept)).toBe(format);
  });
});
