/**
 * One shard object of a key's tree of leases, as the simulation runs it: the
 * real `ShardLender` over the object's clock (whole milliseconds, as
 * `Date.now()` is) and a transport to the key's root that the world carries
 * over its network. Nothing is stored: a restart is a new lender, and answers
 * still owed by the old one are lost with it (its callers get an error).
 */
import type { LeaseTransport } from "../../src/lease/client";
import { ShardLender } from "../../src/lease/shard";
import type { LeaseAsk, LeaseGrant } from "../../src/lease/types";
import type { CounterAnswer, CounterSpec } from "../../src/limiter/types";

/** A call the shard's activation did not live to answer. */
export class ShardRestarted extends Error {}

export class SimShard {
  private lender: ShardLender;
  private generation = 0;

  constructor(
    private readonly clock: () => number,
    /** The root's calls, as the world carries them (`alive` says whether this activation still waits for them). */
    private readonly rootFor: (alive: () => boolean) => LeaseTransport,
    private readonly firstId: () => number,
  ) {
    this.lender = new ShardLender(clock, undefined, firstId());
  }

  take(key: string, specs: CounterSpec[], ask: LeaseAsk): Promise<CounterAnswer> {
    return this.answer((lender, root) => lender.take(key, specs, ask, root));
  }

  lend(key: string, specs: CounterSpec[], ask: LeaseAsk): Promise<LeaseGrant | undefined> {
    return this.answer((lender, root) => lender.lend(key, specs, ask, root));
  }

  giveBack(key: string, id: number, unused: number): void {
    this.lender.giveBack(key, id, unused);
  }

  /** Admin `DELETE /keys` after the root's reset, as the leasing store does it. */
  reset(key: string): void {
    this.lender.reset(key);
  }

  /** Loses its memory (its blocks stay charged at the root until they end). */
  restart(): void {
    this.generation++;
    this.lender = new ShardLender(this.clock, undefined, this.firstId());
  }

  /** Runs a call on the current activation; if that activation ends before it answers, the caller gets an error. */
  private async answer<T>(work: (lender: ShardLender, root: LeaseTransport) => Promise<T>): Promise<T> {
    const generation = this.generation;
    const alive = () => this.generation === generation;
    const value = await work(this.lender, this.rootFor(alive));
    if (!alive()) throw new ShardRestarted("shard restarted before it answered");
    return value;
  }
}
