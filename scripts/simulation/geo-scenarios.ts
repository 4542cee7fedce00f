/**
 * Geography scenarios (`npm run simulate -- --geo`): keys used from several
 * continents, each run with today's layouts (one root; hashed shards placed
 * where their first call came from) and with regional shards (one per region,
 * created there by hint), judged as every run is.
 */
import type { CounterSpec } from "../../src/limiter/types";
import { type GeoOptions, isolatesIn } from "./geo";
import type { Region } from "./geography";
import { exponential } from "./random";
import type { Arrival, Scenario } from "./world";

const MIDNIGHT = 20_000 * 86_400_000;
const DAY_MS = 86_400_000;

const fixed = (name: string, limit: number, windowMs: number): CounterSpec => ({
  name,
  algorithm: "fixed",
  limit,
  windowMs,
  cost: 1,
});

/** Poisson arrivals of `key` from `region`, at `rate(t)` per second (at most `peak`), by thinning. */
function from(
  random: () => number,
  region: Region,
  key: number,
  peak: number,
  durationMs: number,
  rate: (t: number) => number = () => peak,
): Arrival[] {
  const out: Arrival[] = [];
  for (let t = exponential(random, 1_000 / peak); t < durationMs; t += exponential(random, 1_000 / peak)) {
    if (random() * peak < rate(t)) out.push({ t, key, region });
  }
  return out;
}

export type GeoLayout = "one root" | "hashed shards" | "regional shards";
export const GEO_LAYOUTS: readonly GeoLayout[] = ["one root", "hashed shards", "regional shards"];

export interface GeoScenario extends Scenario {
  geo: GeoOptions;
  isolates: number;
  /** The workload's name (shared by its layouts). */
  workload: string;
  layout: GeoLayout;
}

interface Workload {
  name: string;
  regions: readonly Region[];
  isolatesPerRegion: number;
  start: number;
  durationMs: number;
  specs: CounterSpec[];
  arrivals: (random: () => number) => Arrival[];
  /** Layouts it runs in (default: all three). */
  layouts?: readonly GeoLayout[];
}

function laidOut(w: Workload, layout: GeoLayout): GeoScenario {
  const isolateRegions = isolatesIn(w.regions, w.isolatesPerRegion);
  return {
    name: `${w.name} [${layout}]`,
    workload: w.name,
    layout,
    start: w.start,
    durationMs: w.durationMs,
    skewMs: 50,
    rememberRefusals: true,
    isolates: isolateRegions.length,
    specsFor: () => w.specs,
    arrivals: w.arrivals,
    // Today's hashed tree: as many shards as regions, placed wherever their first call came from.
    ...(layout === "hashed shards" ? { shards: w.regions.length } : {}),
    geo: { isolateRegions, ...(layout === "regional shards" ? { regionalShards: 1 } : {}) },
  };
}

export function geoScenarios(options: { durationMs?: number } = {}): GeoScenario[] {
  const d = options.durationMs ?? 20_000;
  const three: Region[] = ["enam", "weur", "apac"];
  const six: Region[] = ["wnam", "sam", "weur", "apac", "oc", "afr"];
  // The day quota runs out about 60% into the run (its day starts half a second in).
  const dayRate = Math.round(100_000 / ((0.6 * d) / 1_000) / six.length);
  const workloads: Workload[] = [
    {
      name: "tenant 1000/s (fixed 1 s) from 3 continents, 1500 req/s",
      regions: three,
      isolatesPerRegion: 8,
      start: MIDNIGHT - 4_000,
      durationMs: d,
      specs: [fixed("tenant-1s", 1_000, 1_000)],
      arrivals: (r) => three.flatMap((region) => from(r, region, 0, 500, d)),
    },
    {
      // The same rate over 10 s windows: a window's turn (when every lease ends) comes a tenth as often.
      name: "tenant 10000/10s (fixed 10 s) from 3 continents, 1500 req/s",
      regions: three,
      isolatesPerRegion: 8,
      start: MIDNIGHT - 4_000,
      durationMs: d,
      specs: [fixed("tenant-10s", 10_000, 10_000)],
      arrivals: (r) => three.flatMap((region) => from(r, region, 0, 500, d)),
    },
    {
      name: `day quota 100000 from 6 continents, ${dayRate * six.length} req/s`,
      regions: six,
      isolatesPerRegion: 6,
      start: MIDNIGHT - 500,
      durationMs: d,
      specs: [fixed("tenant-day", 100_000, DAY_MS)],
      arrivals: (r) => six.flatMap((region) => from(r, region, 0, dayRate, d)),
    },
    {
      // Asia's day, then Europe's, then the Americas': each region's rate rises and falls in turn.
      name: "follow the sun: tenant 1000/s (fixed 1 s), apac then weur then enam, up to 1500 req/s",
      regions: ["apac", "weur", "enam"],
      isolatesPerRegion: 8,
      start: MIDNIGHT - 4_000,
      durationMs: d,
      specs: [fixed("tenant-1s", 1_000, 1_000)],
      arrivals: (r) =>
        (["apac", "weur", "enam"] as const).flatMap((region, i) =>
          from(r, region, 0, 1_500, d, (t) => 1_500 * Math.max(0, Math.sin(Math.PI * (t / d - i / 3) * 1.5))),
        ),
    },
    {
      // Below the leasing threshold: every request is decided by the key's object, wherever it is.
      name: "tenant login limit 50/10s from 3 continents, 20 req/s",
      regions: three,
      isolatesPerRegion: 4,
      start: MIDNIGHT - 4_000,
      durationMs: d,
      specs: [fixed("login-10s", 50, 10_000)],
      arrivals: (r) => three.flatMap((region) => from(r, region, 0, 20 / 3, d)),
      layouts: ["one root"],
    },
    {
      // Per-IP keys, each used from one region only: its object is created there by its first request.
      name: "per-IP keys (300, 100/10s each), each in one region, 900 req/s",
      regions: three,
      isolatesPerRegion: 8,
      start: MIDNIGHT - 4_000,
      durationMs: d,
      specs: [fixed("ip-10s", 100, 10_000)],
      arrivals: (r) =>
        three.flatMap((region, i) =>
          from(r, region, 0, 300, d).map((a) => ({ ...a, key: i * 100 + Math.floor(r() * 100) })),
        ),
      layouts: ["one root"],
    },
  ];
  return workloads.flatMap((w) => (w.layouts ?? GEO_LAYOUTS).map((layout) => laidOut(w, layout)));
}
