/**
 * The methods a POST asks its origin to treat it as: headers, `_method` in the
 * query (split at `&` and at `;`) and in a form or JSON body.
 */
import { describe, expect, it } from "vitest";
import { overriddenMethods } from "../../src/engine/method-override";
import { type BodyRead, parseBody } from "../../src/http/body-key";

const none: BodyRead = { kind: "none" };

async function methods(headers: Record<string, string>, query = "", body: BodyRead = none) {
  const found = await overriddenMethods(new Headers(headers), new URL(`https://x.test/a${query}`), async () => body);
  return found === "any" ? "any" : [...found].sort();
}

describe("overriddenMethods", () => {
  it("reads X-HTTP-Method-Override, X-HTTP-Method and X-Method-Override, upper-cased", async () => {
    expect(await methods({ "x-http-method-override": "delete" })).toEqual(["DELETE"]);
    expect(await methods({ "x-http-method": "PUT" })).toEqual(["PUT"]);
    expect(await methods({ "x-method-override": "PATCH, DELETE" })).toEqual(["DELETE", "PATCH"]);
    expect(await methods({})).toEqual([]);
  });

  it("reads _method in the query, Rack 2's `;` included, and in form, multipart and JSON bodies", async () => {
    expect(await methods({}, "?_method=DELETE")).toEqual(["DELETE"]);
    expect(await methods({}, "?x=1;_method=delete")).toEqual(["DELETE"]);
    expect(await methods({}, "", parseBody("_method=DELETE&a=1", "application/x-www-form-urlencoded"))).toEqual([
      "DELETE",
    ]);
    expect(await methods({}, "", parseBody('{"_method":"put"}', "application/json"))).toEqual(["PUT"]);
    const multipart = '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n';
    expect(await methods({}, "", parseBody(multipart, "multipart/form-data; boundary=b"))).toEqual(["DELETE"]);
  });

  it("calls a body it cannot read, or a _method that is not one value, any method", async () => {
    expect(await methods({}, "", { kind: "too-large", maxBytes: 10 })).toBe("any");
    expect(await methods({}, "", { kind: "undecodable", reason: "x" })).toBe("any");
    expect(await methods({}, "", parseBody('{"_method":{"a":1}}', "application/json"))).toBe("any");
  });
});
