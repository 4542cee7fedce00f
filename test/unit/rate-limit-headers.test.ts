/**
 * The header families (contract section 4): `legacy` and `x` describe one
 * limit, `ietf` lists them all as RFC 9651 Structured Field Lists, checked
 * here with a real Structured Fields parser.
 */
import { type Item, parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import {
  headline,
  type LimitReport,
  PARTITION_KEY_BYTES,
  partitionKey,
  rateLimitHeaders,
  secondsUntil,
} from "../../src/http/rate-limit-headers";
import type { CounterResult } from "../../src/limiter/types";
import type { CompiledPolicy } from "../../src/policy/compile";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const NOW = 1_740_009_000_250; // not on a whole second

function policy(over: Partial<PolicyInput> = {}): CompiledPolicy {
  const result = validatePolicy({
    version: 1,
    rules: [{ id: "transfers", limits: [{ limit: 200, window: "15m" }] }],
    ...over,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.compiled;
}

function report(
  result: Partial<CounterResult> & { name: string },
  windowSeconds: number | undefined,
  rule = "transfers",
): LimitReport {
  return {
    result: { allowed: true, limit: 200, remaining: 187, resetAt: NOW + 412_000, retryAfterMs: 0, ...result },
    concurrency: windowSeconds === undefined,
    windowSeconds,
    windowWords: windowSeconds === undefined ? "at once" : `${windowSeconds / 60} minutes`,
    rule,
  };
}

const fifteen = report({ name: "transfers-15m", limit: 200, remaining: 187, resetAt: NOW + 411_750 }, 900);
const conc = report({ name: "transfers-conc", limit: 5, remaining: 4, resetAt: NOW }, undefined);
const daily = report(
  { name: "transfers-1d", limit: 250_000, remaining: 249_000, resetAt: Date.UTC(2025, 1, 21) },
  86_400,
);

function asMap(headers: [string, string][]): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of headers) {
    expect(m.has(k), `${k} sent twice`).toBe(false);
    m.set(k, v);
  }
  return m;
}

/** An item's name and parameters, as the Structured Fields parser reads them. */
function items(value: string): { name: unknown; params: Record<string, unknown> }[] {
  return parseList(value).map((member) => {
    expect(Array.isArray(member[0]), "an item, not an inner list").toBe(false);
    const [name, params] = member as Item;
    return { name, params: Object.fromEntries(params) };
  });
}

describe("secondsUntil", () => {
  it("rounds up to whole seconds and never goes below 0", () => {
    expect(secondsUntil(NOW + 1, NOW)).toBe(1);
    expect(secondsUntil(NOW + 1000, NOW)).toBe(1);
    expect(secondsUntil(NOW + 1001, NOW)).toBe(2);
    expect(secondsUntil(NOW, NOW)).toBe(0);
    expect(secondsUntil(NOW - 5000, NOW)).toBe(0);
  });
});

describe("headline", () => {
  it("is the limit with the least room left", () => {
    expect(headline([daily, fifteen, conc])).toBe(conc);
    expect(headline([daily, fifteen])).toBe(fifteen);
  });

  it("is the limit that refused, whatever the room of the others", () => {
    const refused = report(
      { name: "transfers-1d", allowed: false, limit: 250_000, remaining: 2, retryAfterMs: 5000 },
      86_400,
    );
    const empty = report({ name: "transfers-15m", remaining: 0 }, 900);
    expect(headline([empty, refused])).toBe(refused);
  });

  it("is nothing without reports", () => {
    expect(headline([])).toBeUndefined();
  });
});

describe("rateLimitHeaders", () => {
  it("sends legacy and ietf by default", () => {
    const h = asMap(rateLimitHeaders(policy(), [fifteen], NOW));
    expect([...h.keys()].sort()).toEqual([
      "RateLimit",
      "RateLimit-Limit",
      "RateLimit-Policy",
      "RateLimit-Remaining",
      "RateLimit-Reset",
    ]);
  });

  it("sends nothing without a limit in play", () => {
    expect(rateLimitHeaders(policy({ headers: ["legacy", "x", "ietf"] }), [], NOW)).toEqual([]);
  });

  it("legacy: limit, remaining and reset as epoch seconds (rounded up)", () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["legacy"] }), [fifteen], NOW));
    expect(h).toEqual(
      new Map([
        ["RateLimit-Limit", "200"],
        ["RateLimit-Remaining", "187"],
        ["RateLimit-Reset", String(Math.ceil((NOW + 411_750) / 1000))],
      ]),
    );
    expect(h.get("RateLimit-Reset")).toBe("1740009412");
  });

  it('legacy with "legacyReset": "delta": reset as seconds left', () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["legacy"], legacyReset: "delta" }), [fifteen], NOW));
    expect(h.get("RateLimit-Reset")).toBe("412");
  });

  it("x: X-RateLimit-Limit, -Remaining and -Reset (epoch seconds), for the least room left", () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["x"], legacyReset: "delta" }), [daily, fifteen], NOW));
    expect(h).toEqual(
      new Map([
        ["X-RateLimit-Limit", "200"],
        ["X-RateLimit-Remaining", "187"],
        ["X-RateLimit-Reset", "1740009412"],
      ]),
    );
  });

  it("legacy and x describe the limit that refused", () => {
    const refused = report(
      {
        name: "transfers-1d",
        allowed: false,
        limit: 250_000,
        remaining: 0,
        resetAt: Date.UTC(2025, 1, 21),
        retryAfterMs: 1,
      },
      86_400,
    );
    const h = asMap(rateLimitHeaders(policy({ headers: ["legacy", "x"] }), [fifteen, refused], NOW));
    expect(h.get("RateLimit-Limit")).toBe("250000");
    expect(h.get("X-RateLimit-Limit")).toBe("250000");
    expect(h.get("RateLimit-Remaining")).toBe("0");
    expect(h.get("X-RateLimit-Reset")).toBe(String(Date.UTC(2025, 1, 21) / 1000));
  });

  it("ietf: RateLimit-Policy lists every limit with q and w, or q and qu for concurrency", () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["ietf"] }), [fifteen, conc, daily], NOW));
    expect([...h.keys()]).toEqual(["RateLimit-Policy", "RateLimit"]);
    expect(items(h.get("RateLimit-Policy")!)).toEqual([
      { name: "transfers-15m", params: { q: 200, w: 900 } },
      { name: "transfers-conc", params: { q: 5, qu: "concurrent-requests" } },
      { name: "transfers-1d", params: { q: 250_000, w: 86_400 } },
    ]);
  });

  it("ietf: RateLimit lists every limit with r and t (no t for concurrency), and no pk", () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["ietf"] }), [fifteen, conc, daily], NOW));
    expect(items(h.get("RateLimit")!)).toEqual([
      { name: "transfers-15m", params: { r: 187, t: 412 } },
      { name: "transfers-conc", params: { r: 4 } },
      { name: "transfers-1d", params: { r: 249_000, t: Math.ceil((Date.UTC(2025, 1, 21) - NOW) / 1000) } },
    ]);
    expect(h.get("RateLimit")).not.toMatch(/pk=/);
  });

  it("ietf: item names are sf-strings (the contract's example)", () => {
    const h = asMap(
      rateLimitHeaders(
        policy({ headers: ["ietf"] }),
        [report({ name: "transfers-15m", remaining: 187, resetAt: NOW + 412_000 }, 900)],
        NOW,
      ),
    );
    expect(h.get("RateLimit-Policy")).toBe('"transfers-15m";q=200;w=900');
    expect(h.get("RateLimit")).toBe('"transfers-15m";r=187;t=412');
    const [item] = parseList(h.get("RateLimit")!);
    expect(typeof (item as Item)[0]).toBe("string");
  });

  it("ietf: a reset already passed gives t=0", () => {
    const h = asMap(
      rateLimitHeaders(policy({ headers: ["ietf"] }), [report({ name: "a-1s", resetAt: NOW - 10 }, 1)], NOW),
    );
    expect(items(h.get("RateLimit")!)[0]!.params.t).toBe(0);
  });

  it("sends all three families when asked, each once", () => {
    const h = asMap(rateLimitHeaders(policy({ headers: ["legacy", "x", "ietf"] }), [fifteen, conc], NOW));
    expect(h.size).toBe(8);
    expect(h.get("RateLimit-Remaining")).toBe("4");
    expect(h.get("X-RateLimit-Remaining")).toBe("4");
  });
});

describe("partition keys (pk)", () => {
  it("is the first 16 bytes of SHA-256 of the counting key, base64", async () => {
    const pk = await partitionKey("tenant:acme");
    const bytes = Uint8Array.from(atob(pk), (c) => c.charCodeAt(0));
    expect(bytes.length).toBe(PARTITION_KEY_BYTES);
    const full = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("tenant:acme")));
    expect([...bytes]).toEqual([...full.subarray(0, 16)]);
    expect(await partitionKey("tenant:acme")).toBe(pk);
    expect(await partitionKey("tenant:acmf")).not.toBe(pk);
    expect(await partitionKey("sandbox:tenant:acme")).not.toBe(pk);
  });

  it("is sent on every ietf item of both fields as a Byte Sequence when the policy allows it", async () => {
    const pk = await partitionKey("ip:203.0.113.7");
    const withPk = (r: LimitReport): LimitReport => ({ ...r, partitionKey: pk });
    const h = asMap(
      rateLimitHeaders(policy({ headers: ["ietf"], partitionKey: true }), [withPk(fifteen), withPk(conc)], NOW),
    );
    const bytes = [...Uint8Array.from(atob(pk), (c) => c.charCodeAt(0))];
    for (const field of ["RateLimit-Policy", "RateLimit"]) {
      const parsed = items(h.get(field)!);
      expect(parsed).toHaveLength(2);
      for (const item of parsed) {
        expect(item.params.pk).toBeInstanceOf(ArrayBuffer);
        expect([...new Uint8Array(item.params.pk as ArrayBuffer)]).toEqual(bytes);
      }
    }
    expect(items(h.get("RateLimit-Policy")!)[1]!.params).toMatchObject({ q: 5, qu: "concurrent-requests" });
    expect(h.get("RateLimit")).toBe(`"transfers-15m";r=187;t=412;pk=:${pk}:, "transfers-conc";r=4;pk=:${pk}:`);
  });

  it("is not sent by default, even when the report has one", async () => {
    const pk = await partitionKey("ip:203.0.113.7");
    const h = asMap(rateLimitHeaders(policy({ headers: ["ietf"] }), [{ ...fifteen, partitionKey: pk }], NOW));
    expect(h.get("RateLimit")).not.toMatch(/pk=/);
    expect(h.get("RateLimit-Policy")).not.toMatch(/pk=/);
  });
});
