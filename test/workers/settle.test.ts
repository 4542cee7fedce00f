/**
 * Reserve, then settle (a rule's `settle`), through the front door against the loopback origin: the
 * estimate is charged at admission, the real cost read from the response (the last `data:` event of a
 * streamed LLM answer, a header, a status) and the difference given back or charged as debt in the
 * key's object, after the response.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, uniqueIp, usePolicy } from "../support/client";

const LIMIT = 2_000;
const ESTIMATE = 100;

function policy(settle: NonNullable<PolicyInput["rules"][number]["settle"]>): PolicyInput {
  return {
    version: 1,
    headers: ["legacy"],
    rules: [{ id: "llm", key: "ip", cost: ESTIMATE, settle, limits: [{ limit: LIMIT, window: "1d" }] }],
  };
}

const TOKENS = { from: "json", path: "usage.total_tokens", status: { "5xx": 0 } } as const;

/** The key's room as its object holds it (admin `GET /keys`). */
async function remaining(ip: string): Promise<number> {
  const res = await call(`/__ratelimit/keys?rule=llm&key=${ip}`, {
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    ip: uniqueIp(),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { limits: Array<{ remaining: number }> };
  return body.limits[0]!.remaining;
}

/** Waits until the key's object shows `expected` (a settle runs after the response, in waitUntil). */
async function settledTo(ip: string, expected: number): Promise<number> {
  let seen = -1;
  for (let i = 0; i < 60; i++) {
    seen = await remaining(ip);
    if (seen === expected) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}

/** A request and its whole body (its end is what settles it). */
async function send(path: string, ip: string, headers: Record<string, string> = {}) {
  const res = await call(path, { ip, headers });
  const text = await res.text();
  return { status: res.status, remaining: res.headers.get("ratelimit-remaining"), text };
}

/** Not in the last seconds of a UTC day: the test's requests all fall into one day window. */
async function clearOfMidnight(): Promise<void> {
  const left = 86_400_000 - (Date.now() % 86_400_000);
  if (left < 15_000) await new Promise((r) => setTimeout(r, left + 10));
}

describe("settle from a streamed answer's last JSON event", () => {
  it("debits exactly the tokens it reports, and refuses once the debt passes the limit", async () => {
    await usePolicy(policy(TOKENS));
    await clearOfMidnight();
    const ip = uniqueIp();

    const first = await send("/sse?tokens=1200", ip);
    expect(first.status).toBe(200);
    expect(first.text).toContain('"total_tokens":1200');
    // The response's own headers show the estimate; the settled figure shows from the next one on.
    expect(first.remaining).toBe(String(LIMIT - ESTIMATE));
    expect(await settledTo(ip, LIMIT - 1_200)).toBe(LIMIT - 1_200);

    const second = await send("/sse?tokens=700", ip);
    expect(second.remaining).toBe(String(LIMIT - 1_200 - ESTIMATE));
    expect(await settledTo(ip, LIMIT - 1_900)).toBe(100);

    // 1,900 used: an estimate of 100 fits exactly (the limit-th unit); it reports 500, 400 past the limit.
    const third = await send("/sse?tokens=500", ip);
    expect(third.status).toBe(200);
    expect(third.remaining).toBe("0");
    expect(await settledTo(ip, 0)).toBe(0);

    const refused = await send("/sse?tokens=1", ip);
    expect(refused.status).toBe(429);
  });

  it("finds the usage in the tail when the stream is longer than maxBytes", async () => {
    await usePolicy(policy({ ...TOKENS, maxBytes: 1_024 }));
    await clearOfMidnight();
    const ip = uniqueIp();
    const res = await send("/sse?tokens=1200&pad=100000", ip);
    expect(res.text.length).toBeGreaterThan(100_000);
    expect(await settledTo(ip, LIMIT - 1_200)).toBe(LIMIT - 1_200);
  });
});

describe("settle by status", () => {
  it("a 5xx costs 0: its estimate is given back whole", async () => {
    await usePolicy(policy(TOKENS));
    await clearOfMidnight();
    const ip = uniqueIp();
    const failed = await send("/status/503", ip);
    expect(failed.status).toBe(503);
    expect(failed.remaining).toBe(String(LIMIT - ESTIMATE));
    expect(await settledTo(ip, LIMIT)).toBe(LIMIT);
  });
});

describe("settle from a response header, with the estimate read from the request", () => {
  it("charges the request's stated estimate (at most max) and settles at the header's figure", async () => {
    await usePolicy(
      policy({ from: "header", header: "x-tokens-used", estimate: { header: "x-max-tokens", max: 500 } }),
    );
    await clearOfMidnight();
    const ip = uniqueIp();
    const res = await send("/usage?tokens=42", ip, { "x-max-tokens": "300" });
    expect(res.remaining).toBe(String(LIMIT - 300));
    expect(await settledTo(ip, LIMIT - 42)).toBe(LIMIT - 42);

    // Over max: charged max.
    const capped = await send("/usage?tokens=42", ip, { "x-max-tokens": "9000" });
    expect(capped.remaining).toBe(String(LIMIT - 42 - 500));
    expect(await settledTo(ip, LIMIT - 84)).toBe(LIMIT - 84);
  });
});
