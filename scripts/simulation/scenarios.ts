/**
 * The simulated workloads: steady, bursty and Zipf-distributed keys over
 * every algorithm that leases, and the faults (isolates dying with leases,
 * skewed clocks, a policy change, an object restart, a reset) mid-window.
 */
import type { CounterSpec } from "../../src/limiter/types";
import { exponential, zipf } from "./random";
import type { Arrival, Scenario } from "./world";

/** A time that is a multiple of every window used here, day windows included. */
const MIDNIGHT = 20_000 * 86_400_000;
/** Runs start a little before a boundary, so windows turn over during them. */
const START = MIDNIGHT - 4_000;

const fixed = (name: string, limit: number, windowMs: number): CounterSpec => ({
  name,
  algorithm: "fixed",
  limit,
  windowMs,
  cost: 1,
});
const sliding = (name: string, limit: number, windowMs: number): CounterSpec => ({
  name,
  algorithm: "sliding",
  limit,
  windowMs,
  cost: 1,
});
const bucket = (name: string, limit: number, windowMs: number, burst: number): CounterSpec => ({
  name,
  algorithm: "token-bucket",
  limit,
  windowMs,
  burst,
  cost: 1,
});

/** Poisson arrivals at `perSecond` over `durationMs`, keys drawn by `key`. */
function poisson(random: () => number, perSecond: number, durationMs: number, key: () => number): Arrival[] {
  const out: Arrival[] = [];
  for (let t = exponential(random, 1000 / perSecond); t < durationMs; t += exponential(random, 1000 / perSecond)) {
    out.push({ t, key: key() });
  }
  return out;
}

/** Bursts of `size` requests within `spreadMs`, every `everyMs`, with a steady trickle between. */
function bursts(random: () => number, size: number, spreadMs: number, everyMs: number, durationMs: number): Arrival[] {
  const out = poisson(random, 20, durationMs, () => 0);
  for (let start = 500; start < durationMs; start += everyMs) {
    for (let i = 0; i < size; i++) out.push({ t: start + random() * spreadMs, key: 0 });
  }
  return out;
}

const one = () => 0;

export interface ScenarioOptions {
  /** Shorter runs (the CI set). */
  durationMs?: number;
}

export function scenarios(options: ScenarioOptions = {}): Scenario[] {
  const d = options.durationMs ?? 20_000;
  const common = { start: START, durationMs: d, skewMs: 50 };
  return [
    {
      ...common,
      name: "steady, fixed 1000/10s",
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "steady, sliding 1000/10s",
      specsFor: () => [sliding("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "steady, token bucket 100/s burst 200",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "steady, day window 100000/day",
      specsFor: () => [fixed("api-1d", 100_000, 86_400_000)],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      name: "steady, three limits (1s, 1m, bucket)",
      specsFor: () => [fixed("api-1s", 150, 1_000), fixed("api-1m", 6_000, 60_000), bucket("api-b", 100, 1_000, 300)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "login 50/15min (no leases)",
      specsFor: () => [fixed("login-15m", 50, 900_000)],
      arrivals: (r) => poisson(r, 20, d, one),
    },
    {
      ...common,
      name: "bursty, fixed 1000/10s",
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => bursts(r, 400, 20, 3_000, d),
    },
    {
      ...common,
      name: "bursty, token bucket 100/s burst 500",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 500)],
      arrivals: (r) => bursts(r, 400, 20, 3_000, d),
    },
    {
      ...common,
      name: "Zipf keys (1000, s=1.1), fixed 100/10s",
      specsFor: () => [fixed("api-10s", 100, 10_000)],
      arrivals: (r) => poisson(r, 1_000, d, zipf(r, 1_000, 1.1)),
    },
    {
      ...common,
      name: "Zipf keys (1000, s=1.1), sliding 300/10s",
      specsFor: () => [sliding("api-10s", 300, 10_000)],
      arrivals: (r) => poisson(r, 1_000, d, zipf(r, 1_000, 1.1)),
    },
    {
      ...common,
      name: "charges given back (70% failures-only successes), fixed",
      refundShare: 0.7,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 600, d, one),
    },
    {
      ...common,
      name: "charges given back (70% failures-only successes), sliding",
      refundShare: 0.7,
      specsFor: () => [sliding("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 600, d, one),
    },
    {
      ...common,
      name: "charges given back (70% failures-only successes), bucket",
      refundShare: 0.7,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 500)],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      name: "isolates die holding leases, fixed",
      deaths: 0.5,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "isolates die holding leases, bucket",
      deaths: 0.5,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "policy change mid-window (1000 -> 400 /10s)",
      specsFor: (_key, at) => [fixed("api-10s", at < d / 2 ? 1_000 : 400, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "policy change mid-window (bucket 100/s -> 40/s)",
      specsFor: (_key, at) =>
        at < d / 2 ? [bucket("api-bucket", 100, 1_000, 200)] : [bucket("api-bucket", 40, 1_000, 100)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "object restart mid-window, fixed",
      restartAt: d / 2 + 123,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "object restart mid-window, bucket",
      restartAt: d / 2 + 123,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "reset (DELETE /keys) mid-window, fixed",
      resetAt: d / 2 + 2_345,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "reset (DELETE /keys) mid-window, bucket",
      resetAt: d / 2 + 2_345,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
  ];
}

/** `perSecond` on average, arriving in bursts: every `everyMs`, that period's requests within `spreadMs`. */
function burstsAtRate(
  random: () => number,
  perSecond: number,
  everyMs: number,
  spreadMs: number,
  durationMs: number,
): Arrival[] {
  const out: Arrival[] = [];
  const size = Math.round((perSecond * everyMs) / 1_000);
  for (let start = 0; start < durationMs; start += everyMs) {
    for (let i = 0; i < size; i++) out.push({ t: start + random() * spreadMs, key: 0 });
  }
  return out;
}

export interface HotKeyOptions {
  name: string;
  /** Requests per second, on average. */
  rate: number;
  isolates: number;
  /** Shard objects of the key (absent: the key's one object, as without a tree). */
  shards?: number;
  durationMs: number;
  specs: CounterSpec[];
  /** Poisson arrivals, or every 250 ms that period's requests within 25 ms. */
  arrivals: "steady" | "bursty";
  restartAt?: number;
  resetAt?: number;
}

/**
 * One hot key, with or without a tree of leases. Isolates remember refusals
 * as the engine does, so a used-up key does not cost a call per request
 * (flat and tree alike).
 */
export function hotKey(o: HotKeyOptions): Scenario {
  return {
    name: o.name,
    start: START,
    durationMs: o.durationMs,
    skewMs: 50,
    rememberRefusals: true,
    isolates: o.isolates,
    ...(o.shards ? { shards: o.shards } : {}),
    ...(o.restartAt !== undefined ? { restartAt: o.restartAt } : {}),
    ...(o.resetAt !== undefined ? { resetAt: o.resetAt } : {}),
    specsFor: () => o.specs,
    arrivals: (r) =>
      o.arrivals === "steady" ? poisson(r, o.rate, o.durationMs, one) : burstsAtRate(r, o.rate, 250, 25, o.durationMs),
  };
}

/**
 * The tree of leases at one hot key: 10,000 requests/s (ten times one
 * object's soft limit) from 256 isolates, through 16 shards and, to compare,
 * straight to one object; 100,000 requests/s on paper. Limits are used up
 * within each window, so the runs are exact at the limit.
 */
export function treeScenarios(options: ScenarioOptions = {}): Scenario[] {
  const durationMs = options.durationMs ?? 20_000;
  const hot = { durationMs, rate: 10_000, isolates: 256 };
  const tree = { ...hot, shards: 16 };
  const fixed10s = [fixed("api-10s", 90_000, 10_000)];
  const sliding10s = [sliding("api-10s", 90_000, 10_000)];
  return [
    hotKey({ ...tree, name: "tree: 10k/s steady, fixed 90000/10s", specs: fixed10s, arrivals: "steady" }),
    hotKey({ ...hot, name: "flat: 10k/s steady, fixed 90000/10s", specs: fixed10s, arrivals: "steady" }),
    hotKey({ ...tree, name: "tree: 10k/s bursty, fixed 90000/10s", specs: fixed10s, arrivals: "bursty" }),
    hotKey({ ...hot, name: "flat: 10k/s bursty, fixed 90000/10s", specs: fixed10s, arrivals: "bursty" }),
    hotKey({ ...tree, name: "tree: 10k/s steady, sliding 90000/10s", specs: sliding10s, arrivals: "steady" }),
    hotKey({ ...hot, name: "flat: 10k/s steady, sliding 90000/10s", specs: sliding10s, arrivals: "steady" }),
    hotKey({
      ...tree,
      name: "tree: 10k/s steady, token bucket 8000/s burst 20000",
      specs: [bucket("api-bucket", 8_000, 1_000, 20_000)],
      arrivals: "steady",
    }),
    hotKey({
      ...tree,
      name: "tree: 10k/s, every object restarts mid-window, fixed",
      restartAt: durationMs / 2 + 123,
      specs: fixed10s,
      arrivals: "steady",
    }),
    hotKey({
      ...tree,
      name: "tree: 10k/s, reset (DELETE /keys) mid-window, fixed",
      resetAt: durationMs / 2 + 2_345,
      specs: fixed10s,
      arrivals: "steady",
    }),
    hotKey({
      durationMs,
      rate: 100_000,
      isolates: 1_024,
      shards: 80,
      name: "tree: 100k/s steady, fixed 900000/10s (on paper)",
      specs: [fixed("api-10s", 900_000, 10_000)],
      arrivals: "steady",
    }),
  ];
}
