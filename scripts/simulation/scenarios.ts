/**
 * The simulated workloads: steady, bursty and Zipf-distributed keys over
 * every algorithm that leases, and the faults (isolates dying with leases,
 * skewed clocks, a policy change, an object restart, a reset) mid-window.
 */
import type { CounterSpec } from "../../src/limiter/types";
import { exponential, seeded, zipf } from "./random";
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

/**
 * The harsher world: faults the first set does not have. Lost and late
 * answers (up to seconds), clocks that drift and step, a staged rollout with
 * two policy versions live in different isolates, resets with refunds that
 * arrive seconds later, and restarts at random points.
 */
export function harshScenarios(options: ScenarioOptions = {}): Scenario[] {
  const d = options.durationMs ?? 20_000;
  const common = { start: START, durationMs: d, skewMs: 50 };
  const lossy = { loss: 0.03, lostAfterMs: 1_500, late: { share: 0.05, maxMs: 3_000 } };
  const clocks = { driftMsPerS: 5, clockSteps: { count: 3, maxMs: 300 } };
  const lateRefunds = {
    refundShare: 0.5,
    refundAfterMs: { min: 0, max: 3_000 },
    resetAt: [d / 3 + 77, (2 * d) / 3 + 1],
  };
  return [
    {
      ...common,
      ...lossy,
      name: "lost (3%) and late (5%, up to 3 s) answers, fixed",
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      ...lossy,
      name: "lost (3%) and late (5%, up to 3 s) answers, bucket",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      ...clocks,
      name: "clocks drift (±5 ms/s) and step forward (up to 300 ms), sliding",
      specsFor: () => [sliding("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      ...clocks,
      name: "clocks drift (±5 ms/s) and step forward (up to 300 ms), bucket",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "staged rollout over 3 s (1000 -> 400 /10s)",
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      rollout: { at: d / 2 - 1_000, spreadMs: 3_000, specsFor: () => [fixed("api-10s", 400, 10_000)] },
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      name: "staged rollout over 3 s (bucket 100/s -> 40/s)",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      rollout: { at: d / 2 - 1_000, spreadMs: 3_000, specsFor: () => [bucket("api-bucket", 40, 1_000, 100)] },
      arrivals: (r) => poisson(r, 300, d, one),
    },
    {
      ...common,
      ...lateRefunds,
      name: "resets with late refunds (50%, up to 3 s), fixed",
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      ...lateRefunds,
      name: "resets with late refunds (50%, up to 3 s), bucket",
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      name: "isolates and objects die at random points, sliding",
      deaths: 0.5,
      objectRestarts: 3,
      specsFor: () => [sliding("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, d, one),
    },
  ];
}

/** A hot key through a tree, with refunds and rollbacks, lost and late answers, and shards dying. */
export function harshTreeScenarios(options: ScenarioOptions = {}): Scenario[] {
  const durationMs = options.durationMs ?? 20_000;
  const load = { durationMs, rate: 2_000, isolates: 32, shards: 4 };
  const harsh = {
    refundShare: 0.3,
    refundAfterMs: { min: 0, max: 2_000 },
    loss: 0.02,
    lostAfterMs: 1_500,
    late: { share: 0.03, maxMs: 2_000 },
    shardRestarts: 4,
    driftMsPerS: 5,
  };
  return [
    {
      ...hotKey({
        ...load,
        name: "tree: refunds, faults, fixed 6000/10s",
        specs: [fixed("api-10s", 6_000, 10_000)],
        arrivals: "steady",
      }),
      ...harsh,
    },
    {
      ...hotKey({
        ...load,
        name: "tree: refunds, faults, reset, sliding 6000/10s",
        specs: [sliding("api-10s", 6_000, 10_000)],
        arrivals: "bursty",
        resetAt: durationMs / 2 + 345,
      }),
      ...harsh,
    },
    {
      ...hotKey({
        ...load,
        name: "tree: refunds, faults, bucket 1000/s burst 3000",
        specs: [bucket("api-bucket", 1_000, 1_000, 3_000)],
        arrivals: "steady",
      }),
      ...harsh,
    },
  ];
}

/**
 * One random world, all drawn from `seed`: an algorithm (or three limits on
 * one key), flat or a tree, a load that may or may not use the limit up,
 * and any mix of the faults. `npm run simulate -- --seed N` replays it.
 */
export function randomScenario(seed: number, durationMs = 5_000): { scenario: Scenario; isolates: number } {
  const r = seeded(seed * 2_654_435_761 + 12_345);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const tree = chance(0.35);
  const rate = tree ? pick([800, 1_500, 3_000]) : pick([50, 200, 500, 1_000]);
  const isolates = tree ? pick([8, 16, 32]) : pick([1, 4, 16, 32]);
  // Limits from a quarter to twice the demand of their window.
  const scale = 0.25 + r() * 1.75;
  const windowMs = pick([1_000, 2_000, 10_000]);
  const windowLimit = Math.max(1, Math.round(rate * (windowMs / 1_000) * scale));
  const rateLimit = Math.max(1, Math.round(rate * scale));
  const kinds = tree ? ["fixed", "sliding", "bucket"] : ["fixed", "sliding", "bucket", "three"];
  const kind = pick(kinds);
  const bucketSpec = () => bucket("r-bucket", rateLimit, 1_000, Math.round(rateLimit * (1 + r() * 3)));
  const base: CounterSpec[] =
    kind === "fixed"
      ? [fixed("r-w", windowLimit, windowMs)]
      : kind === "sliding"
        ? [sliding("r-w", windowLimit, windowMs)]
        : kind === "bucket"
          ? [bucketSpec()]
          : [
              fixed("r-1s", Math.max(1, Math.round(rate * scale * 1.5)), 1_000),
              fixed("r-10s", windowLimit * 2, 10_000),
              bucketSpec(),
            ];
  const lowered = base.map((s) => ({
    ...s,
    limit: Math.max(1, Math.floor(s.limit / 2)),
    ...(s.burst ? { burst: Math.max(Math.floor(s.limit / 2), Math.floor(s.burst / 2)) } : {}),
  }));
  const keys = !tree && chance(0.3) ? pick([3, 20]) : 1;
  const d = durationMs;
  const scenario: Scenario = {
    name: `random seed ${seed}: ${tree ? "tree" : "flat"}, ${kind}${keys > 1 ? `, ${keys} keys` : ""}`,
    start: START + Math.floor(r() * 10_000),
    durationMs: d,
    skewMs: 50,
    specsFor: () => base,
    arrivals: (rr) =>
      chance(0.5)
        ? poisson(rr, rate, d, () => Math.floor(rr() * keys))
        : burstsAtRate(rr, rate, pick([100, 250, 600]), pick([5, 25]), d).map((a) => ({
            ...a,
            key: Math.floor(rr() * keys),
          })),
    rememberRefusals: tree || chance(0.3),
    ...(tree ? { shards: pick([2, 4]), shardRestarts: chance(0.5) ? 3 : 0 } : {}),
    ...(chance(0.6) ? { refundShare: r() * 0.7, refundAfterMs: { min: 0, max: pick([50, 500, 3_000]) } } : {}),
    ...(chance(0.4)
      ? { loss: r() * 0.05, lostAfterMs: pick([300, 1_500]), late: { share: r() * 0.1, maxMs: pick([500, 3_000]) } }
      : {}),
    ...(chance(0.4)
      ? { driftMsPerS: pick([1, 5, 10]), clockSteps: { count: pick([1, 3]), maxMs: pick([50, 500]) } }
      : {}),
    ...(chance(0.3) ? { deaths: r() * 0.5 } : {}),
    ...(chance(0.3) ? { objectRestarts: pick([1, 2]) } : {}),
    ...(chance(0.35) ? { resetAt: [Math.floor(r() * d)] } : {}),
    ...(chance(0.3)
      ? { rollout: { at: Math.floor(r() * d * 0.7), spreadMs: pick([0, 1_000, 3_000]), specsFor: () => lowered } }
      : {}),
  };
  return { scenario, isolates };
}

/**
 * Runs built to give a timing bug its chance (random traffic alone is weak at
 * them): each must show 0 over-admissions on the real code, and the mutant
 * it is named for (scripts/simulation/mutants.ts) must be caught on it.
 */
export function targetedScenarios(): Scenario[] {
  return [
    {
      // A trickle keeps leases out with room to spare; at every other window's start a burst far above the limit.
      name: "fixed 1000/1s, a burst at every other window's start (leases out at its end)",
      start: START,
      durationMs: 6_000,
      skewMs: 50,
      specsFor: () => [fixed("api-1s", 1_000, 1_000)],
      arrivals: (r) => {
        const out = poisson(r, 300, 6_000, one);
        for (let t = 0; t < 6_000; t += 2_000)
          for (let i = 0; i < 1_500; i++) out.push({ t: t + 5 + r() * 40, key: 0 });
        return out;
      },
    },
    bucketLeaseEnds(8_000),
    {
      name: "charges given back (70%), fixed 1000/10s used up",
      start: START,
      durationMs: 8_000,
      skewMs: 50,
      refundShare: 0.7,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 1_500, 8_000, one),
    },
    {
      name: "charges given back (70%), bucket 100/s burst 500 used up",
      start: START,
      durationMs: 8_000,
      skewMs: 50,
      refundShare: 0.7,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 500)],
      arrivals: (r) => poisson(r, 1_000, 8_000, one),
    },
    {
      // Reset 2.3 s into a window with leases out; the rest of the window uses the limit up again.
      name: "reset with leases out, then the window used up, fixed 1000/10s",
      start: START,
      durationMs: 14_000,
      skewMs: 50,
      resetAt: 6_345,
      specsFor: () => [fixed("api-10s", 1_000, 10_000)],
      arrivals: (r) => poisson(r, 300, 14_000, one),
    },
  ];
}

/**
 * A bucket whose isolates hold leases when a burst comes at the end of their
 * lifetime: a trickle below the rate keeps the key hot (leases of a second are
 * granted and partly used), then a burst far above the burst size. Leases
 * charged at their grant rather than at the end of their lifetime admit the
 * held units on top of a bucket that refilled meanwhile.
 */
export function bucketLeaseEnds(durationMs: number): Scenario {
  return {
    name: "bucket 100/s burst 800, bursts at the end of leases",
    start: START,
    durationMs,
    skewMs: 50,
    specsFor: () => [bucket("api-bucket", 100, 1_000, 800)],
    arrivals: (r) => {
      const out = poisson(r, 60, durationMs, one);
      for (let t = 900 + r() * 200; t < durationMs; t += 2_000 + r() * 1_000) {
        for (let i = 0; i < 1_500; i++) out.push({ t: t + r() * 10, key: 0 });
      }
      return out;
    },
  };
}

/**
 * Rules with `onLimit.delay`: every request is decided at its key's object,
 * which reserves a held request's slot; the isolate forwards it when it has
 * waited the answer's delay (that is when the judge counts it). Bursts well
 * over each limit, so requests are held and refused past the bound and the cap.
 */
export function delayScenarios(options: ScenarioOptions = {}): Scenario[] {
  const d = options.durationMs ?? 20_000;
  const common = { start: START, durationMs: d, skewMs: 50 };
  const delay = (maxMs: number, maxWaiting = 100) => ({ maxMs, maxWaiting, name: "api:waiting" });
  const bursty = (rate: number) => (r: () => number) => burstsAtRate(r, rate, 250, 25, d);
  return [
    {
      ...common,
      name: "delay 2s, bursty, token bucket 100/s burst 200",
      delay: delay(2_000),
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: bursty(300),
    },
    {
      ...common,
      name: "delay 1s, bursty, fixed 100/1s",
      delay: delay(1_000),
      specsFor: () => [fixed("api-1s", 100, 1_000)],
      arrivals: bursty(300),
    },
    {
      ...common,
      name: "delay 500ms, bursty, resets, sliding 200/1s",
      delay: delay(500),
      resetAt: [d / 3 + 77, (2 * d) / 3 + 1],
      specsFor: () => [sliding("api-1s", 200, 1_000)],
      arrivals: bursty(400),
    },
    {
      ...common,
      name: "delay 2s cap 20, bucket and fixed together",
      delay: delay(2_000, 20),
      specsFor: () => [bucket("api-bucket", 50, 1_000, 100), fixed("api-1m", 2_000, 60_000)],
      arrivals: bursty(200),
    },
    {
      ...common,
      name: "delay 2s with refunds, lost and late answers, restarts, resets, isolates dying, bucket",
      delay: delay(2_000),
      resetAt: [d / 3 + 77, (2 * d) / 3 + 1],
      refundShare: 0.3,
      refundAfterMs: { min: 0, max: 2_000 },
      loss: 0.03,
      lostAfterMs: 1_500,
      late: { share: 0.05, maxMs: 3_000 },
      objectRestarts: 3,
      deaths: 0.3,
      specsFor: () => [bucket("api-bucket", 100, 1_000, 200)],
      arrivals: bursty(300),
    },
    {
      ...common,
      name: "delay 1s with refunds, lost and late answers, restarts, resets, fixed",
      delay: delay(1_000),
      resetAt: [d / 3 + 77, (2 * d) / 3 + 1],
      refundShare: 0.3,
      refundAfterMs: { min: 0, max: 2_000 },
      loss: 0.03,
      lostAfterMs: 1_500,
      late: { share: 0.05, maxMs: 3_000 },
      objectRestarts: 3,
      specsFor: () => [fixed("api-1s", 100, 1_000)],
      arrivals: bursty(300),
    },
  ];
}

/**
 * Reserve, then settle: every request charged an estimate of 10 and settled later at its real cost:
 * 20% nothing (a 5xx), 30% up to 4 times the estimate (a long answer: a debt once the limit is near),
 * the rest a little under it. Decided at the key's object, as the engine decides a settling key.
 */
export function settleScenarios(options: ScenarioOptions = {}): Scenario[] {
  const d = options.durationMs ?? 20_000;
  const common = { start: START, durationMs: d, skewMs: 50 };
  const estimate = 10;
  const settle = (maxMs: number) => ({
    afterMs: { min: 0, max: maxMs },
    actual: (r: () => number, cost: number) => {
      const u = r();
      if (u < 0.2) return 0;
      if (u < 0.5) return Math.floor(r() * 4 * cost) + 1;
      return Math.max(1, cost - Math.floor(r() * 3));
    },
  });
  const costly = (spec: CounterSpec): CounterSpec => ({ ...spec, cost: estimate });
  return [
    {
      ...common,
      name: "settle (estimate 10, 0 to 40), fixed 2000/10s",
      settle: settle(500),
      specsFor: () => [costly(fixed("llm-10s", 2_000, 10_000))],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      name: "settle late (up to 3 s), sliding 2000/10s",
      settle: settle(3_000),
      specsFor: () => [costly(sliding("llm-10s", 2_000, 10_000))],
      arrivals: (r) => poisson(r, 400, d, one),
    },
    {
      ...common,
      name: "settle, token bucket 1000/s burst 3000",
      settle: settle(1_000),
      specsFor: () => [costly(bucket("llm-bucket", 1_000, 1_000, 3_000))],
      arrivals: (r) => poisson(r, 200, d, one),
    },
    {
      ...common,
      name: "settle with lost and late answers, restarts, resets, isolates dying, fixed and bucket",
      settle: settle(2_000),
      resetAt: [d / 3 + 77, (2 * d) / 3 + 1],
      loss: 0.03,
      lostAfterMs: 1_500,
      late: { share: 0.05, maxMs: 3_000 },
      objectRestarts: 3,
      deaths: 0.3,
      specsFor: () => [costly(bucket("llm-bucket", 500, 1_000, 1_500)), costly(fixed("llm-1m", 20_000, 60_000))],
      arrivals: (r) => poisson(r, 300, d, one),
    },
  ];
}
