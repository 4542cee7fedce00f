/**
 * A counter store in memory, on the same pure `decide` the Durable Object
 * uses: the engine's second adapter, for plain-Node tests (and anything else
 * that runs the engine without a Workers runtime). One map of counters per
 * counting key; time from the injected clock, never running backwards.
 * @module
 */
import type { CheckRequest, Clock, CounterStore, InspectResponse } from "../../engine/ports";
import { answerOf } from "../../limiter/answer";
import { giveBack, peekOne } from "../../limiter/decide";
import { keepReserved, waitingAt, waitingListOf } from "../../limiter/delay";
import { decideWithShadowAndPenalties, runningPenalties } from "../../limiter/penalty";
import type { Charge, CounterAnswer, CounterSpec, CounterState } from "../../limiter/types";

export class MemoryCounterStore implements CounterStore {
  private readonly keys = new Map<string, Map<string, CounterState>>();
  /** Each key's epoch: a reset starts the next, and a charge made before it gives nothing back. */
  private readonly epochs = new Map<string, number>();
  private lastNow = 0;
  private leases = 0;

  constructor(private readonly clock: Clock = { now: () => Date.now() }) {}

  async check(key: string, request: CheckRequest): Promise<CounterAnswer> {
    const states = this.statesOf(key);
    const now = this.now();
    const needsLease = request.counters.some((c) => c.algorithm === "concurrency");
    const leaseId = needsLease ? `lease-${++this.leases}` : "";
    const decision = decideWithShadowAndPenalties(
      states,
      request.counters.filter((c) => !c.shadow),
      request.counters.filter((c) => c.shadow),
      request.penalties ?? [],
      now,
      leaseId,
      this.epochs.get(key) ?? 0,
      request.delay,
    );
    for (const [name, state] of decision.updates) states.set(name, state);
    return answerOf(request.counters, decision, now);
  }

  async release(key: string, charges: Charge[]): Promise<void> {
    const states = this.keys.get(key);
    if (!states) return;
    for (const [name, state] of giveBack(states, charges, this.now())) states.set(name, state);
  }

  async inspect(key: string, counters: CounterSpec[], penalties: string[] = []): Promise<InspectResponse> {
    const states = this.keys.get(key) ?? new Map<string, CounterState>();
    const now = this.now();
    return {
      now,
      results: counters.map((spec) => peekOne(states, spec, now)),
      penalties: runningPenalties(states, penalties, now),
    };
  }

  async reset(key: string, names?: string[]): Promise<number> {
    const states = this.keys.get(key);
    if (!states) return 0;
    // Counters created from here on are in the new epoch: a refund of a charge made before the reset
    // finds its counter in another epoch, even one a later check has recreated, and gives nothing back.
    this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
    const epoch = this.epochs.get(key)!;
    const now = this.now();
    let removed = 0;
    for (const name of names ?? [...states.keys()]) {
      // Units of requests still held for their slot (onLimit.delay) stay charged, as the object keeps them.
      const kept = keepReserved(states.get(name), waitingAt(states.get(waitingListOf(name)), now), epoch);
      if (kept) {
        states.set(name, kept);
        removed++;
      } else if (states.delete(name)) removed++;
    }
    return removed;
  }

  private statesOf(key: string): Map<string, CounterState> {
    let states = this.keys.get(key);
    if (!states) {
      states = new Map();
      this.keys.set(key, states);
    }
    return states;
  }

  private now(): number {
    this.lastNow = Math.max(this.lastNow, this.clock.now());
    return this.lastNow;
  }
}
