/**
 * The region an isolate's regional shards live in: a Durable Object location
 * hint (`wnam`, `enam`, `sam`, `weur`, `eeur`, `apac`, `oc`, `afr`, `me`)
 * taken from a request's `cf` properties, for a key's tree to place one shard
 * per region (`regionalShardName` in ./shard.ts; the simulation's
 * `--geo` runs measure it). Pure: it reads only the fields it is given.
 *
 * The continent decides, except where one continent holds two hints: North
 * America is split at 100° W (west: `wnam`), Europe at 20° E (east: `eeur`),
 * and Asia's Middle Eastern countries go to `me`. A request without a
 * continent (`wrangler dev` without a faked `cf`) has no region.
 * @module
 */

export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type LocationHint = (typeof LOCATION_HINTS)[number];

/** The fields of a request's `cf` that place it (all optional, as `cf` is). */
export interface PlaceOf {
  continent?: string | null;
  country?: string | null;
  /** Degrees, as a number or the string `cf` carries. */
  longitude?: string | number | null;
}

/** Countries Cloudflare counts in Asia whose nearest hint is the Middle East. */
const MIDDLE_EAST = new Set(["AE", "BH", "IL", "IQ", "IR", "JO", "KW", "LB", "OM", "PS", "QA", "SA", "SY", "YE"]);

export function locationHintOf(place: PlaceOf | undefined | null): LocationHint | undefined {
  if (!place || typeof place.continent !== "string") return undefined;
  const longitude = place.longitude === undefined || place.longitude === null ? Number.NaN : Number(place.longitude);
  switch (place.continent.toUpperCase()) {
    case "NA":
      return longitude < -100 ? "wnam" : "enam";
    case "SA":
      return "sam";
    case "EU":
      return longitude > 20 ? "eeur" : "weur";
    case "AS":
      return typeof place.country === "string" && MIDDLE_EAST.has(place.country.toUpperCase()) ? "me" : "apac";
    case "OC":
    case "AN":
      return "oc";
    case "AF":
      return "afr";
    default:
      return undefined;
  }
}
