/**
 * Counting keys of `query:` and `body:` rules: every value an origin may read
 * is a key the request is counted on; a missing one is the IP.
 */
import { describe, expect, it } from "vitest";
import { countingKeys, type KeySources, regionalKey, scoped } from "../../src/engine/counting-key";
import { sha256Hex } from "../../src/hash";
import { parseBody } from "../../src/http/body-key";
import type { BodyKeyOptions, KeySpec } from "../../src/policy/compile";

const sources = (query: string, body = "", type = "application/x-www-form-urlencoded"): KeySources => ({
  ipKey: "198.51.100.7",
  tenantId: undefined,
  url: new URL(`https://api.example.com/x${query}`),
  headers: new Headers(),
  body: async () => parseBody(body, type),
});
const token: KeySpec = { kind: "query", name: "token" };
const hashed = async (kind: string, name: string, v: string) => `${kind}:${name}:${await sha256Hex(v)}`;

describe("countingKeys: query keys", () => {
  it("counts one value once, and a missing one by IP", async () => {
    expect(await countingKeys(token, sources("?token=A"))).toEqual([await hashed("query", "token", "a")]);
    expect(await countingKeys(token, sources(""))).toEqual(["ip:198.51.100.7"]);
  });

  it("finds the value after `;` (Rack 2); before, the request was counted by IP", async () => {
    expect(await countingKeys(token, sources("?x=1;token=a"))).toEqual([await hashed("query", "token", "a")]);
  });

  it("counts the request on every value when the parameter is given twice or holds a control character", async () => {
    expect(await countingKeys(token, sources("?token=a&token=b"))).toEqual([
      await hashed("query", "token", "a"),
      await hashed("query", "token", "b"),
    ]);
    // Before: "a\0" was a fresh counter of its own.
    expect(await countingKeys(token, sources("?token=a%00"))).toEqual([
      await hashed("query", "token", "a\0"),
      await hashed("query", "token", "a"),
    ]);
    const many = Array.from({ length: 17 }, (_, i) => `token=${i}`).join("&");
    expect(await countingKeys(token, sources(`?${many}`))).toEqual(["query:token:unreadable"]);
  });
});

describe("countingKeys: body keys", () => {
  const email: KeySpec = { kind: "body", path: ["email"], field: "email" };
  const options = (o: Partial<BodyKeyOptions>): BodyKeyOptions => ({
    maxBytes: 65536,
    onUnreadable: "refuse",
    from: { body: true, query: false },
    arrays: "refuse",
    ...o,
  });

  it('counts an array on each value under arrays: "each"', async () => {
    const keys = await countingKeys(
      email,
      sources("", "email[]=a@x.test&email[]=b@x.test"),
      options({ arrays: "each" }),
    );
    expect(keys).toEqual([await hashed("body", "email", "a@x.test"), await hashed("body", "email", "b@x.test")]);
  });

  it('reads the query string with from: ["body", "query"], and only the query with ["query"]', async () => {
    const both = options({ from: { body: true, query: true } });
    expect(await countingKeys(email, sources("?email=q@x.test", "a=1"), both)).toEqual([
      await hashed("body", "email", "q@x.test"),
    ]);
    const queryOnly = options({ from: { body: false, query: true } });
    expect(await countingKeys(email, sources("?email=q@x.test", "email=b@x.test"), queryOnly)).toEqual([
      await hashed("body", "email", "q@x.test"),
    ]);
    expect(await countingKeys(email, sources("", "email=b@x.test"), queryOnly)).toEqual(["ip:198.51.100.7"]);
  });
});

describe("regionalKey", () => {
  it("puts the region in front of the key, and counts a request of unknown region in `unknown`", () => {
    expect(regionalKey("ip:203.0.113.7", "weur")).toBe("region:weur:ip:203.0.113.7");
    expect(regionalKey("ip:203.0.113.7", undefined)).toBe("region:unknown:ip:203.0.113.7");
    expect(scoped(regionalKey("tenant:acme", "apac"), true)).toBe("sandbox:region:apac:tenant:acme");
  });
});
