/**
 * The call an isolate makes when its lease is empty: decide this request
 * exactly as a plain check does and, when it is admitted, lend room for the
 * requests the isolate expects next, in the same step.
 * @module
 */
import { decide } from "../limiter/decide";
import type { CheckOutcome, CounterSpec, CounterState } from "../limiter/types";
import { carryLent, lend } from "./ledger";
import type { LeaseAsk, LeaseGrant, LeaseTerms } from "./types";

export interface TakeAnswer {
  /** This request's decision, as a plain check gives it. */
  outcome: CheckOutcome;
  /** Room lent for the requests to come (absent: ask again next time). */
  grant?: LeaseGrant;
}

export function takeAndLend(
  states: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
  ask: LeaseAsk,
  id: number,
  terms: LeaseTerms,
  epoch = 0,
): { answer: TakeAnswer; updates: Map<string, CounterState> } {
  const { outcome, updates } = decide(states, specs, now, "", [], epoch);
  if (!outcome.allowed) return { answer: { outcome }, updates };
  const after = new Map(states);
  for (const [name, state] of updates) {
    const kept = carryLent(states.get(name), state, now);
    updates.set(name, kept);
    after.set(name, kept);
  }
  const lending = lend(after, specs, now, ask, id, terms, epoch);
  if (!lending.grant) return { answer: { outcome }, updates };
  for (const [name, state] of lending.updates) updates.set(name, state);
  return { answer: { outcome, grant: lending.grant }, updates };
}
