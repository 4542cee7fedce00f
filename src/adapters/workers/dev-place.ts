/**
 * Where a request comes from, for regional shards and `scope: "region"`:
 * its `cf` properties, or under `wrangler dev` (one location, a `cf` of the
 * developer's machine) a place faked by request headers, so the regional
 * code paths can be exercised end to end.
 *
 * The fake is honoured only when the Worker runs with the var
 * `DEV_FAKE_CF` set to exactly `"1"`; wrangler.toml never sets it, and it
 * must never be set on a deployed Worker: with it, any client could pick the
 * region it is counted in. Without the var the headers are not read at all,
 * however they are spelt, and the request's own `cf` decides.
 * @module
 */
import type { PlaceOf } from "../../lease/region";
import { logEvent } from "../../log";

/** The request headers a faked place is read from (lower case; `Headers` matches any case). */
export const DEV_CF_HEADERS = {
  continent: "x-sluice-dev-cf-continent",
  country: "x-sluice-dev-cf-country",
  longitude: "x-sluice-dev-cf-longitude",
  colo: "x-sluice-dev-cf-colo",
} as const;

/** The only value of `DEV_FAKE_CF` that turns the fake on: "true", "yes" or "0" leave it off. */
const ON = "1";

let warned = false;

/** The request's place: its `cf`, with the faked fields over it when `DEV_FAKE_CF` is `"1"`. */
export function placeOf(request: Request, env: { DEV_FAKE_CF?: string | undefined }): PlaceOf | undefined {
  // `cf` is the Workers runtime's; this module is also type-checked for Node (its unit test).
  const cf = (request as { cf?: unknown }).cf as (PlaceOf & { colo?: string }) | undefined;
  if (env.DEV_FAKE_CF !== ON) return cf;
  if (!warned) {
    warned = true;
    logEvent(
      "config.dev_fake_cf",
      { message: "DEV_FAKE_CF=1: request headers choose the region; never set it on a deployed Worker" },
      "warn",
    );
  }
  const faked: PlaceOf & { colo?: string } = { ...cf };
  const continent = request.headers.get(DEV_CF_HEADERS.continent);
  if (continent !== null) {
    faked.continent = continent;
    // A faked continent is a place of its own: the machine's country and longitude would split it wrongly.
    faked.country = null;
    faked.longitude = null;
  }
  const country = request.headers.get(DEV_CF_HEADERS.country);
  if (country !== null) faked.country = country;
  const longitude = request.headers.get(DEV_CF_HEADERS.longitude);
  if (longitude !== null) faked.longitude = longitude;
  const colo = request.headers.get(DEV_CF_HEADERS.colo);
  if (colo !== null) faked.colo = colo;
  return faked;
}
