/**
 * The refusal's builders: `Retry-After` against the window's end, the JSON body and the draft's problem
 * types (`response.format: "problem"`), and the 503 of `onError: "closed"`.
 */
import { parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import type { LimitReport } from "../../src/http/rate-limit-headers";
import {
  PROBLEM_JSON,
  QUOTA_EXCEEDED,
  refusalResponse,
  refusalRetryAfter,
  TEMPORARY_REDUCED_CAPACITY,
  unavailableResponse,
} from "../../src/http/refusal";
import type { Algorithm, CounterResult } from "../../src/limiter/types";
import type { CompiledPolicy } from "../../src/policy/compile";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const NOW = 1_740_009_000_250; // not on a whole second

function policy(over: Partial<PolicyInput> = {}): CompiledPolicy {
  const result = validatePolicy({
    version: 1,
    headers: ["ietf"],
    rules: [
      { id: "api", key: "ip", continue: true, limits: [{ limit: 20, window: "10s" }] },
      { id: "daily", key: "ip", continue: true, limits: [{ limit: 1000, window: "1d" }] },
      { id: "trial", key: "ip", mode: "shadow", limits: [{ limit: 5, window: "1m" }] },
    ],
    ...over,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.compiled;
}

function refused(
  name: string,
  rule: string,
  algorithm: Algorithm,
  result: Partial<CounterResult>,
  windowSeconds = 10,
): LimitReport {
  return {
    result: { name, allowed: false, limit: 20, remaining: 0, resetAt: NOW + 5000, retryAfterMs: 5000, ...result },
    concurrency: algorithm === "concurrency",
    windowSeconds: algorithm === "concurrency" ? undefined : windowSeconds,
    windowWords: `${windowSeconds} seconds`,
    rule,
    algorithm,
  };
}

/** `t` of the item named `name` in the response's `RateLimit` field. */
function tOf(res: Response, name: string): unknown {
  const item = parseList(res.headers.get("RateLimit")!).find((m) => m[0] === name);
  return item?.[1].get("t");
}

describe("Retry-After of a fixed window", () => {
  it("is the seconds to the window's end, rounded up, the same as the item's t (the boundary, to the ms)", () => {
    for (const [toEnd, seconds] of [
      [1, 1],
      [999, 1],
      [1000, 1],
      [1001, 2],
      [9_999, 10],
      [10_000, 10],
    ] as const) {
      const r = refused("api-10s", "api", "fixed", { resetAt: NOW + toEnd, retryAfterMs: toEnd });
      expect(refusalRetryAfter(r, NOW), `${toEnd} ms to the end`).toBe(seconds);
      const res = refusalResponse(policy(), [r], r, NOW);
      expect(res.headers.get("Retry-After")).toBe(String(seconds));
      expect(tOf(res, "api-10s")).toBe(seconds);
    }
  });

  it("is never earlier than the window's end when the refusal was measured from an earlier clock", () => {
    // The refusal cache counts from when the request was sent (50 ms before the object's time): 951 ms of
    // retry were 1 s, though the window ends in 1001 ms (t=2). Today's answer would send the client back a
    // second early, into the same full window.
    const r = refused("api-10s", "api", "fixed", { resetAt: NOW + 1001, retryAfterMs: 951 });
    const res = refusalResponse(policy(), [r], r, NOW);
    expect(res.headers.get("Retry-After")).toBe("2");
    expect(tOf(res, "api-10s")).toBe(2);
  });

  it("is at least 1 s when the window ends now (a reset already passed)", () => {
    const r = refused("api-10s", "api", "fixed", { resetAt: NOW, retryAfterMs: 0 });
    expect(refusalRetryAfter(r, NOW)).toBe(1);
  });

  it("follows a penalty's end (the report's reset is the penalty's)", () => {
    const r = refused("api-10s", "api", "fixed", { resetAt: NOW + 600_000, retryAfterMs: 600_000 });
    expect(refusalRetryAfter(r, NOW)).toBe(600);
  });

  it("leaves a sliding window's and a bucket's own retry, which comes before their t", () => {
    const sliding = refused("api-10s", "api", "sliding", { resetAt: NOW + 8000, retryAfterMs: 400 });
    expect(refusalRetryAfter(sliding, NOW)).toBe(1);
    const bucket = refused("api-10s", "api", "token-bucket", { resetAt: NOW + 10_000, retryAfterMs: 1500 });
    expect(refusalRetryAfter(bucket, NOW)).toBe(2);
  });

  it("fills {{retry_after}} with the same figure as the header", async () => {
    const p = policy({ response: { body: { wait: "{{retry_after}}" } } });
    const r = refused("api-10s", "api", "fixed", { resetAt: NOW + 1001, retryAfterMs: 951 });
    const res = refusalResponse(p, [r], r, NOW);
    expect(await res.json()).toEqual({ wait: 2 });
  });
});

describe('response.format "json" (the default)', () => {
  it("sends the JSON body as before", async () => {
    const r = refused("api-10s", "api", "fixed", {});
    const res = refusalResponse(policy(), [r], r, NOW);
    expect(res.status).toBe(429);
    expect(res.headers.get("Content-Type")).toBe("application/json");
    expect(await res.json()).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", retry_after: 5, limit: 20 });
  });
});

describe('response.format "problem"', () => {
  const api = refused("api-10s", "api", "fixed", {});
  const daily = refused("daily-1d", "daily", "fixed", { limit: 1000 }, 86_400);
  const trial = refused("trial-1m", "trial", "fixed", { limit: 5 }, 60);
  const allowed: LimitReport = { ...daily, result: { ...daily.result, allowed: true, remaining: 3 } };

  it("is application/problem+json of type quota-exceeded, naming the violated policies", async () => {
    const res = refusalResponse(policy({ response: { format: "problem" } }), [api, allowed], api, NOW);
    expect(res.status).toBe(429);
    expect(res.headers.get("Content-Type")).toBe(PROBLEM_JSON);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(res.headers.get("RateLimit")).toBe('"api-10s";r=0;t=5, "daily-1d";r=3;t=5');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      type: QUOTA_EXCEEDED,
      title: "Request cannot be satisfied as assigned quota has been exceeded",
      status: 429,
      detail: 'The quota "api-10s" (20 per 10 seconds) has been exceeded. Retry after 5 s.',
      "violated-policies": ["api-10s"],
    });
    expect(QUOTA_EXCEEDED).toBe("https://iana.org/assignments/http-problem-types#quota-exceeded");
  });

  it("lists every enforced limit that refused, the refusing one first, and no shadow limit", async () => {
    const res = refusalResponse(policy({ response: { format: "problem" } }), [trial, api, daily], daily, NOW);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body["violated-policies"]).toEqual(["daily-1d", "api-10s"]);
  });

  it("adds the members of response.body, placeholders filled, and takes its status", async () => {
    const p = policy({
      response: {
        status: 503,
        format: "problem",
        body: { title: "Slow down", instance: "/quota/{{rule}}", retry_after: "{{retry_after}}" },
      },
    });
    const res = refusalResponse(p, [api], api, NOW);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      type: QUOTA_EXCEEDED,
      title: "Slow down",
      status: 503,
      instance: "/quota/api",
      retry_after: 5,
      "violated-policies": ["api-10s"],
    });
  });
});

describe("the 503 of onError closed", () => {
  it("is sluice's JSON by default", async () => {
    const res = unavailableResponse(policy(), ["api-10s"]);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(res.headers.get("Content-Type")).toBe("application/json");
    expect(await res.json()).toMatchObject({ code: "RATE_LIMITER_UNAVAILABLE" });
  });

  it('is a temporary-reduced-capacity problem with format "problem", naming the limits not checked', async () => {
    const res = unavailableResponse(policy({ response: { format: "problem" } }), ["api-10s", "daily-1d", "api-10s"]);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(res.headers.get("Content-Type")).toBe(PROBLEM_JSON);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(await res.json()).toEqual({
      type: TEMPORARY_REDUCED_CAPACITY,
      title: "Request cannot be satisfied due to temporary server capacity constraints",
      status: 503,
      detail: "The rate limiter is unavailable. Please try again shortly.",
      "violated-policies": ["api-10s", "daily-1d"],
    });
    expect(TEMPORARY_REDUCED_CAPACITY).toBe(
      "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity",
    );
  });
});
