import { describe, expect, it } from "vitest";
import { RefusalCache } from "../../src/engine/refusal-cache";
import type { LimitReport } from "../../src/http/rate-limit-headers";
import type { CounterSpec } from "../../src/limiter/types";

const spec = (limit = 5): CounterSpec => ({ name: "r-1m", algorithm: "fixed", limit, windowMs: 60_000, cost: 1 });
const report: LimitReport = {
  result: { name: "r-1m", allowed: false, limit: 5, remaining: 0, resetAt: 60_000, retryAfterMs: 30_000 },
  concurrency: false,
  windowSeconds: 60,
  windowWords: "1 minute",
  rule: "r",
};
const refusal = (until: number) => ({ until, reports: [report], refusedBy: report });

describe("RefusalCache", () => {
  it("answers for the same object and the same numbers until the refusal runs out, and not after", () => {
    const cache = new RefusalCache();
    cache.remember("ip:1.2.3.4", spec(), refusal(1000));
    expect(cache.find("ip:1.2.3.4", [spec()], 999)?.until).toBe(1000);
    expect(cache.find("ip:1.2.3.4", [spec(6)], 999)).toBeUndefined(); // other numbers (a tier change): ask the object
    expect(cache.find("ip:5.6.7.8", [spec()], 999)).toBeUndefined();
    expect(cache.find("ip:1.2.3.4", [spec()], 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("stays bounded when a client rotates through keys, dropping the oldest first", () => {
    const cache = new RefusalCache(100);
    for (let i = 0; i < 250; i++) cache.remember(`ip:10.0.${Math.floor(i / 250)}.${i}`, spec(), refusal(10_000));
    expect(cache.size).toBe(100);
    expect(cache.find("ip:10.0.0.0", [spec()], 0)).toBeUndefined();
    expect(cache.find("ip:10.0.0.249", [spec()], 0)?.until).toBe(10_000);
    expect(cache.find("ip:10.0.0.150", [spec()], 0)?.until).toBe(10_000); // the oldest of the 100 kept
    expect(cache.find("ip:10.0.0.149", [spec()], 0)).toBeUndefined(); // the last of the 150 dropped
  });

  it("forgets an object's refusals when its counters are reset", () => {
    const cache = new RefusalCache();
    cache.remember("tenant:acme", spec(), refusal(10_000));
    cache.remember("tenant:acme", { ...spec(), name: "r-1d", windowMs: 86_400_000 }, refusal(10_000));
    expect(cache.size).toBe(2);
    cache.forgetObject("tenant:acme");
    expect(cache.size).toBe(0);
    expect(cache.find("tenant:acme", [spec()], 0)).toBeUndefined();
  });
});
