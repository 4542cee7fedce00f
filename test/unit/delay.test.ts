/**
 * Delay instead of refuse (`onLimit.delay`), the pure decision with injected
 * time: a refused request whose room comes back within the bound is charged
 * now for its slot and told how long to wait; past the bound, or past the cap
 * of waiting requests, it is refused. Every admission is replayed at the time
 * it is used (decision + delay) through the plain algorithm, which must admit
 * every one: no request is forwarded before its slot, and none over the limit.
 */
import { describe, expect, it } from "vitest";
import { decide, giveBack } from "../../src/limiter/decide";
import { keepReserved, waitingAt, waitingListOf } from "../../src/limiter/delay";
import { decideWithShadowAndPenalties, type PenaltySpec } from "../../src/limiter/penalty";
import type { CounterSpec, CounterState, DelaySpec } from "../../src/limiter/types";

const T = 1_740_009_600_000; // a multiple of 1 s and 1 min

type States = Map<string, CounterState>;

const bucket: CounterSpec = { name: "api-1s", algorithm: "token-bucket", limit: 10, windowMs: 1_000, cost: 1 };
const fixed: CounterSpec = { name: "api-1s", algorithm: "fixed", limit: 5, windowMs: 1_000, cost: 1 };
const sliding: CounterSpec = { name: "api-1s", algorithm: "sliding", limit: 10, windowMs: 1_000, cost: 1 };
const conc: CounterSpec = { name: "api-conc", algorithm: "concurrency", limit: 1, windowMs: 0, cost: 1 };

const delay = (maxMs: number, maxWaiting = 100): DelaySpec => ({ maxMs, maxWaiting, name: "api:waiting" });

interface Admission {
  /** When the store decided. */
  decidedAt: number;
  /** When the request may be used (forwarded): the decision plus its delay. */
  usedAt: number;
}

/** A store of one key: decides each request at its time, applying the updates as the object does. */
class Key {
  states: States = new Map();
  admissions: Admission[] = [];
  refused = 0;
  constructor(
    readonly specs: CounterSpec[],
    readonly spec?: DelaySpec,
  ) {}
  request(now: number, withDelay = true) {
    const d = decide(this.states, this.specs, now, "", [], 0, withDelay ? this.spec : undefined);
    for (const [k, v] of d.updates) this.states.set(k, v);
    if (d.outcome.allowed) this.admissions.push({ decidedAt: now, usedAt: now + (d.outcome.delayMs ?? 0) });
    else this.refused++;
    return d.outcome;
  }
}

/** Replays the admissions at their use times, in time order, through the plain algorithm: the ones it refuses. */
function overAdmissions(specs: CounterSpec[], admissions: readonly Admission[]): number[] {
  const states: States = new Map();
  const refused: number[] = [];
  for (const a of [...admissions].sort((x, y) => x.usedAt - y.usedAt)) {
    const d = decide(states, specs, a.usedAt, "");
    if (!d.outcome.allowed) refused.push(a.usedAt);
    for (const [k, v] of d.updates) states.set(k, v);
  }
  return refused;
}

describe("token bucket: a burst of twice the bucket", () => {
  it("admits all within the bound, the second half each at its own slot, none early", () => {
    const key = new Key([bucket], delay(2_000));
    const outcomes = Array.from({ length: 20 }, () => key.request(T));
    expect(outcomes.every((o) => o.allowed)).toBe(true);
    // The bucket's 10 at once, then one token per 100 ms.
    expect(outcomes.map((o) => o.delayMs ?? 0)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000,
    ]);
    expect(overAdmissions([bucket], key.admissions)).toEqual([]);
    // A delayed request used one ms before its slot is one too many.
    const early = key.admissions.map((a, i) => (i === 19 ? { ...a, usedAt: a.usedAt - 1 } : a));
    expect(overAdmissions([bucket], early)).toHaveLength(1);
  });

  it("refuses past the bound: a bound of 500 ms delays five of the second ten", () => {
    const key = new Key([bucket], delay(500));
    const outcomes = Array.from({ length: 20 }, () => key.request(T));
    expect(outcomes.filter((o) => o.allowed)).toHaveLength(15);
    expect(outcomes[14]!.delayMs).toBe(500);
    expect(outcomes[15]!.allowed).toBe(false);
    expect(outcomes[15]!.results[0]!.retryAfterMs).toBe(600);
    expect(overAdmissions([bucket], key.admissions)).toEqual([]);
  });

  it("a reserved slot is not taken by a later request: a plain one is refused, a delayed one waits behind it", () => {
    const key = new Key([bucket], delay(2_000));
    for (let i = 0; i < 10; i++) key.request(T);
    expect(key.request(T).delayMs).toBe(100);
    expect(key.request(T + 50, false).allowed).toBe(false);
    expect(key.request(T + 50).delayMs).toBe(150); // slot at T + 200
    expect(key.request(T + 200, false).allowed).toBe(false);
    expect(key.request(T + 300, false).allowed).toBe(true); // the token of T + 300 is free
    expect(overAdmissions([bucket], key.admissions)).toEqual([]);
  });

  it("at most maxWaiting wait at once; one more waits once a slot has passed", () => {
    const key = new Key([bucket], delay(2_000, 3));
    for (let i = 0; i < 10; i++) key.request(T);
    const waiting = [key.request(T), key.request(T), key.request(T), key.request(T)];
    expect(waiting.map((o) => o.delayMs ?? "refused")).toEqual([100, 200, 300, "refused"]);
    expect(waiting[3]!.allowed).toBe(false);
    expect(key.request(T + 99).allowed).toBe(false); // still three waiting
    expect(key.request(T + 100).delayMs).toBe(300); // the first has gone: slot at T + 400
    expect(overAdmissions([bucket], key.admissions)).toEqual([]);
  });

  it("a cost larger than the bucket is never delayed", () => {
    const key = new Key([{ ...bucket, cost: 11 }], delay(60_000));
    expect(key.request(T).allowed).toBe(false);
  });
});

describe("fixed window: the slot is the next window's start", () => {
  it("delays the limit's worth into the next window, refuses the rest, and the next window starts with them", () => {
    const key = new Key([fixed], delay(2_000));
    const outcomes = Array.from({ length: 11 }, () => key.request(T + 200));
    expect(outcomes.map((o) => (o.allowed ? (o.delayMs ?? 0) : "refused"))).toEqual([
      0,
      0,
      0,
      0,
      0,
      800,
      800,
      800,
      800,
      800,
      "refused",
    ]);
    // The next window holds the 5 reserved: nothing else in it, delayed or not.
    expect(key.request(T + 1_000, false).allowed).toBe(false);
    expect(key.request(T + 1_500).delayMs).toBe(500); // into the window after
    expect(overAdmissions([fixed], key.admissions)).toEqual([]);
  });

  it("the current window's room is left to plain requests: a reservation charges only the next window", () => {
    const key = new Key([fixed], delay(2_000));
    for (let i = 0; i < 5; i++) key.request(T);
    key.request(T + 100);
    // A later plain request of the current window is still refused (5 used), not helped by the reservation.
    expect(key.request(T + 200, false).allowed).toBe(false);
    expect(key.states.get("api-1s")).toMatchObject({ windowStart: T, count: 5, next: 1 });
  });

  it("not past the bound: a slot 800 ms away with a bound of 500 ms is refused", () => {
    const key = new Key([fixed], delay(500));
    for (let i = 0; i < 5; i++) key.request(T + 200);
    expect(key.request(T + 200).allowed).toBe(false);
    expect(key.request(T + 600).delayMs).toBe(400);
  });

  it("a reserved unit given back (a failures-only success, a rollback) frees its place in the next window", () => {
    const key = new Key([fixed], delay(2_000));
    for (let i = 0; i < 5; i++) key.request(T);
    const reserved = key.request(T + 100);
    expect(reserved.charges[0]).toMatchObject({ windowStart: T + 1_000 });
    for (const [k, v] of giveBack(key.states, reserved.charges, T + 150)) key.states.set(k, v);
    expect(key.states.get("api-1s")).toMatchObject({ count: 5, next: 0 });
    // After the window turns, the charge is in the current window and is given back there.
    const again = key.request(T + 200);
    for (const [k, v] of giveBack(key.states, again.charges, T + 1_100)) key.states.set(k, v);
    expect(key.states.get("api-1s")).toMatchObject({ windowStart: T + 1_000, count: 0 });
  });
});

describe("sliding window: only within the current window", () => {
  it("delays until the previous window's weight has fallen enough, and refuses what would need the next window", () => {
    const key = new Key([sliding], delay(60_000));
    for (let i = 0; i < 10; i++) key.request(T + 900);
    // At T + 1000 the previous window (10) weighs 10; at T + 1100 it weighs 9: one more fits.
    const first = key.request(T + 1_000);
    expect(first.delayMs).toBe(100);
    const outcomes = Array.from({ length: 9 }, () => key.request(T + 1_000));
    // The k-th of this window fits from T + 1000 + 100k: eight more before the window ends (the
    // ninth at T + 1900); the tenth would need the next window.
    expect(outcomes.map((o) => o.delayMs ?? "refused")).toEqual([200, 300, 400, 500, 600, 700, 800, 900, "refused"]);
    expect(overAdmissions([sliding], key.admissions)).toEqual([]);
  });
});

describe("what does not delay", () => {
  it("a concurrency slot", () => {
    const key = new Key([conc], delay(60_000));
    expect(key.request(T).allowed).toBe(true);
    expect(key.request(T).allowed).toBe(false);
  });

  it("a request with a concurrency slot beside a bucket", () => {
    const key = new Key([bucket, conc], delay(60_000));
    expect(key.request(T).allowed).toBe(true);
    expect(key.request(T).allowed).toBe(false);
  });

  it("a running penalty, and a refusal past the bound starts one", () => {
    const penalty: PenaltySpec = { name: "api:penalty", counters: [bucket.name], durationMs: 10_000 };
    const states: States = new Map();
    const run = (now: number) => {
      const d = decideWithShadowAndPenalties(states, [bucket], [], [penalty], now, "", 0, delay(300));
      for (const [k, v] of d.updates) states.set(k, v);
      return d.outcome;
    };
    for (let i = 0; i < 10; i++) run(T);
    expect([run(T).delayMs, run(T).delayMs, run(T).delayMs]).toEqual([100, 200, 300]);
    expect(run(T).allowed).toBe(false); // past the bound: refused, and boxed
    expect(run(T + 5_000).results[0]!.penaltyUntil).toBe(T + 10_000);
  });
});

describe("several counters, shadow counters", () => {
  it("waits for the latest room among them, and charges a fixed window of room in the slot's window", () => {
    const daily: CounterSpec = { name: "api-1d", algorithm: "fixed", limit: 100, windowMs: 86_400_000, cost: 1 };
    const key = new Key([bucket, daily], delay(2_000));
    const outcomes = Array.from({ length: 15 }, () => key.request(T));
    expect(outcomes.every((o) => o.allowed)).toBe(true);
    expect(key.states.get("api-1d")).toMatchObject({ count: 15 });
    expect(overAdmissions([bucket, daily], key.admissions)).toEqual([]);
  });

  it("a shadow counter is charged at the slot", () => {
    const shadow: CounterSpec = { ...bucket, name: "shadow-1s", limit: 100, burst: 100 };
    const states: States = new Map();
    for (let i = 0; i < 11; i++) {
      const d = decide(states, [bucket], T, "", [shadow], 0, delay(2_000));
      for (const [k, v] of d.updates) states.set(k, v);
      if (i === 10) expect(d.outcome.charges.map((c) => c.chargedAt)).toEqual([T + 100, T + 100]);
    }
  });
});

describe("exact under any interleaving (seeded, against the plain algorithm at the use times)", () => {
  const specsOf: Record<string, CounterSpec[]> = {
    bucket: [{ ...bucket, burst: 15 }],
    fixed: [fixed],
    sliding: [sliding],
    "bucket+fixed": [bucket, { ...fixed, name: "api-1m", limit: 40, windowMs: 60_000 }],
    cost3: [{ ...bucket, cost: 3, burst: 12 }],
  };
  for (const [name, specs] of Object.entries(specsOf)) {
    it(`${name}: random arrivals, some delaying, some plain: no over-admission`, () => {
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let run = 0; run < 20; run++) {
        const key = new Key(specs, delay(Math.floor(random() * 1_500) + 1, Math.floor(random() * 20) + 1));
        let now = T + Math.floor(random() * 1_000);
        for (let i = 0; i < 300; i++) {
          now += Math.floor(random() * random() * 120);
          key.request(now, random() < 0.8);
        }
        expect(overAdmissions(specs, key.admissions)).toEqual([]);
        expect(key.admissions.some((a) => a.usedAt > a.decidedAt)).toBe(true);
        expect(key.refused).toBeGreaterThan(0);
      }
    });
  }
});

describe("a reset while requests are held (DELETE /keys)", () => {
  it("keeps a fixed window's next-window reservations charged, and empties the current window", () => {
    const key = new Key([fixed], delay(2_000));
    for (let i = 0; i < 7; i++) key.request(T + 200);
    const waiting = waitingAt(key.states.get(waitingListOf("api-1s")), T + 300);
    expect(waiting).toEqual([T + 1_000, T + 1_000]);
    const kept = keepReserved(key.states.get("api-1s"), waiting, 1);
    expect(kept).toEqual({ algorithm: "fixed", windowStart: T, count: 0, next: 2, epoch: 1 });
    key.states.set("api-1s", kept!);
    // The current window is free again; the next one starts with the 2 held.
    for (let i = 0; i < 5; i++) expect(key.request(T + 400, false).allowed).toBe(true);
    for (let i = 0; i < 3; i++) expect(key.request(T + 1_000, false).allowed).toBe(true);
    expect(key.request(T + 1_000, false).allowed).toBe(false);
  });

  it("keeps a bucket as it is while a request is held, and nothing once none is", () => {
    const key = new Key([bucket], delay(2_000));
    for (let i = 0; i < 11; i++) key.request(T);
    const state = key.states.get("api-1s")!;
    expect(keepReserved(state, waitingAt(key.states.get("api:waiting"), T + 50), 1)).toEqual({ ...state, epoch: 1 });
    expect(keepReserved(state, waitingAt(key.states.get("api:waiting"), T + 100), 1)).toBeUndefined();
  });
});
