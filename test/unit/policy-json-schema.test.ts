/**
 * The shipped JSON Schema (schema/policy.schema.json) against the validator. Every invalid fixture is
 * run against it: exactly those docs/policy.md lists under "What the JSON Schema cannot check" pass it,
 * each a rule that compares values with each other. Every document that validates passes it (the
 * examples, the docs' blocks), and each pattern written for a refinement agrees with the validator's
 * own check on its edges.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  CIDR_PATTERN,
  DELAY_PATTERN,
  PATH_PATTERN,
  positiveUpTo,
  RULE_KEY_PATTERN,
  SCHEMA_FILE,
  WINDOW_PATTERN,
} from "../../scripts/policy-schema";
import { parseCidr } from "../../src/net/ip";
import { MAX_DELAY_MS, parseDelay } from "../../src/policy/schema";
import { validatePolicy, validatePolicyText } from "../../src/policy/validate";
import { parseWindow } from "../../src/policy/window";
import { jsonSchemaErrors } from "../support/json-schema-check";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = join(ROOT, "test", "fixtures", "invalid-policies");

const schema = JSON.parse(await readFile(SCHEMA_FILE, "utf8")) as Record<string, unknown>;

/** The fixtures docs/policy.md lists as passing the JSON Schema (its section "What the JSON Schema cannot check"). */
async function listedInDocs(): Promise<string[]> {
  const text = await readFile(join(ROOT, "docs", "policy.md"), "utf8");
  const section = /\n### What the JSON Schema cannot check\n([\s\S]*?)(?=\n#)/.exec(text)?.[1];
  expect(section, "docs/policy.md has the section").toBeDefined();
  return [...section!.matchAll(/^- `([a-z0-9-]+\.json)`/gm)].map((m) => m[1]!).sort();
}

describe("every invalid fixture against the JSON Schema", () => {
  it("fails it, but for exactly the fixtures docs/policy.md lists", async () => {
    const names = (await readdir(FIXTURES)).sort();
    const passing: string[] = [];
    let run = 0;
    for (const name of names) {
      const text = await readFile(join(FIXTURES, name), "utf8");
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        // Not JSON (empty.txt, invalid-json.txt): no schema applies; the parser refuses it.
        expect(name.endsWith(".txt"), name).toBe(true);
        continue;
      }
      run++;
      expect(validatePolicyText(text).ok, `${name} is invalid for the validator`).toBe(false);
      if (jsonSchemaErrors(schema, doc).length === 0) passing.push(name);
    }
    expect(run).toBe(names.filter((n) => n.endsWith(".json")).length);
    expect(passing).toEqual(await listedInDocs());
  });

  it("the fixtures the schema cannot catch are a handful", async () => {
    // Seven: the six rules that compare values, and a time zone's name (only the runtime's zone data has the list).
    expect((await listedInDocs()).length).toBeLessThanOrEqual(7);
  });
});

describe("every valid document passes the JSON Schema", () => {
  it("the example policies and every json block of docs/policy.md", async () => {
    const docs = await readFile(join(ROOT, "docs", "policy.md"), "utf8");
    const blocks = [...docs.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const dir = join(ROOT, "examples", "policies");
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".json")))
      blocks.push(await readFile(join(dir, name), "utf8"));
    expect(blocks.length).toBeGreaterThan(10);
    for (const block of blocks) expect(jsonSchemaErrors(schema, JSON.parse(block)), block.slice(0, 80)).toEqual([]);
  });

  it("documents at the edges: a concurrency limit, shards, a body key, an empty policy that says so", () => {
    const docs: unknown[] = [
      { version: 1, rules: [{ id: "c", limits: [{ concurrency: 3 }] }] },
      { version: 1, rules: [{ id: "s", key: "ip", shards: 4, limits: [{ limit: 10_000, window: "1m" }] }] },
      {
        version: 1,
        rules: [
          { id: "b", key: "body:user.email", bodyKey: { maxBytes: 1024 }, limits: [{ limit: 5, window: "366d" }] },
        ],
      },
      { version: 1, rules: [{ id: "p", pageSize: { default: 20, max: 100 } }] },
      { version: 1, rules: [{ id: "x", action: "bypass", match: { paths: ["/health", "/*/status", "/"] } }] },
      {
        version: 1,
        rules: [
          { id: "t", limits: [{ limit: 9, window: "1s", algorithm: "token-bucket", burst: 20 }], penalty: "10m" },
        ],
      },
      { version: 1, allowEmptyRules: true, rules: [] },
      {
        version: 1,
        identity: { apiKey: { also: [{ header: "authorization", scheme: "Token" }, { query: "api_key" }] } },
        rules: [
          {
            id: "q",
            key: "query:api_key",
            match: { ips: ["10.0.0.0/8", "2001:db8::/32"] },
            limits: [{ limit: 1, window: "1h" }],
          },
        ],
      },
    ];
    for (const doc of docs) {
      expect(validatePolicy(doc).ok, JSON.stringify(doc)).toBe(true);
      expect(jsonSchemaErrors(schema, doc), JSON.stringify(doc)).toEqual([]);
    }
  });

  it("but not an empty policy that does not say so", () => {
    expect(jsonSchemaErrors(schema, { version: 1, rules: [] })).not.toEqual([]);
  });
});

describe("the patterns agree with the validator's checks", () => {
  const test = (pattern: string, s: string) => new RegExp(pattern, "u").test(s);

  it("positiveUpTo matches 1 to max, without leading zeros", () => {
    for (const max of [1, 9, 10, 99, 100, 366, 8784, 527_040, 31_622_400]) {
      const r = new RegExp(`^${positiveUpTo(max)}$`, "u");
      const samples = [0, 1, max - 1, max, max + 1, Math.floor(max / 2), max * 10, 10 ** String(max).length];
      for (const n of samples) expect(r.test(String(n)), `${n} of 1..${max}`).toBe(n >= 1 && n <= max);
      expect(r.test(`0${max}`)).toBe(false);
    }
    const r366 = new RegExp(`^${positiveUpTo(366)}$`, "u");
    for (let n = 0; n <= 1000; n++) expect(r366.test(String(n)), String(n)).toBe(n >= 1 && n <= 366);
  });

  it("windows and durations: the pattern is parseWindow", () => {
    const samples = ["1s", "15m", "1h", "1d", "366d", "367d", "8784h", "8785h", "527040m", "527041m"];
    samples.push("31622400s", "31622401s", "0s", "01m", "1 minute", "1M", "1w", "m", "", "1.5m", "-1m", " 1m");
    samples.push("999999999s", "1000000000s", "90s", "60m", "24h");
    for (const w of samples) expect(test(WINDOW_PATTERN, w), w).toBe(parseWindow(w) !== undefined);
  });

  it("delay bounds: the pattern is parseDelay, at most 60 s", () => {
    const samples = ["1ms", "500ms", "59999ms", "60000ms", "60001ms", "99999ms", "1s", "60s", "61s", "1m", "2m"];
    samples.push("0ms", "0s", "01s", "2", "2 s", "1h", "1d", "ms", "", "1.5s", "-1s", "2S", "100000ms");
    const ok = (d: string) => (parseDelay(d) ?? MAX_DELAY_MS + 1) <= MAX_DELAY_MS;
    for (const d of samples) expect(test(DELAY_PATTERN, d), d).toBe(ok(d));
  });

  it("keys: the pattern is the rule key's check", () => {
    const keys = ["tenant", "ip", "ipp", "IP", "header:x-api-key", "header:x api key", "header:", "query:api_key"];
    keys.push("query:", "body:", "body:user.email", "body:.x", "body: x", "body:a b", "cookie:x", "tenant ", "");
    for (const key of keys) {
      const zod = validatePolicy({ version: 1, rules: [{ id: "k", key, limits: [{ limit: 1, window: "1m" }] }] }).ok;
      expect(test(RULE_KEY_PATTERN, key), key).toBe(zod);
    }
  });

  it("paths: the pattern is the path check", () => {
    const paths = ["/", "/a", "/a/*", "/*", "/a/*/b", "/a*", "/*a", "/**", "a", "", "/a//b", "/a/", "/a/b*c"];
    for (const p of paths) {
      const zod = validatePolicy({
        version: 1,
        rules: [{ id: "p", match: { paths: [p] }, limits: [{ limit: 1, window: "1m" }] }],
      }).ok;
      expect(test(PATH_PATTERN, p), p).toBe(zod);
    }
  });

  it("CIDR ranges: the pattern is parseCidr", () => {
    const ranges = ["10.0.0.0/8", "203.0.113.0/33", "203.0.113.0/32", "203.0.113.7", "0.0.0.0/0", "256.0.0.1"];
    ranges.push("01.2.3.4", "1.2.3", "1.2.3.4/", "1.2.3.4/032", "1.2.3.4/0032", "office", "", "::", "::1", "::1/128");
    ranges.push("::1/129", "2001:db8::/32", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3");
    ranges.push(
      "1:2:3:4:5:6:7::",
      "::2:3:4:5:6:7:8",
      "::ffff:192.0.2.1",
      "64:ff9b::192.0.2.1/96",
      "1:2:3:4:5:6::1.2.3.4",
    );
    ranges.push("[2001:db8::1]", "[2001:db8::1]/64", "fe80::1%eth0", "fe80::1%eth0/64", "[fe80::1%eth0]", "12345::");
    ranges.push(":1:2:3:4:5:6:7", "1.2.3.4%eth0", "2001:db8::/0128", "2001:db8::/099", "g::1");
    for (const r of ranges) expect(test(CIDR_PATTERN, r), r).toBe(parseCidr(r) !== undefined);
  });
});

describe("the test's own JSON Schema checker", () => {
  it("refuses a keyword it does not know, rather than skip it", () => {
    expect(() => jsonSchemaErrors({ type: "string", format: "email" }, "x")).toThrow(/format/);
  });

  it("says where and which keyword", () => {
    expect(
      jsonSchemaErrors(schema, {
        version: 1,
        rules: [{ id: "a", key: "ipp", limits: [{ limit: 1, window: "1 minute" }] }],
      }),
    ).toEqual(["/rules/0/key: pattern", "/rules/0/limits/0/window: pattern"]);
  });
});
