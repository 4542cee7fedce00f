/**
 * Path normalisation (no spelling escapes a rule) and the path pattern matcher.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compilePathPatterns, MAX_MATCHED_PATH_LENGTH, normalizePath } from "../../src/policy/normalize-path";

describe("normalizePath", () => {
  it.each([
    ["/api/v1/transfers", "/api/v1/transfers"],
    ["", "/"],
    ["/", "/"],
    ["//", "/"],
    // `//` collapsed
    ["//api///v1//transfers", "/api/v1/transfers"],
    // trailing `/` ignored
    ["/api/v1/transfers/", "/api/v1/transfers"],
    ["/api/v1/transfers///", "/api/v1/transfers"],
    // case
    ["/API/V1/Transfers", "/api/v1/transfers"],
    // escapes of unreserved characters, either hex case
    ["/api/v1/bulk%2Dtransfers", "/api/v1/bulk-transfers"],
    ["/api/v1/bulk%2dtransfers", "/api/v1/bulk-transfers"],
    ["/%61%70%69/v1/%74ransfers", "/api/v1/transfers"],
    ["/api/%7Euser/a%5Fb%2Ec", "/api/~user/a_b.c"],
    // `%2F` is decoded too (an origin may decode it): over-match, never under-match
    ["/api%2Fv1%2ftransfers", "/api/v1/transfers"],
    // `.` and `..`
    ["/api/./v1/transfers", "/api/v1/transfers"],
    ["/api/v1/x/../transfers", "/api/v1/transfers"],
    ["/api/v1/transfers/..", "/api/v1"],
    ["/../../api", "/api"],
    ["/..", "/"],
    // escaped dots
    ["/api/v1/x/%2e%2e/transfers", "/api/v1/transfers"],
    ["/api/v1/x/%2E%2E/transfers", "/api/v1/transfers"],
    ["/api/%2e/v1/transfers", "/api/v1/transfers"],
    ["/api/v1/x/.%2e/transfers", "/api/v1/transfers"],
    // double-encoded
    ["/api/v1/x/%252e%252e/transfers", "/api/v1/transfers"],
    ["/api/v1/bulk%252Dtransfers", "/api/v1/bulk-transfers"],
    // backslashes
    ["/api\\v1\\transfers", "/api/v1/transfers"],
    ["/api/v1/x\\..\\transfers", "/api/v1/transfers"],
    ["/api/v1/x/%5C../transfers", "/api/v1/transfers"],
    // invalid escapes stay as they are
    ["/api/100%", "/api/100%"],
    ["/api/%zz", "/api/%zz"],
    ["/api/%4", "/api/%4"],
    // UTF-8
    ["/caf%C3%A9", "/café"],
    // invalid UTF-8: the ASCII escapes are still decoded
    ["/a/%ff/%2e%2e/B%41", "/a/ba"],
  ])("%j → %j", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it("cuts an overlong path before matching, without failing", () => {
    const long = `/api/${"a".repeat(MAX_MATCHED_PATH_LENGTH * 2)}`;
    const out = normalizePath(long);
    expect(out.length).toBeLessThanOrEqual(MAX_MATCHED_PATH_LENGTH);
    expect(out.startsWith("/api/aaaa")).toBe(true);
    const manySegments = `${"/x/..".repeat(50_000)}/api`;
    expect(normalizePath(manySegments).length).toBeLessThanOrEqual(MAX_MATCHED_PATH_LENGTH);
  });

  it("is idempotent on its own output", () => {
    for (const p of ["/API//v1/./Transfers/%2e%2e/transfers/", "/a/%252e%252e/b", "/caf%C3%A9/%7E"]) {
      expect(normalizePath(normalizePath(p))).toBe(normalizePath(p));
    }
  });

  describe("every spelling of a path normalises like the plain path", () => {
    const UNRESERVED = "abcdefghijklmnopqrstuvwxyz0123456789-._~";
    const segment = fc
      .array(fc.constantFrom(...UNRESERVED), { minLength: 1, maxLength: 8 })
      .map((cs) => cs.join(""))
      .filter((s) => s !== "." && s !== "..");
    const plainPath = fc.array(segment, { minLength: 0, maxLength: 6 }).map((segs) => `/${segs.join("/")}`);

    const hex = (c: string, upper: boolean) => {
      const h = c.charCodeAt(0).toString(16).padStart(2, "0");
      return `%${upper ? h.toUpperCase() : h}`;
    };

    /** Spells one character: as is, case-flipped, percent-encoded, or double-encoded. */
    const spellChar = (c: string) =>
      fc.oneof(
        { arbitrary: fc.constant(c), weight: 4 },
        { arbitrary: fc.constant(c.toUpperCase()), weight: 2 },
        { arbitrary: fc.boolean().map((u) => hex(c, u)), weight: 2 },
        { arbitrary: fc.boolean().map((u) => `%25${hex(c, u).slice(1)}`), weight: 1 },
      );
    const spellSegment = (s: string) => fc.tuple(...[...s].map(spellChar)).map((cs) => cs.join(""));

    /** A separator that means `/`. */
    const separator = fc.oneof(
      { arbitrary: fc.constant("/"), weight: 4 },
      { arbitrary: fc.constant("//"), weight: 1 },
      { arbitrary: fc.constant("/./"), weight: 1 },
      { arbitrary: fc.constant("/%2e/"), weight: 1 },
      { arbitrary: fc.constant("\\"), weight: 1 },
      { arbitrary: segment.chain(spellSegment).map((x) => `/${x}/../`), weight: 1 },
      { arbitrary: segment.chain(spellSegment).map((x) => `/${x}/%2E%2e/`), weight: 1 },
    );
    const trailing = fc.constantFrom("", "/", "//", "/.", "/./");

    const spelling = (plain: string) => {
      const segs = plain === "/" ? [] : plain.slice(1).split("/");
      return fc
        .tuple(
          fc.tuple(...segs.map(spellSegment)),
          fc.array(separator, { minLength: segs.length, maxLength: segs.length }),
          trailing,
        )
        .map(([spelled, seps, tail]) => spelled.map((s, i) => `${seps[i]}${s}`).join("") + tail);
    };

    it("holds for random spellings", () => {
      fc.assert(
        fc.property(
          plainPath.chain((plain) => fc.tuple(fc.constant(plain), spelling(plain))),
          ([plain, spelled]) => {
            expect(normalizePath(plain)).toBe(plain);
            expect(normalizePath(spelled)).toBe(plain);
          },
        ),
        { numRuns: 500 },
      );
    });

    it("and the spelled path matches exactly the patterns the plain one does", () => {
      fc.assert(
        fc.property(
          plainPath.filter((p) => p !== "/").chain((plain) => fc.tuple(fc.constant(plain), spelling(plain))),
          ([plain, spelled]) => {
            const exact = compilePathPatterns([plain]);
            const prefix = compilePathPatterns([`${plain.split("/").slice(0, 2).join("/")}/*`]);
            expect(exact(normalizePath(spelled))).toBe(true);
            expect(prefix(normalizePath(spelled))).toBe(prefix(plain));
          },
        ),
      );
    });
  });
});

describe("compilePathPatterns", () => {
  const match = (patterns: string[], path: string) => compilePathPatterns(patterns)(normalizePath(path));

  it("matches an exact path, in any spelling", () => {
    const p = ["/api/v1/transfers"];
    expect(match(p, "/api/v1/transfers")).toBe(true);
    expect(match(p, "/API/v1//transfers/")).toBe(true);
    expect(match(p, "/api/v1/transfers/x")).toBe(false);
    expect(match(p, "/api/v1/transfer")).toBe(false);
    expect(match(p, "/api/v1")).toBe(false);
  });

  it("takes * at the end as one or more segments", () => {
    const p = ["/api/v1/transfers/*"];
    expect(match(p, "/api/v1/transfers/1")).toBe(true);
    expect(match(p, "/api/v1/transfers/1/items/2")).toBe(true);
    expect(match(p, "/api/v1/transfers")).toBe(false);
    expect(match(p, "/api/v1/transfers/")).toBe(false);
    expect(match(p, "/api/v1/transfersx/1")).toBe(false);
  });

  it("takes * in the middle as exactly one segment", () => {
    const p = ["/api/*/items"];
    expect(match(p, "/api/1/items")).toBe(true);
    expect(match(p, "/api/abc-def/items")).toBe(true);
    expect(match(p, "/api/items")).toBe(false);
    expect(match(p, "/api/1/2/items")).toBe(false);
    expect(match(p, "/api/1/items/3")).toBe(false);
  });

  it("combines * in the middle and at the end", () => {
    const p = ["/orgs/*/repos/*"];
    expect(match(p, "/orgs/acme/repos/x")).toBe(true);
    expect(match(p, "/orgs/acme/repos/x/y")).toBe(true);
    expect(match(p, "/orgs/acme/repos")).toBe(false);
    expect(match(p, "/orgs/a/b/repos/x")).toBe(false);
  });

  it("takes /* as every path but the root", () => {
    expect(match(["/*"], "/x")).toBe(true);
    expect(match(["/*"], "/x/y")).toBe(true);
    expect(match(["/*"], "/")).toBe(false);
    expect(match(["/"], "/")).toBe(true);
    expect(match(["/"], "/x")).toBe(false);
  });

  it("matches any of several patterns", () => {
    const p = ["/api/v1/transfers", "/api/v1/transfers/*", "/api/v1/bulk-transfers"];
    expect(match(p, "/api/v1/transfers")).toBe(true);
    expect(match(p, "/api/v1/transfers/9")).toBe(true);
    expect(match(p, "/api/v1/bulk%2Dtransfers")).toBe(true);
    expect(match(p, "/api/v1/bulk-transfer")).toBe(false);
  });

  it("normalises the patterns themselves (case, trailing slash, escapes)", () => {
    expect(match(["/API/V1/Transfers/"], "/api/v1/transfers")).toBe(true);
    expect(match(["/api/bulk%2Dtransfers"], "/api/bulk-transfers")).toBe(true);
  });

  it("takes regular-expression characters in a pattern literally", () => {
    expect(match(["/v1.0/items"], "/v1.0/items")).toBe(true);
    expect(match(["/v1.0/items"], "/v1x0/items")).toBe(false);
    expect(match(["/a+b/(c)"], "/a+b/(c)")).toBe(true);
    expect(match(["/a+b/(c)"], "/aab/c")).toBe(false);
    expect(match(["/a|b"], "/a")).toBe(false);
    expect(match(["/$x^"], "/$x^")).toBe(true);
  });

  it("does not let a dot-segment climb out of a pattern's prefix", () => {
    const p = ["/admin/*"];
    expect(match(p, "/public/../admin/users")).toBe(true);
    expect(match(p, "/admin/../public/x")).toBe(false);
    expect(match(p, "/admin/%2e%2e/public")).toBe(false);
  });
});
