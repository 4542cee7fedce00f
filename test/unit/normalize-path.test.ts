/**
 * Path normalisation (no spelling escapes a rule) and the path pattern matcher.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compilePathPatterns,
  MAX_MATCHED_PATH_LENGTH,
  normalizePath,
  withoutFormatSuffix,
} from "../../src/policy/normalize-path";

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

  it.each([
    // `;` path parameters end their segment (Tomcat, Jetty, Spring)
    ["/api;/v1/transfers", "/api/v1/transfers"],
    ["/api/v1/transfers;x=1", "/api/v1/transfers"],
    ["/api;jsessionid=1/v1;a;b/transfers;", "/api/v1/transfers"],
    ["/api%3Bx/v1/transfers", "/api/v1/transfers"],
    ["/admin/..;/api/v1/transfers", "/api/v1/transfers"],
    ["/;x/api", "/api"],
    // NFKC and case folding of decoded segments
    ["/api/v1/tran%C5%BFfers", "/api/v1/transfers"],
    ["/api/v1/tranſfers", "/api/v1/transfers"],
    ["/api/v1/%EF%BC%B4ransfers", "/api/v1/transfers"],
    ["/api/v1/ＴＲＡＮＳＦＥＲＳ", "/api/v1/transfers"],
    ["/api/\u212Aey", "/api/key"],
    ["/\u0131tems", "/items"],
    ["/\u0130tems", "/items"],
    ["/api／v1／transfers", "/api/v1/transfers"],
    ["/api/v1/x/．．/transfers", "/api/v1/transfers"],
    ["/api/v1/％７４ransfers", "/api/v1/transfers"],
  ])("%j → %j", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it("normalises the whole path before anything is cut: padding in front cannot hide a route", () => {
    const route = "/api/v1/transfers";
    expect(normalizePath(`${"/".repeat(8200)}${route}`)).toBe(route);
    expect(normalizePath(`${"%2F".repeat(2740)}${route}`)).toBe(route);
    expect(normalizePath(`${"/x/..".repeat(50_000)}${route}`)).toBe(route);
    expect(normalizePath(`${";".repeat(9000)}${route}`)).toBe(route);
    const long = `/api/${"a".repeat(MAX_MATCHED_PATH_LENGTH * 2)}/transfers`;
    expect(compilePathPatterns(["/api/*/transfers"])(normalizePath(long))).toBe(true);
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

    /** UTF-8 percent-escapes of a string: `ſ` → `%C5%BF`. */
    const utf8Escapes = (c: string) =>
      [...new TextEncoder().encode(c)].map((b) => `%${b.toString(16).toUpperCase()}`).join("");
    /** Characters an origin may read as `c`: its full-width form, and for `s` and `k` their compatibility twins. */
    const lookAlikes = (c: string): string[] => {
      const out: string[] = [];
      const code = c.charCodeAt(0);
      if (code > 0x20 && code < 0x7f) out.push(String.fromCharCode(code + 0xfee0)); // full-width form
      if (c === "s") out.push("\u017f"); // ſ, LATIN SMALL LETTER LONG S
      if (c === "k") out.push("\u212a"); // K, KELVIN SIGN
      return out;
    };

    /** Spells one character: as is, case-flipped, percent-encoded, double-encoded, or as a look-alike. */
    const spellChar = (c: string) => {
      const twins = lookAlikes(c);
      return fc.oneof(
        { arbitrary: fc.constant(c), weight: 4 },
        { arbitrary: fc.constant(c.toUpperCase()), weight: 2 },
        { arbitrary: fc.boolean().map((u) => hex(c, u)), weight: 2 },
        { arbitrary: fc.boolean().map((u) => `%25${hex(c, u).slice(1)}`), weight: 1 },
        ...(twins.length > 0
          ? [
              { arbitrary: fc.constantFrom(...twins), weight: 1 },
              { arbitrary: fc.constantFrom(...twins).map(utf8Escapes), weight: 1 },
            ]
          : []),
      );
    };
    /** A `;` path parameter, which ends its segment for Tomcat, Jetty and Spring. */
    const pathParameter = fc.oneof(
      { arbitrary: fc.constant(""), weight: 6 },
      { arbitrary: fc.constantFrom(";", ";x=1", ";jsessionid=abc", "%3B", "%3bv=2"), weight: 1 },
    );
    const spellSegment = (s: string) =>
      fc.tuple(fc.tuple(...[...s].map(spellChar)), pathParameter).map(([cs, parameter]) => cs.join("") + parameter);

    /** A separator that means `/`. */
    const separator = fc.oneof(
      { arbitrary: fc.constant("/"), weight: 4 },
      { arbitrary: fc.constant("//"), weight: 1 },
      { arbitrary: fc.constant("/./"), weight: 1 },
      { arbitrary: fc.constant("/%2e/"), weight: 1 },
      { arbitrary: fc.constant("\\"), weight: 1 },
      { arbitrary: segment.chain(spellSegment).map((x) => `/${x}/../`), weight: 1 },
      { arbitrary: segment.chain(spellSegment).map((x) => `/${x}/%2E%2e/`), weight: 1 },
      { arbitrary: fc.constant("/;/"), weight: 1 },
      { arbitrary: fc.constant("\uff0f"), weight: 1 }, // ／, FULLWIDTH SOLIDUS
      { arbitrary: fc.integer({ min: 2, max: 40 }).map((n) => "/".repeat(n)), weight: 1 },
      { arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => `${"%2F".repeat(n)}/`), weight: 1 },
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

  it("strips a format suffix only from the last segment, and only when there is a name before it", () => {
    expect(withoutFormatSuffix("/api/v1/transfers.json")).toBe("/api/v1/transfers");
    expect(withoutFormatSuffix("/api/v1/transfers.json.gz")).toBe("/api/v1/transfers");
    expect(withoutFormatSuffix("/api/v1.0/transfers")).toBeUndefined();
    expect(withoutFormatSuffix("/api/.json")).toBeUndefined();
    expect(withoutFormatSuffix("/")).toBeUndefined();
  });

  it("does not let a dot-segment climb out of a pattern's prefix", () => {
    const p = ["/admin/*"];
    expect(match(p, "/public/../admin/users")).toBe(true);
    expect(match(p, "/admin/../public/x")).toBe(false);
    expect(match(p, "/admin/%2e%2e/public")).toBe(false);
  });
});
