/**
 * One isolate's leasing, over an injected transport and clock (no I/O of its
 * own, no runtime types): admits from a key's lease in memory, fetches the
 * next lease in the background when the current one runs low (one fetch in
 * flight per key), and calls the object for the request itself, exactly as a
 * plain check, when it holds nothing. Concurrent first requests of a key share
 * that call's lease.
 * @module
 */
import { resultsOf } from "../limiter/answer";
import { calendarTag } from "../limiter/calendar";
import type { Charge, CounterAnswer, CounterResult, CounterSpec } from "../limiter/types";
import { DEFAULT_HOLDER_TERMS, type HeldLease, type HolderTerms, LeaseHolder } from "./holder";
import { DEFAULT_LEASE_TERMS, type LeaseAsk, type LeaseGrant } from "./types";

/** The calls to a key's object. */
export interface LeaseTransport {
  /** A plain check of this request (no lease asked for: the key is not hot, or its room is small). */
  check(specs: CounterSpec[]): Promise<CounterAnswer>;
  /** Decide this request and lend room for the next ones (the answer's `grant`). */
  take(specs: CounterSpec[], ask: LeaseAsk): Promise<CounterAnswer>;
  /** Lend room only (a background refresh). */
  lend(specs: CounterSpec[], ask: LeaseAsk): Promise<LeaseGrant | undefined>;
  /**
   * End a lease early, giving back what it did not use. Kept and called on its
   * own (without `this`) after the request that made it: it must not hold that
   * request's context (see `rootTransport`).
   */
  giveBack(specs: CounterSpec[], id: number, unused: number): Promise<void>;
  /** Keeps background work (a refresh, a give-back) alive after the response: `ctx.waitUntil`. */
  waitUntil(work: Promise<unknown>): void;
}

/**
 * How many lease calls in flight a request waits for, one after another, before it asks the object itself.
 * Unbounded by default: waiting keeps a hot key's calls to its object (and a tree's root) few. Across an
 * ocean each wait is a round trip, and `npm run simulate -- --geo` measured 1 as best there (with 2 a far
 * region's p99 is already higher, unbounded it reaches seconds), at the price of more root calls for hot
 * keys (the 100k/s tree's root peak 1,961 calls/s instead of 1,522). It stays unbounded because a request
 * that asks the object itself while a lease call is out is answered with the lease's units counted as used:
 * its `RateLimit-Remaining` is lower than the requests admitted so far say, and a burst's remaining values
 * are no longer each their own (`test/e2e/wrangler-dev.test.ts` saw three requests answered 28 low with 1).
 */
export const DEFAULT_MAX_SHARED_WAITS = Number.POSITIVE_INFINITY;

export interface LeasingClientOptions {
  clock: () => number;
  holderTerms?: HolderTerms;
  /** Fewer units than this are not worth asking for (the object's `minUnits`). */
  minUnits?: number;
  /** Below this much room the object lends nothing (its `minRoom`): ask for no lease then. */
  minRoom?: number;
  /** The object's `maxShare`: an isolate that holds that much of the room does not ask for more. */
  maxShare?: number;
  /** Keys tracked at most (see {@link DEFAULT_MAX_KEYS}); the least recently used is ended first. */
  maxKeys?: number;
  /** Lease calls in flight a request waits for before it asks the object (see {@link DEFAULT_MAX_SHARED_WAITS}). */
  maxSharedWaits?: number;
}

/**
 * Keys (sets of counters) one isolate tracks at most. Every key seen gets an
 * entry (its rate decides when to ask for a lease), so a client inventing keys
 * fills this: past it, the least recently used entry is ended (its unused units
 * go back to its object) and forgotten. A key evicted this way only loses its
 * lease and its rate: its next request asks the object, as a cold key does.
 */
export const DEFAULT_MAX_KEYS = 2_048;

interface KeyLeases {
  key: string;
  fingerprint: string;
  /**
   * How an ended entry gives its units back: the latest request's call, kept
   * without the rest of its transport (whose `waitUntil` holds that request's
   * context: an idle entry must not keep a finished request alive).
   */
  giveBack: LeaseTransport["giveBack"];
  specs: CounterSpec[];
  holder: LeaseHolder;
  /** The call in flight (a plain one or a refresh): resolves to whether it brought a lease. */
  inFlight?: Promise<boolean>;
  ended: boolean;
}

/**
 * What identifies a key's counters. A key holds leases per set of counters
 * (requests that match different rules of one key charge different sets); a
 * policy that changes the numbers of a counter starts that counter's sets
 * from no lease.
 */
export function fingerprintOf(specs: readonly CounterSpec[]): string {
  return specs
    .map(
      (s) => `${s.name}:${s.algorithm}:${s.limit}:${s.windowMs}:${s.burst ?? ""}:${s.cost}:${calendarTag(s.calendar)}`,
    )
    .join("|");
}

export class LeasingClient {
  /** Entries by key and fingerprint, least recently used first (the eviction order). */
  private readonly entries = new Map<string, KeyLeases>();
  /** The entries of each key (one, nearly always: an array is the smallest holder). */
  private readonly byKey = new Map<string, KeyLeases[]>();
  private readonly minUnits: number;
  private readonly minRoom: number;
  private readonly maxShare: number;
  private readonly maxKeys: number;

  constructor(private readonly options: LeasingClientOptions) {
    this.minUnits = options.minUnits ?? DEFAULT_LEASE_TERMS.minUnits;
    this.minRoom = options.minRoom ?? DEFAULT_LEASE_TERMS.minRoom;
    this.maxShare = options.maxShare ?? DEFAULT_LEASE_TERMS.maxShare;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /**
   * This request's answer: from a lease in memory (`local`, on this client's
   * clock, each charge naming its `lease`), or the object's own (on its clock;
   * a grant it brought is taken in here, not handed on). `ownRoom`: an answer
   * that brought a grant shows this request's own room (the lease's units are
   * not used yet); without it, the object's figures as they came (a shard
   * passes them on).
   */
  async admit(key: string, specs: CounterSpec[], transport: LeaseTransport, ownRoom = true): Promise<CounterAnswer> {
    const entry = this.entryFor(key, specs, transport);
    const costs = specs.map((s) => s.cost);
    entry.holder.noteRequest(this.options.clock());
    this.giveBackLapsed(entry, transport);
    // One lease call in flight per key: while one may bring a lease, wait for it rather than call beside it.
    // (Calls side by side would be charged at the object in one order and answered in another, and an
    // isolate alone could no longer count its headers down exactly.)
    // With `maxSharedWaits`, at most that many such calls are waited for: when the lease they brought was
    // used up by the requests that waited before this one, this request asks the object itself (a plain
    // check) rather than wait for the next lease call: across an ocean each wait is a round trip, and
    // requests queued behind a chain of them wait seconds.
    for (let waits = 0; ; waits++) {
      const local = this.fromLease(entry, specs, transport);
      if (local) return local;
      if (!entry.inFlight || waits >= (this.options.maxSharedWaits ?? DEFAULT_MAX_SHARED_WAITS)) break;
      if (!(await entry.inFlight)) break; // nothing was lent: ask the object side by side, as a plain check does
    }
    const now = this.options.clock();
    const sentAt = now;
    // Ask for a lease only when no other call of this key is in flight here (so an isolate's share is
    // counted once), for a key that is hot here and, as far as this isolate last heard, has room to lend;
    // otherwise the plain check, exactly as without leases.
    const want = entry.holder.want(now);
    const asksLease =
      entry.inFlight === undefined && want >= this.minUnits && entry.holder.roomAtLeast(this.minRoom, costs, now);
    const call: Promise<CounterAnswer> = asksLease
      ? transport.take(specs, { want, held: entry.holder.held(now) })
      : transport.check(specs);
    const settled = call.then(
      (answer) => {
        if (answer.grant) return this.acceptGrant(entry, answer.grant, sentAt, transport);
        entry.holder.noteResults(resultsOf(answer));
        return false;
      },
      () => false,
    );
    // Only a call that may bring a lease is waited for: a plain check brings none, so no request waits on it.
    if (asksLease) entry.inFlight = settled;
    try {
      const answer = await call;
      await settled;
      if (!answer.allowed) {
        // Refused, while another call of this key may have brought (or may bring) a lease here: its units
        // are charged already, so this request uses one rather than be refused with room in hand (the
        // object could not count what it had lent this isolate as room).
        if (entry.inFlight && entry.inFlight !== settled) await entry.inFlight;
        const local = this.fromLease(entry, specs, transport);
        if (local) return local;
      }
      const { grant, ...decided } = answer;
      if (!grant || !ownRoom) return { ...decided, local: false };
      // This request's own room: the room left with the lease charged, plus the lease's units, not used yet.
      const counters = decided.counters.map((e, i) => {
        const r = grant.results[i];
        return e && r
          ? { ...e, result: { ...r, remaining: Math.min(r.limit, r.remaining + grant.units * (costs[i] ?? 1)) } }
          : e;
      });
      return { ...decided, counters, local: false };
    } finally {
      if (asksLease && entry.inFlight === settled) entry.inFlight = undefined;
    }
  }

  /**
   * Takes units of a key's leases out in one piece, for a shard to sublet to
   * an isolate: `size` says how many, given what is held once a fetch that was
   * needed has come in. They leave this client with their lease's end (no
   * later than the lease this client holds them on). When fewer than wanted
   * are held it fetches more (one call in flight per key, shared with
   * `admit`), and waits for it unless told not to; the units handed on count towards the key's rate, so the next
   * fetch is sized for them.
   */
  async sublet(
    key: string,
    specs: CounterSpec[],
    transport: LeaseTransport,
    wanted: number,
    size: (held: number) => number,
    minLifetimeMs: number,
    waitForFetch = true,
  ): Promise<HeldLease | undefined> {
    const entry = this.entryFor(key, specs, transport);
    const costs = specs.map((s) => s.cost);
    this.giveBackLapsed(entry, transport);
    const bounds = { minUnits: this.minUnits, minRoom: this.minRoom, maxShare: this.maxShare };
    const before = this.options.clock();
    if (entry.holder.held(before) < wanted) {
      // Only when the object would lend more (its share of the room is not held here already): otherwise
      // the call would bring nothing. Sized at least for this ask, which the rate does not count yet.
      if (!entry.inFlight && entry.holder.mayGetMore(before, bounds, costs))
        this.fetch(entry, costs, transport, wanted);
      if (entry.inFlight && waitForFetch) await entry.inFlight;
    }
    const now = this.options.clock();
    const units = size(entry.holder.held(now));
    const taken = units > 0 ? entry.holder.takeUnits(now, units, minLifetimeMs) : undefined;
    // What was handed on counts towards the rate (not what was asked: an isolate asks again and again
    // for what it expects to use in a second, and counting every ask would size blocks for twice the traffic).
    entry.holder.noteRequest(now, taken?.units ?? 0);
    this.refreshIfLow(entry, costs, transport);
    return taken;
  }

  /** Units held for a key at `now` (a shard's `GET /keys` figure). */
  heldFor(key: string): number {
    const now = this.options.clock();
    let sum = 0;
    for (const entry of this.byKey.get(key) ?? []) sum += entry.holder.held(now);
    return sum;
  }

  /** Room per counter for a key as its headers should show it (see `LeaseHolder.results`). */
  resultsFor(key: string, specs: readonly CounterSpec[]): CounterResult[] | undefined {
    return this.entries.get(entryId(key, fingerprintOf(specs)))?.holder.results(
      this.options.clock(),
      specs.map((s) => s.cost),
    );
  }

  /** Puts units of a lease back (a shard's isolate gave back a sublet piece); `false` when it has ended. */
  returnUnits(key: string, leaseId: number, units: number): boolean {
    const now = this.options.clock();
    for (const entry of this.byKey.get(key) ?? []) if (entry.holder.giveBackUnit(leaseId, now, units)) return true;
    return false;
  }

  /**
   * Ends this client's leases of a key whose counters are being reset (all of
   * them, or those holding one of `names`), giving their unused units back; it
   * resolves once the give-backs have been answered. Awaited before the reset,
   * the reset then finds none of these units out, and this isolate's next
   * request of the key asks the object and shows the room the reset left,
   * rather than a lease from before it.
   */
  async endKey(key: string, names?: readonly string[]): Promise<void> {
    const ending = [...(this.byKey.get(key) ?? [])].filter(
      (e) => !names || e.specs.some((s) => names.includes(s.name)),
    );
    // A lease on its way (a refresh) is charged already: taken in first, it is given back with the rest.
    await Promise.all(ending.map((e) => e.inFlight));
    const work: Promise<unknown>[] = [];
    for (const entry of ending) {
      if (!entry.ended) this.end(entry, { waitUntil: (w) => void work.push(w) }, true);
    }
    await Promise.all(work);
  }

  /**
   * Hands back the unit of a request admitted from a lease that turned out
   * not to count (a rollback, a failures-only request that succeeded): it
   * goes back into its lease while the lease lives (it is still charged in
   * the object), and lapses with it otherwise.
   */
  returnUnit(key: string, leaseId: number): void {
    this.returnUnits(key, leaseId, 1);
  }

  /** Keys (sets of counters) tracked now: at most `maxKeys`. */
  get size(): number {
    return this.entries.size;
  }

  /** Units held across all keys (tests, simulation). */
  held(): number {
    const now = this.options.clock();
    let sum = 0;
    for (const entry of this.entries.values()) sum += entry.holder.held(now);
    return sum;
  }

  private entryFor(key: string, specs: CounterSpec[], transport: LeaseTransport): KeyLeases {
    const fingerprint = fingerprintOf(specs);
    const id = entryId(key, fingerprint);
    const existing = this.entries.get(id);
    if (existing) {
      existing.giveBack = transport.giveBack;
      // Used now: it goes to the end of the eviction order.
      this.entries.delete(id);
      this.entries.set(id, existing);
      return existing;
    }
    // Another set of this key's counters stays leased (its leases charged its own counters), unless one
    // of its counters now has other numbers: a published policy changed it, and its leases end.
    for (const other of this.byKey.get(key) ?? []) {
      if (changedCounter(other.specs, specs)) this.end(other, transport);
    }
    if (this.entries.size >= this.maxKeys) {
      this.end(this.entries.values().next().value as KeyLeases, transport);
    }
    const entry: KeyLeases = {
      key,
      fingerprint,
      giveBack: transport.giveBack,
      specs,
      holder: new LeaseHolder(this.options.holderTerms ?? DEFAULT_HOLDER_TERMS),
      ended: false,
    };
    this.entries.set(id, entry);
    const siblings = this.byKey.get(key);
    if (siblings) siblings.push(entry);
    else this.byKey.set(key, [entry]);
    return entry;
  }

  private fromLease(entry: KeyLeases, specs: CounterSpec[], transport: LeaseTransport): CounterAnswer | undefined {
    const now = this.options.clock();
    const leaseId = entry.holder.take(now);
    if (leaseId === undefined) return undefined;
    const costs = specs.map((s) => s.cost);
    const results = entry.holder.results(now, costs) ?? [];
    this.refreshIfLow(entry, costs, transport);
    const counters = results.map((result, i) => ({ result, charge: leasedCharge(specs[i]!, leaseId) }));
    return { now, allowed: true, counters, local: true };
  }

  private refreshIfLow(entry: KeyLeases, costs: readonly number[], transport: LeaseTransport): void {
    const now = this.options.clock();
    const bounds = { minUnits: this.minUnits, minRoom: this.minRoom, maxShare: this.maxShare };
    if (entry.inFlight || !entry.holder.needsRefresh(now, bounds, costs)) return;
    this.fetch(entry, costs, transport);
  }

  /** Fetches the next lease in the background, when the object would lend (as far as this client last heard). */
  private fetch(entry: KeyLeases, costs: readonly number[], transport: LeaseTransport, atLeast = 0): void {
    const now = this.options.clock();
    const want = Math.max(entry.holder.want(now), atLeast);
    if (want < this.minUnits || !entry.holder.roomAtLeast(this.minRoom, costs, now)) return;
    const sentAt = now;
    const work = transport.lend(entry.specs, { want, held: entry.holder.held(now) }).then(
      (grant) => (grant ? this.acceptGrant(entry, grant, sentAt, transport) : false),
      () => false, // a failed refresh only means the next request asks the object itself
    );
    entry.inFlight = work;
    void work.then(() => {
      if (entry.inFlight === work) entry.inFlight = undefined;
    });
    transport.waitUntil(work);
  }

  /** Takes a grant in; `false` when the key's counters changed meanwhile (then it goes straight back). */
  private acceptGrant(entry: KeyLeases, grant: LeaseGrant, sentAt: number, transport: LeaseTransport): boolean {
    if (entry.ended) {
      // The key's counters changed while the lease was on its way: none of it may be used.
      if (grant.units > 0)
        transport.waitUntil(transport.giveBack(entry.specs, grant.id, grant.units).catch(() => undefined));
      return false;
    }
    entry.holder.accept(grant, sentAt);
    return grant.units > 0;
  }

  /** Units of expired leases go back to their window (an isolate stops at expiry, so they are surely unused). */
  private giveBackLapsed(entry: KeyLeases, transport: LeaseTransport): void {
    entry.holder.held(this.options.clock());
    for (const lease of entry.holder.takeLapsed()) {
      transport.waitUntil(transport.giveBack(entry.specs, lease.id, lease.unused).catch(() => undefined));
    }
  }

  /**
   * Ends an entry's leases: unused units go back to the object they came from, kept alive by `current`'s
   * request (`usedUp`: used-up leases are ended there too, see `LeaseHolder.end`).
   */
  private end(entry: KeyLeases, current: Pick<LeaseTransport, "waitUntil">, usedUp = false): void {
    entry.ended = true;
    this.entries.delete(entryId(entry.key, entry.fingerprint));
    const siblings = this.byKey.get(entry.key);
    const at = siblings?.indexOf(entry) ?? -1;
    if (siblings && at >= 0) siblings.splice(at, 1);
    if (siblings?.length === 0) this.byKey.delete(entry.key);
    for (const lease of entry.holder.end(this.options.clock(), usedUp)) {
      current.waitUntil(entry.giveBack(entry.specs, lease.id, lease.unused).catch(() => undefined));
    }
  }
}

/** A request admitted from lease `lease`: undone by handing its unit back into the lease ({@link LeasingClient.returnUnit}). */
function leasedCharge(spec: CounterSpec, lease: number): Charge {
  return {
    name: spec.name,
    algorithm: spec.algorithm,
    cost: spec.cost,
    windowMs: spec.windowMs,
    limit: spec.limit,
    ...(spec.calendar ? { calendar: spec.calendar } : {}),
    lease,
  };
}

function entryId(key: string, fingerprint: string): string {
  return `${key}\u0000${fingerprint}`;
}

/** Whether a counter of `held` has other numbers in `next` (same name, other limit, window, burst or cost). */
function changedCounter(held: readonly CounterSpec[], next: readonly CounterSpec[]): boolean {
  const byName = new Map(next.map((s) => [s.name, fingerprintOf([s])]));
  return held.some((s) => {
    const now = byName.get(s.name);
    return now !== undefined && now !== fingerprintOf([s]);
  });
}
