/**
 * `onLimit.delay` through the Worker (`exports.default.fetch`): a burst beyond
 * a token bucket is held and forwarded, each request no earlier than its slot
 * (the origin's arrival time against the moment the burst was sent plus the
 * bucket's interval per request over the burst), with the rate-limit headers;
 * past the bound or the cap of waiting requests, the 429 as without `onLimit`.
 * Counts are chosen so that the burst's own spread (under a second) cannot
 * refill a token where it would change them.
 */
import { describe, expect, it } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, originCount, uniqueIp, uniqueTag, usePolicy } from "../support/client";

/** 10 per `window` (a token every tenth of it), 10 at once; held up to `delay`. */
function policy(delay: string, maxWaiting?: number, window = "1s"): PolicyInput {
  return {
    version: 1,
    headers: ["legacy", "ietf"],
    rules: [
      {
        id: "held",
        key: "ip",
        onLimit: { delay, ...(maxWaiting !== undefined ? { maxWaiting } : {}) },
        limits: [{ limit: 10, window, algorithm: "token-bucket" }],
      },
    ],
  };
}

const BURST = 10;

interface Seen {
  status: number;
  originAt: number | undefined;
  headers: Headers;
}

async function burst(n: number, ip: string, tag: string): Promise<{ sentAt: number; seen: Seen[] }> {
  const sentAt = Date.now();
  const responses = await Promise.all(
    Array.from({ length: n }, () => call("/api/items", { ip, headers: { "x-test-tag": tag } })),
  );
  const seen = await Promise.all(
    responses.map(async (r) => {
      await r.arrayBuffer();
      const at = r.headers.get("x-origin-at");
      return { status: r.status, originAt: at === null ? undefined : Number(at), headers: r.headers };
    }),
  );
  return { sentAt, seen };
}

/**
 * The forwarded requests that reached the origin before any slot the bucket could have given them: the
 * bucket was full when the burst was sent, so the k-th arrival past the burst is no earlier than k
 * intervals after that (nor does anything arrive over the limit).
 */
function earlyArrivals(sentAt: number, seen: readonly Seen[], intervalMs: number): number[] {
  const times = seen
    .filter((s) => s.status === 200)
    .map((s) => s.originAt!)
    .sort((a, b) => a - b);
  return times.filter((at, i) => at < sentAt + Math.max(0, i - BURST + 1) * intervalMs);
}

describe("onLimit.delay through the Worker", () => {
  it("a burst of twice the bucket: all forwarded within the bound, none before its slot, with headers", async () => {
    await usePolicy(policy("2s"));
    const ip = uniqueIp();
    const tag = uniqueTag("delay");
    const { sentAt, seen } = await burst(2 * BURST, ip, tag);
    expect(seen.map((s) => s.status)).toEqual(Array(2 * BURST).fill(200));
    expect(await originCount(tag)).toBe(2 * BURST);
    expect(earlyArrivals(sentAt, seen, 100)).toEqual([]);
    // The last one waited at least its slot: ten tokens after the burst.
    expect(Math.max(...seen.map((s) => s.originAt!)) - sentAt).toBeGreaterThanOrEqual(BURST * 100);
    for (const s of seen) {
      expect(s.headers.get("RateLimit-Limit")).toBe("10");
      expect(s.headers.get("RateLimit-Policy")).toBe('"held-1s";q=10;w=1');
      expect(s.headers.get("RateLimit-Remaining")).not.toBeNull();
    }
  });

  it("past the bound: the 429 as today, and nothing over the limit reaches the origin", async () => {
    // A token a second: the burst's own spread (well under a second) refills none.
    await usePolicy(policy("1500ms", undefined, "10s"));
    const ip = uniqueIp();
    const tag = uniqueTag("delay");
    const { sentAt, seen } = await burst(BURST + 4, ip, tag);
    const statuses = seen.map((s) => s.status);
    // The bucket's 10 at once, 1 held (its slot a second on), 3 refused (their slots 2 s or more on).
    expect(statuses.filter((s) => s === 200)).toHaveLength(BURST + 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    expect(await originCount(tag)).toBe(BURST + 1);
    expect(earlyArrivals(sentAt, seen, 1_000)).toEqual([]);
    const refused = seen.find((s) => s.status === 429)!;
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
  });

  it("past the cap of waiting requests: refused though within the bound", async () => {
    await usePolicy(policy("5s", 2, "10s"));
    const ip = uniqueIp();
    const tag = uniqueTag("delay");
    const { sentAt, seen } = await burst(BURST + 4, ip, tag);
    // The bucket's 10 at once, 2 held (slots 1 s and 2 s on), 2 refused (slots 3 s and 4 s on: within 5 s).
    expect(seen.filter((s) => s.status === 200)).toHaveLength(BURST + 2);
    expect(seen.filter((s) => s.status === 429)).toHaveLength(2);
    expect(await originCount(tag)).toBe(BURST + 2);
    expect(earlyArrivals(sentAt, seen, 1_000)).toEqual([]);
  });
});
