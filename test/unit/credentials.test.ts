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
