/**
 * Reading a body-field key the way origins read bodies: one reading per way an
 * origin reads the bytes, and a refusal whenever they could disagree. The cases
 * under "closed differentials" each let a request through before (counted by
 * IP, or on a decoy) and are refused or counted on the origin's value now.
 */
import { describe, expect, it } from "vitest";
import { bodyKeyValue, parseBody, queryReaders, resolveBodyKey } from "../../src/http/body-key";
import { KeyRefusal } from "../../src/http/key-refusal";

const key = (text: string | Uint8Array, type: string, path = ["email"]) => bodyKeyValue(parseBody(text, type), path);

/** What the rule does: `"refused"`, `"absent"` (by IP), or the values counted. */
function outcome(
  text: string | Uint8Array,
  type: string,
  options: { arrays?: "refuse" | "each"; query?: string; path?: string[] } = {},
): "refused" | "absent" | string[] {
  const extra = options.query !== undefined ? queryReaders(new URL(`https://x.test/?${options.query}`)) : [];
  try {
    const r = resolveBodyKey(
      bodyKeyValue(parseBody(text, type), options.path ?? ["email"], extra),
      "refuse",
      options.arrays ?? "refuse",
    );
    if (r.kind === "absent") return "absent";
    if (r.kind === "values") return r.values;
    throw new Error("shared under refuse");
  } catch (e) {
    if (e instanceof KeyRefusal) return "refused";
    throw e;
  }
}

const utf16le = (t: string) => new Uint8Array(Buffer.from(t, "utf16le"));
const utf16be = (t: string) => new Uint8Array(Buffer.from(t, "utf16le").swap16());
const latin1 = (t: string) => new Uint8Array(Buffer.from(t, "latin1"));
const part = (disposition: string, value: string, b = "b1") =>
  `--${b}\r\nContent-Disposition: ${disposition}\r\n\r\n${value}\r\n`;

describe("bodyKeyValue(parseBody(...))", () => {
  it.each([
    ["application/json", '{"email":"a@x.test"}'],
    ["application/problem+json", '{"email":"a@x.test"}'],
    ["text/plain", '{"email":"a@x.test"}'],
    ["", '{"email":"a@x.test"}'],
    ["application/json, text/plain", '{"email":"a@x.test"}'],
    ["application/x-www-form-urlencoded", "email=a%40x.test&password=g"],
    ["application/x-www-form-urlencoded; charset=utf-8", "password=g&email=a@x.test"],
    ["text/plain", "email=a@x.test"],
    [
      'multipart/form-data; boundary="b1"',
      '--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\na@x.test\r\n--b1--\r\n',
    ],
  ])("%j: %s gives the value", (type, text) => {
    expect(key(text, type)).toEqual({ kind: "value", value: "a@x.test" });
  });

  it("reaches into nested JSON and nested form names", () => {
    expect(key('{"user":{"email":"a@x.test"}}', "application/json", ["user", "email"])).toEqual({
      kind: "value",
      value: "a@x.test",
    });
    expect(key("user[email]=a@x.test", "application/x-www-form-urlencoded", ["user", "email"])).toEqual({
      kind: "value",
      value: "a@x.test",
    });
    expect(
      outcome('{"user":{"email":"a"},"user":{"email":"b"}}', "application/json", { path: ["user", "email"] }),
    ).toBe("refused");
  });

  it.each([
    ["application/x-www-form-urlencoded", "email=decoy&email=victim"],
    ["application/x-www-form-urlencoded", "email=decoy&email[]=victim"],
    ["application/json", '{"email":"decoy","email":"victim"}'],
    ["application/json", '{"email":["a","b"]}'],
    ["application/json", '{"email":{"$ne":null}}'],
    ["application/json", "email=a@x.test"],
    ["application/json", '{"email":"a@x.test"'],
    ["text/plain", '{"email":"a@x.test","x":"&email=b@x.test"}'],
    ["multipart/form-data; boundary=b1", "--b1\r\nno headers here"],
    [
      "multipart/form-data; boundary=b1",
      '--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\nb\r\n--b1--',
    ],
  ])("%j: %s is refused", (type, text) => {
    expect(outcome(text, type)).toBe("refused");
  });

  it.each([
    ["application/json", '{"name":"x"}'],
    ["application/json", '{"email":null}'],
    ["application/json", '{"email":""}'],
    ["application/json", `${"[".repeat(100)}${"]".repeat(100)}`],
    ["application/x-www-form-urlencoded", "name=x"],
    ["text/plain", "hello"],
  ])("%j: %s lacks the field", (type, text) => {
    expect(key(text, type)).toEqual({ kind: "absent" });
  });

  it("reads numbers and booleans as their JSON text", () => {
    expect(key('{"email":12}', "application/json")).toEqual({ kind: "value", value: "12" });
    expect(key('{"email":true}', "application/json")).toEqual({ kind: "value", value: "true" });
  });
});

describe("closed differentials: one reading per request, the origin's", () => {
  const decoy = "&email=decoy@x.test&";

  it("a number literal over 400 characters: read as JSON.parse reads it, the decoy in a string never as a form", () => {
    const text = `{"n":${"9".repeat(500)},"email":"victim@x.test","note":"${decoy}"}`;
    // Before: the JSON reader gave up, the text was read as a form, and the decoy was the key.
    expect(outcome(text, "text/plain")).toBe("refused");
    expect(outcome(text, "application/json")).toEqual(["victim@x.test"]);
    expect(outcome(`{"n":${"9".repeat(500)},"email":"victim@x.test"}`, "text/plain")).toEqual(["victim@x.test"]);
  });

  it("nesting over 64 (and over 10,000): read whole, never re-read as a form", () => {
    for (const depth of [65, 10_000]) {
      const deep = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      expect(outcome(`{"a":${deep},"email":"victim@x.test","note":"${decoy}"}`, "text/plain")).toBe("refused");
      expect(outcome(`{"a":${deep},"email":"victim@x.test"}`, "application/json")).toEqual(["victim@x.test"]);
      const objects = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      expect(outcome(`{"a":${objects},"email":"victim@x.test"}`, "")).toEqual(["victim@x.test"]);
    }
  });

  it("honours the charset: UTF-16LE/BE and ISO-8859-1 are decoded as declared; others are refused", () => {
    // Before: decoded as UTF-8, the NUL-interleaved text had no field and was counted by IP.
    expect(outcome(utf16le('{"email":"victim@x.test"}'), "application/json; charset=utf-16le")).toEqual([
      "victim@x.test",
    ]);
    expect(outcome(utf16be('{"email":"victim@x.test"}'), 'text/plain; charset="UTF-16BE"')).toEqual(["victim@x.test"]);
    expect(outcome(utf16le("email=victim@x.test"), "application/x-www-form-urlencoded; charset=utf-16le")).toEqual([
      "victim@x.test",
    ]);
    // A latin1 form's %E9 is é, as qs decodes it under body-parser's iso-8859-1.
    expect(outcome(latin1("email=j%E9@x.test"), "application/x-www-form-urlencoded; charset=iso-8859-1")).toEqual([
      "jé@x.test",
    ]);
    expect(outcome(latin1('{"email":"jé@x.test"}'), "application/json; charset=latin1")).toEqual(["jé@x.test"]);
    expect(outcome('{"email":"victim@x.test"}', "application/json; charset=utf-7")).toBe("refused");
    expect(outcome('{"email":"victim@x.test"}', "application/json; charset=utf-8; charset=utf-16le")).toBe("refused");
    expect(outcome(new Uint8Array([0x7b, 0xff, 0x7d]), "text/plain")).toBe("refused");
  });

  it("multipart: a quoted value containing ;filename= hides no field", () => {
    // Before: the parameters were matched as text, and the part was taken for a file.
    const body = `${part('form-data; name="email"; x="a;filename=b"', "victim@x.test")}--b1--\r\n`;
    expect(outcome(body, "multipart/form-data; boundary=b1")).toEqual(["victim@x.test"]);
    const quotedName = `${part('form-data; x="name=\\"decoy\\""; name="email"', "victim@x.test")}--b1--\r\n`;
    expect(outcome(quotedName, "multipart/form-data; boundary=b1")).toEqual(["victim@x.test"]);
  });

  it("multipart: two boundary parameters, a parameter twice, a header twice, name*, bare LFs, no closing delimiter are refused", () => {
    // busboy takes the first boundary, sluice took the last.
    const framedByA = `${part('form-data; name="email"', "victim@x.test", "A")}--A--\r\n`;
    expect(outcome(framedByA, "multipart/form-data; boundary=A; boundary=B")).toBe("refused");
    expect(outcome(framedByA, "multipart/form-data; boundary=B; boundary=A")).toBe("refused");
    expect(outcome(framedByA, "multipart/form-data; boundary=A")).toEqual(["victim@x.test"]);
    const twoNames = `${part('form-data; name="other"; name="email"', "victim@x.test")}--b1--\r\n`;
    expect(outcome(twoNames, "multipart/form-data; boundary=b1")).toBe("refused");
    const starName = `${part("form-data; name*=UTF-8''email", "victim@x.test")}--b1--\r\n`;
    expect(outcome(starName, "multipart/form-data; boundary=b1")).toBe("refused");
    const twoDispositions =
      '--b1\r\nContent-Disposition: form-data; name="other"\r\nContent-Disposition: form-data; name="email"\r\n\r\nv\r\n--b1--\r\n';
    expect(outcome(twoDispositions, "multipart/form-data; boundary=b1")).toBe("refused");
    const bareLf = '--b1\nContent-Disposition: form-data; name="email"\n\nvictim@x.test\n--b1--\n';
    expect(outcome(bareLf, "multipart/form-data; boundary=b1")).toBe("refused");
    const unclosed = part('form-data; name="email"', "victim@x.test");
    expect(outcome(unclosed, "multipart/form-data; boundary=b1")).toBe("refused");
    const twice = `${part('form-data; name="email"', "victim@x.test")}${part('form-data; name="email"', "victim@x.test")}--b1--\r\n`;
    expect(outcome(twice, "multipart/form-data; boundary=b1")).toBe("refused");
  });

  it("multipart: a file under the key's name is refused (Rack reads a hash), other files are skipped", () => {
    const file = `${part('form-data; name="email"; filename="a.txt"', "victim@x.test")}--b1--\r\n`;
    expect(outcome(file, "multipart/form-data; boundary=b1")).toBe("refused");
    const other = `${part('form-data; name="avatar"; filename="a.txt"', "x")}${part('form-data; name="email"', "v@x.test")}--b1--\r\n`;
    expect(outcome(other, "multipart/form-data; boundary=b1")).toEqual(["v@x.test"]);
  });

  it("form arrays (email[0]=, email[]=, a JSON array, the field twice) are refused, or counted on each value with arrays: each", () => {
    // Before: email[0]= was not the field (counted by IP), email[]= was read as a scalar.
    for (const [text, type] of [
      ["email[0]=victim@x.test", "application/x-www-form-urlencoded"],
      ["email[]=victim@x.test", "application/x-www-form-urlencoded"],
      ["email%5B%5D=victim@x.test", "application/x-www-form-urlencoded"],
      ['{"email":["victim@x.test"]}', "application/json"],
      ["email=victim@x.test&email=victim@x.test", "application/x-www-form-urlencoded"],
    ]) {
      expect(outcome(text!, type!)).toBe("refused");
      expect(outcome(text!, type!, { arrays: "each" })).toEqual(["victim@x.test"]);
    }
    expect(outcome("email[0]=a@x.test&email[1]=B@x.test&email[2]=b@x.test", "", { arrays: "each" })).toEqual([
      "a@x.test",
      "B@x.test",
    ]);
    const many = Array.from({ length: 17 }, (_, i) => `email[]=${i}@x.test`).join("&");
    expect(outcome(many, "", { arrays: "each" })).toBe("refused");
    expect(outcome("email[x]=victim@x.test", "", { arrays: "each" })).toBe("refused");
  });

  it("Rack's names: [email]= and email]= are the field to Rails", () => {
    expect(outcome("[email]=victim@x.test", "application/x-www-form-urlencoded")).toEqual(["victim@x.test"]);
    expect(outcome("email]=victim@x.test", "application/x-www-form-urlencoded")).toEqual(["victim@x.test"]);
    // qs splits at "]=", Rack at the first "=": the two readings must agree.
    expect(outcome("email=a@x.test]=b@x.test", "application/x-www-form-urlencoded")).toEqual(["a@x.test]=b@x.test"]);
    expect(outcome("email=a@x.test&email]=b@x.test", "application/x-www-form-urlencoded")).toBe("refused");
  });

  it("control characters in the value (a NUL at the end) are refused, not a fresh counter", () => {
    expect(outcome('{"email":"victim@x.test\\u0000"}', "application/json")).toBe("refused");
    expect(outcome("email=victim@x.test%00", "application/x-www-form-urlencoded")).toBe("refused");
    expect(outcome("email=victim@x.test%0d%0a", "application/x-www-form-urlencoded")).toEqual(["victim@x.test\r\n"]);
  });

  it("from the query string too: the key beside a body without it, and a refusal when the two differ", () => {
    expect(outcome('{"password":"g"}', "application/json", { query: "email=victim@x.test" })).toEqual([
      "victim@x.test",
    ]);
    expect(outcome("", "", { query: "x=1;email=victim@x.test" })).toEqual(["victim@x.test"]);
    expect(outcome('{"email":"victim@x.test"}', "application/json", { query: "email=VICTIM@x.test" })).toEqual([
      "victim@x.test",
    ]);
    expect(outcome('{"email":"a@x.test"}', "application/json", { query: "email=b@x.test" })).toBe("refused");
    expect(outcome("", "", { query: "email[]=victim@x.test" })).toBe("refused");
  });
});

describe("two Content-Type headers joined", () => {
  it("reads a form too when a listed type is a form (Node takes the first header): a decoy disagrees, and is refused", () => {
    const text = '{"email":"victim@x.test","x":"&email=decoy@x.test&"}';
    expect(outcome(text, "application/x-www-form-urlencoded, application/json")).toBe("refused");
    expect(outcome(text, "application/json, application/json")).toEqual(["victim@x.test"]);
    expect(outcome("email=victim@x.test", "application/x-www-form-urlencoded, application/json")).toEqual([
      "victim@x.test",
    ]);
  });
});
