/**
 * The penalty box: once a rule with a `penalty` refuses a key, every request
 * of that key on that rule is refused until the penalty ends, whatever its
 * counters say (a window that rolls over does not let the client back in).
 * With escalation, an offence that comes within `escalateWithinMs` of the
 * previous penalty's end doubles the previous penalty, up to `maxMs`.
 *
 * Pure, like `decide`: state and time come in, a decision and the new state
 * go out. The penalty lives next to the counters in the key's object, under
 * its own name, so it is as durable and exact as they are.
 * @module
 */
import { type Decision, decide, peekOne } from "./decide";
import type { CounterResult, CounterSpec, CounterState, DelaySpec, PenaltyState } from "./types";

/** A rule's penalty, as the counter store needs it. */
export interface PenaltySpec {
  /** The state's name in the object: {@link penaltyName} of the rule. */
  name: string;
  /** The names of the rule's counters: a refusal by any of them starts the penalty, and the penalty refuses them all. */
  counters: string[];
  durationMs: number;
  /** Escalation: a new offence within this long after the last penalty ended doubles it. */
  escalateWithinMs?: number;
  /** Escalation's ceiling (defaults to the duration times 64). */
  maxMs?: number;
}

/** A penalty's name in its object. Rule ids have no `:`, so it never clashes with a counter. */
export function penaltyName(ruleId: string): string {
  return `${ruleId}:penalty`;
}

function stateOf(states: ReadonlyMap<string, CounterState>, name: string): PenaltyState | undefined {
  const s = states.get(name);
  return s?.algorithm === "penalty" ? s : undefined;
}

/** When the penalty of this state ends, if it is still running at `now`. */
export function penaltyUntil(state: PenaltyState | undefined, now: number): number | undefined {
  return state && state.until > now ? state.until : undefined;
}

/** The penalty a new offence at `now` earns, given the previous one. */
export function nextPenalty(previous: PenaltyState | undefined, spec: PenaltySpec, now: number): PenaltyState {
  const within = spec.escalateWithinMs ?? 0;
  const max = spec.maxMs ?? spec.durationMs * 64;
  const repeat = within > 0 && previous !== undefined && now < previous.until + within;
  const durationMs = repeat ? Math.min(max, Math.max(spec.durationMs, previous.durationMs * 2)) : spec.durationMs;
  const until = now + durationMs;
  return { algorithm: "penalty", until, durationMs, forgetAt: until + within };
}

function boxedResult(spec: CounterSpec, until: number, now: number): CounterResult {
  return {
    name: spec.name,
    allowed: false,
    limit: spec.limit,
    remaining: 0,
    resetAt: until,
    retryAfterMs: until - now,
    penaltyUntil: until,
  };
}

/**
 * `decide`, with the penalties of the request's rules: a running penalty
 * refuses its rule's counters without checking them (nothing is charged); a
 * refusal by a counter of a rule with a penalty starts (or escalates) it, and
 * its `Retry-After` then counts down to the penalty's end.
 */
export function decideWithPenalties(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  penalties: readonly PenaltySpec[],
  now: number,
  leaseId: string,
  delay?: DelaySpec,
): Decision {
  if (penalties.length === 0) return decide(states, specs, now, leaseId, [], 0, delay);

  const boxedUntil = new Map<string, number>();
  for (const p of penalties) {
    const until = penaltyUntil(stateOf(states, p.name), now);
    if (until === undefined) continue;
    for (const c of p.counters) boxedUntil.set(c, Math.max(boxedUntil.get(c) ?? 0, until));
  }
  if (boxedUntil.size > 0 && specs.some((s) => boxedUntil.has(s.name))) {
    const results = specs.map((s) => {
      const until = boxedUntil.get(s.name);
      return until !== undefined ? boxedResult(s, until, now) : peekOne(states, s, now);
    });
    return { outcome: { allowed: false, results, charges: [] }, updates: new Map(), shadowResults: [] };
  }

  // A request delayed within its rule's bound is admitted: no offence.
  const decision = decide(states, specs, now, leaseId, [], 0, delay);
  if (decision.outcome.allowed) return decision;
  const refused = new Set(decision.outcome.results.filter((r) => !r.allowed).map((r) => r.name));
  const startedUntil = new Map<string, number>();
  for (const p of penalties) {
    if (!p.counters.some((c) => refused.has(c))) continue;
    const state = nextPenalty(stateOf(states, p.name), p, now);
    decision.updates.set(p.name, state);
    for (const c of p.counters) if (refused.has(c)) startedUntil.set(c, state.until);
  }
  if (startedUntil.size === 0) return decision;
  const results = decision.outcome.results.map((r, i) => {
    const until = startedUntil.get(r.name);
    return until !== undefined ? boxedResult(specs[i]!, until, now) : r;
  });
  return { outcome: { ...decision.outcome, results }, updates: decision.updates, shadowResults: [] };
}

/**
 * What the counter store runs for one key: the enforced counters with their
 * rules' penalties, and the shadow counters beside them (charged only when
 * the request is admitted, as `decide` does), and the rules' `onLimit.delay`.
 */
export function decideWithShadowAndPenalties(
  states: ReadonlyMap<string, CounterState>,
  counters: readonly CounterSpec[],
  shadow: readonly CounterSpec[],
  penalties: readonly PenaltySpec[],
  now: number,
  leaseId: string,
  epoch = 0,
  delay?: DelaySpec,
): Decision {
  if (penalties.length > 0) {
    const enforced = decideWithPenalties(states, counters, penalties, now, leaseId, delay);
    // Admitted, penalties change nothing: the plain decision below is the same one.
    if (!enforced.outcome.allowed)
      return { ...enforced, shadowResults: shadow.map((spec) => peekOne(states, spec, now)) };
  }
  return decide(states, counters, now, leaseId, shadow, epoch, delay);
}

/** The running penalties among these names, as `inspect` reports them. */
export function runningPenalties(
  states: ReadonlyMap<string, CounterState>,
  names: readonly string[],
  now: number,
): Array<{ name: string; until: number }> {
  const running: Array<{ name: string; until: number }> = [];
  for (const name of names) {
    const until = penaltyUntil(stateOf(states, name), now);
    if (until !== undefined) running.push({ name, until });
  }
  return running;
}
