/**
 * The faked place of `wrangler dev` (`DEV_FAKE_CF=1` with `x-sluice-dev-cf-*` headers): read only
 * when the var is exactly "1"; otherwise the request's own `cf` decides, whatever the headers say.
 */
import { describe, expect, it } from "vitest";
import { DEV_CF_HEADERS, placeOf } from "../../src/adapters/workers/dev-place";
import { locationHintOf } from "../../src/lease/region";

const machine = { continent: "NA", country: "US", longitude: "-97.74", colo: "DFW" };

function request(headers: Record<string, string>): Request {
  const r = new Request("http://api.example.com/", { headers });
  Object.defineProperty(r, "cf", { value: machine });
  return r;
}

const asia = { [DEV_CF_HEADERS.continent]: "AS", [DEV_CF_HEADERS.colo]: "SIN" };

describe("placeOf", () => {
  it("without DEV_FAKE_CF the headers are not read: the request's cf decides", () => {
    for (const value of [undefined, "", "0", "true", "yes", " 1", "1 "]) {
      expect(placeOf(request(asia), { DEV_FAKE_CF: value })).toBe(machine);
    }
    const shouting = { "X-SLUICE-DEV-CF-CONTINENT": "EU" };
    expect(locationHintOf(placeOf(request(shouting), {}))).toBe("enam");
  });

  it("with DEV_FAKE_CF=1 a faked continent (and colo) replaces the machine's place", () => {
    const place = placeOf(request(asia), { DEV_FAKE_CF: "1" }) as Record<string, unknown>;
    expect(place).toMatchObject({ continent: "AS", colo: "SIN", country: null, longitude: null });
    expect(locationHintOf(place)).toBe("apac");
    expect(locationHintOf(placeOf(request({ [DEV_CF_HEADERS.continent]: "EU" }), { DEV_FAKE_CF: "1" }))).toBe("weur");
    const west = { [DEV_CF_HEADERS.continent]: "NA", [DEV_CF_HEADERS.longitude]: "-122.4" };
    expect(locationHintOf(placeOf(request(west), { DEV_FAKE_CF: "1" }))).toBe("wnam");
    // No header: the machine's own place.
    expect(locationHintOf(placeOf(request({}), { DEV_FAKE_CF: "1" }))).toBe("enam");
  });
});

describe("wrangler.toml", () => {
  it("never sets DEV_FAKE_CF: a deployed Worker must not let headers choose a region", async () => {
    const { readFile } = await import("node:fs/promises");
    const toml = await readFile(new URL("../../wrangler.toml", import.meta.url), "utf8");
    expect(toml).not.toMatch(/^\s*DEV_FAKE_CF\s*=/m);
  });
});
