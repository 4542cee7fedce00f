/**
 * One shard of a key's tree of leases, pure over an injected clock and a
 * transport to the key's root object. The root holds the key's counters and
 * lends large blocks to shards exactly as it lends to isolates (charged and
 * stored before it answers); a shard holds its blocks in memory and sublets
 * small pieces of them to isolates. Every level hands on only what it holds,
 * so the units in use across the tree never exceed what the root charged.
 *
 * Why the chain of lifetimes holds without comparing clocks: a block's end
 * is counted on the shard's clock from when the shard SENT the request for it
 * (less a margin), so it ends no later than the root assumes; a sublet piece
 * lives only as long as its block has left when the shard decides, and the
 * isolate counts that from when it sent its own request, earlier still. So
 * every unit is used within the lifetime the root charged it for, which is
 * what the per-algorithm proofs of leasing need (see ./ledger.ts).
 *
 * The shard keeps nothing in storage: a restarted shard has lost its blocks,
 * whose units stay charged at the root until they end (fewer admissions, never
 * more).
 *
 * What the root sees of a used-up key is bounded per shard: calls that bring
 * nothing (a refusal, an empty lend) spend a budget of `rootCallsPerSecond`
 * a second (bursts of `rootCallBurst`) per key; while it is spent the shard
 * refuses, or lends nothing, itself. Refusing is always safe, so the budget
 * costs admissions only when room comes back a little at a time (a used-up
 * sliding window or bucket under sustained demand), never exactness; calls
 * that admit never spend it, so a key's last units are all admitted.
 * @module
 */
import { resultsOf } from "../limiter/answer";
import { windowBoundsOf } from "../limiter/calendar";
import type { CounterAnswer, CounterResult, CounterSpec } from "../limiter/types";
import { fingerprintOf, type LeaseTransport, LeasingClient } from "./client";
import { DEFAULT_HOLDER_TERMS, type HolderTerms } from "./holder";
import { leaseUnits } from "./ledger";
import { DEFAULT_LEASE_TERMS, type LeaseAsk, type LeaseGrant, type LeaseTerms } from "./types";

/**
 * What the root lends a shard: blocks as large as a shard's traffic for a
 * second, up to this many units, living up to 6 s (a window's block still
 * ends with its window). A block outlives its second of use so that the
 * pieces sublet from it late still have time to run: pieces end with their
 * block, and short-lived pieces would send isolates back for more and lapse
 * with units unused. What a shard does not use goes back when the block ends.
 */
export const BLOCK_LEASE_TERMS: LeaseTerms = { ...DEFAULT_LEASE_TERMS, maxUnits: 20_000, maxLifetimeMs: 6_000 };

/** How a shard asks the root for blocks: a second's worth of what it handed on, fetched well ahead of need. */
export const SHARD_HOLDER_TERMS: HolderTerms = {
  ...DEFAULT_HOLDER_TERMS,
  refreshLeadMs: 300,
  maxWant: BLOCK_LEASE_TERMS.maxUnits,
};

export interface ShardTerms {
  /**
   * How it sublets to isolates (their share of what it holds, the most in
   * one piece, the least worth one). The share is half, not the root's
   * eighth: what a shard holds is already its own share of the root, sized
   * for its isolates' second of traffic, and pieces an eighth of a small
   * block would send them back for more at every few requests.
   */
  sublet: LeaseTerms;
  /** A piece shorter-lived than this is taken from a younger block when there is one. */
  minSubletLifetimeMs: number;
  /**
   * A refusal from the root is answered here for at most this long (or until
   * it runs out, if sooner), so that a used-up key costs the root a call per
   * shard per interval, not one per request. Room can come back earlier (a
   * block given back), hence the cap.
   */
  maxRefusalMemoryMs: number;
  /**
   * A refusal is answered here for at least this long, even when the root
   * said room comes back sooner (a sliding window or a token bucket used up
   * by sustained demand gives room back a unit at a time, each with a retry
   * in milliseconds): refusing is always safe, and meanwhile the room that
   * comes back gathers at the root, to be lent in a block to the next shard
   * that asks instead of being decided a request per call. Answers carry the
   * memory's rest as their retry (never the root's longer one: room can come
   * back through the tree sooner), so isolates refuse for as long without
   * calling, and ask again after.
   */
  minRefusalMemoryMs: number;
  /**
   * The most calls per second (and at once, after a quiet spell) that bring
   * nothing back (a refusal, an empty lend) a shard makes to the root for a
   * key. Past that it refuses, or lends nothing, itself until the budget
   * refills: always safe, and it bounds what a used-up key costs the root
   * (N shards times this), e.g. room that comes back a unit at a time under
   * sustained demand. Calls that admit or lend do not spend it.
   */
  rootCallsPerSecond: number;
  rootCallBurst: number;
  /**
   * After a block asked for ahead of need came back empty (the root's room
   * is short, or this shard holds its share of it), no such ask for this
   * long: as a key runs out, every shard would otherwise keep asking in vain.
   * (A request the shard cannot serve still goes to the root, within the
   * budget, and a block can come with its answer.)
   */
  emptyLendBackoffMs: number;
  /** How it asks the root (sizes, lead time, the margin on a block's end). */
  holder: HolderTerms;
  /** What the root lends under (`BLOCK_LEASE_TERMS`): a shard does not ask for less than it lends. */
  root: LeaseTerms;
}

/**
 * An isolate may take up to half of what its shard holds in one piece: a
 * block is already at most an eighth of the root's room (that share bounds
 * what the tree can strand near the limit), and a shard's block is sized for
 * its isolates' next second.
 */
export const SUBLET_TERMS: LeaseTerms = { ...DEFAULT_LEASE_TERMS, maxShare: 1 / 2 };

export const DEFAULT_SHARD_TERMS: ShardTerms = {
  sublet: SUBLET_TERMS,
  minSubletLifetimeMs: 500,
  maxRefusalMemoryMs: 1_000,
  minRefusalMemoryMs: 100,
  rootCallsPerSecond: 10,
  rootCallBurst: 3,
  emptyLendBackoffMs: 500,
  holder: SHARD_HOLDER_TERMS,
  root: BLOCK_LEASE_TERMS,
};

/**
 * The object name of a key's shard: no counting key starts with `shard:`
 * (they start `ip:`, `tenant:`, `header:`, `query:`, `body:`, `custom:` or
 * `sandbox:`), so a shard never shares an object with a root.
 */
export function shardName(key: string, shard: number): string {
  return `shard:${shard}:${key}`;
}

/**
 * The object name of a key's regional shard: `shard:<region>:<n>:<key>`,
 * created in `region` by its location hint, for the isolates of that region
 * (a region is a hint's name, never a number, so it never meets a hashed
 * shard's name).
 */
export function regionalShardName(key: string, region: string, shard: number): string {
  return `shard:${region}:${shard}:${key}`;
}

/**
 * An isolate's shard of a key: a number it draws once for its life plus a
 * hash of the key (FNV-1a), modulo the shard count. Stable per isolate and
 * key, spread over isolates (and, for one isolate, over keys).
 */
export function shardOf(key: string, isolateDraw: number, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash + isolateDraw) % shards;
}

/** A sublet piece, remembered so that what an isolate gives back goes into its block once. */
interface Sublet {
  block: number;
  units: number;
  /** Shard clock: the block's end. */
  until: number;
}

/** A refusal from the root, answered here until it runs out instead of asking the root again. */
interface RememberedRefusal {
  /** The counters it was refused under (`fingerprintOf`). */
  fingerprint: string;
  /** The root's answer (its `now`: the root's clock then). */
  answer: CounterAnswer;
  /** Shard clock when it came in, and when it runs out. */
  at: number;
  until: number;
}

/** Most sublet pieces remembered at once; the oldest are forgotten (what they give back lapses). */
const MAX_SUBLETS = 4_096;

export interface ShardView {
  /** Units this shard holds on its blocks, not yet sublet. */
  held: number;
  /** Units sublet to isolates whose blocks have not ended. */
  sublet: number;
}

export class ShardLender {
  private readonly client: LeasingClient;
  private readonly sublets = new Map<number, Sublet>();
  private readonly refusals = new Map<string, RememberedRefusal>();
  /** When each block came in (shard clock), to tell whether the window it was charged to is over. */
  private readonly blockTimes = new Map<number, number>();
  /** Per key: no block is asked for ahead of need before this time (shard clock). */
  private readonly lendBackoff = new Map<string, number>();
  /** Per budget and key: calls to the root that may be made now, and when that was counted (shard clock). */
  private readonly budgets = new Map<string, { calls: number; at: number }>();
  private nextId: number;

  constructor(
    private readonly clock: () => number,
    private readonly terms: ShardTerms = DEFAULT_SHARD_TERMS,
    firstId = Math.floor(Math.random() * 2 ** 40) * 1_024,
  ) {
    this.nextId = firstId;
    this.client = new LeasingClient({
      clock,
      holderTerms: terms.holder,
      minUnits: terms.root.minUnits,
      minRoom: terms.root.minRoom,
      maxShare: terms.root.maxShare,
      // A shard's calls to its root may cross an ocean: waiting behind a chain of them is what made far
      // regions wait seconds and fail open (`npm run simulate -- --geo`), so it waits for one at most.
      maxSharedWaits: 1,
    });
  }

  /**
   * An isolate holds nothing: decide this request from a block (or, with none
   * held, at the root, which lends the next block with its answer) and sublet
   * a piece for the requests to come. `want: 0` is a plain check.
   */
  async take(key: string, specs: CounterSpec[], ask: LeaseAsk, root: LeaseTransport): Promise<CounterAnswer> {
    const remembered = this.rememberedRefusal(key, specs);
    if (remembered && this.client.heldFor(key) === 0) return remembered;
    root = this.budgeted(key, root);
    // The root's figures as they came: what this shard holds is not the isolate's room.
    const { local, ...answer } = await this.client.admit(key, specs, root, false);
    if (!answer.allowed) {
      this.rememberRefusal(key, specs, answer);
      return this.rememberedRefusal(key, specs) ?? answer;
    }
    this.refusals.delete(key);
    // This request is decided: sublet what is held now rather than wait for the next block.
    const grant = ask.want > 0 ? await this.sublet(key, specs, ask, root, false) : undefined;
    const granted = grant ? { grant } : {};
    if (!local) return { ...answer, ...granted };
    // A request decided here from a block has no charge of its own at the root to give back: its unit
    // was charged with the block, and lapses with it. Its room: what this shard has left after the sublet.
    const results = this.client.resultsFor(key, specs) ?? resultsOf(answer);
    return { now: this.clock(), allowed: true, counters: results.map((result) => ({ result })), ...granted };
  }

  /** An isolate fetches its next piece ahead of need (no request decided). */
  async lend(key: string, specs: CounterSpec[], ask: LeaseAsk, root: LeaseTransport): Promise<LeaseGrant | undefined> {
    return this.sublet(key, specs, ask, this.budgeted(key, root), true);
  }

  /** An isolate gives back a piece's unused units: into its block while the block lives; they lapse otherwise. */
  giveBack(key: string, id: number, unused: number): void {
    const piece = this.sublets.get(id);
    if (!piece) return;
    this.sublets.delete(id);
    const units = Math.min(piece.units, Math.max(0, Math.floor(unused)));
    if (units > 0) this.client.returnUnits(key, piece.block, units);
  }

  /** What this shard holds and has sublet (admin `GET /keys`). */
  view(key: string): ShardView {
    const now = this.clock();
    let sublet = 0;
    for (const piece of this.sublets.values()) if (piece.until > now) sublet += piece.units;
    return { held: this.client.heldFor(key), sublet };
  }

  /**
   * Admin `DELETE /keys`: forget remembered refusals and the budget. The blocks stay: the
   * root's reset keeps units out on leases charged, as if just charged, so
   * they remain this shard's to sublet.
   */
  reset(key: string): void {
    this.refusals.delete(key);
    // Calls made before the reset say nothing of the room after it.
    this.budgets.delete(`nothing\u0000${key}`);
    this.budgets.delete(`oneByOne\u0000${key}`);
    this.lendBackoff.delete(key);
  }

  private async sublet(
    key: string,
    specs: CounterSpec[],
    ask: LeaseAsk,
    root: LeaseTransport,
    waitForBlock: boolean,
  ): Promise<LeaseGrant | undefined> {
    const terms = this.terms.sublet;
    if (ask.want < terms.minUnits) return undefined;
    const wanted = Math.min(ask.want, terms.maxUnits);
    const size = (held: number) => leaseUnits({ want: wanted, held: ask.held }, held, { ...terms, minRoom: 0 });
    const piece = await this.client.sublet(
      key,
      specs,
      root,
      wanted,
      size,
      this.terms.minSubletLifetimeMs,
      waitForBlock,
    );
    if (!piece) return undefined;
    const now = this.clock();
    const lifetimeMs = piece.expiresAt - now;
    if (lifetimeMs <= 0) return undefined;
    const id = this.nextId++;
    this.remember(id, { block: piece.id, units: piece.units, until: piece.expiresAt }, now);
    const results: CounterResult[] = this.client.resultsFor(key, specs) ?? [];
    return { id, units: piece.units, lifetimeMs, results };
  }

  private remember(id: number, piece: Sublet, now: number): void {
    for (const [known, p] of this.sublets) if (p.until <= now) this.sublets.delete(known);
    while (this.sublets.size >= MAX_SUBLETS) this.sublets.delete(this.sublets.keys().next().value as number);
    this.sublets.set(id, piece);
  }

  /** The root's calls within this shard's budget for the key; past it, a refusal (or no block) from here. */
  private budgeted(key: string, root: LeaseTransport): LeaseTransport {
    // Two budgets, each a token bucket per key. Calls that bring nothing (a refusal, an empty lend) spend
    // `nothing`; requests decided one by one at the root (plain checks, takes that lend nothing: the key's
    // room is small) spend `oneByOne`, whose burst covers a key's last units (fewer than the root's minRoom),
    // so a burst at the limit admits all of them. Calls that bring a block spend neither: blocks are what
    // the budgets make room for.
    const perMs = this.terms.rootCallsPerSecond / 1_000;
    const bucket = (name: "nothing" | "oneByOne", burst: number): { calls: number; at: number } => {
      const now = this.clock();
      const id = `${name}\u0000${key}`;
      const b = this.budgets.get(id) ?? { calls: burst, at: now };
      b.calls = Math.min(burst, b.calls + Math.max(0, now - b.at) * perMs);
      b.at = now;
      this.budgets.set(id, b);
      return b;
    };
    const nothing = () => bucket("nothing", this.terms.rootCallBurst);
    const oneByOne = () => bucket("oneByOne", this.terms.root.minRoom);
    /** 0 while a call may be made, else how long until one may. */
    const waitFor = (b: { calls: number }): number => (b.calls >= 1 ? 0 : Math.ceil((1 - b.calls) / perMs));
    // A sliding window or a bucket gives room back a little at a time: under sustained demand a used-up key
    // would be decided unit by unit, and small blocks lent one after another. For those every call spends
    // `nothing` (a burst at their limit may then refuse some of its last units: fewer admissions, never
    // more). A fixed window's room only shrinks until it turns, so its last units are few and final.
    const trickles = (specs: readonly CounterSpec[]) => specs.some((s) => s.algorithm !== "fixed");
    const wait = (specs: readonly CounterSpec[], plain: boolean): number =>
      Math.max(waitFor(nothing()), plain && !trickles(specs) ? waitFor(oneByOne()) : 0);
    // Calls run side by side: a budget is never taken below empty (its debt would refuse for seconds).
    const take1 = (b: { calls: number }): void => {
      b.calls = Math.max(0, b.calls - 1);
    };
    /** Before a call: a key whose room trickles back pays for every call up front. */
    const reserve = (specs: readonly CounterSpec[]): void => {
      if (trickles(specs)) take1(nothing());
    };
    /** After a call, for a fixed window's key: what it brought says which budget pays. */
    const spendFor = (specs: readonly CounterSpec[], admitted: boolean, lent: boolean): void => {
      if (trickles(specs)) return;
      if (!admitted) take1(nothing());
      else if (!lent) take1(oneByOne());
    };
    const refusal = (specs: CounterSpec[], waitMs: number): CounterAnswer => {
      const now = this.clock();
      // Its reset is the budget's: this answer also reaches this shard's own leasing client as the root's
      // room, and a figure of none until a window's end would keep it from asking for blocks till then.
      const results = specs.map((s) => ({
        name: s.name,
        allowed: false,
        limit: s.algorithm === "token-bucket" ? (s.burst ?? s.limit) : s.limit,
        remaining: 0,
        resetAt: now + waitMs,
        retryAfterMs: waitMs,
      }));
      return { now, allowed: false, counters: results.map((result) => ({ result })) };
    };
    return {
      check: async (specs) => {
        const waitMs = wait(specs, true);
        if (waitMs > 0) return refusal(specs, waitMs);
        reserve(specs);
        const answer = await root.check(specs);
        spendFor(specs, answer.allowed, false);
        return answer;
      },
      take: async (specs, ask) => {
        const waitMs = wait(specs, false);
        if (waitMs > 0) return refusal(specs, waitMs);
        reserve(specs);
        const answer = await root.take(specs, ask);
        if (answer.grant) this.noteBlock(answer.grant.id);
        spendFor(specs, answer.allowed, answer.grant !== undefined);
        return answer;
      },
      // The root lends nothing that would live less than its minLifetimeMs: not worth a call.
      lend: async (specs, ask) => {
        if (this.closing(specs) || (this.lendBackoff.get(key) ?? 0) > this.clock() || wait(specs, false) > 0)
          return undefined;
        reserve(specs);
        const grant = await root.lend(specs, ask);
        if (grant) this.noteBlock(grant.id);
        else {
          spendFor(specs, false, false);
          this.lendBackoff.set(key, this.clock() + this.terms.emptyLendBackoffMs);
        }
        return grant;
      },
      // Units given back go only to the window they were charged to while it is current (a bucket takes
      // nothing back): a give-back that would come too late is not worth a call.
      giveBack: async (specs, id, unused) => {
        const at = this.blockTimes.get(id);
        this.blockTimes.delete(id);
        if (specs.every((s) => s.algorithm === "token-bucket") || this.closing(specs)) return;
        if (at !== undefined && this.windowTurned(specs, at)) return;
        await root.giveBack(specs, id, unused);
      },
      waitUntil: (work) => root.waitUntil(work),
    };
  }

  private noteBlock(id: number): void {
    while (this.blockTimes.size >= MAX_SUBLETS) this.blockTimes.delete(this.blockTimes.keys().next().value as number);
    this.blockTimes.set(id, this.clock());
  }

  /** Whether a window of these counters has turned, by this shard's clock, since `at`. */
  private windowTurned(specs: readonly CounterSpec[], at: number): boolean {
    const now = this.clock();
    return specs.some(
      (s) =>
        (s.algorithm === "fixed" || s.algorithm === "sliding") &&
        windowBoundsOf(s, now).start !== windowBoundsOf(s, at).start,
    );
  }

  /** Whether a window of these counters ends, by this shard's clock, sooner than the root would lend for. */
  private closing(specs: readonly CounterSpec[]): boolean {
    const now = this.clock();
    return specs.some(
      (s) =>
        (s.algorithm === "fixed" || s.algorithm === "sliding") &&
        windowBoundsOf(s, now).end - now < this.terms.root.minLifetimeMs,
    );
  }

  private rememberRefusal(key: string, specs: readonly CounterSpec[], answer: CounterAnswer): void {
    const waitMs = Math.min(
      this.terms.maxRefusalMemoryMs,
      Math.max(
        this.terms.minRefusalMemoryMs,
        ...resultsOf(answer)
          .filter((r) => !r.allowed)
          .map((r) => r.retryAfterMs),
      ),
    );
    if (waitMs <= 0) return;
    const at = this.clock();
    this.refusals.set(key, { fingerprint: fingerprintOf(specs), answer, at, until: at + waitMs });
  }

  /** A refusal still running, with its times moved on by what has passed here since. */
  private rememberedRefusal(key: string, specs: readonly CounterSpec[]): CounterAnswer | undefined {
    const hit = this.refusals.get(key);
    // A refusal under other numbers (a published policy changed the limit) says nothing about these.
    if (!hit || hit.fingerprint !== fingerprintOf(specs)) return undefined;
    const now = this.clock();
    if (hit.until <= now) {
      this.refusals.delete(key);
      return undefined;
    }
    const passed = now - hit.at;
    // A refused counter's retry is this memory's rest: this shard refuses until then, and asks the root
    // again after it (room can come back sooner than the root said: blocks and pieces given back).
    const counters = hit.answer.counters.map(
      (e) => e && { ...e, result: { ...e.result, retryAfterMs: e.result.allowed ? 0 : hit.until - now } },
    );
    return { ...hit.answer, counters, now: hit.answer.now + passed };
  }
}
