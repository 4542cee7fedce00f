/**
 * The judge: admissions replayed, in time order, through the exact
 * single-object algorithm (`decide`), with the counters each request was
 * decided under. A reset empties the reference as it empties the object.
 */
import { decide } from "../../src/limiter/decide";
import type { CounterSpec, CounterState } from "../../src/limiter/types";

export interface Admission {
  /** True time (the object's clock) at which the request was admitted. */
  at: number;
  /** Tie-break: the order the simulation saw them in. */
  seq: number;
  /** The counting key (one object each). */
  key: string;
  specs: CounterSpec[];
}

export interface Replay {
  admitted: number;
  refused: number;
  /** The first few refused (for a report that says where it went wrong). */
  firstRefused: Admission[];
}

export function replay(events: readonly Admission[], resets: readonly number[] = []): Replay {
  const sorted = [...events].sort((a, b) => a.at - b.at || a.seq - b.seq);
  const resetTimes = [...resets].sort((a, b) => a - b);
  let nextReset = 0;
  let states = new Map<string, CounterState>();
  const out: Replay = { admitted: 0, refused: 0, firstRefused: [] };
  for (const event of sorted) {
    while (nextReset < resetTimes.length && resetTimes[nextReset]! <= event.at) {
      states = new Map();
      nextReset++;
    }
    const { outcome, updates } = decide(states, event.specs, event.at, "");
    if (outcome.allowed) {
      out.admitted++;
      for (const [name, state] of updates) states.set(name, state);
    } else {
      out.refused++;
      if (out.firstRefused.length < 5) out.firstRefused.push(event);
    }
  }
  return out;
}
