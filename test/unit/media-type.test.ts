/**
 * Header parameters as RFC 9110 and RFC 7578 define them: quoted strings with
 * escapes are one value, a parameter given twice is kept twice.
 */
import { describe, expect, it } from "vitest";
import { hasRepeatedParam, paramValues, parseHeaderParams, splitList } from "../../src/http/media-type";

describe("parseHeaderParams", () => {
  it("reads a quoted value whole, ;filename= and escapes included", () => {
    const d = parseHeaderParams('form-data; x="a;filename=b"; name="e\\"mail"', "disposition")!;
    expect(d.value).toBe("form-data");
    expect(d.params).toEqual([
      ["x", "a;filename=b"],
      ["name", 'e"mail'],
    ]);
    expect(paramValues(d, "filename")).toEqual([]);
  });

  it("keeps a parameter given twice, so the caller can call it ambiguous", () => {
    const t = parseHeaderParams("multipart/form-data; boundary=A; BOUNDARY=B", "media-type")!;
    expect(paramValues(t, "boundary")).toEqual(["A", "B"]);
    expect(hasRepeatedParam(t)).toBe(true);
  });

  it("lower-cases the type and names, takes a trailing ;, and refuses what does not parse", () => {
    expect(parseHeaderParams("Application/JSON;", "media-type")).toEqual({ value: "application/json", params: [] });
    expect(parseHeaderParams("application/json; charset", "media-type")).toBeUndefined();
    expect(parseHeaderParams('text/plain; charset="utf-8', "media-type")).toBeUndefined();
    expect(parseHeaderParams("text/plain x", "media-type")).toBeUndefined();
    expect(parseHeaderParams("json", "media-type")).toBeUndefined();
  });
});

describe("splitList", () => {
  it("splits at commas outside quoted strings", () => {
    expect(splitList('application/json, text/plain; x="a,b"')).toEqual(["application/json", 'text/plain; x="a,b"']);
  });
});
