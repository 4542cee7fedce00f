/**
 * The ports of the engine: every interface it calls out through, and nothing
 * else. The engine imports no Workers types, no `Env` and no KV; adapters
 * implement these (the Workers ones in `src/adapters/workers/`, an in-memory
 * counter store in `src/adapters/memory/`).
 * @module
 */

import type { LimitReport } from "../http/rate-limit-headers";
import type { PenaltySpec } from "../limiter/penalty";
import type { AskedCounter, Charge, CounterAnswer, CounterResult, CounterSpec, DelaySpec } from "../limiter/types";
import type { PolicyInForce } from "../policy/in-force";
import type { Tenant } from "../policy/tenant-record";
import type { RateLimitResult } from "./outcome";

/** What one request asks of one counting key. */
export interface CheckRequest {
  /**
   * Counters that must all have room, and among them (`shadow`) shadow rules'
   * counters: charged when they have room, never refusing. The answer has an
   * entry per counter, in this order.
   */
  counters: AskedCounter[];
  /** Penalties of the enforced rules (rules with a `penalty`): see `limiter/penalty.ts`. */
  penalties?: PenaltySpec[];
  /**
   * How many shard objects this key's room is spread over: the largest
   * `shards` among the enforced rules counted under this key; absent: no tree.
   */
  shards?: number;
  /**
   * The enforced rules' `onLimit.delay` (every enforced rule counted under
   * the key has one; the smallest bound and cap): a request refused now but
   * with room within the bound is admitted with `delayMs`, its slot reserved.
   * A store must decide such a request at the key's own object (not from a
   * lease or a shard's block). Absent: refused as usual.
   */
  delay?: DelaySpec;
  /** A regional tree: this many shard objects per region (the largest `shardsPerRegion` of the enforced rules). */
  shardsPerRegion?: number;
  /** The request's location hint (from its `cf`), for a regional tree; absent: the key's root decides. */
  region?: string;
  /**
   * A rule counted under the key settles its cost after the response (`settle`): the key's own object
   * must decide the request (not a lease or a shard's block), since a debt is charged there and room
   * lent before it would still admit.
   */
  settles?: boolean;
}

export interface InspectResponse {
  now: number;
  /** With `leased`: units out on leases (charged, perhaps not yet used), for a store that leases. */
  results: Array<CounterResult & { leased?: number }>;
  /** The running penalties among those asked about. */
  penalties?: Array<{ name: string; until: number }>;
  /** A sharded key's shards: units each holds on its blocks and has sublet to isolates. */
  /** A regional tree's shards carry their `region` (location hint). */
  shards?: Array<{ shard: number; held: number; sublet: number; region?: string }>;
}

/**
 * Work that may go on after the response has been sent (a release, a
 * rollback, a store's own background refresh): the Worker's `ctx.waitUntil`.
 */
export interface Background {
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * The counters, one set per counting key. `check` checks and charges all of a
 * request's counters of one key atomically. A store may answer from memory
 * and catch up with its backing store later through `background` (marking such
 * an answer `local`). The engine bounds every `check` with its time budget; a
 * store need not.
 */
export interface CounterStore {
  check(key: string, request: CheckRequest, background: Background): Promise<CounterAnswer>;
  /** Gives charges back: a refund, a released slot, a rollback. */
  release(key: string, charges: Charge[], background: Background): Promise<void>;
  /** The counters' room as it stands, charging nothing; and which of the named penalties are running. */
  inspect(
    key: string,
    counters: CounterSpec[],
    penalties?: string[],
    shards?: number,
    shardsPerRegion?: number,
  ): Promise<InspectResponse>;
  /**
   * Deletes the named counters of a key, or all of them; returns how many
   * there were. `shards`: the key's tree is reset too.
   */
  reset(key: string, names?: string[], shards?: number, shardsPerRegion?: number): Promise<number>;
}

/** The policy in force. */
export interface PolicySource {
  current(): Promise<PolicyInForce> | PolicyInForce;
}

/** Tenant records by the SHA-256 hex of their API key; `null`: no such tenant. */
export interface TenantLookup {
  lookup(apiKeyHash: string): Promise<Tenant | null>;
}

export interface Clock {
  now(): number;
  /**
   * Resolves after `ms` of wall time (a delayed request's wait, `onLimit.delay`); without it, `setTimeout`.
   * Waiting costs no CPU: the Worker is idle until then.
   */
  wait?(ms: number): Promise<void>;
}

/** What each applying rule decided: the stats' and analytics' unit. */
export type Verdict = "admitted" | "refused" | "shadow_refused" | "error_open" | "error_closed" | "blocked";

/** One request's decision, as observers see it. */
export interface DecisionRecord {
  result: RateLimitResult;
  verdicts: Array<{ rule: string; verdict: Verdict }>;
  /** The client IP's counting-key form (`203.0.113.7`, `2001:db8::/64`, `unknown`). */
  ipKey: string;
  /**
   * The limit that refused and the counting key it was counted under (reason `limit` or `cached`), with
   * the key's display label when it has one (`header:x-user-id:u1`; a credential's never shows its value).
   */
  refusal?: { report: LimitReport; key: string; label?: string };
  /** Shadow limits that would have refused. */
  shadowRefusals: LimitReport[];
  /**
   * Rules among the `error_open` / `error_closed` verdicts whose counter store did not fail but did not
   * answer within its time budget (the ceiling, for a far or new object): the fleet figures count them
   * as `late_open` / `late_closed`.
   */
  lateRules?: string[];
  /** The tenant the request was counted for (its record's `id`): the usage ledger's row. Absent: no tenant. */
  tenant?: string;
  /** Units one request charges per applying rule (its `cost`): the usage ledger counts admitted units. */
  costs?: Record<string, number>;
}

/** Stats, logs, analytics: told of every decision, after it is made. It must not throw. */
export interface DecisionObserver {
  decided(record: DecisionRecord): void;
}
