/**
 * Medians over rounds, ratios to the pass-through of the same round, the
 * targets, and the Markdown report.
 */
import type { BurstResult, LoadResult } from "./load";
import type { ObjectWork } from "./object-counts";
import type { Scenario } from "./options";

export interface WorkerInfo {
  id: string;
  label: string;
  /** Has a rate limiter at all (passthrough has none). */
  limiter: boolean;
  /** Can express several limits on one key, checked together (the multi-limit scenario). */
  multi: boolean;
  /** Sends RateLimit headers on its responses (used to spot a limiter that let a request through uncounted). */
  headers: boolean;
}

export interface Measurement {
  round: number;
  worker: string;
  scenario: Scenario;
  at: string;
  load?: LoadResult;
  burst?: BurstResult;
  /** Requests that reached the origin during the measurement. */
  originHits?: number;
  /** CPU time (ms) the Worker's processes (wrangler dev: workerd and wrangler) used during the measurement. */
  workerCpuMs?: number;
  /** Refused path: what the pre-exhaustion saw (the status of its last request). */
  precheck?: string;
  /** sluice: what its Durable Objects were asked to do during the measurement (bench/lib/object-counts.ts). */
  objects?: ObjectWork;
}

export interface LoadSummary {
  kind: "load";
  rounds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Median over rounds of (this round's figure / pass-through's figure in the same round). */
  rpsRatio: number | null;
  p50Ratio: number | null;
  p99Ratio: number | null;
  /** CPU ms of the Worker's own processes per response (median over rounds), and its ratio to the pass-through's. */
  cpuMsPerResponse: number | null;
  cpuRatio: number | null;
  /** Shares of all responses. */
  share2xx: number;
  share429: number;
  shareOther: number;
  /** Share of 2xx responses that carried RateLimit headers (null: this Worker sends none). */
  share2xxWithHeaders: number | null;
  errors: number;
  originHitsPerResponse: number | null;
  /** Calls received by the Worker's Durable Objects per response, over every round (null: not counted). */
  objectCallsPerResponse: number | null;
  /** Objects that started with nothing stored, per 1,000 responses, over every round (null: not counted). */
  newObjectsPer1000: number | null;
  perRound: Array<{
    rps: number;
    p50: number;
    p99: number;
    cpuMsPerResponse: number;
    objectCallsPerResponse?: number;
    newObjectsPer1000?: number;
  }>;
}

export interface BurstSummary {
  kind: "burst";
  admitted: number[];
  refused: number[];
  other: number[];
  errors: number[];
  admittedWithoutHeaders: number[];
  exactEveryRound: boolean;
  ms: number[];
  /** sluice: calls its objects received, and new objects, per round (empty: not counted). */
  objectCalls: number[];
  newObjects: number[];
}

export type Cell = LoadSummary | BurstSummary | { kind: "na"; why: string };

export interface Summary {
  /** scenario → worker id → cell */
  cells: Record<string, Record<string, Cell>>;
  targets: Array<{ target: string; value: string; pass: boolean | null }>;
}

/** Whether a Worker takes part in a scenario, and why not. */
export function notApplicable(w: WorkerInfo, scenario: Scenario): string | undefined {
  if (scenario === "multi" && w.limiter && !w.multi) return "cannot express several limits on one key checked together";
  if (scenario === "norule" && !w.id.startsWith("sluice") && w.id !== "passthrough")
    return "diagnostic for sluice only (a path without a limit is the pass-through)";
  if (scenario === "burst" && !w.limiter) return "no limiter";
  return undefined;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

export function summarize(
  measurements: Measurement[],
  workers: WorkerInfo[],
  scenarios: Scenario[],
  burstLimit: number,
): Summary {
  const cells: Summary["cells"] = {};
  for (const scenario of scenarios) {
    cells[scenario] = {};
    for (const w of workers) {
      const mine = measurements.filter((m) => m.worker === w.id && m.scenario === scenario);
      const why = notApplicable(w, scenario);
      if (why) {
        cells[scenario]![w.id] = { kind: "na", why };
        continue;
      }
      if (mine.length === 0) {
        cells[scenario]![w.id] = { kind: "na", why: "not measured" };
        continue;
      }
      if (scenario === "burst") {
        const b = mine.map((m) => m.burst!).filter(Boolean);
        cells[scenario]![w.id] = {
          kind: "burst",
          admitted: b.map((x) => x.admitted),
          refused: b.map((x) => x.refused),
          other: b.map((x) => x.other),
          errors: b.map((x) => x.errors),
          admittedWithoutHeaders: b.map((x) => x.admittedWithoutHeaders),
          exactEveryRound: b.length > 0 && b.every((x) => x.admitted === burstLimit && x.errors === 0),
          ms: b.map((x) => x.ms),
          objectCalls: mine.flatMap((m) => (m.objects ? [m.objects.calls] : [])),
          newObjects: mine.flatMap((m) => (m.objects ? [m.objects.newObjects] : [])),
        };
        continue;
      }
      const loads = mine.filter((m) => m.load);
      const ratios = (pick: (m: Measurement) => number) => {
        const r: number[] = [];
        for (const m of loads) {
          const base = measurements.find(
            (x) => x.worker === "passthrough" && x.scenario === scenario && x.round === m.round && x.load,
          );
          if (base && pick(base) > 0 && Number.isFinite(pick(m))) r.push(pick(m) / pick(base));
        }
        return r.length ? median(r) : null;
      };
      const cpuPer = (m: Measurement) =>
        m.workerCpuMs !== undefined && m.load!.responses > 0 ? m.workerCpuMs / m.load!.responses : Number.NaN;
      const cpuValues = loads.map(cpuPer).filter(Number.isFinite);
      const responses = sum(loads.map((m) => m.load!.responses));
      const count = (pred: (code: number) => boolean) =>
        sum(
          loads.map((m) =>
            sum(
              Object.entries(m.load!.statuses)
                .filter(([c]) => pred(Number(c)))
                .map(([, n]) => n),
            ),
          ),
        );
      const n2xx = count((c) => c >= 200 && c < 300);
      const n429 = count((c) => c === 429);
      const withHeaders2xx = sum(loads.map((m) => m.load!.withRateLimitHeaders2xx));
      const hits = loads.filter((m) => m.originHits !== undefined);
      const counted = loads.filter((m) => m.objects);
      const countedResponses = sum(counted.map((m) => m.load!.responses));
      const perObjects = (pick: (o: ObjectWork) => number, scale: number) =>
        counted.length && countedResponses
          ? (sum(counted.map((m) => pick(m.objects!))) * scale) / countedResponses
          : null;
      cells[scenario]![w.id] = {
        kind: "load",
        rounds: loads.length,
        rps: median(loads.map((m) => m.load!.rps)),
        p50: median(loads.map((m) => m.load!.p50)),
        p99: median(loads.map((m) => m.load!.p99)),
        rpsRatio: w.id === "passthrough" ? 1 : ratios((m) => m.load!.rps),
        p50Ratio: w.id === "passthrough" ? 1 : ratios((m) => m.load!.p50),
        p99Ratio: w.id === "passthrough" ? 1 : ratios((m) => m.load!.p99),
        cpuMsPerResponse: cpuValues.length ? median(cpuValues) : null,
        cpuRatio: w.id === "passthrough" ? (cpuValues.length ? 1 : null) : ratios(cpuPer),
        share2xx: responses ? n2xx / responses : 0,
        share429: responses ? n429 / responses : 0,
        shareOther: responses ? (responses - n2xx - n429) / responses : 0,
        share2xxWithHeaders: w.headers && n2xx && scenario !== "norule" ? withHeaders2xx / n2xx : null,
        errors: sum(loads.map((m) => m.load!.errors + m.load!.timeouts)),
        originHitsPerResponse:
          hits.length && responses
            ? sum(hits.map((m) => m.originHits!)) / sum(hits.map((m) => m.load!.responses))
            : null,
        objectCallsPerResponse: perObjects((o) => o.calls, 1),
        newObjectsPer1000: perObjects((o) => o.newObjects, 1000),
        perRound: loads.map((m) => ({
          rps: m.load!.rps,
          p50: m.load!.p50,
          p99: m.load!.p99,
          cpuMsPerResponse: cpuPer(m),
          ...(m.objects && m.load!.responses
            ? {
                objectCallsPerResponse: m.objects.calls / m.load!.responses,
                newObjectsPer1000: (m.objects.newObjects * 1000) / m.load!.responses,
              }
            : {}),
        })),
      };
    }
  }
  return { cells, targets: targets(cells, workers) };
}

function targets(cells: Summary["cells"], workers: WorkerInfo[]): Summary["targets"] {
  const out: Summary["targets"] = [];
  const load = (s: string, w: string) => {
    const c = cells[s]?.[w];
    return c?.kind === "load" ? c : undefined;
  };
  const admitted = load("admitted", "sluice");
  if (admitted) {
    out.push({
      target: "admitted path: rps >= 0.85 x pass-through",
      value: fmtRatio(admitted.rpsRatio),
      pass: admitted.rpsRatio === null ? null : admitted.rpsRatio >= 0.85,
    });
    out.push({
      target: "admitted path: p99 <= 1.25 x pass-through p99",
      value: fmtRatio(admitted.p99Ratio),
      pass: admitted.p99Ratio === null ? null : admitted.p99Ratio <= 1.25,
    });
    const peers = workers
      .filter((w) => w.limiter && !w.id.startsWith("sluice"))
      .map((w) => [w, load("admitted", w.id)] as const)
      .filter(([, c]) => c);
    if (peers.length) {
      const best = peers.reduce((a, b) => (b[1]!.rps > a[1]!.rps ? b : a));
      out.push({
        target: "admitted path: ahead of every peer (rps)",
        value: `sluice ${fmtInt(admitted.rps)} vs best peer ${best[0].label} ${fmtInt(best[1]!.rps)}`,
        pass: admitted.rps > best[1]!.rps,
      });
    }
  }
  const withCandidate = load("admitted", "sluice-candidate");
  if (admitted && withCandidate)
    out.push({
      target: "admitted path with a candidate in shadow: rps vs without (the candidate's cost)",
      value: fmtRatio(withCandidate.rps / admitted.rps),
      pass: null,
    });
  const refused = load("refused", "sluice");
  if (refused)
    out.push({
      target: "refused path: rps >= 1.5 x pass-through",
      value: fmtRatio(refused.rpsRatio),
      pass: refused.rpsRatio === null ? null : refused.rpsRatio >= 1.5,
    });
  const b = cells.burst?.sluice;
  if (b?.kind === "burst")
    out.push({
      target: "burst: exactly 50 of 200 admitted, every round",
      value: b.admitted.join(", "),
      pass: b.exactEveryRound,
    });
  return out;
}

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US");
}
export function fmtMs(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "–" : n < 10 ? n.toFixed(2) : n.toFixed(1);
}
export function fmtRatio(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "–" : `${n.toFixed(2)}×`;
}
function fmtPct(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n)
    ? "–"
    : `${(n * 100).toFixed(n === 1 || n === 0 ? 0 : 1)}%`;
}

function fmtCalls(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(n !== 0 && n < 0.01 ? 4 : 2);
}
function fmtPerK(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(n !== 0 && n < 10 ? 1 : 0);
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}

const SCENARIO_TITLES: Record<Scenario, string> = {
  admitted: "Admitted path (many keys, limits never reached)",
  hot: "Hot key (one key, limit never reached)",
  zipf: "Zipf-distributed keys (10,000 keys, s = 1.1, the shape of real API traffic; limits never reached)",
  refused: "Refused path (one key already over its limit)",
  multi: "Multi-limit (one rule, three limits on the same key, never reached; many keys)",
  norule: "Diagnostic: sluice's front door on a path no rule matches (no counter call)",
  burst: "Burst accuracy (200 requests at once at one fresh key, limit 50)",
};

export interface ReportMeta {
  title: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  status: string;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  notes: string[];
}

export function markdown(summary: Summary, workers: WorkerInfo[], scenarios: Scenario[], meta: ReportMeta): string {
  const out: string[] = [];
  const label = (id: string) => workers.find((w) => w.id === id)?.label ?? id;
  out.push(`# ${meta.title}`, "");
  out.push(`${meta.startedAt} → ${meta.finishedAt} (${Math.round(meta.seconds)} s), status: **${meta.status}**.`, "");
  const o = meta.options as { rounds: number; duration: number; connections: number; keys: number };
  out.push(
    `${o.rounds} round(s), interleaved (Workers in alternating order each round); ${o.duration} s of load per measurement, ${o.connections} connections, ${o.keys} keys on the many-key paths. ` +
      `Figures are medians over rounds; "× pt" is the median over rounds of the ratio to the pass-through measured in the same round. Latencies are over all responses (2xx and 429).`,
    "",
  );

  // Compact overview.
  const loadScen = scenarios.filter((s) => s !== "burst");
  const head = ["Worker"];
  for (const s of loadScen) head.push(`${s} rps (× pt)`, `${s} p99 ms (× pt)`);
  if (scenarios.includes("admitted")) head.push("admitted: Worker CPU ms / response (× pt)");
  if (scenarios.includes("burst")) head.push("burst admitted (of 200, limit 50)");
  const rows = workers.map((w) => {
    const row = [label(w.id)];
    for (const s of loadScen) {
      const c = summary.cells[s]?.[w.id];
      if (c?.kind === "load")
        row.push(`${fmtInt(c.rps)} (${fmtRatio(c.rpsRatio)})`, `${fmtMs(c.p99)} (${fmtRatio(c.p99Ratio)})`);
      else row.push("n/a", "n/a");
    }
    if (scenarios.includes("admitted")) {
      const c = summary.cells.admitted?.[w.id];
      row.push(c?.kind === "load" ? `${fmtMs(c.cpuMsPerResponse)} (${fmtRatio(c.cpuRatio)})` : "n/a");
    }
    if (scenarios.includes("burst")) {
      const c = summary.cells.burst?.[w.id];
      row.push(c?.kind === "burst" ? `${c.admitted.join(", ")}${c.exactEveryRound ? " ✓" : " ✗"}` : "n/a");
    }
    return row;
  });
  out.push("## Overview", "", table(head, rows), "");

  // What a response costs, per scenario: CPU of the Worker's processes, and (sluice) its objects' work.
  const costHead = ["Worker", ...scenarios.map((s) => s)];
  const costRows = workers.map((w) => [
    label(w.id),
    ...scenarios.map((s) => {
      const c = summary.cells[s]?.[w.id];
      if (c?.kind === "load")
        return `${fmtMs(c.cpuMsPerResponse)} ms · ${fmtCalls(c.objectCallsPerResponse)} · ${fmtPerK(c.newObjectsPer1000)}`;
      if (c?.kind === "burst") {
        const sent = c.admitted.map((n, i) => n + c.refused[i]! + c.other[i]! + c.errors[i]!);
        return c.objectCalls.length
          ? `${c.objectCalls.map((n, i) => fmtCalls(n / sent[i]!)).join(", ")} · ${c.newObjects.map((n, i) => fmtPerK((n * 1000) / sent[i]!)).join(", ")}`
          : "–";
      }
      return "n/a";
    }),
  ]);
  out.push(
    "## Cost per response",
    "",
    "Each cell: Worker CPU ms per response · object calls per response · new objects per 1,000 responses " +
      "(burst: each round's). Object calls and new objects are " +
      "counted by sluice's objects themselves (`OBJECT_COUNTS`); the peers' are not counted (–).",
    "",
    table(costHead, costRows),
    "",
  );

  if (summary.targets.length) {
    out.push(
      "## sluice's targets",
      "",
      table(
        ["target", "measured", "met"],
        summary.targets.map((t) => [t.target, t.value, t.pass === null ? "–" : t.pass ? "yes" : "**no**"]),
      ),
      "",
    );
  }

  for (const s of scenarios) {
    out.push(`## ${SCENARIO_TITLES[s]}`, "");
    if (s === "burst") {
      const rows = workers.map((w) => {
        const c = summary.cells.burst?.[w.id];
        if (c?.kind !== "burst") return [label(w.id), "n/a", "", "", "", "", "", "", c?.kind === "na" ? c.why : ""];
        return [
          label(w.id),
          c.admitted.join(", "),
          c.refused.join(", "),
          c.other.map((x, i) => x + c.errors[i]!).join(", "),
          w.headers ? c.admittedWithoutHeaders.join(", ") : "–",
          c.ms.map((x) => fmtInt(x)).join(", "),
          c.objectCalls.length ? c.objectCalls.join(", ") : "–",
          c.newObjects.length ? c.newObjects.join(", ") : "–",
          c.exactEveryRound ? "yes" : "**no**",
        ];
      });
      out.push(
        table(
          [
            "Worker",
            "admitted",
            "429",
            "other/errors",
            "admitted without RateLimit headers",
            "wall ms",
            "object calls",
            "new objects",
            "exactly 50 every round",
          ],
          rows,
        ),
        "",
      );
      continue;
    }
    const rows = workers.map((w) => {
      const c = summary.cells[s]?.[w.id];
      if (c?.kind !== "load")
        return [label(w.id), "n/a", "", "", "", "", "", "", "", "", "", "", "", "", c?.kind === "na" ? c.why : ""];
      return [
        label(w.id),
        fmtInt(c.rps),
        fmtRatio(c.rpsRatio),
        fmtMs(c.p50),
        fmtRatio(c.p50Ratio),
        fmtMs(c.p99),
        fmtRatio(c.p99Ratio),
        fmtMs(c.cpuMsPerResponse),
        fmtRatio(c.cpuRatio),
        fmtCalls(c.objectCallsPerResponse),
        fmtPerK(c.newObjectsPer1000),
        `${fmtPct(c.share2xx)} / ${fmtPct(c.share429)} / ${fmtPct(c.shareOther)}${c.errors ? ` (+${c.errors} errors)` : ""}`,
        fmtPct(c.share2xxWithHeaders),
        c.originHitsPerResponse === null ? "–" : c.originHitsPerResponse.toFixed(2),
        c.perRound.map((r) => fmtInt(r.rps)).join(", "),
      ];
    });
    out.push(
      table(
        [
          "Worker",
          "rps",
          "× pt",
          "p50 ms",
          "× pt",
          "p99 ms",
          "× pt",
          "Worker CPU ms / response",
          "× pt",
          "object calls / response",
          "new objects / 1,000 responses",
          "2xx / 429 / other",
          "2xx with RateLimit headers",
          "origin hits per response",
          "rps per round",
        ],
        rows,
      ),
      "",
    );
  }

  out.push(
    "## Machine",
    "",
    table(
      ["", ""],
      Object.entries(meta.machine).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    ),
    "",
  );
  if (meta.notes.length) out.push("## Notes", "", ...meta.notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}
