/**
 * Geography in a simulated run (`npm run simulate -- --geo`): where the
 * isolates are, how a key's tree is laid out over regions, and what each
 * region's requests see: the latency the limiter adds to a request, the share
 * decided by an object in another region, and fail-opens under the engine's
 * round-trip budget (src/engine/budget.ts, with the product's defaults) and,
 * to compare, under the fixed 50 ms budget of before.
 */
import { type BudgetTerms, RoundTrips } from "../../src/engine/budget";
import { REGIONS, type Region } from "./geography";

export interface GeoOptions {
  /** The region of each isolate, by index (as many as the run has isolates). */
  isolateRegions: readonly Region[];
  /**
   * Regional shards: a key's tree has this many shards per region, each
   * created in its region by a location hint; an isolate leases from one of
   * its own region's. Absent: the key's tree is `shards` hashed shards (or
   * none), each placed where its first call came from, as today.
   */
  regionalShards?: number;
  /** The budget of a call (defaults: the product's, a floor of 50 ms and a ceiling of 2 s). */
  budget?: BudgetTerms;
  /** Requests arriving earlier than this (ms into the run) are left out of the latency figures (the cold start). */
  warmAfterMs?: number;
}

/** A wait this long crossed regions (the shortest round trip between two regions here is 30 ms). */
export const FAR_WAIT_MS = 30;

export const DEFAULT_BUDGET: BudgetTerms = { floorMs: 50, ceilingMs: 2_000 };
/** The budget before issue 30: every call, near or far, given up on after 50 ms. */
export const FIXED_BUDGET: BudgetTerms = { floorMs: 50, ceilingMs: 50 };

export interface RegionFigures {
  region: Region;
  isolates: number;
  /** Requests that arrived here (after the warm-up, for the latency figures). */
  requests: number;
  /** Added latency per request once warm (ms): the limiter's wait, 0 for one decided from a lease or the refusal cache. */
  p50: number;
  p99: number;
  max: number;
  /**
   * Requests (whole run) that waited on a call to another region's object for their decision, directly
   * or through their shard (or on another request's such call): taken as a wait of at least
   * {@link FAR_WAIT_MS}, which no call inside a region takes here and every call between the regions
   * the workloads use does.
   */
  far: number;
  /** Requests (whole run) whose call ran past the round-trip budget (each would have failed open). */
  failOpen: number;
  /** The same under the fixed 50 ms budget of before. */
  failOpenFixed: number;
  /** Requests (whole run) that the limiter decided, for the shares. */
  decided: number;
}

/** Per isolate, the round trips its calls have shown (as the engine keeps them). */
export class GeoRecorder {
  private readonly trips: RoundTrips[];
  private readonly fixed: RoundTrips[];
  private readonly latencies = new Map<Region, number[]>();
  /** Requests that waited more than 20 ms (ms into the run, region, wait), to see when and where. */
  readonly slow: { t: number; region: Region; ms: number; far: boolean }[] = [];
  private readonly counts = new Map<
    Region,
    { far: number; failOpen: number; failOpenFixed: number; decided: number }
  >();

  constructor(
    private readonly options: GeoOptions,
    private readonly start: number,
  ) {
    this.trips = options.isolateRegions.map(() => new RoundTrips());
    this.fixed = options.isolateRegions.map(() => new RoundTrips());
  }

  /** A request's call is sent: its budgets now, under the round-trip budget and the fixed one. */
  budgets(isolate: number, key: string, at: number): { budget: number; fixed: number } {
    return {
      budget: this.trips[isolate]!.budget(key, this.options.budget ?? DEFAULT_BUDGET, at),
      fixed: this.fixed[isolate]!.budget(key, FIXED_BUDGET, at),
    };
  }

  /**
   * A request decided: it arrived at `arrivedAt`, waited `waitedMs`; `local`
   * when no call answered it (a lease in memory, the refusal cache).
   */
  decided(
    isolate: number,
    key: string,
    arrivedAt: number,
    waitedMs: number,
    d: { local: boolean; budget: number; fixed: number },
  ): void {
    const region = this.options.isolateRegions[isolate]!;
    const c = this.countsOf(region);
    c.decided++;
    const far = waitedMs >= FAR_WAIT_MS;
    if (far) c.far++;
    if (waitedMs > 20) this.slow.push({ t: arrivedAt - this.start, region, ms: waitedMs, far });
    if (waitedMs > d.budget && d.budget > 0) c.failOpen++;
    if (waitedMs > d.fixed && d.fixed > 0) c.failOpenFixed++;
    if (!d.local) {
      this.trips[isolate]!.observe(key, waitedMs, arrivedAt + waitedMs);
      this.fixed[isolate]!.observe(key, waitedMs, arrivedAt + waitedMs);
    }
    if (arrivedAt - this.start >= (this.options.warmAfterMs ?? 3_000)) {
      let list = this.latencies.get(region);
      if (!list) {
        list = [];
        this.latencies.set(region, list);
      }
      list.push(waitedMs);
    }
  }

  figures(): RegionFigures[] {
    const out: RegionFigures[] = [];
    for (const region of REGIONS) {
      const isolates = this.options.isolateRegions.filter((r) => r === region).length;
      if (isolates === 0) continue;
      const list = (this.latencies.get(region) ?? []).sort((a, b) => a - b);
      const at = (q: number) => (list.length === 0 ? 0 : list[Math.min(list.length - 1, Math.floor(q * list.length))]!);
      const c = this.countsOf(region);
      out.push({
        region,
        isolates,
        requests: list.length,
        p50: at(0.5),
        p99: at(0.99),
        max: list.length === 0 ? 0 : list[list.length - 1]!,
        ...c,
      });
    }
    return out;
  }

  private countsOf(region: Region) {
    let c = this.counts.get(region);
    if (!c) {
      c = { far: 0, failOpen: 0, failOpenFixed: 0, decided: 0 };
      this.counts.set(region, c);
    }
    return c;
  }
}

/** `perRegion` isolates in each of `regions`, in order. */
export function isolatesIn(regions: readonly Region[], perRegion: number): Region[] {
  return regions.flatMap((r) => Array.from({ length: perRegion }, () => r));
}

/** A run's figures as the geography table wants them (kept apart from world.ts's Outcome to avoid a cycle). */
export interface GeoRow {
  workload: string;
  layout: string;
  regions: readonly RegionFigures[];
  overAdmissions: number;
  saturatedUnused: number;
  saturatedIdeal: number;
  worstWindowUnused: number;
  saturatedWindows: number;
  rootPeakWarm: number;
  rootCallsPerSecond: number;
}

const share = (part: number, whole: number) => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);

/** Per run and region: added latency, far decisions, fail-opens; per run: exactness, unused room, root load. */
export function geoTable(rows: readonly GeoRow[]): string {
  const lines = [
    "| workload | layout | region | p50 / p99 added ms (warm, 3 s on) | decided far | fail-opens (budget) | fail-opens (fixed 50 ms) | over-admissions | unused in saturated windows | root calls/s, mean (peak after 1st s) |",
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const row of rows) {
    row.regions.forEach((r, i) => {
      const first = i === 0;
      const unused =
        row.saturatedWindows === 0
          ? "-"
          : `${share(row.saturatedUnused, row.saturatedIdeal)} (worst ${(100 * row.worstWindowUnused).toFixed(1)}%)`;
      lines.push(
        `| ${first ? row.workload : ""} | ${first ? row.layout : ""} | ${r.region} | ${Math.round(r.p50)} / ${Math.round(r.p99)} | ${share(r.far, r.decided)} | ${r.failOpen} | ${r.failOpenFixed} | ${first ? `**${row.overAdmissions}**` : ""} | ${first ? unused : ""} | ${first ? `${row.rootCallsPerSecond.toFixed(0)} (${row.rootPeakWarm})` : ""} |`,
      );
    });
  }
  return lines.join("\n");
}
