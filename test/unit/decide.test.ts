/**
 * decide(): every counter checked, all charged or none; the charges it hands
 * out carry what giveBack needs; giveBack refunds to the right window;
 * peekOne charges nothing.
 */
import { describe, expect, it } from "vitest";
import { decide, giveBack, peekOne } from "../../src/limiter/decide";
import { stateExpiresAt } from "../../src/limiter/expiry";
import { type CounterSpec, type CounterState, LEASE_TTL_MS } from "../../src/limiter/types";

const T = 1_740_009_600_000; // a multiple of 1 s, 1 min and 15 min
const MIN = 60_000;

const fixed: CounterSpec = { name: "api-1m", algorithm: "fixed", limit: 3, windowMs: MIN, cost: 1 };
const daily: CounterSpec = { name: "api-1d", algorithm: "fixed", limit: 100, windowMs: 86_400_000, cost: 1 };
const sliding: CounterSpec = { name: "api-15m", algorithm: "sliding", limit: 10, windowMs: 15 * MIN, cost: 1 };
const bucket: CounterSpec = {
  name: "api-1s",
  algorithm: "token-bucket",
  limit: 20,
  windowMs: 1_000,
  burst: 40,
  cost: 1,
};
const conc: CounterSpec = { name: "api-conc", algorithm: "concurrency", limit: 2, windowMs: 0, cost: 1 };
const all = [fixed, daily, sliding, bucket, conc];

type States = Map<string, CounterState>;

/** Applies a decision's updates to a state map (what the Durable Object does). */
function apply(states: States, updates: ReadonlyMap<string, CounterState>): States {
  const next = new Map(states);
  for (const [k, v] of updates) next.set(k, v);
  return next;
}

function run(states: States, specs: readonly CounterSpec[], now: number, leaseId: string) {
  const d = decide(states, specs, now, leaseId);
  return { ...d, states: apply(states, d.updates) };
}

describe("decide", () => {
  it("admits when every counter has room and charges every one of them", () => {
    const d = decide(new Map(), all, T + 5, "lease-1");
    expect(d.outcome.allowed).toBe(true);
    expect(d.outcome.results.map((r) => r.allowed)).toEqual([true, true, true, true, true]);
    expect([...d.updates.keys()]).toEqual(all.map((s) => s.name));
    expect(d.outcome.charges.map((c) => c.name)).toEqual(all.map((s) => s.name));
    expect(d.outcome.results.map((r) => r.remaining)).toEqual([2, 99, 9, 39, 1]);
  });

  it("puts the window start into fixed and sliding charges, the lease id into a concurrency charge, and its time and reach into a bucket's", () => {
    const d = decide(new Map(), all, T + 5, "lease-1");
    const byName = new Map(d.outcome.charges.map((c) => [c.name, c]));
    expect(byName.get("api-1m")).toEqual({
      name: "api-1m",
      algorithm: "fixed",
      cost: 1,
      windowMs: MIN,
      limit: 3,
      windowStart: T,
    });
    expect(byName.get("api-1d")!.windowStart).toBe(T - (T % 86_400_000));
    expect(byName.get("api-15m")!.windowStart).toBe(T);
    // A bucket charge carries where its room ended (50 ms past its time: one token of 20/s), so that its
    // refund gives back only what it still holds.
    expect(byName.get("api-1s")).toEqual({
      name: "api-1s",
      algorithm: "token-bucket",
      cost: 1,
      windowMs: 1_000,
      limit: 20,
      chargedAt: T + 5,
      debt: 50,
    });
    expect(byName.get("api-conc")).toEqual({
      name: "api-conc",
      algorithm: "concurrency",
      cost: 1,
      windowMs: 0,
      limit: 2,
      leaseId: "lease-1",
    });
  });

  it("charges a concurrency slot as one, whatever the cost", () => {
    const d = decide(
      new Map(),
      [
        { ...conc, cost: 5 },
        { ...fixed, limit: 10, cost: 5 },
      ],
      T,
      "l",
    );
    expect(d.outcome.charges.map((c) => c.cost)).toEqual([1, 5]);
  });

  it("is all-or-nothing: a refused request charges no counter", () => {
    let states: States = new Map();
    // Two requests take both concurrency slots; the third is refused by concurrency alone.
    for (let i = 0; i < 3; i++) states = run(states, all, T + i, `l${i}`).states;
    // Nothing of the third may have been charged: the 1m, 1d, sliding and bucket counters show 2.
    const daily3 = states.get("api-1d");
    expect(daily3).toEqual({ algorithm: "fixed", windowStart: T - (T % 86_400_000), count: 2 });
    expect(states.get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T, count: 2 });
    expect(states.get("api-15m")).toEqual({ algorithm: "sliding", windowStart: T, count: 2, previousCount: 0 });
    expect(peekOne(states, bucket, T + 2).remaining).toBe(38);
    const before = new Map(states);
    const d = decide(states, all, T + 10, "l-refused");
    expect(d.outcome.allowed).toBe(false);
    expect(d.outcome.charges).toEqual([]);
    expect(d.updates.size).toBe(0);
    expect(states).toEqual(before);
  });

  it("reports the counters that had room as they stand, not as if this request were taken", () => {
    let states: States = new Map();
    states = run(states, [fixed], T, "a").states;
    states = run(states, [fixed], T, "b").states;
    states = run(states, [fixed], T, "c").states; // fixed is full: 3 of 3
    const d = decide(states, [daily, fixed], T + 1, "x");
    expect(d.outcome.allowed).toBe(false);
    const [dailyResult, fixedResult] = d.outcome.results;
    expect(fixedResult!.allowed).toBe(false);
    expect(fixedResult!.retryAfterMs).toBe(MIN - 1);
    expect(dailyResult!.remaining).toBe(100); // not 99: nothing was charged
    expect(dailyResult!.retryAfterMs).toBe(0);
  });

  it("treats a stored state of another algorithm as no state", () => {
    const states: States = new Map([["api-1m", { algorithm: "token-bucket", tat: T + 1e9 } as CounterState]]);
    const d = decide(states, [fixed], T, "l");
    expect(d.outcome.allowed).toBe(true);
    expect(d.updates.get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T, count: 1 });
  });
});

describe("giveBack", () => {
  it("refunds every kind of charge", () => {
    const first = run(new Map(), all, T + 5, "lease-1");
    const back = giveBack(first.states, first.outcome.charges, T + 6);
    const after = apply(first.states, back);
    expect(after.get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T, count: 0 });
    expect(after.get("api-15m")).toMatchObject({ count: 0 });
    expect(after.get("api-conc")).toEqual({ algorithm: "concurrency", leases: [] });
    // The bucket is full again: 40 at once.
    let states = after;
    let admitted = 0;
    for (let i = 0; i < 41; i++) {
      const r = run(states, [bucket], T + 6, `b${i}`);
      if (r.outcome.allowed) admitted++;
      states = r.states;
    }
    expect(admitted).toBe(40);
  });

  it("refunds to the window the charge went into and does nothing for a window already past", () => {
    let states: States = new Map();
    const early = run(states, [fixed], T + MIN - 10, "a"); // window T
    states = early.states;
    const late = run(states, [fixed], T + MIN, "b"); // window T + 1 min
    states = late.states;
    // The early charge's window is past: the new window keeps its count of 1.
    const back = giveBack(states, early.outcome.charges, T + MIN + 1);
    expect(apply(states, back).get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T + MIN, count: 1 });
    // The late charge's window is the current one: refunded.
    const back2 = giveBack(states, late.outcome.charges, T + MIN + 1);
    expect(apply(states, back2).get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T + MIN, count: 0 });
  });

  it("gives a sliding charge from the previous window back to previousCount", () => {
    const first = run(new Map(), [sliding], T + 5, "a");
    const now = T + 15 * MIN + 1;
    const back = giveBack(first.states, first.outcome.charges, now);
    expect(back.get("api-15m")).toEqual({
      algorithm: "sliding",
      windowStart: T + 15 * MIN,
      count: 0,
      previousCount: 0,
    });
  });

  it("releases exactly the lease charged", () => {
    let states: States = new Map();
    const a = run(states, [conc], T, "a");
    states = a.states;
    const b = run(states, [conc], T, "b");
    states = b.states;
    const back = giveBack(states, a.outcome.charges, T + 1);
    expect((back.get("api-conc") as { leases: { id: string }[] }).leases.map((l) => l.id)).toEqual(["b"]);
  });

  it("does nothing for a counter reset or replaced since", () => {
    const first = run(new Map(), [fixed], T, "a");
    expect(giveBack(new Map(), first.outcome.charges, T).size).toBe(0);
    const replaced: States = new Map([
      ["api-1m", { algorithm: "sliding", windowStart: T, count: 1, previousCount: 0 }],
    ]);
    expect(giveBack(replaced, first.outcome.charges, T).size).toBe(0);
  });

  it("applies two charges of one counter one after the other", () => {
    let states: States = new Map();
    const a = run(states, [fixed], T, "a");
    states = a.states;
    const b = run(states, [fixed], T, "b");
    states = b.states;
    const back = giveBack(states, [...a.outcome.charges, ...b.outcome.charges], T);
    expect(back.get("api-1m")).toEqual({ algorithm: "fixed", windowStart: T, count: 0 });
  });
});

describe("peekOne", () => {
  it("charges nothing and reports the room left", () => {
    let states: States = new Map();
    states = run(states, all, T, "a").states;
    const before = JSON.stringify([...states]);
    for (const s of all) {
      const r = peekOne(states, s, T + 1);
      expect(r.allowed, s.name).toBe(true);
      expect(r.retryAfterMs).toBe(0);
    }
    expect(JSON.stringify([...states])).toBe(before);
    expect(peekOne(states, fixed, T + 1).remaining).toBe(2);
    expect(peekOne(states, bucket, T + 1).remaining).toBe(39);
    expect(peekOne(states, conc, T + 1).remaining).toBe(1);
    expect(peekOne(states, sliding, T + 1).remaining).toBe(9);
  });

  it("reports a full counter as not allowed, with no room", () => {
    let states: States = new Map();
    for (const id of ["a", "b"]) states = run(states, [conc], T, id).states;
    const r = peekOne(states, conc, T + 1);
    expect(r.allowed).toBe(false);
    expect(r.remaining).toBe(0);
    expect(r.resetAt).toBe(T + LEASE_TTL_MS);
    expect(peekOne(states, conc, T + LEASE_TTL_MS).remaining).toBe(2);
  });

  it("reports an unknown counter as empty", () => {
    expect(peekOne(new Map(), fixed, T).remaining).toBe(3);
    expect(peekOne(new Map(), conc, T).remaining).toBe(2);
  });
});

describe("stateExpiresAt", () => {
  it("is the end of the last window a state still matters in", () => {
    expect(stateExpiresAt({ algorithm: "fixed", windowStart: T, count: 3 }, MIN)).toBe(T + MIN);
    expect(stateExpiresAt({ algorithm: "sliding", windowStart: T, count: 3, previousCount: 1 }, MIN)).toBe(T + 2 * MIN);
    expect(stateExpiresAt({ algorithm: "token-bucket", tat: T + 142.857 }, 1_000)).toBe(T + 143);
    expect(
      stateExpiresAt(
        {
          algorithm: "concurrency",
          leases: [
            { id: "a", expiresAt: T + 5 },
            { id: "b", expiresAt: T + 9 },
          ],
        },
        0,
      ),
    ).toBe(T + 9);
  });

  it("leaves a sliding count in place while it still weighs in", () => {
    // A sliding state deleted at stateExpiresAt decides the next request like the stored one would.
    const st: CounterState = { algorithm: "sliding", windowStart: T, count: 10, previousCount: 0 };
    const exp = stateExpiresAt(st, sliding.windowMs);
    const kept = decide(new Map([["api-15m", st]]), [sliding], exp - 1, "x").outcome.results[0]!;
    const dropped = decide(new Map(), [sliding], exp - 1, "x").outcome.results[0]!;
    expect(kept.allowed).toBe(dropped.allowed);
    expect(kept.remaining).not.toBe(dropped.remaining);
    const atExp = decide(new Map([["api-15m", st]]), [sliding], exp, "x").outcome.results[0]!;
    expect(atExp).toEqual(decide(new Map(), [sliding], exp, "x").outcome.results[0]!);
  });
});
