/**
 * One key's Durable Object, as the simulation runs it: the same pure lease and
 * decision code the real object calls, with its storage as a JSON snapshot
 * written before every answer (a restart reloads it and nothing else).
 */
import { decide, giveBack } from "../../src/limiter/decide";
import { carryLent, keepLent, lend, takeBack } from "../../src/limiter/lease/ledger";
import { type TakeAnswer, takeAndLend } from "../../src/limiter/lease/take";
import type { LeaseAsk, LeaseGrant, LeaseTerms } from "../../src/limiter/lease/types";
import type { Charge, CheckOutcome, CounterSpec, CounterState } from "../../src/limiter/types";

export class SimObject {
  private states = new Map<string, CounterState>();
  private stored = "[]";
  private lastNow = 0;
  private nextId = 1;

  constructor(
    private readonly clock: () => number,
    private readonly terms: LeaseTerms,
  ) {}

  check(specs: CounterSpec[]): CheckOutcome & { now: number } {
    const now = this.now();
    const { outcome, updates } = decide(this.states, specs, now, "");
    this.store(updates, now);
    return { ...outcome, now };
  }

  /** `terms`: the real object lends a shard of a key's tree under larger terms (`BLOCK_LEASE_TERMS`). */
  take(specs: CounterSpec[], ask: LeaseAsk, terms = this.terms): TakeAnswer & { now: number } {
    const now = this.now();
    const { answer, updates } = takeAndLend(this.states, specs, now, ask, this.nextId++, terms);
    this.store(updates, now);
    return { ...answer, now };
  }

  lend(specs: CounterSpec[], ask: LeaseAsk, terms = this.terms): LeaseGrant | undefined {
    const now = this.now();
    const { grant, updates } = lend(this.states, specs, now, ask, this.nextId++, terms);
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
  }

  /** `DELETE /keys`: only the units still out on leases stay charged. */
  reset(specs: CounterSpec[]): void {
    const now = this.now();
    for (const spec of specs) {
      const kept = keepLent(this.states.get(spec.name), now, spec);
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
