/** The location hint of an isolate's regional shards, from a request's `cf`. */
import { describe, expect, it } from "vitest";
import { locationHintOf } from "../../src/lease/region";
import { regionalShardName, shardName } from "../../src/lease/shard";

describe("locationHintOf", () => {
  it("maps each continent to its hint, splitting North America, Europe and Asia", () => {
    expect(locationHintOf({ continent: "NA", longitude: "-122.4" })).toBe("wnam");
    expect(locationHintOf({ continent: "NA", longitude: "-77.0" })).toBe("enam");
    expect(locationHintOf({ continent: "NA" })).toBe("enam");
    expect(locationHintOf({ continent: "SA" })).toBe("sam");
    expect(locationHintOf({ continent: "EU", longitude: "-0.1" })).toBe("weur");
    expect(locationHintOf({ continent: "EU", longitude: 21.0 })).toBe("eeur");
    expect(locationHintOf({ continent: "EU" })).toBe("weur");
    expect(locationHintOf({ continent: "AS", country: "SG" })).toBe("apac");
    expect(locationHintOf({ continent: "AS", country: "AE" })).toBe("me");
    expect(locationHintOf({ continent: "OC" })).toBe("oc");
    expect(locationHintOf({ continent: "AF" })).toBe("afr");
  });

  it("has no hint without a continent (wrangler dev without a faked cf)", () => {
    expect(locationHintOf(undefined)).toBeUndefined();
    expect(locationHintOf({})).toBeUndefined();
    expect(locationHintOf({ continent: "XX" })).toBeUndefined();
  });

  it("names a regional shard apart from a hashed one and from any counting key", () => {
    expect(regionalShardName("tenant:acme", "weur", 0)).toBe("shard:weur:0:tenant:acme");
    expect(regionalShardName("tenant:acme", "weur", 0)).not.toBe(shardName("tenant:acme", 0));
  });
});
