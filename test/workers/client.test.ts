/**
 * `sluice/client` inside workerd, against the real front door (`exports.default.fetch`): it reads
 * sluice's own headers, throws a typed error naming the policy on a POST refused, and paces a client
 * with three times its quota's work so that no 429 reaches it and no window admits past its limit.
 */
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { pacedFetch, RateLimitedError, readRateLimit } from "../../src/client/index";
import type { PolicyInput } from "../../src/policy/schema";
import { uniqueIp, useBuiltinPolicy, usePolicy } from "../support/client";

const RULE = "client-paced";
const policy = (limit: number, window: string): PolicyInput => ({
  version: 1,
  headers: ["ietf", "legacy"],
  rules: [{ id: RULE, match: { paths: ["/paced/*"] }, key: "ip", limits: [{ limit, window }] }],
});

/** The front door as the client's fetch, from one client address. */
function frontDoor(ip: string) {
  return (request: Request) => {
    const headers = new Headers(request.headers);
    headers.set("cf-connecting-ip", ip);
    return exports.default.fetch(new Request(request, { headers }));
  };
}

afterEach(() => useBuiltinPolicy());

describe("sluice/client in workerd against the front door", () => {
  it("reads sluice's headers: the policy, the room left and the seconds to the reset", async () => {
    await usePolicy(policy(5, "1m"));
    const res = await frontDoor(uniqueIp())(new Request("http://api.example.com/paced/a"));
    await res.arrayBuffer();
    const [limit] = readRateLimit(res.headers).limits;
    expect(limit).toMatchObject({ name: `${RULE}-1m`, limit: 5, remaining: 4, windowSeconds: 60, concurrent: false });
    expect(limit!.resetSeconds).toBeGreaterThanOrEqual(0);
    expect(limit!.resetSeconds).toBeLessThanOrEqual(60);
  });

  it("a POST past the limit throws RateLimitedError with the violated policy and Retry-After", async () => {
    await usePolicy(policy(2, "1m"));
    const api = pacedFetch({ fetch: frontDoor(uniqueIp()), pace: false });
    for (let i = 0; i < 2; i++)
      expect((await api("http://api.example.com/paced/p", { method: "POST", body: "{}" })).status).toBe(200);
    const error = await api("http://api.example.com/paced/p", { method: "POST", body: "{}" }).catch((e) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.policy).toBe(`${RULE}-1m`);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.response.status).toBe(429);
  });

  it("paces three times its quota's work over the windows: every request answered 200", async () => {
    const limit = 4;
    await usePolicy(policy(limit, "2s"));
    const api = pacedFetch({ fetch: frontDoor(uniqueIp()), maxWaitSeconds: 5 });
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < limit * 3; i++) {
      const res = await api("http://api.example.com/paced/g");
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    // Three windows' worth went through without one refusal reaching the caller: the client waited for
    // the windows to turn (at least two turns, 2 s apart) rather than running into the wall.
    expect(statuses).toEqual(new Array(limit * 3).fill(200));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });
});
