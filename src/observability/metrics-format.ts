/**
 * Which text `GET <admin>/metrics` answers in, from the request's `Accept` header (RFC 9110 §12.5.1):
 * the Prometheus text format 0.0.4 when `Accept` prefers it, OpenMetrics 1.0.0 otherwise (no header,
 * only the full wildcard, a tie, or nothing we can serve: OpenMetrics is the default, never a 406).
 *
 * - Prometheus text: `text/plain` with no `version` or `version=0.0.4`, or `text/` with a wildcard subtype.
 * - OpenMetrics: `application/openmetrics-text` (the versions Prometheus asks for: 1.0.0, 0.0.1),
 *   `application/` with a wildcard subtype, the full wildcard.
 *
 * Each is given the weight (`q`) of the most specific range that matches it; the higher weight wins.
 * Pure.
 * @module
 */

export type MetricsFormat = "openmetrics" | "prometheus-text";

interface Range {
  type: string;
  subtype: string;
  params: Map<string, string>;
  q: number;
}

function parseAccept(header: string): Range[] {
  const ranges: Range[] = [];
  for (const part of header.split(",")) {
    const [media, ...rest] = part.split(";").map((s) => s.trim());
    const slash = media?.indexOf("/") ?? -1;
    if (!media || slash <= 0 || slash === media.length - 1) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf("=");
      if (eq <= 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, "$1");
      if (name === "q") {
        const n = Number(value);
        q = Number.isFinite(n) && n >= 0 && n <= 1 ? n : 0;
      } else params.set(name, value);
    }
    ranges.push({
      type: media.slice(0, slash).toLowerCase(),
      subtype: media.slice(slash + 1).toLowerCase(),
      params,
      q,
    });
  }
  return ranges;
}

/** How specifically a range names a format (higher: more specific), or -1 when it does not match it. */
function specificity(r: Range, format: MetricsFormat): number {
  const [type, subtype] = format === "openmetrics" ? ["application", "openmetrics-text"] : ["text", "plain"];
  if (r.type === "*" && r.subtype === "*") return 0;
  if (r.type !== type) return -1;
  if (r.subtype === "*") return 1;
  if (r.subtype !== subtype) return -1;
  const version = r.params.get("version");
  if (version === undefined) return 2;
  if (format === "prometheus-text") return version === "0.0.4" ? 3 : -1;
  return version === "1.0.0" || version === "0.0.1" ? 3 : -1;
}

function weight(ranges: Range[], format: MetricsFormat): number {
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    const s = specificity(r, format);
    if (s > best) {
      best = s;
      q = r.q;
    }
  }
  return best < 0 ? 0 : q;
}

export function metricsFormat(accept: string | null | undefined): MetricsFormat {
  if (!accept) return "openmetrics";
  const ranges = parseAccept(accept);
  return weight(ranges, "prometheus-text") > weight(ranges, "openmetrics") ? "prometheus-text" : "openmetrics";
}
