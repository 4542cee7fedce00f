/**
 * Reading the API key from every place the origin accepts one.
 */
import { describe, expect, it } from "vitest";
import { type CredentialPolicy, keysToCount, readCredentials } from "../../src/http/credentials";
import { KeyRefusal } from "../../src/http/key-refusal";

const everywhere: CredentialPolicy = {
  accepted: [
    { header: "authorization", scheme: "Bearer" },
    { header: "authorization", scheme: "Token" },
    { header: "authorization" },
    { header: "x-api-key" },
    { query: "api_key" },
  ],
  forbidden: [{ query: "access_token" }],
  onConflict: "refuse",
};
const bearerOnly: CredentialPolicy = {
  accepted: [{ header: "authorization", scheme: "Bearer" }],
  forbidden: [],
  onConflict: "refuse",
};

function read(policy: CredentialPolicy, headers: Record<string, string> | Array<[string, string]>, query = "") {
  return readCredentials(new Headers(headers), new URL(`https://api.example.com/x${query}`), policy);
}

describe("readCredentials", () => {
  it.each([
    [{ authorization: "Bearer K1" }, ""],
    [{ authorization: "bearer K1" }, ""],
    [{ authorization: "BEARER   K1  " }, ""],
    [{ authorization: "Bearer\tK1" }, ""],
    [{ authorization: "Token K1" }, ""],
    [{ authorization: "K1" }, ""],
    [{ "x-api-key": " K1 " }, ""],
    [{}, "?api_key=K1"],
    [{ authorization: "Bearer K1", "x-api-key": "K1" }, "?api_key=K1"],
  ])("%j %s is the key K1", (headers, query) => {
    expect(read(everywhere, headers, query)).toEqual({ kind: "one", key: "K1" });
  });

  it("finds two different keys, in two places or in a repeated header", () => {
    expect(read(everywhere, { authorization: "Bearer K1", "x-api-key": "K2" }).kind).toBe("conflict");
    expect(read(everywhere, { authorization: "Bearer K1" }, "?api_key=K2").kind).toBe("conflict");
    expect(
      read(everywhere, [
        ["authorization", "Bearer K1"],
        ["authorization", "Bearer K2"],
      ]).kind,
    ).toBe("conflict");
    expect(read(everywhere, {}, "?api_key=K1&api_key=K2").kind).toBe("conflict");
  });

  it("calls a key in a forbidden place a conflict, even alone", () => {
    expect(read(everywhere, {}, "?access_token=K1")).toMatchObject({ kind: "conflict", keys: ["K1"] });
  });

  it("reads only the listed forms: with Bearer alone, Token and a raw key are no key", () => {
    expect(read(bearerOnly, { authorization: "Token K1" })).toEqual({ kind: "none" });
    expect(read(bearerOnly, { authorization: "K1" })).toEqual({ kind: "none" });
    expect(read(bearerOnly, { "x-api-key": "K1" })).toEqual({ kind: "none" });
    expect(read(bearerOnly, { authorization: "Bearer\tK1" })).toEqual({ kind: "one", key: "K1" });
  });

  it("refuses a conflict under refuse, and counts every key under strictest", () => {
    const conflict = read(everywhere, { authorization: "Bearer K1", "x-api-key": "K2" });
    expect(() => keysToCount(conflict, "refuse")).toThrow(KeyRefusal);
    expect(keysToCount(conflict, "strictest")).toEqual(["K1", "K2"]);
    expect(keysToCount({ kind: "none" }, "refuse")).toEqual([]);
  });
});

describe("readCredentials: however the origin splits the query, whatever it does with control characters", () => {
  it("finds a key after `;` (Rack 2 splits a query at `&` and `;`); before, the request was anonymous", () => {
    expect(read(everywhere, {}, "?x=1;api_key=K1")).toEqual({ kind: "one", key: "K1" });
    expect(read(everywhere, {}, "?api_key=K1;api_key=K2").kind).toBe("conflict");
    // Express reads "K1;x=1", Rack 2 reads "K1": two readings, two keys.
    expect(read(everywhere, {}, "?api_key=K1;x=1")).toMatchObject({ kind: "conflict", keys: ["K1;x=1", "K1"] });
    expect(read(everywhere, {}, "?x=1;access_token=K1").kind).toBe("conflict");
  });

  it("calls a key with a NUL or another control character a conflict, read whole, stripped and cut", () => {
    // Before: K1\0 was its own key, a fresh tenant lookup and an anonymous request.
    const found = read(everywhere, {}, "?api_key=K1%00");
    expect(found).toMatchObject({ kind: "conflict", reason: "an API key contains control characters" });
    expect(found.kind === "conflict" && found.keys).toEqual(["K1\0", "K1"]);
    expect(() => keysToCount(found, "refuse")).toThrow(KeyRefusal);
    expect(keysToCount(read(everywhere, {}, "?api_key=K1%00x"), "strictest")).toEqual(["K1\0x", "K1x", "K1"]);
  });
});
