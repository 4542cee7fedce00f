/**
 * One key's Durable Object, as the simulation runs it: the same pure lease and
 * decision code the real object calls, with its storage as a JSON snapshot
 * written before every answer (a restart reloads it and nothing else).
 *
 * A mutant (`--mutants`) perturbs what it does at this seam, to prove the
 * judge catches known bugs: `bucket-charged-at-grant` charges a bucket's lease
 * at its grant rather than at the end of its lifetime, `double-refund` gives a
 * plain charge back twice, `stale-reset` leaves the units out on leases in a
 * stale window after `DELETE /keys`. The code under test is not changed.
 */

import { carryLent, keepLent, lend, takeBack } from "../../src/lease/ledger";
import { takeAndLend } from "../../src/lease/take";
import type { LeaseAsk, LeasedState, LeaseGrant, LeaseTerms } from "../../src/lease/types";
import { debtAt, interval, stateAt } from "../../src/limiter/algorithms/token-bucket";
import { answerOf } from "../../src/limiter/answer";
import { decide, giveBack } from "../../src/limiter/decide";
import { keepReserved, waitingAt, waitingListOf } from "../../src/limiter/delay";
import type {
  Charge,
  CounterAnswer,
  CounterSpec,
  CounterState,
  DelaySpec,
  TokenBucketState,
} from "../../src/limiter/types";

/** The object-side mutants (the world names them all; the others act elsewhere). */
export type ObjectMutant = "bucket-charged-at-grant" | "double-refund" | "stale-reset" | string;

export class SimObject {
  private states = new Map<string, CounterState>();
  private stored = "[]";
  private lastNow = 0;
  private nextId = 1;
  /** As the real object: each reset starts a new epoch, kept in storage, for counters created from then on. */
  private epoch = 0;

  constructor(
    private readonly clock: () => number,
    private readonly terms: LeaseTerms,
    private readonly mutant?: ObjectMutant,
  ) {}

  /** `delay`: a rule's `onLimit.delay` (the answer's `delayMs` is the request's slot, after `now`). */
  check(specs: CounterSpec[], delay?: DelaySpec): CounterAnswer {
    const now = this.now();
    const decision = decide(this.states, specs, now, "", [], this.epoch, delay);
    this.store(decision.updates, now);
    return answerOf(specs, decision, now);
  }

  /** `terms`: the real object lends a shard of a key's tree under larger terms (`BLOCK_LEASE_TERMS`). */
  take(specs: CounterSpec[], ask: LeaseAsk, terms = this.terms): CounterAnswer {
    const now = this.now();
    const before = new Map(this.states);
    const { answer, updates } = takeAndLend(this.states, specs, now, ask, this.nextId++, terms, this.epoch);
    if (answer.grant) {
      this.chargedAtGrant(before, updates, specs, now, answer.grant.units + (answer.allowed ? 1 : 0));
    }
    this.store(updates, now);
    return answer;
  }

  lend(specs: CounterSpec[], ask: LeaseAsk, terms = this.terms): LeaseGrant | undefined {
    const now = this.now();
    const before = new Map(this.states);
    const { grant, updates } = lend(this.states, specs, now, ask, this.nextId++, terms, this.epoch);
    if (grant) this.chargedAtGrant(before, updates, specs, now, grant.units);
    this.store(updates, now);
    return grant;
  }

  giveBack(specs: CounterSpec[], id: number, unused: number): void {
    const now = this.now();
    this.store(takeBack(this.states, specs, now, id, unused), now);
  }

  /** Gives a plain charge back (the object's `release`). */
  release(charges: Charge[]): void {
    const now = this.now();
    this.store(giveBack(this.states, charges, now), now);
    if (this.mutant === "double-refund") this.store(giveBack(this.states, charges, now), now);
  }

  /** `DELETE /keys`: only the units still out on leases stay charged. */
  reset(specs: CounterSpec[]): void {
    const now = this.now();
    this.epoch += 1;
    for (const spec of specs) {
      let kept =
        keepLent(this.states.get(spec.name), now, spec, this.epoch) ??
        keepReserved(this.states.get(spec.name), waitingAt(this.states.get(waitingListOf(spec.name)), now), this.epoch);
      if (kept && this.mutant === "stale-reset" && (kept.algorithm === "fixed" || kept.algorithm === "sliding")) {
        // The units out on leases are kept, but in a window that is over: the current one starts empty.
        kept = { ...kept, windowStart: kept.windowStart - spec.windowMs };
      }
      if (kept) this.states.set(spec.name, kept);
      else this.states.delete(spec.name);
    }
    this.stored = JSON.stringify([...this.states]);
  }

  /** Loses memory; storage stays. Lease ids continue from a fresh random base, as the real object's do. */
  restart(): void {
    this.states = new Map(JSON.parse(this.stored) as [string, CounterState][]);
    this.lastNow = 0;
    this.nextId += 1_000_000;
  }

  /**
   * The `bucket-charged-at-grant` mutant: a bucket's lease (and the request
   * decided with it) charged as plain requests at the grant, not at the end of
   * the lease's lifetime.
   */
  private chargedAtGrant(
    before: ReadonlyMap<string, CounterState>,
    updates: Map<string, CounterState>,
    specs: CounterSpec[],
    now: number,
    requests: number,
  ): void {
    if (this.mutant !== "bucket-charged-at-grant") return;
    for (const spec of specs) {
      const after = updates.get(spec.name) as LeasedState | undefined;
      if (spec.algorithm !== "token-bucket" || !after) continue;
      const { num, den } = interval(spec);
      const debt = debtAt(before.get(spec.name) as TokenBucketState | undefined, now, den) + requests * spec.cost * num;
      updates.set(spec.name, {
        ...stateAt(now, debt, den),
        ...(after.lent ? { lent: after.lent } : {}),
      } as CounterState);
    }
  }

  private now(): number {
    this.lastNow = Math.max(this.lastNow, this.clock());
    return this.lastNow;
  }

  private store(updates: Map<string, CounterState>, now: number): void {
    if (updates.size === 0) return;
    for (const [name, state] of updates) this.states.set(name, carryLent(this.states.get(name), state, now));
    this.stored = JSON.stringify([...this.states]);
  }
}
