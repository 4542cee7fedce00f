/**
 * The call an isolate makes when its lease is empty: decide this request
 * exactly as a plain check does and, when it is admitted, lend room for the
 * requests the isolate expects next, in the same step.
 * @module
 */
import { answerOf } from "../limiter/answer";
import { decide } from "../limiter/decide";
import type { CounterAnswer, CounterSpec, CounterState } from "../limiter/types";
import { carryLent, lend } from "./ledger";
import type { LeaseAsk, LeaseTerms } from "./types";

/** This request's answer, as a plain check gives it, with room lent for the requests to come (`grant`; absent: ask again next time). */
export function takeAndLend(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  ask: LeaseAsk,
  id: number,
  terms: LeaseTerms,
  epoch = 0,
): { answer: CounterAnswer; updates: Map<string, CounterState> } {
  const decision = decide(states, specs, now, "", [], epoch);
  const { outcome, updates } = decision;
  const answer = answerOf(specs, decision, now);
  if (!outcome.allowed) return { answer, updates };
  const after = new Map(states);
  for (const [name, state] of updates) {
    const kept = carryLent(states.get(name), state, now);
    updates.set(name, kept);
    after.set(name, kept);
  }
  const lending = lend(after, specs, now, ask, id, terms, epoch);
  if (!lending.grant) return { answer, updates };
  for (const [name, state] of lending.updates) updates.set(name, state);
  return { answer: { ...answer, grant: lending.grant }, updates };
}
