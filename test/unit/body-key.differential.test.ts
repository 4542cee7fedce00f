/**
 * The differential fuzz test of body keys: random bodies (JSON nested deep,
 * long numbers, decoy `&email=` inside strings, duplicate keys; forms with
 * `email[]=`, `email[0]=`, Rack's `[email]`, encoded names; multipart with
 * tricky quoting, repeated parameters, two boundaries, bare LFs; charsets)
 * are parsed by sluice and by the parsers origins use (body-parser's `json`
 * and `urlencoded` on top of qs, busboy), and the test fails wherever an origin
 * sees an email that sluice neither counts nor refuses.
 *
 * An origin that sees a string must see what sluice counts (or sluice refuses);
 * one that sees an array or an object must meet a refusal; one that sees
 * nothing, or refuses the body itself, constrains nothing (sluice may
 * over-count, never under-count).
 */
import { Readable } from "node:stream";
import bodyParser from "body-parser";
import Busboy from "busboy";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bodyKeyValue, parseBody, resolveBodyKey } from "../../src/http/body-key";
import { KeyRefusal } from "../../src/http/key-refusal";

type Sluice = { kind: "refused" } | { kind: "absent" } | { kind: "values"; values: string[] } | { kind: "shared" };

function sluice(bytes: Uint8Array, contentType: string, arrays: "refuse" | "each" = "refuse"): Sluice {
  try {
    return resolveBodyKey(bodyKeyValue(parseBody(bytes, contentType), ["email"]), "refuse", arrays);
  } catch (e) {
    if (e instanceof KeyRefusal) return { kind: "refused" };
    throw e;
  }
}

/** What an origin's parser gives `body.email`; `"error"` when it refuses the body. */
type OriginSees = { kind: "error" } | { kind: "value"; value: unknown };

type Middleware = (req: unknown, res: unknown, next: (err?: unknown) => void) => void;

function runMiddleware(mw: Middleware, bytes: Uint8Array, contentType: string): Promise<OriginSees> {
  const req = Readable.from([Buffer.from(bytes)]) as Readable & Record<string, unknown>;
  req.headers = {
    "content-length": String(bytes.byteLength),
    ...(contentType ? { "content-type": contentType } : {}),
  };
  req.method = "POST";
  req.url = "/";
  return new Promise((resolve) => {
    mw(req, {}, (err) => {
      if (err) resolve({ kind: "error" });
      else resolve({ kind: "value", value: (req.body as Record<string, unknown> | undefined)?.email });
    });
  });
}

const any = () => true;
const jsonOrigin = bodyParser.json({ type: any, limit: "2mb" }) as Middleware;
const qsOrigin = bodyParser.urlencoded({ type: any, extended: true, limit: "2mb" }) as Middleware;
const simpleOrigin = bodyParser.urlencoded({ type: any, extended: false, limit: "2mb" }) as Middleware;

function busboyOrigin(bytes: Uint8Array, contentType: string): Promise<OriginSees> {
  return new Promise((resolve) => {
    let bb: Busboy.Busboy;
    try {
      bb = Busboy({ headers: { "content-type": contentType } });
    } catch {
      resolve({ kind: "error" });
      return;
    }
    // multer's way: a name given twice makes an array.
    const fields: unknown[] = [];
    bb.on("field", (name, value) => {
      if (name === "email") fields.push(value);
    });
    bb.on("file", (_name, stream) => {
      stream.on("error", () => {});
      stream.resume();
    });
    bb.on("error", () => resolve({ kind: "error" }));
    bb.on("close", () =>
      resolve({ kind: "value", value: fields.length === 0 ? undefined : fields.length === 1 ? fields[0] : fields }),
    );
    bb.end(Buffer.from(bytes));
  });
}

/** The origins that would read a body of this type. */
async function origins(bytes: Uint8Array, contentType: string): Promise<Array<[string, OriginSees]>> {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type === "multipart/form-data") return [["busboy", await busboyOrigin(bytes, contentType)]];
  const out: Array<[string, OriginSees]> = [["body-parser json", await runMiddleware(jsonOrigin, bytes, contentType)]];
  if (type === "application/json" || type.endsWith("+json")) return out;
  out.push(["body-parser urlencoded (qs)", await runMiddleware(qsOrigin, bytes, contentType)]);
  out.push(["body-parser urlencoded (simple)", await runMiddleware(simpleOrigin, bytes, contentType)]);
  return out;
}

const comparable = (v: string) => v.trim().toLowerCase();

/** Why sluice's reading falls short of this origin's, or `undefined` when it does not. */
function shortfall(s: Sluice, seen: OriginSees): string | undefined {
  if (s.kind === "refused" || s.kind === "shared" || seen.kind === "error") return undefined;
  const v = seen.value;
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
    const text = comparable(String(v));
    if (text === "") return undefined;
    if (s.kind === "values" && s.values.length === 1 && comparable(s.values[0]!) === text) return undefined;
    return `the origin reads ${JSON.stringify(v)}, sluice ${JSON.stringify(s)}`;
  }
  return `the origin reads ${JSON.stringify(v)} (not a single value), sluice ${JSON.stringify(s)}`;
}

/** How many bodies sluice counted on a value: a reader that refused everything would pass, and must not. */
const tally = { counted: 0, all: 0 };

/** Under `arrays: "each"`: every value the origin sees (one, or each of an array's) must be counted, or refused. */
function shortfallEach(s: Sluice, seen: OriginSees): string | undefined {
  if (s.kind === "refused" || s.kind === "shared" || seen.kind === "error") return undefined;
  const v = seen.value;
  if (v === undefined || v === null) return undefined;
  // qs nests a field given as email[1] twice: an array inside an array, whose values all count.
  const items = Array.isArray(v) ? (v as unknown[]).flat(Number.POSITIVE_INFINITY) : [v];
  if (items.some((i) => typeof i === "object" && i !== null))
    return `the origin reads ${JSON.stringify(v)} (a structure), sluice ${JSON.stringify(s)}`;
  const counted = new Set(s.kind === "values" ? s.values.map(comparable) : []);
  const missing = items.map((i) => comparable(String(i))).filter((i) => i !== "" && !counted.has(i));
  return missing.length === 0 ? undefined : `the origin reads ${JSON.stringify(v)}, sluice (each) ${JSON.stringify(s)}`;
}

async function check(bytes: Uint8Array, contentType: string): Promise<void> {
  const s = sluice(bytes, contentType);
  const each = sluice(bytes, contentType, "each");
  tally.all++;
  if (s.kind === "values") tally.counted++;
  const all = await origins(bytes, contentType);
  for (const [name, seen] of all) {
    const why = shortfall(s, seen) ?? shortfallEach(each, seen);
    if (why)
      throw new Error(
        `${name}: ${why}\ncontent-type: ${contentType}\nbody: ${JSON.stringify(Buffer.from(bytes).toString("latin1").slice(0, 600))}`,
      );
  }
}

// ---------------------------------------------------------------- generators

const emails = fc.constantFrom(
  "victim@x.test",
  "VICTIM@x.test",
  "decoy@x.test",
  " victim@x.test ",
  "vïctim@x.test",
  "victim@x.test\u0000",
  "a&email=decoy@x.test",
  "",
);

/** Text in a charset, and the `charset` parameter that declares it (or none). */
const charsets = fc.constantFrom<[string | undefined, (t: string) => Buffer]>(
  [undefined, (t) => Buffer.from(t, "utf8")],
  ["utf-8", (t) => Buffer.from(t, "utf8")],
  ["utf-16le", (t) => Buffer.from(t, "utf16le")],
  ["utf-16be", (t) => Buffer.from(t, "utf16le").swap16()],
  ["iso-8859-1", (t) => Buffer.from(t, "latin1")],
  // Declared one way, sent another: the body must be refused or read as declared.
  ["utf-16le", (t) => Buffer.from(t, "utf8")],
);

const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  emails,
  fc.array(emails, { maxLength: 3 }),
  fc.record({ $ne: fc.constant(null) }),
  fc.constant(null),
  fc.integer(),
);

/** A JSON member that hides `&email=` in a string, nests deep, or carries a long number. */
const jsonNoise = fc.oneof(
  emails.map((e) => `"note":${JSON.stringify(`x&email=${e}&y=`)}`),
  fc.integer({ min: 1, max: 300 }).map((d) => `"deep":${"[".repeat(d)}${"]".repeat(d)}`),
  fc.integer({ min: 1, max: 120 }).map((d) => `"deep":${'{"a":'.repeat(d)}1${"}".repeat(d)}`),
  fc.integer({ min: 1, max: 900 }).map((n) => `"n":${"9".repeat(n)}`),
  fc.constant(`"&email":"decoy@x.test"`),
);

const jsonBody = fc
  .tuple(
    fc.array(
      fc.oneof(
        jsonNoise,
        jsonValue.map((v) => `"email":${JSON.stringify(v)}`),
      ),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
    fc.boolean(),
  )
  .map(([members, asArray]) => (asArray ? `[{${members.join(",")}}]` : `{${members.join(",")}}`));

const formName = fc.constantFrom(
  "email",
  "email[]",
  "email[0]",
  "email[1]",
  "email[x]",
  "[email]",
  "email]",
  "%65mail",
  "email%5B%5D",
  "email%5B0%5D",
  "e%6dail",
  "email[]x",
  "user",
  "email.x",
  "%zzemail",
);
const formPart = fc.oneof(
  fc.tuple(formName, emails).map(([n, e]) => `${n}=${encodeURIComponent(e)}`),
  fc.tuple(formName, emails).map(([n, e]) => `${n}=${e}`),
  emails.map((e) => `email=x]=${encodeURIComponent(e)}`),
  fc.constant("password=g"),
  fc.constant("email"),
  fc.constant("email=%E9"),
  fc.constant("a=%zz"),
);
const formBody = fc.array(formPart, { minLength: 1, maxLength: 5 }).map((p) => p.join("&"));

const bodyTypes = fc.constantFrom(
  "application/json",
  "application/vnd.api+json",
  "application/x-www-form-urlencoded",
  "text/plain",
  "",
  // Two Content-Type headers, joined.
  "application/x-www-form-urlencoded, application/json",
  "application/json, text/plain",
);

function withCharset(type: string, charset: string | undefined): string {
  if (charset === undefined) return type;
  return type === "" ? `text/plain; charset=${charset}` : `${type}; charset=${charset}`;
}

// ---------------------------------------------------------------- multipart

const disposition = fc.constantFrom(
  (n: string) => `form-data; name="${n}"`,
  (n: string) => `form-data; name=${n}`,
  (n: string) => `form-data; name="${n}"; filename="a.txt"`,
  (n: string) => `form-data; x="a;filename=b"; name="${n}"`,
  (n: string) => `form-data; name="${n}"; x="a;filename=b"`,
  (n: string) => `form-data; name="x;name=${n}"`,
  (n: string) => `form-data; name="other"; name="${n}"`,
  (n: string) => `form-data; name="${n}"; name="other"`,
  (n: string) => `form-data; name*=UTF-8''${n}`,
  (n: string) => `form-data; name="${n}"; filename*=UTF-8''a.txt`,
  (n: string) => `form-data;name="${n}"`,
  (n: string) => `attachment; name="${n}"`,
  (n: string) => `form-data; name="\\${n}"`,
);
const partType = fc.constantFrom(
  undefined,
  "text/plain",
  "text/plain; charset=utf-8",
  "text/plain; charset=iso-8859-1",
  "application/octet-stream",
);
const multipartPart = fc.record({
  name: fc.constantFrom("email", "email[]", "password", "[email]"),
  disposition,
  type: partType,
  value: emails,
  eol: fc.constantFrom("\r\n", "\r\n", "\r\n", "\n"),
});
const multipartCase = fc
  .record({
    parts: fc.array(multipartPart, { minLength: 1, maxLength: 4 }),
    boundary: fc.constantFrom("b1", "XyZ", "a b"),
    header: fc.constantFrom(
      (b: string) => `multipart/form-data; boundary="${b}"`,
      (b: string) => `multipart/form-data; boundary=${b}`,
      (b: string) => `multipart/form-data; boundary=${b}; boundary=zz`,
      (b: string) => `multipart/form-data; boundary=zz; boundary=${b}`,
      (b: string) => `multipart/form-data; boundary="${b};boundary=zz"`,
      (b: string) => `multipart/form-data; charset=utf-8; boundary="${b}"`,
    ),
    closed: fc.constantFrom(true, true, true, false),
  })
  .map(({ parts, boundary, header, closed }) => {
    let body = "";
    for (const p of parts) {
      body += `--${boundary}${p.eol}Content-Disposition: ${p.disposition(p.name)}${p.eol}`;
      if (p.type) body += `Content-Type: ${p.type}${p.eol}`;
      body += `${p.eol}${p.value}\r\n`;
    }
    if (closed) body += `--${boundary}--\r\n`;
    return { contentType: header(boundary), bytes: new Uint8Array(Buffer.from(body, "utf8")) };
  });

// ---------------------------------------------------------------- the test

// Bounded for CI: about 1,350 bodies, a few seconds on one core. BODY_FUZZ_RUNS=20000 searches longer.
const RUNS = Number(process.env.BODY_FUZZ_RUNS ?? 450);
const TIMEOUT_MS = Math.max(30_000, RUNS * 20);

describe("body keys: sluice reads what body-parser, qs and busboy read, or refuses", () => {
  it(
    "JSON bodies (deep nesting, long numbers, decoys in strings, duplicates, arrays) in every charset and type",
    async () => {
      await fc.assert(
        fc.asyncProperty(jsonBody, bodyTypes, charsets, async (text, type, [charset, encode]) => {
          await check(new Uint8Array(encode(text)), withCharset(type, charset));
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "form bodies (arrays, Rack's names, encoded names, `]=`, malformed escapes) in every charset and type",
    async () => {
      await fc.assert(
        fc.asyncProperty(formBody, bodyTypes, charsets, async (text, type, [charset, encode]) => {
          await check(new Uint8Array(encode(text)), withCharset(type, charset));
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "multipart bodies (quoted parameters, repeated names and boundaries, files, bare LFs, no closing delimiter)",
    async () => {
      await fc.assert(
        fc.asyncProperty(multipartCase, async ({ contentType, bytes }) => {
          await check(bytes, contentType);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it("counts a good share of the bodies on a value (it does not pass by refusing everything)", () => {
    expect(tally.all).toBeGreaterThan(RUNS * 2);
    // The generators are hostile on purpose (about 7% of their bodies are unambiguous): a reader that refused
    // everything would count none.
    expect(tally.counted / tally.all).toBeGreaterThan(0.04);
  });

  it("finds the differentials the old reader had (the check itself can fail)", async () => {
    // A JSON origin reads the victim; a reader that gave up on the long number and read the text as a form saw the decoy.
    const text = `{"n":${"9".repeat(500)},"email":"victim@x.test","note":"&email=decoy@x.test&"}`;
    const seen = await origins(new TextEncoder().encode(text), "text/plain");
    expect(shortfall({ kind: "values", values: ["decoy@x.test"] }, seen[0]![1])).toMatch(/victim/);
    expect(shortfall({ kind: "absent" }, { kind: "value", value: ["victim@x.test"] })).toMatch(/not a single value/);
    expect(sluice(new TextEncoder().encode(text), "text/plain")).toEqual({ kind: "refused" });
  });
});
