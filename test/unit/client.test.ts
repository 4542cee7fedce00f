/**
 * `sluice/client` in plain Node: the headers it reads, and a client with five times its quota's work
 * against a server that enforces a fixed window exactly (in virtual time): the application sees no 429,
 * the server never admits past its limit, and at least 95% of every full window's quota is used.
 */
import { describe, expect, it } from "vitest";
import { mayRetry, pacedFetch, RateLimitedError, readRateLimit } from "../../src/client/index";
import { checkSliding } from "../../src/limiter/algorithms/sliding-window";
import type { CounterSpec, SlidingState } from "../../src/limiter/types";

/** Virtual time: `sleep` waits until `run` moves the clock to it. */
function virtualClock(start = 1_800_000_000_000) {
  let now = start;
  const timers: Array<{ at: number; resolve: () => void }> = [];
  const idle = () => new Promise<void>((r) => setImmediate(r));
  return {
    now: () => now,
    sleep(ms: number) {
      return new Promise<void>((resolve) => timers.push({ at: now + Math.max(0, ms), resolve }));
    },
    /** Runs until `done` settles, moving time from timer to timer whenever nothing else can run. */
    async run<T>(done: Promise<T>): Promise<T> {
      let finished = false;
      const result = done.finally(() => {
        finished = true;
      });
      while (!finished) {
        for (let i = 0; i < 5; i++) await idle();
        if (finished) break;
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift();
        if (!next) {
          await idle();
          continue;
        }
        now = Math.max(now, next.at);
        next.resolve();
      }
      return result;
    },
  };
}

/** A server with one fixed window of `limit` per `windowMs`, exact, answering with the IETF headers. */
function fixedWindowServer(clock: { now(): number }, limit: number, windowMs: number) {
  const admittedPerWindow = new Map<number, number>();
  let refused = 0;
  const fetch = async (_request: Request): Promise<Response> => {
    const now = clock.now();
    const window = Math.floor(now / windowMs);
    const used = admittedPerWindow.get(window) ?? 0;
    const t = Math.ceil(((window + 1) * windowMs - now) / 1000);
    const headers = {
      "RateLimit-Policy": `"api-10s";q=${limit};w=${windowMs / 1000}`,
      RateLimit: `"api-10s";r=${Math.max(0, limit - used - 1)};t=${t}`,
    };
    if (used >= limit) {
      refused++;
      return new Response("{}", {
        status: 429,
        headers: { ...headers, RateLimit: `"api-10s";r=0;t=${t}`, "Retry-After": String(Math.max(1, t)) },
      });
    }
    admittedPerWindow.set(window, used + 1);
    return new Response("ok", { headers });
  };
  return { fetch, admittedPerWindow, refused: () => refused };
}

describe("readRateLimit", () => {
  it("reads the IETF lists, tightest first, with the window and concurrency marked", () => {
    const info = readRateLimit(
      new Headers({
        "RateLimit-Policy": '"api-1m";q=100;w=60, "api-1d";q=1000;w=86400, "api-conc";q=5;qu="concurrent-requests"',
        RateLimit: '"api-1m";r=40;t=12, "api-1d";r=7;t=3600, "api-conc";r=4',
      }),
    );
    expect(info.limits).toEqual([
      { name: "api-conc", limit: 5, remaining: 4, resetSeconds: undefined, concurrent: true },
      { name: "api-1d", limit: 1000, remaining: 7, resetSeconds: 3600, windowSeconds: 86400, concurrent: false },
      { name: "api-1m", limit: 100, remaining: 40, resetSeconds: 12, windowSeconds: 60, concurrent: false },
    ]);
  });

  it("reads the legacy trio (epoch or delta reset), the X- trio and Retry-After as seconds or a date", () => {
    const now = 1_800_000_000_000;
    const epoch = readRateLimit(
      new Headers({ "RateLimit-Limit": "10", "RateLimit-Remaining": "3", "RateLimit-Reset": String(now / 1000 + 30) }),
      now,
    );
    expect(epoch.limits).toEqual([{ name: "", limit: 10, remaining: 3, resetSeconds: 30, concurrent: false }]);
    const delta = readRateLimit(
      new Headers({ "RateLimit-Limit": "10", "RateLimit-Remaining": "3", "RateLimit-Reset": "30" }),
    );
    expect(delta.limits[0]!.resetSeconds).toBe(30);
    const x = readRateLimit(
      new Headers({
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": String(now / 1000 + 9),
      }),
      now,
    );
    expect(x.limits).toEqual([{ name: "", limit: 5, remaining: 0, resetSeconds: 9, concurrent: false }]);
    expect(readRateLimit(new Headers({ "Retry-After": "7" })).retryAfterSeconds).toBe(7);
    const date = new Date(now + 20_000).toUTCString();
    expect(readRateLimit(new Headers({ "Retry-After": date }), now).retryAfterSeconds).toBe(20);
    expect(readRateLimit(new Headers({})).limits).toEqual([]);
  });

  it("skips list members it cannot read rather than misreading them", () => {
    const info = readRateLimit(new Headers({ RateLimit: '"a";r=3;t=5, (inner list);r=9, "b";r=1;t=2' }));
    expect(info.limits.map((l) => [l.name, l.remaining])).toEqual([
      ["b", 1],
      ["a", 3],
    ]);
  });
});

describe("pacedFetch against an exact fixed window", () => {
  it("with five times its quota's work: no 429 reaches the application, none admitted past the limit, ≥95% of each full window used", async () => {
    const clock = virtualClock();
    const limit = 50;
    const windowMs = 10_000;
    const server = fixedWindowServer(clock, limit, windowMs);
    const api = pacedFetch({ fetch: server.fetch, clock, random: () => 0.5, maxWaitSeconds: 60 });
    const work = limit * 5;
    const statuses: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < work) {
        next++;
        statuses.push((await api("https://api.example.com/v1/items")).status);
      }
    };
    await clock.run(Promise.all(Array.from({ length: 8 }, worker)));
    expect(statuses).toHaveLength(work);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const windows = [...server.admittedPerWindow.entries()].sort((a, b) => a[0] - b[0]);
    for (const [, n] of windows) expect(n).toBeLessThanOrEqual(limit);
    // Every window but the first (begun mid-way) and the last (the work ran out) was full.
    for (const [, n] of windows.slice(1, -1)) expect(n).toBeGreaterThanOrEqual(Math.ceil(limit * 0.95));
    // The few 429s the server did send (one early probe per window at most) were retried, not shown.
    expect(server.refused()).toBeLessThanOrEqual(windows.length);
  });

  it("plain fetch with the same work sees the wall", async () => {
    const clock = virtualClock();
    const server = fixedWindowServer(clock, 50, 10_000);
    const statuses: number[] = [];
    for (let i = 0; i < 250; i++) statuses.push((await server.fetch(new Request("https://api.example.com/"))).status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200);
  });
});

/** A server with sluice's own sliding window (its exact algorithm), answering as sluice does. */
function slidingWindowServer(clock: { now(): number }, limit: number, windowMs: number) {
  const spec: CounterSpec = { name: "api-10s", algorithm: "sliding", limit, windowMs, cost: 1 };
  const admittedPerWindow = new Map<number, number>();
  let state: SlidingState | undefined;
  let refused = 0;
  const fetch = async (_request: Request): Promise<Response> => {
    const now = clock.now();
    const { result, charged } = checkSliding(state, now, spec);
    state = charged;
    const t = Math.ceil((result.resetAt - now) / 1000);
    const headers = {
      "RateLimit-Policy": `"api-10s";q=${limit};w=${windowMs / 1000}`,
      RateLimit: `"api-10s";r=${result.remaining};t=${t}`,
    };
    if (!result.allowed) {
      refused++;
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      return new Response("{}", { status: 429, headers: { ...headers, "Retry-After": String(retryAfter) } });
    }
    const window = Math.floor(now / windowMs);
    admittedPerWindow.set(window, (admittedPerWindow.get(window) ?? 0) + 1);
    return new Response("ok", { headers });
  };
  return { fetch, admittedPerWindow, refused: () => refused };
}

describe("pacedFetch against sluice's sliding window", () => {
  it("with five times its quota's work: no 429 reaches the application, ≥95% of each full window used", async () => {
    const clock = virtualClock(1_800_000_003_000); // begun 3 s into a window
    const limit = 50;
    const server = slidingWindowServer(clock, limit, 10_000);
    const api = pacedFetch({ fetch: server.fetch, clock, random: () => 0.5, maxWaitSeconds: 60, maxRetries: 5 });
    const statuses: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < limit * 5) {
        next++;
        statuses.push((await api("https://api.example.com/v1/items")).status);
      }
    };
    await clock.run(Promise.all(Array.from({ length: 8 }, worker)));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const windows = [...server.admittedPerWindow.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    // Every window but the first (begun mid-way) and the last (the work ran out) was (nearly) full.
    expect(windows.length).toBeGreaterThanOrEqual(5);
    for (const n of windows.slice(1, -1)) expect(n).toBeGreaterThanOrEqual(Math.ceil(limit * 0.95));
  });
});

describe("refusals", () => {
  const refusing = (retryAfter: string) => {
    let calls = 0;
    const fetch = async () => {
      calls++;
      return new Response('{"policy":"login-15m"}', {
        status: 429,
        headers: {
          "Retry-After": retryAfter,
          "RateLimit-Policy": '"login-15m";q=3;w=900',
          RateLimit: `"login-15m";r=0;t=${retryAfter}`,
        },
      });
    };
    return { fetch, calls: () => calls };
  };

  it("a POST refused with 429 throws a RateLimitedError naming the policy and Retry-After, and is not sent again", async () => {
    const clock = virtualClock();
    const server = refusing("30");
    const api = pacedFetch({ fetch: server.fetch, clock });
    const error = await clock.run(api("https://api.example.com/login", { method: "POST", body: "{}" }).catch((e) => e));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.policy).toBe("login-15m");
    expect(error.retryAfterSeconds).toBe(30);
    expect(error.response.status).toBe(429);
    expect(server.calls()).toBe(1);
  });

  it("a GET is retried after Retry-After (with jitter) up to maxRetries, then thrown", async () => {
    const clock = virtualClock();
    const start = clock.now();
    const server = refusing("2");
    const api = pacedFetch({ fetch: server.fetch, clock, maxRetries: 2, jitter: 0.5, random: () => 1 });
    const error = await clock.run(api("https://api.example.com/items").catch((e) => e));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(server.calls()).toBe(3);
    // Two waits of 2 s each, stretched by the full jitter (50%).
    expect(clock.now() - start).toBe(6_000);
  });

  it("a Retry-After longer than maxWaitSeconds is thrown at once", async () => {
    const clock = virtualClock();
    const server = refusing("600");
    const api = pacedFetch({ fetch: server.fetch, clock, maxWaitSeconds: 60 });
    const error = await clock.run(api("https://api.example.com/items").catch((e) => e));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(server.calls()).toBe(1);
  });

  it("knows which requests may be sent twice", () => {
    expect(mayRetry(new Request("https://a.example/", { method: "GET" }))).toBe(true);
    expect(mayRetry(new Request("https://a.example/", { method: "DELETE" }))).toBe(true);
    expect(mayRetry(new Request("https://a.example/", { method: "POST" }))).toBe(false);
    expect(mayRetry(new Request("https://a.example/", { method: "POST", headers: { "Idempotency-Key": "k1" } }))).toBe(
      true,
    );
  });

  it("checks its options once, at creation", () => {
    expect(() => pacedFetch({ maxRetries: -1 })).toThrow(/maxRetries/);
    expect(() => pacedFetch({ jitter: 2 })).toThrow(/jitter/);
  });
});
