/**
 * The counter store: one object per counting key (a tenant, an IP, a hashed
 * email address), holding every counter of that key in SQLite and a copy in
 * memory. Called over RPC; it loads state, calls the pure `decide`, and
 * stores the result. All of a request's counters for this key are checked
 * and charged in one call, so the check-and-charge is atomic.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { COUNTERS_SCHEMA, MIGRATIONS } from "../../migrations";
import type { CheckRequest, InspectResponse } from "../engine/ports";
import type { LeaseTransport } from "../lease/client";
import { carryLent, keepLent, leasedOut, lend, takeBack } from "../lease/ledger";
import { BLOCK_LEASE_TERMS, ShardLender, type ShardView } from "../lease/shard";
import { takeAndLend } from "../lease/take";
import { DEFAULT_LEASE_TERMS, type LeaseGrant, type LeaseTerms } from "../lease/types";
import { answerOf } from "../limiter/answer";
import { giveBack, peekOne } from "../limiter/decide";
import { keepReserved, waitingAt, waitingListOf } from "../limiter/delay";
import { stateExpiresAt } from "../limiter/expiry";
import { decideWithShadowAndPenalties, runningPenalties } from "../limiter/penalty";
import type { AskedCounter, Charge, CounterAnswer, CounterResult, CounterSpec, CounterState } from "../limiter/types";
import { logEvent } from "../log";
import { countActivation, countAlarm, countCall } from "../observability/object-counts";
import { decideEach, type Settled } from "./check-batch";
import { applyMigrations, schemaVersion } from "./migrations";
import { rootTransport } from "./rate-limiter-client";
import type { StatsStore } from "./stats-store";
import { reportNotifications } from "./stats-store-client";
import { corruptUntil, exhaustedResult, parseStoredState } from "./stored-state";
import { deliverDue, findCrossings, writeCrossings } from "./threshold-outbox";

/** At most this many counters in one object; a policy needs far fewer (rules × limits). */
export const MAX_COUNTERS_PER_OBJECT = 1024;
/** Rows per upsert statement: three bound parameters each, under SQLite's cap of 100 per statement. */
const ROWS_PER_STATEMENT = 32;
/** The object's epoch, in its key-value storage (beside the counters' table, in the same database). */
const EPOCH_KEY = "epoch";
/** Its name in the object counts (src/observability/object-counts.ts). */
const CLASS = "RateLimiter";

/** The bindings this object reads: its own namespace, to call a key's root when it serves as a shard. */
export interface RateLimiterEnv {
  LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Where the threshold webhooks' delivery reports go (the fleet figures); absent: not reported. */
  STATS?: DurableObjectNamespace<StatsStore>;
  /** Secret: signs the threshold webhooks (`x-sluice-signature`). */
  THRESHOLD_WEBHOOK_SECRET?: string;
}

interface Row {
  name: string;
  state: string;
  expires_at: number;
  [key: string]: SqlStorageValue;
}

export class RateLimiter extends DurableObject<RateLimiterEnv> {
  private readonly states = new Map<string, CounterState>();
  private readonly expiries = new Map<string, number>();
  /** Rows that did not read back as a counter: used up until the time given (see stored-state.ts). */
  private readonly corrupt = new Map<string, number>();
  /** When the alarm is set for; `undefined` until this activation has set one (it is not read at start, to keep activation cheap). */
  private alarmAt: number | null | undefined = undefined;
  /** Whether the counters table exists: a new object creates it with its first write, in the same statement. */
  private hasTable = false;
  private startupError: unknown;
  /** The latest time this object has decided at: its clock never runs backwards. */
  private lastNow = 0;
  /** Lease ids: a random base per activation, so a restarted object does not reuse one still out. */
  private nextLeaseId = Math.floor(Math.random() * 2 ** 40) * 1_024;
  /** Set when this object serves as a shard of a key's tree of leases (memory only). */
  private shard: ShardLender | undefined;
  /**
   * The epoch a counter created now starts in (stored, read once per activation): each reset starts
   * the next, so a charge made before a reset holds nothing in any state of that counter after it.
   */
  private epochValue: number | undefined;
  private checkCalls = 0;
  /** `checkBatch` calls, and the checks they carried. */
  private batchCalls = 0;
  private batchedChecks = 0;

  constructor(ctx: DurableObjectState, env: RateLimiterEnv) {
    super(ctx, env);
    // SQLite calls are synchronous, so loading here finishes before any call is delivered: no
    // blockConcurrencyWhile (and its extra turn) is needed on this path, which every activation takes.
    // A failure is kept and rethrown to callers rather than thrown here, so the object is not wedged;
    // the next call tries again.
    try {
      this.load();
    } catch (e) {
      this.startupError = e;
    }
    countActivation(CLASS, this.hasTable);
  }

  /** Checks every counter; charges them all only when all have room. */
  check(request: CheckRequest): CounterAnswer {
    countCall(CLASS, "check");
    this.checkCalls++;
    return this.checkOne(request);
  }

  /**
   * Concurrent checks of one isolate in one call, decided in order exactly as separate `check` calls
   * arriving in that order, their writes one write set (see `check-batch.ts`): one answer per check.
   */
  checkBatch(requests: CheckRequest[]): Settled<CounterAnswer>[] {
    countCall(CLASS, "checkBatch");
    if (!Array.isArray(requests)) throw new TypeError("checkBatch: requests must be an array of check requests");
    this.checkCalls++;
    this.batchedChecks += requests.length;
    this.batchCalls++;
    return decideEach(requests, (request) => this.checkOne(request));
  }

  /** Check calls (`check`, `checkBatch`) this activation has answered, and the checks they carried (tests). */
  checkCounts(): { calls: number; checks: number } {
    return { calls: this.checkCalls, checks: this.checkCalls - this.batchCalls + this.batchedChecks };
  }

  private checkOne(request: CheckRequest): CounterAnswer {
    this.ready();
    const now = this.now();
    const enforced = request.counters.filter((c) => !c.shadow);
    const usedUp = this.usedUp(request.counters, now);
    if (usedUp) return usedUp;
    const leaseId = request.counters.some((c) => c.algorithm === "concurrency") ? crypto.randomUUID() : "";
    // A shadow counter whose row is corrupt says "would refuse" and is not charged; the others go to decide.
    const shadow = request.counters.filter((c) => c.shadow && !this.corrupt.has(c.name));
    const decided = decideWithShadowAndPenalties(
      this.states,
      enforced,
      shadow,
      request.penalties ?? [],
      now,
      leaseId,
      this.epoch(),
      request.delay,
    );
    this.store(decided.updates, [...enforced, ...shadow], now);
    return answerOf(request.counters, decided, now, (spec) => {
      const until = this.corrupt.get(spec.name);
      return until !== undefined ? exhaustedResult(spec, until, now) : undefined;
    });
  }

  /** Gives back charges (a refund, a released slot, or a rollback). */
  release(charges: Charge[]): void {
    countCall(CLASS, "release");
    this.ready();
    const now = this.now();
    const updates = giveBack(this.states, charges, now);
    this.store(
      updates,
      charges.map((c) => ({
        name: c.name,
        algorithm: c.algorithm,
        limit: c.limit,
        windowMs: c.windowMs,
        cost: c.cost,
        ...(c.calendar ? { calendar: c.calendar } : {}),
      })),
      now,
    );
  }

  /**
   * Leased quota: decides this request exactly as `check` does and, when it
   * is admitted, lends room for up to `want` more, charged and stored before
   * this answers. `held` is what the caller still holds on earlier leases;
   * `toShard`: the caller is a shard of this key's tree, lent larger blocks.
   */
  take(counters: CounterSpec[], want: number, held: number, toShard = false): CounterAnswer {
    countCall(CLASS, "take");
    this.ready();
    const now = this.now();
    // A corrupt row is used up until it expires: decided as `check` decides it, and nothing is lent.
    const usedUp = this.usedUp(counters, now);
    if (usedUp) return usedUp;
    const { answer, updates } = takeAndLend(
      this.states,
      counters,
      now,
      { want, held },
      this.leaseId(),
      lendingTerms(toShard),
      this.epoch(),
    );
    this.store(updates, counters, now);
    return answer;
  }

  /** Lends room only (an isolate fetching its next lease ahead of need); `null` when none is lent. */
  lend(counters: CounterSpec[], want: number, held: number, toShard = false): LeaseGrant | null {
    countCall(CLASS, "lend");
    this.ready();
    const now = this.now();
    if (this.usedUp(counters, now)) return null;
    const { grant, updates } = lend(
      this.states,
      counters,
      now,
      { want, held },
      this.leaseId(),
      lendingTerms(toShard),
      this.epoch(),
    );
    this.store(updates, counters, now);
    return grant ?? null;
  }

  /** Ends a lease: its unused units go back to a window still current. Counted once per lease. */
  giveBack(counters: CounterSpec[], id: number, unused: number): void {
    countCall(CLASS, "giveBack");
    this.ready();
    const now = this.now();
    this.store(takeBack(this.states, counters, now, id, unused), counters, now);
  }

  /**
   * Tree of leases, shard side: this object is a shard of the key `root` (its
   * name is derived from it, see `shardName`) and answers an isolate from the
   * blocks it holds, asking the root for more when they run low. Nothing of
   * it is stored: see `src/lease/shard.ts`.
   */
  shardTake(root: string, counters: CounterSpec[], want: number, held: number): Promise<CounterAnswer> {
    countCall(CLASS, "shardTake");
    return this.lender().take(root, counters, { want, held }, this.rootTransport(root));
  }

  /** A shard sublets a piece ahead of an isolate's need; `null` when it has none to give. */
  async shardLend(root: string, counters: CounterSpec[], want: number, held: number): Promise<LeaseGrant | null> {
    countCall(CLASS, "shardLend");
    return (await this.lender().lend(root, counters, { want, held }, this.rootTransport(root))) ?? null;
  }

  /** An isolate gives back what it did not use of a sublet piece. */
  shardGiveBack(root: string, id: number, unused: number): void {
    countCall(CLASS, "shardGiveBack");
    this.lender().giveBack(root, id, unused);
  }

  /** What this shard holds and has sublet (admin `GET /keys`). */
  shardView(root: string): ShardView {
    countCall(CLASS, "shardView");
    return this.lender().view(root);
  }

  /** Admin `DELETE /keys` on a sharded key: the shard forgets the refusals it remembers. */
  shardReset(root: string): void {
    countCall(CLASS, "shardReset");
    this.lender().reset(root);
  }

  /** The counters' room as it stands, charging nothing, and what is out on leases (admin `GET /keys`). */
  inspect(counters: CounterSpec[], penalties: string[] = []): InspectResponse {
    countCall(CLASS, "inspect");
    this.ready();
    const now = this.now();
    this.usedUp(counters, now); // drops corrupt rows whose time is over, so they read as fresh
    return {
      now,
      results: counters.map((spec) => ({
        ...this.peek(spec, now),
        leased: leasedOut(this.states.get(spec.name), now),
      })),
      penalties: runningPenalties(this.states, penalties, now),
    };
  }

  /**
   * Deletes the named counters, or all of them (admin `DELETE /keys`), and
   * starts a new epoch: a charge made before the reset gives nothing back
   * after it, whether its counter was kept or created afresh since. Units
   * still out on leases stay charged until their leases end (an isolate may
   * still use them); their give-backs still count (by lease id). A bucket
   * with units out is rebuilt from them when its spec is given, and otherwise
   * kept as it is until they are back.
   */
  reset(names?: string[], specs?: CounterSpec[]): number {
    countCall(CLASS, "reset");
    this.ready();
    // An object with no table has never stored a charge: nothing to delete, no charge to outdate, nothing written.
    if (!this.hasTable) return 0;
    const now = this.now();
    // Stored before anything is deleted: a counter recreated after a crash in between is still in the new epoch.
    const epoch = this.epoch() + 1;
    this.ctx.storage.kv.put(EPOCH_KEY, epoch);
    this.epochValue = epoch;
    const targets = names ?? [...this.states.keys(), ...this.corrupt.keys()];
    const specOf = new Map((specs ?? []).map((s) => [s.name, s]));
    let removed = 0;
    const kept = new Map<string, CounterState>();
    for (const name of targets) {
      const wasCorrupt = this.corrupt.delete(name);
      // Units out on leases, and units of requests still held for their slot (onLimit.delay), stay charged.
      const rest =
        keepLent(this.states.get(name), now, specOf.get(name), epoch) ??
        keepReserved(this.states.get(name), waitingAt(this.states.get(waitingListOf(name)), now), epoch);
      if (rest) {
        kept.set(name, rest);
        removed++;
        continue;
      }
      if (this.states.delete(name) || wasCorrupt) removed++;
      this.expiries.delete(name);
      this.deleteRow(name);
    }
    if (kept.size > 0) this.store(kept, specs ?? [], now);
    return removed;
  }

  /** How many counters this object holds (tests, bounded-state checks). */
  size(): number {
    countCall(CLASS, "size");
    return this.states.size;
  }

  /** Removes counters that no longer matter, and wakes again for the next. */
  override async alarm(): Promise<void> {
    countAlarm(CLASS);
    this.ready();
    const now = Date.now();
    if (this.hasTable) this.ctx.storage.sql.exec("DELETE FROM counters WHERE expires_at <= ?", now);
    for (const [name, at] of this.expiries) {
      if (at <= now) {
        this.expiries.delete(name);
        this.states.delete(name);
      }
    }
    for (const [name, until] of this.corrupt) if (until <= now) this.forget(name);
    this.alarmAt = null;
    const outbox = await deliverDue(this.ctx.storage.sql, this.env.THRESHOLD_WEBHOOK_SECRET, () => Date.now());
    if (outbox.reports.length > 0 && this.env.STATS)
      await reportNotifications(this.env.STATS, outbox.reports).catch((e: unknown) =>
        logEvent("threshold.report_failed", { message: e instanceof Error ? e.message : String(e) }, "warn"),
      );
    const expiry = this.nextExpiry();
    const next = expiry === undefined ? outbox.next : Math.min(expiry, outbox.next ?? expiry);
    // An alarm that set itself meanwhile (a new event during the delivery) is due sooner.
    if (next !== undefined && (this.alarmAt === null || this.alarmAt > next)) await this.schedule(next);
  }

  private lender(): ShardLender {
    this.shard ??= new ShardLender(() => Date.now());
    return this.shard;
  }

  private rootTransport(root: string): LeaseTransport {
    return rootTransport(this.env.LIMITER, root, this.ctx, true);
  }

  /** The next lease id of this activation (see `nextLeaseId`). */
  private leaseId(): number {
    return this.nextLeaseId++;
  }

  /**
   * Time for decisions. A clock that steps back across a window boundary must
   * not open a fresh window, so time here only moves forward.
   */
  private now(): number {
    this.lastNow = Math.max(this.lastNow, Date.now());
    return this.lastNow;
  }

  private epoch(): number {
    if (this.epochValue === undefined) {
      const stored = this.ctx.storage.kv.get<number>(EPOCH_KEY);
      this.epochValue = typeof stored === "number" && Number.isFinite(stored) ? stored : 0;
    }
    return this.epochValue;
  }

  private ready(): void {
    if (this.startupError === undefined) return;
    try {
      this.load();
      this.startupError = undefined;
    } catch (e) {
      this.startupError = e;
      throw e;
    }
  }

  private load(): void {
    // One read of sqlite_master, which cannot throw. A new object has no table: nothing to read and nothing
    // written here; its first write creates the table (see `store`).
    const version = schemaVersion(this.ctx.storage);
    this.states.clear();
    this.expiries.clear();
    this.corrupt.clear();
    this.epochValue = undefined;
    this.hasTable = version > 0;
    if (!this.hasTable) {
      // A new object: no table, so no reset ever happened here and no stored epoch to read.
      this.epochValue = 0;
      return;
    }
    applyMigrations(this.ctx.storage, MIGRATIONS, version);
    const now = Date.now();
    for (const row of this.ctx.storage.sql.exec<Row>("SELECT name, state, expires_at FROM counters")) {
      const state = parseStoredState(row.state);
      if (state && Number.isFinite(row.expires_at)) {
        this.states.set(row.name, state);
        this.expiries.set(row.name, row.expires_at);
        continue;
      }
      // Never read as empty (a fresh window for the client): used up until the row would have expired.
      const until = corruptUntil(row.expires_at, now);
      this.corrupt.set(row.name, until);
      logEvent("limiter.corrupt_row", { counter: row.name, until }, "error");
    }
  }

  /**
   * The refusal of a check whose enforced counters name a corrupt one still
   * used up; `undefined` when none does. A corrupt row whose time is over is
   * dropped: its counter starts afresh. Shadow counters are not looked at.
   */
  private usedUp(counters: readonly AskedCounter[], now: number): CounterAnswer | undefined {
    let refused = false;
    for (const spec of counters) {
      if (spec.shadow) continue;
      const until = this.corrupt.get(spec.name);
      if (until === undefined) continue;
      if (until > now) refused = true;
      else this.forget(spec.name);
    }
    if (!refused) return undefined;
    return {
      now,
      allowed: false,
      counters: counters.map((spec) => (spec.shadow ? null : { result: this.peek(spec, now) })),
    };
  }

  private peek(spec: CounterSpec, now: number): CounterResult {
    const until = this.corrupt.get(spec.name);
    return until !== undefined ? exhaustedResult(spec, until, now) : peekOne(this.states, spec, now);
  }

  /** Writes first, in one statement, then updates memory: a failed write leaves both as they were. */
  private store(updates: Map<string, CounterState>, specs: readonly CounterSpec[], now: number): void {
    if (updates.size === 0) return;
    // A plain check rebuilds a bucket's state: the leases still out on it stay known.
    for (const [name, state] of updates) updates.set(name, carryLent(this.states.get(name), state, now));
    const specOf = new Map(specs.map((s) => [s.name, s]));
    const rows = [...updates].map(([name, state]) => ({
      name,
      state,
      expiresAt: stateExpiresAt(state, specOf.get(name)?.windowMs ?? 0, specOf.get(name)?.calendar),
    }));
    const fresh = rows.filter((r) => !this.states.has(r.name)).length;
    if (fresh > 0) this.makeRoom(now, fresh);
    // Thresholds are crossed here, where the count is exact (with leases: the units lent count as charged).
    const crossings = specs.some((s) => s.thresholds) ? findCrossings(this.states, updates, specs, now) : [];
    // Multi-row upserts: one statement for a request's counters keeps extra limits cheap, and a single
    // statement is atomic. SQLite caps bound parameters per statement, so very large sets take several,
    // in one transaction.
    const chunks: (typeof rows)[] = [];
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) chunks.push(rows.slice(i, i + ROWS_PER_STATEMENT));
    // A new object's first write creates its table in the same statement: one write, no bookkeeping row.
    let schema = this.hasTable ? "" : `${COUNTERS_SCHEMA.sql}; `;
    const write = () => {
      for (const chunk of chunks) {
        const bindings: SqlStorageValue[] = [];
        for (const r of chunk) bindings.push(r.name, JSON.stringify(r.state), r.expiresAt);
        this.ctx.storage.sql.exec(
          `${schema}INSERT INTO counters (name, state, expires_at) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")} ON CONFLICT(name) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`,
          ...bindings,
        );
        schema = "";
      }
    };
    let fired = 0;
    if (crossings.length > 0)
      // The event is recorded with the charge that crossed, or not at all.
      this.ctx.storage.transactionSync(() => {
        write();
        fired = writeCrossings(this.ctx.storage.sql, crossings, now);
      });
    else if (chunks.length === 1) write();
    else this.ctx.storage.transactionSync(write);
    this.hasTable = true;
    let earliest = Number.POSITIVE_INFINITY;
    for (const r of rows) {
      this.states.set(r.name, r.state);
      this.expiries.set(r.name, r.expiresAt);
      earliest = Math.min(earliest, r.expiresAt);
    }
    // Every stored row has an alarm coming (the alarm reschedules itself while rows remain), so only a
    // new row needs one: when none is set, or when this activation has not yet learnt whether one is.
    // That replaces an earlier alarm with a later one at worst, which only delays the cleanup.
    const needsAlarm = this.alarmAt === null || (this.alarmAt === undefined && fresh > 0);
    // A new event is sent by the alarm at once (it then sets itself again for the next expiry). Set before
    // the answer, with the event's write: an object stopped right after answering would otherwise hold
    // the event with no alarm to send it. Only a request that fires pays for it (rarely: once per
    // threshold per window).
    if (fired > 0) {
      this.alarmAt = now;
      void this.ctx.storage.setAlarm(now);
    } else if (needsAlarm && Number.isFinite(earliest)) this.scheduleAfterAnswer(Math.max(earliest, now + 1000));
  }

  /** Keeps the object bounded: drop what has expired, then the counters that expire first. */
  private makeRoom(now: number, needed: number): void {
    if (this.states.size + needed <= MAX_COUNTERS_PER_OBJECT) return;
    for (const [name, at] of this.expiries) if (at <= now) this.forget(name);
    const excess = this.states.size + needed - MAX_COUNTERS_PER_OBJECT;
    if (excess <= 0) return;
    const soonest = [...this.expiries].sort((a, b) => a[1] - b[1]).slice(0, excess);
    for (const [name] of soonest) this.forget(name);
  }

  private forget(name: string): void {
    this.corrupt.delete(name);
    this.states.delete(name);
    this.expiries.delete(name);
    this.deleteRow(name);
  }

  private deleteRow(name: string): void {
    if (this.hasTable) this.ctx.storage.sql.exec("DELETE FROM counters WHERE name = ?", name);
  }

  private nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const at of [...this.expiries.values(), ...this.corrupt.values()])
      if (next === undefined || at < next) next = at;
    return next;
  }

  private async schedule(at: number): Promise<void> {
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /**
   * Sets the cleanup alarm in a later turn, after this call has answered: the output gate holds an answer
   * until the writes made before it are durable, so an alarm set here would delay it; it cleans up only
   * rows that already read as fresh, so nothing waits for it. An object that stops between the answer and
   * the alarm keeps its rows until a call adds a counter (storage, not correctness).
   */
  private scheduleAfterAnswer(at: number): void {
    this.alarmAt = at;
    setTimeout(() => {
      if (this.alarmAt === at) void this.ctx.storage.setAlarm(at);
    }, 0);
  }
}

/** Shards of a tree are lent blocks; isolates, leases. */
function lendingTerms(toShard: boolean): LeaseTerms {
  return toShard ? BLOCK_LEASE_TERMS : DEFAULT_LEASE_TERMS;
}
