/**
 * The penalty box, as pure logic: a refusal starts it, it refuses past the
 * window's end with Retry-After to its own end, it charges nothing, it ends
 * to the millisecond, and escalation doubles a repeat offence.
 */
import { describe, expect, it } from "vitest";
import { stateExpiresAt } from "../../src/limiter/expiry";
import { decideWithPenalties, nextPenalty, type PenaltySpec, penaltyName } from "../../src/limiter/penalty";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

const T = 1_740_009_600_000; // a multiple of 1 min
const MIN = 60_000;

const login: CounterSpec = { name: "login-1m", algorithm: "fixed", limit: 2, windowMs: MIN, cost: 1 };
const other: CounterSpec = { name: "api-1m", algorithm: "fixed", limit: 100, windowMs: MIN, cost: 1 };
const box: PenaltySpec = { name: penaltyName("login"), counters: ["login-1m"], durationMs: 10 * MIN };

type States = Map<string, CounterState>;

function step(states: States, specs: CounterSpec[], penalties: PenaltySpec[], now: number) {
  const d = decideWithPenalties(states, specs, penalties, now, "");
  const next = new Map(states);
  for (const [k, v] of d.updates) next.set(k, v);
  return { outcome: d.outcome, states: next };
}

describe("penalty box", () => {
  it("starts at the first refusal and refuses until its end, past the window, with Retry-After to its end", () => {
    let states: States = new Map();
    for (let i = 0; i < 2; i++) {
      const r = step(states, [login], [box], T + i);
      expect(r.outcome.allowed).toBe(true);
      states = r.states;
    }
    const refused = step(states, [login], [box], T + 10_000);
    expect(refused.outcome.allowed).toBe(false);
    expect(refused.outcome.results[0]).toMatchObject({
      remaining: 0,
      retryAfterMs: 10 * MIN,
      resetAt: T + 10_000 + 10 * MIN,
      penaltyUntil: T + 10_000 + 10 * MIN,
    });
    states = refused.states;
    expect(states.get("login:penalty")).toEqual({
      algorithm: "penalty",
      until: T + 10_000 + 10 * MIN,
      durationMs: 10 * MIN,
      forgetAt: T + 10_000 + 10 * MIN,
    });

    // Two windows later the counter has room, the penalty does not.
    const later = step(states, [login], [box], T + 2 * MIN);
    expect(later.outcome.allowed).toBe(false);
    expect(later.outcome.results[0]!.retryAfterMs).toBe(10_000 + 8 * MIN);
    expect(later.outcome.charges).toEqual([]);
    expect(later.states).toEqual(states); // a boxed request charges nothing and does not extend the penalty

    const lastBoxed = step(states, [login], [box], T + 10_000 + 10 * MIN - 1);
    expect(lastBoxed.outcome.allowed).toBe(false);
    expect(lastBoxed.outcome.results[0]!.retryAfterMs).toBe(1);
    const free = step(states, [login], [box], T + 10_000 + 10 * MIN);
    expect(free.outcome.allowed).toBe(true);
  });

  it("refuses a request whose other rule has room, and shows that rule's room uncharged", () => {
    const states: States = new Map([
      ["login:penalty", { algorithm: "penalty", until: T + MIN, durationMs: MIN, forgetAt: T + MIN }],
    ]);
    const r = step(states, [other, login], [box], T);
    expect(r.outcome.allowed).toBe(false);
    expect(r.outcome.results.map((x) => [x.name, x.allowed, x.remaining])).toEqual([
      ["api-1m", true, 100],
      ["login-1m", false, 0],
    ]);
    expect(r.states.has("api-1m")).toBe(false);
  });

  it("is not started by a refusal of a rule without a penalty", () => {
    const full: States = new Map([["api-1m", { algorithm: "fixed", windowStart: T, count: 100 }]]);
    const r = step(full, [other, login], [box], T + 1);
    expect(r.outcome.allowed).toBe(false);
    expect(r.states.has("login:penalty")).toBe(false);
    expect(r.outcome.results[1]!.penaltyUntil).toBeUndefined();
  });

  it("is forgotten when it ends (no escalation), and kept through the escalation period otherwise", () => {
    const plain = nextPenalty(undefined, box, T);
    expect(stateExpiresAt(plain, 0)).toBe(T + 10 * MIN);
    const escalating = nextPenalty(undefined, { ...box, escalateWithinMs: 60 * MIN }, T);
    expect(stateExpiresAt(escalating, 0)).toBe(T + 70 * MIN);
  });

  it("escalates: a repeat offence within the period doubles the last penalty, up to max; a later one starts over", () => {
    const spec: PenaltySpec = { ...box, escalateWithinMs: 60 * MIN, maxMs: 30 * MIN };
    const first = nextPenalty(undefined, spec, T);
    expect(first.durationMs).toBe(10 * MIN);
    const second = nextPenalty(first, spec, first.until + 60 * MIN - 1);
    expect(second.durationMs).toBe(20 * MIN);
    const third = nextPenalty(second, spec, second.until);
    expect(third.durationMs).toBe(30 * MIN); // 40 capped at max
    const afterCalm = nextPenalty(third, spec, third.until + 60 * MIN);
    expect(afterCalm.durationMs).toBe(10 * MIN);
    // Without escalation, every offence gets the base duration.
    expect(nextPenalty(first, box, first.until).durationMs).toBe(10 * MIN);
  });
});
