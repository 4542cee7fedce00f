/**
 * The judge: admissions replayed, in time order, through the exact
 * single-object algorithm (`decide`), with the counters each request was
 * decided under. A reset empties the reference as it empties the object.
 */
import { decide, giveBack } from "../../src/limiter/decide";
import type { Charge, CounterSpec, CounterState } from "../../src/limiter/types";

export interface Admission {
  /** True time (the object's clock) at which the request was admitted. */
  at: number;
  /** Tie-break: the order the simulation saw them in. */
  seq: number;
  /** The counting key (one object each). */
  key: string;
  specs: CounterSpec[];
  /** When its charge was given back (a failures-only success, a rollback), if it was. */
  refundAt?: number;
  /** The order the give-back happened in among everything else in its millisecond. */
  refundSeq?: number;
  /** The lease it was admitted from (absent: the object decided it). */
  leaseId?: number;
}

export interface Replay {
  admitted: number;
  refused: number;
  /** The first few refused (for a report that says where it went wrong). */
  firstRefused: Admission[];
}

export function replay(events: readonly Admission[], resets: readonly number[] = []): Replay {
  type Step = { at: number; seq: number; admission: Admission; refund: boolean };
  const steps: Step[] = [];
  for (const admission of events) {
    steps.push({ at: admission.at, seq: admission.seq, admission, refund: false });
    if (admission.refundAt !== undefined)
      steps.push({ at: admission.refundAt, seq: admission.seq, admission, refund: true });
  }
  // In time order, and within a millisecond in the order things happened.
  steps.sort((a, b) => a.at - b.at || a.seq - b.seq);
  const resetTimes = [...resets].sort((a, b) => a - b);
  let nextReset = 0;
  let states = new Map<string, CounterState>();
  const charged = new Map<Admission, Charge[]>();
  const out: Replay = { admitted: 0, refused: 0, firstRefused: [] };
  for (const step of steps) {
    while (nextReset < resetTimes.length && resetTimes[nextReset]! <= step.at) {
      states = new Map();
      nextReset++;
    }
    if (step.refund) {
      const charges = charged.get(step.admission);
      if (charges) for (const [name, state] of giveBack(states, charges, step.at)) states.set(name, state);
      continue;
    }
    const { outcome, updates } = decide(states, step.admission.specs, step.at, "");
    if (outcome.allowed) {
      out.admitted++;
      charged.set(step.admission, outcome.charges);
      for (const [name, state] of updates) states.set(name, state);
    } else {
      out.refused++;
      if (out.firstRefused.length < 5) out.firstRefused.push(step.admission);
    }
  }
  return out;
}
