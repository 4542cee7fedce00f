/**
 * The simulation's geography: Cloudflare's Durable Object location hints as
 * regions, and the round trip between any two of them.
 *
 * The matrix is approximate. Each region stands for one AWS region in it
 * (Cloudflare does not publish a matrix between its own locations), and the
 * figures are approximate, from cloudping.co's public matrix as of 2026 (AWS
 * inter-region latency, p50), rounded to 5 ms: typed in from that page, not
 * checked against it since (docs/leases.md prints the table). Eastern
 * Europe has no AWS region: Stockholm stands for it. Within a region, a Worker
 * and the object it calls are rarely in the same data centre: the round trip
 * inside a region is taken as 6 ms (an assumption, not a published figure),
 * and every one-way trip has exponential jitter on top.
 */

export const REGIONS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type Region = (typeof REGIONS)[number];

/**
 * The AWS region whose published figures stand for each location hint: the source of the latencies
 * above, for whoever updates them.
 * @public
 */
export const STAND_INS: Record<Region, string> = {
  wnam: "us-west-1 (N. California)",
  enam: "us-east-1 (N. Virginia)",
  sam: "sa-east-1 (São Paulo)",
  weur: "eu-west-2 (London)",
  eeur: "eu-north-1 (Stockholm)",
  apac: "ap-southeast-1 (Singapore)",
  oc: "ap-southeast-2 (Sydney)",
  afr: "af-south-1 (Cape Town)",
  me: "me-south-1 (Bahrain)",
};

/** Round trip inside a region (assumed). */
export const IN_REGION_RTT_MS = 6;

/** Round trips in ms, upper triangle in `REGIONS` order (approximate; see above). */
const UPPER: Record<Region, Partial<Record<Region, number>>> = {
  wnam: { enam: 65, sam: 175, weur: 140, eeur: 165, apac: 170, oc: 140, afr: 290, me: 235 },
  enam: { sam: 115, weur: 75, eeur: 110, apac: 220, oc: 200, afr: 225, me: 170 },
  sam: { weur: 185, eeur: 220, apac: 325, oc: 310, afr: 340, me: 285 },
  weur: { eeur: 30, apac: 165, oc: 265, afr: 155, me: 100 },
  eeur: { apac: 180, oc: 285, afr: 175, me: 110 },
  apac: { oc: 95, afr: 270, me: 85 },
  oc: { afr: 390, me: 180 },
  afr: { me: 240 },
  me: {},
};

/** The round trip between two regions, ms (symmetric). */
export function roundTripMs(a: Region, b: Region): number {
  if (a === b) return IN_REGION_RTT_MS;
  return UPPER[a][b] ?? UPPER[b][a]!;
}

/** One way from `a` to `b`: half the round trip plus exponential jitter (mean `jitterMeanMs`). */
export function oneWayMs(a: Region, b: Region, random: () => number, jitterMeanMs = 1): number {
  return roundTripMs(a, b) / 2 - jitterMeanMs * Math.log(1 - random());
}
