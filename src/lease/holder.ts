/**
 * The isolate's side of one key's leases, pure: admit from memory while a
 * lease has units and time, estimate the key's rate to size the next ask,
 * and say when to fetch the next lease before this one runs dry.
 *
 * Expiry is measured on the isolate's own clock from when it SENT the
 * request for the lease: the object started the lifetime no earlier than
 * that, so the isolate stops no later than the object assumes, whatever the
 * two clocks read. A margin covers clocks that only advance at I/O.
 * @module
 */
import type { CounterResult } from "../limiter/types";
import type { LeaseGrant } from "./types";

export interface HolderTerms {
  /** Subtracted from every lifetime: the isolate's clock may lag real time by this much at a decision. */
  safetyMs: number;
  /** Fetch the next lease when the units held will not last this long at the observed rate. */
  refreshLeadMs: number;
  /** The rate is measured over slots of this length (the current one and the one before). */
  rateSlotMs: number;
  /** Ask for what the observed rate uses in this long (or the lease's lifetime, when shorter). */
  horizonMs: number;
  /** Most units asked for at once. */
  maxWant: number;
}

export const DEFAULT_HOLDER_TERMS: HolderTerms = {
  safetyMs: 25,
  refreshLeadMs: 150,
  rateSlotMs: 250,
  horizonMs: 1_000,
  maxWant: 1_000,
};

/** What the object lends under (its `LeaseTerms`), so that an isolate does not ask in vain. */
export interface LendingBounds {
  minUnits: number;
  minRoom: number;
  maxShare: number;
}

export interface HeldLease {
  id: number;
  units: number;
  /** On the isolate's clock: no unit is used at or after this. */
  expiresAt: number;
}

/** A lease that ended with units unused, to be given back. */
export interface EndedLease {
  id: number;
  unused: number;
}

export class LeaseHolder {
  private leases: HeldLease[] = [];
  /** Leases that expired with units unused: to be given back (their window may still use them). */
  private lapsed: EndedLease[] = [];
  /** Room the object reported after its latest grant, per counter (for honest headers). */
  private latest: CounterResult[] | undefined;
  private slotStart = Number.NEGATIVE_INFINITY;
  private slotCount = 0;
  private previousSlotCount = 0;
  private lastLifetimeMs = 0;
  /** When the lease that lifetime came with ends: past it, the lifetime says nothing of the next one. */
  private lastLifetimeUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly terms: HolderTerms = DEFAULT_HOLDER_TERMS) {}

  /**
   * Counts a request towards the rate (every request of the key, admitted or
   * not); a shard counts the units it hands on to isolates the same way.
   */
  noteRequest(now: number, count = 1): void {
    const slots = Math.floor((now - this.slotStart) / this.terms.rateSlotMs);
    if (slots >= 1) {
      this.previousSlotCount = slots === 1 ? this.slotCount : 0;
      this.slotCount = 0;
      this.slotStart = Number.isFinite(this.slotStart)
        ? this.slotStart + slots * this.terms.rateSlotMs
        : now - (now % this.terms.rateSlotMs);
    }
    this.slotCount += count;
  }

  /** Requests per ms, over the current slot and the one before. */
  rate(now: number): number {
    if (!Number.isFinite(this.slotStart)) return 0;
    const elapsed = Math.max(0, now - this.slotStart) + this.terms.rateSlotMs;
    return (this.slotCount + this.previousSlotCount) / elapsed;
  }

  /**
   * Units to ask for: what the observed rate uses within a lease's lifetime
   * (the latest lease's, while it lasts: a lease that a window's end cut
   * short does not shrink the asks of the next window, where it would keep a
   * slow isolate asking for less than is lent, and so for nothing, for good).
   * Nothing for a key seen only once lately: a lone request is no rate, and
   * room lent to it would only be stranded.
   */
  want(now: number): number {
    if (this.slotCount + this.previousSlotCount < 2) return 0;
    const horizon =
      this.lastLifetimeMs > 0 && now < this.lastLifetimeUntil
        ? Math.min(this.lastLifetimeMs, this.terms.horizonMs)
        : this.terms.horizonMs;
    return Math.min(this.terms.maxWant, Math.ceil(this.rate(now) * horizon));
  }

  /** Admits one request from a lease that has a unit and time left; returns that lease's id. */
  take(now: number): number | undefined {
    this.dropExpired(now);
    // Used-up leases stay until they expire: a unit handed back (a rollback) may still go into them.
    const lease = this.leases.find((l) => l.units > 0);
    if (!lease) return undefined;
    lease.units--;
    return lease.id;
  }

  /**
   * Takes up to `units` units out of one lease, to be handed on whole (a
   * shard subletting to an isolate): the soonest-ending lease that still has
   * `minLifetimeMs` to run, else the one that runs longest. They keep their
   * lease's end; this holder no longer admits from them.
   */
  takeUnits(now: number, units: number, minLifetimeMs: number): HeldLease | undefined {
    this.dropExpired(now);
    const stocked = this.leases.filter((l) => l.units > 0);
    if (stocked.length === 0 || units <= 0) return undefined;
    const lease = stocked.find((l) => l.expiresAt - now >= minLifetimeMs) ?? stocked[stocked.length - 1]!;
    const taken = Math.min(units, lease.units);
    lease.units -= taken;
    return { id: lease.id, units: taken, expiresAt: lease.expiresAt };
  }

  /** Puts units back into their lease, if that lease is still live (otherwise they lapse with it). */
  giveBackUnit(id: number, now: number, units = 1): boolean {
    this.dropExpired(now);
    const lease = this.leases.find((l) => l.id === id);
    if (lease) lease.units += units;
    return lease !== undefined;
  }

  /** Units held at `now` on live leases. */
  held(now: number): number {
    this.dropExpired(now);
    return this.leases.reduce((sum, l) => sum + l.units, 0);
  }

  /**
   * Whether to fetch the next lease now: the units held will not last through
   * the lead time, and the object would lend (its room, as last heard, is
   * not small, and this isolate does not hold its share of it already).
   */
  needsRefresh(now: number, lending: LendingBounds, costs: readonly number[]): boolean {
    const rate = this.rate(now);
    if (rate <= 0 || this.want(now) < lending.minUnits || !this.latest) return false;
    const room = Math.min(...this.latest.map((r, i) => Math.floor(r.remaining / (costs[i] ?? 1))));
    const held = this.held(now);
    // Ask once at least half the share can come (small top-ups would cost a call each for little).
    const share = Math.floor((room + held) * lending.maxShare);
    if (room < lending.minRoom || share - held < Math.max(lending.minUnits, share / 2)) return false;
    const soon = now + this.terms.refreshLeadMs;
    const lasting = this.leases.filter((l) => l.expiresAt > soon).reduce((sum, l) => sum + l.units, 0);
    return lasting < rate * this.terms.refreshLeadMs;
  }

  /**
   * Whether the object would lend this holder more, as far as it last heard:
   * its room is not small, and this holder's share of it is not held already.
   */
  mayGetMore(now: number, lending: LendingBounds, costs: readonly number[]): boolean {
    if (!this.latest) return false;
    const room = Math.min(...this.latest.map((r, i) => Math.floor(r.remaining / (costs[i] ?? 1))));
    const held = this.held(now);
    return room >= lending.minRoom && Math.floor((room + held) * lending.maxShare) - held >= lending.minUnits;
  }

  /** Takes a grant that answered a request sent at `sentAt` (isolate clock). */
  accept(grant: LeaseGrant, sentAt: number): void {
    this.lastLifetimeMs = grant.lifetimeMs;
    this.noteResults(grant.results);
    const expiresAt = sentAt + grant.lifetimeMs - this.terms.safetyMs;
    this.lastLifetimeUntil = expiresAt;
    if (grant.units <= 0 || expiresAt <= sentAt) return;
    this.leases.push({ id: grant.id, units: grant.units, expiresAt });
    this.leases.sort((a, b) => a.expiresAt - b.expiresAt);
  }

  /**
   * Notes the room the object reported (with a grant, or on a plain answer).
   * Answers may arrive in another order than the object gave them: per
   * counter, the figure of the later window wins, and within a window the
   * lower one (room there only shrinks, but for give-backs, which the
   * headers then under-state), so the headers never count room twice.
   */
  noteResults(results: CounterResult[]): void {
    const latest = this.latest;
    if (!latest || latest.length !== results.length) {
      this.latest = results;
      return;
    }
    this.latest = results.map((r, i) => {
      const seen = latest[i]!;
      if (seen.name !== r.name || r.resetAt > seen.resetAt) return r;
      if (r.resetAt < seen.resetAt) return seen;
      return r.remaining < seen.remaining ? r : seen;
    });
  }

  /**
   * Room per counter as an admitted request's headers should show it: what
   * the object had left after its latest grant, plus the units this isolate
   * still holds (they were counted as used there). With one isolate that is
   * exact; with several it is the object's figure at the latest grant.
   */
  results(now: number, costs: readonly number[]): CounterResult[] | undefined {
    if (!this.latest) return undefined;
    const held = this.held(now);
    return this.latest.map((r, i) => ({
      ...r,
      remaining: Math.min(r.limit, r.remaining + held * (costs[i] ?? 1)),
    }));
  }

  /**
   * Whether every counter had room for `requests` more when the object last
   * answered (unknown: no). A counter whose figure has reached its reset time
   * by `now` counts as having room: its window has turned (or its bucket has
   * refilled), and the figure says nothing of the new one. (Clocks may differ:
   * then the object decides the request as a plain check would, and lends
   * nothing.)
   */
  roomAtLeast(requests: number, costs: readonly number[], now = Number.NEGATIVE_INFINITY): boolean {
    if (!this.latest) return false;
    return this.latest.every((r, i) => r.resetAt <= now || Math.floor(r.remaining / (costs[i] ?? 1)) >= requests);
  }

  /**
   * Ends every lease (a policy change, eviction): what is unused goes back.
   * `usedUp`: used-up leases too, with nothing unused (a reset: the object
   * would otherwise keep their units charged through it until they end, though
   * none of them can be used any more).
   */
  end(now: number, usedUp = false): EndedLease[] {
    this.dropExpired(now);
    const ended = [
      ...this.takeLapsed(),
      ...this.leases.filter((l) => usedUp || l.units > 0).map((l) => ({ id: l.id, unused: l.units })),
    ];
    this.leases = [];
    return ended;
  }

  /** Expired leases with units left, handed over once each. */
  takeLapsed(): EndedLease[] {
    const lapsed = this.lapsed;
    this.lapsed = [];
    return lapsed;
  }

  private dropExpired(now: number): void {
    while (this.leases.length > 0 && this.leases[0]!.expiresAt <= now) {
      const lease = this.leases.shift()!;
      if (lease.units > 0) this.lapsed.push({ id: lease.id, unused: lease.units });
    }
  }
}
