/**
 * A small, strict OpenMetrics 1.0.0 reader for tests: it throws on anything the text format forbids that
 * sluice could get wrong (a missing or early `# EOF`, a blank line, metadata after a family's samples or
 * twice, a family split in two, a `# UNIT` that is not the name's suffix, a sample name its family's type
 * does not allow, a counter's family named with `_total`, a bad name, label or number, a histogram whose
 * buckets are not cumulative, do not end at `+Inf` or disagree with `_count`) and returns the families.
 * parse-prometheus-text-format reads the 0.0.4 format, not this one: it takes `# TYPE x counter` over
 * `x_total` samples for an empty family beside an untyped one.
 */

export interface OmSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface OmFamily {
  name: string;
  type: string;
  unit?: string;
  help?: string;
  samples: OmSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NUMBER = /^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown"]);
const SUFFIXES: Record<string, string[]> = {
  counter: ["_total", "_created"],
  gauge: [""],
  unknown: [""],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  summary: ["", "_count", "_sum", "_created"],
  gaugehistogram: ["_bucket", "_gcount", "_gsum"],
  stateset: [""],
  info: ["_info"],
};

function fail(line: number, text: string, why: string): never {
  throw new Error(`OpenMetrics line ${line + 1} (${JSON.stringify(text)}): ${why}`);
}

function parseNumber(s: string): number {
  return s.endsWith("Inf") ? (s.startsWith("-") ? -Infinity : Infinity) : Number(s);
}

/** Labels `{a="x",b="y"}` from `text` at `i` (just past `{`); the labels and where the `}` ended. */
function parseLabels(text: string, start: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  if (text[i] === "}") return { labels, end: i + 1 };
  for (;;) {
    const eq = text.indexOf("=", i);
    if (eq < 0) fail(line, text, "a label without =");
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(line, text, `bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(line, text, `label ${name} twice`);
    if (text[eq + 1] !== '"') fail(line, text, "a label value must be quoted");
    let value = "";
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else fail(line, text, `bad escape \\${next}`);
      } else value += text[j];
    }
    if (j >= text.length) fail(line, text, "an unterminated label value");
    labels[name] = value;
    i = j + 1;
    if (text[i] === "}") return { labels, end: i + 1 };
    if (text[i] !== ",") fail(line, text, "labels must be separated by a comma, no spaces");
    i++;
  }
}

export function parseOpenMetricsStrict(text: string): Map<string, OmFamily> {
  if (!text.endsWith("# EOF\n")) throw new Error("OpenMetrics text must end with '# EOF' and a line feed");
  const lines = text.slice(0, -1).split("\n");
  const families = new Map<string, OmFamily>();
  let current: OmFamily | undefined;
  const seenSeries = new Set<string>();
  const typed = new Set<string>();
  lines.forEach((raw, n) => {
    if (n === lines.length - 1) {
      if (raw !== "# EOF") fail(n, raw, "the last line must be # EOF");
      return;
    }
    if (raw === "") fail(n, raw, "blank lines are not allowed");
    if (raw === "# EOF") fail(n, raw, "# EOF before the end");
    const meta = /^# (TYPE|UNIT|HELP) (\S+)(?: (.*))?$/.exec(raw);
    if (raw.startsWith("#")) {
      if (!meta) fail(n, raw, "a comment line must be # TYPE, # UNIT or # HELP");
      const [, what, name, rest = ""] = meta;
      if (!METRIC_NAME.test(name!)) fail(n, raw, "bad metric name");
      if (current?.name !== name) {
        if (families.has(name!)) fail(n, raw, `family ${name} appears twice (interleaved)`);
        current = { name: name!, type: "unknown", samples: [] };
        families.set(name!, current);
      }
      const family = current!;
      if (family.samples.length > 0) fail(n, raw, "metadata after the family's samples");
      if (what === "TYPE") {
        if (typed.has(family.name)) fail(n, raw, "TYPE twice");
        if (!TYPES.has(rest)) fail(n, raw, `unknown type ${rest}`);
        family.type = rest;
        typed.add(family.name);
        if (rest === "counter" && name!.endsWith("_total")) fail(n, raw, "a counter's family name ends in _total");
      } else if (what === "UNIT") {
        if (family.unit !== undefined) fail(n, raw, "UNIT twice");
        if (!name!.endsWith(`_${rest}`)) fail(n, raw, "the unit must be the family name's suffix");
        family.unit = rest;
      } else {
        if (family.help !== undefined) fail(n, raw, "HELP twice");
        family.help = rest;
      }
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) fail(n, raw, "not a sample");
    const name = raw.slice(0, nameEnd);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (raw[i] === "{") ({ labels, end: i } = parseLabels(raw, i + 1, n));
    if (raw[i] !== " ") fail(n, raw, "a single space must separate the value");
    const [value, timestamp, ...extra] = raw.slice(i + 1).split(" ");
    if (!value || !NUMBER.test(value)) fail(n, raw, "bad value");
    if (extra.length > 0 || (timestamp !== undefined && !NUMBER.test(timestamp)))
      fail(n, raw, "trailing text (exemplars are not expected)");
    const family =
      current && SUFFIXES[current.type]!.some((s) => name === current!.name + s)
        ? current
        : fail(n, raw, `sample ${name} does not belong to the family above (${current?.name ?? "none"})`);
    if (family.type === "counter" && parseNumber(value) < 0) fail(n, raw, "a counter must not be negative");
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSeries.has(series)) fail(n, raw, "the same series twice");
    seenSeries.add(series);
    family.samples.push({ name, labels, value: parseNumber(value) });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: OmFamily): void {
  const buckets = f.samples.filter((s) => s.name === `${f.name}_bucket`);
  if (buckets.length === 0) throw new Error(`histogram ${f.name} has no buckets`);
  let le = -Infinity;
  let count = -Infinity;
  for (const b of buckets) {
    if (b.labels.le === undefined || !NUMBER.test(b.labels.le)) throw new Error(`${f.name}: a bucket without le`);
    const bound = parseNumber(b.labels.le);
    if (bound <= le) throw new Error(`${f.name}: le must increase`);
    if (b.value < count) throw new Error(`${f.name}: buckets must be cumulative`);
    le = bound;
    count = b.value;
  }
  if (le !== Infinity) throw new Error(`${f.name}: the last bucket must be le="+Inf"`);
  const total = f.samples.find((s) => s.name === `${f.name}_count`);
  if (total !== undefined && total.value !== count) throw new Error(`${f.name}: _count differs from the +Inf bucket`);
}
