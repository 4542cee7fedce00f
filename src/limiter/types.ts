import type { ThresholdSpec } from "../notify/types";
import type { CalendarAnchor } from "./calendar";

/**
 * The shapes the pure limiter works on. Everything here is plain data so it
 * can cross the Durable Object's RPC boundary and be stored as JSON.
 * @module
 */

export type Algorithm = "fixed" | "sliding" | "token-bucket" | "concurrency";

/** One counter to check, with the numbers already resolved for this request (tier, sandbox). */
export interface CounterSpec {
  /** Counter name, unique within its object: the `ietf` item name, `<rule>-<window>` or `<rule>-conc`. */
  name: string;
  algorithm: Algorithm;
  /** Requests per window; tokens per window for a bucket; slots for concurrency. */
  limit: number;
  /**
   * Window length in ms (refill period for a bucket); 0 for concurrency. For a
   * calendar window, the longest its period can be (`NOMINAL_MS`): the bounds
   * come from `calendar`.
   */
  windowMs: number;
  /** A fixed window on the calendar (a month from the billing day): its bounds are `calendarWindow`'s. */
  calendar?: CalendarAnchor;
  /** Bucket capacity (token bucket only); defaults to `limit`. */
  burst?: number;
  /** How much one request uses (concurrency always takes one slot). */
  cost: number;
  /** The rule's thresholds on this counter and where their events go (fixed and sliding windows only). */
  thresholds?: ThresholdSpec;
}

export interface FixedState {
  algorithm: "fixed";
  windowStart: number;
  count: number;
  /**
   * Units reserved in the window after `windowStart` by delayed requests
   * (`onLimit.delay`): that window starts with this count. Absent: none.
   */
  next?: number;
  /** See {@link Epoched}. */
  epoch?: number;
}

export interface SlidingState {
  algorithm: "sliding";
  windowStart: number;
  count: number;
  previousCount: number;
  /** See {@link Epoched}. */
  epoch?: number;
}

/**
 * A counter's epoch: a reset starts a new one, and a charge made in an older
 * epoch holds nothing in the new state, so its refund gives nothing back
 * (it would lower a count the reset already emptied). Absent: 0, the epoch
 * of every state written before epochs existed. Each state's `epoch` field is this one.
 * @public
 */
export interface Epoched {
  epoch?: number;
}

export interface TokenBucketState {
  algorithm: "token-bucket";
  /** GCRA's theoretical arrival time: when the bucket would be full again (rounded up to a whole ms). */
  tat: number;
  /**
   * How far the exact arrival time lies before `tat`, in ms, in [0, 1): a
   * bucket's interval need not be a whole ms, and an epoch-ms float cannot
   * hold the fraction exactly. Absent in states written before it existed.
   */
  tatFraction?: number;
  /**
   * When this run of charges began (epoch ms): the bucket was empty then, so
   * a charge made before it holds nothing any more. Absent in older states.
   */
  since?: number;
  /**
   * How far refunds of this run have moved the charges above theirs down
   * (ms, a whole number of 1/den ms): a charge's room now ends at most this
   * much, less what it was at its charge, below where it ended then.
   */
  shifted?: number;
  /**
   * The latest end of a lease charged to this bucket (epoch ms): its units
   * are accounted as used there, so no refund takes the bucket below it.
   */
  horizon?: number;
  /** See {@link Epoched}. */
  epoch?: number;
}

export interface ConcurrencyState {
  algorithm: "concurrency";
  leases: Lease[];
}

export interface Lease {
  id: string;
  expiresAt: number;
}

/** A rule's penalty for one key (see `penalty.ts`); stored beside the counters, under `<rule>:penalty`. */
export interface PenaltyState {
  algorithm: "penalty";
  /** Epoch ms when the penalty ends. */
  until: number;
  /** How long this penalty is: escalation doubles the previous one. */
  durationMs: number;
  /** When the state stops mattering: the end, plus the escalation period. */
  forgetAt: number;
}

/**
 * The requests of a key that were admitted with a delay and are still waiting
 * for their slot (`onLimit.delay`, see `delay.ts`); stored beside the
 * counters, under `<rule>:waiting`, so that at most `maxWaiting` wait at once.
 */
export interface WaitingState {
  algorithm: "waiting";
  /** Epoch ms of each waiting request's slot, ascending; only those after now matter. */
  until: number[];
}

export type CounterState =
  | FixedState
  | SlidingState
  | TokenBucketState
  | ConcurrencyState
  | PenaltyState
  | WaitingState;

/** What one counter says about one request. */
export interface CounterResult {
  name: string;
  allowed: boolean;
  limit: number;
  /** Room left after this request (or now, when refused). Never negative. */
  remaining: number;
  /** Epoch ms when the counter has its full room again (window end; bucket full). */
  resetAt: number;
  /** Ms until a request of this cost could be admitted; 0 when allowed. */
  retryAfterMs: number;
  /** Set when a penalty refused: its end (no release or refund frees room before it). */
  penaltyUntil?: number;
}

/** What a charged request must hand back to undo its charge (refund or rollback). */
export interface Charge {
  name: string;
  algorithm: Algorithm;
  cost: number;
  /** The counter's window and limit when charged: a bucket's refill rate depends on them. */
  windowMs: number;
  limit: number;
  /** The counter's calendar window, when it has one: a refund finds the current period with it. */
  calendar?: CalendarAnchor;
  /** The window (fixed/sliding) the charge went into. */
  windowStart?: number;
  /** The counter's epoch when charged (absent: 0); a refund into another epoch gives nothing back. */
  epoch?: number;
  /** Token bucket: the object's time of the charge. */
  chargedAt?: number;
  /**
   * Token bucket: how far the bucket's tat stood past `chargedAt` with this
   * charge in it, in 1/den ms of the charge's interval: where its room ended.
   */
  debt?: number;
  /** Token bucket: the bucket's `shifted` at the charge. */
  shifted?: number;
  /** The concurrency slot taken. */
  leaseId?: string;
  /**
   * Admitted from this isolate's lease of that id, with no call: its unit goes back into the lease
   * (the object charged it with the lease), not to the object.
   */
  lease?: number;
  /**
   * A settle's debit (the response cost more than its estimate): `cost` more is charged to the
   * charge's window (or the bucket), room or not; past the limit it is a debt. Absent: a give-back.
   */
  debit?: true;
}

export interface CheckOutcome {
  allowed: boolean;
  /**
   * Admitted with a delay (`onLimit.delay`): the request's slot is this many
   * ms after the decision; it must not be used (forwarded) before. Absent: now.
   */
  delayMs?: number;
  results: CounterResult[];
  /** Present when allowed: every charge made, to be given back in part or whole later. */
  charges: Charge[];
}

/** A counter a request asks the store about; a shadow rule's is charged when it has room and never refuses. */
export type AskedCounter = CounterSpec & { shadow?: boolean };

/** One counter's part of an answer: its room, what was charged for it, and whether it is a shadow rule's. */
export interface CounterEntry {
  result: CounterResult;
  /** Absent: nothing charged (refused, or a shadow counter without room). */
  charge?: Charge;
  shadow?: boolean;
}

/**
 * The counter store's answer to one request of one key, the same from every
 * path: a plain check, a take that lends, a shard, a lease in memory, a
 * corrupt row's refusal. One entry per counter asked about, in the order asked;
 * `null` for a shadow counter that was not looked at (a corrupt row refused first).
 */
export interface CounterAnswer {
  /** The answering clock: every result's times are on it. */
  now: number;
  allowed: boolean;
  /** Admitted with a delay (`onLimit.delay`): see {@link CheckOutcome.delayMs}. */
  delayMs?: number;
  counters: Array<CounterEntry | null>;
  /** Room lent for the requests to come (a take's), absent when none. */
  grant?: LeaseGrant;
  /**
   * Answered from an isolate's memory (a lease) with no call for this request:
   * not a round trip, so the time budget does not learn from it.
   */
  local?: boolean;
}

/** What an object hands out: room for requests an isolate (or a shard) has not seen yet, charged already. */
export interface LeaseGrant {
  id: number;
  /** Requests the isolate may admit (each one uses every counter's `cost`). */
  units: number;
  /** How long it may admit them, counted on its own clock from when it sent the request for the lease. */
  lifetimeMs: number;
  /** Every counter as it stands with the lease charged: room the object still has. */
  results: CounterResult[];
}

/** How long a concurrency slot is held when its release never comes. */
export const LEASE_TTL_MS = 60_000;

/**
 * A rule's `onLimit.delay` as the counter store needs it: a request that would
 * be refused, but whose room comes back within `maxMs`, is admitted with its
 * slot reserved that far ahead (see `delay.ts`).
 */
export interface DelaySpec {
  /** The longest a request may be delayed (ms); one whose room comes back later is refused. */
  maxMs: number;
  /** At most this many requests of the key wait for their slot at once; past it, refused. */
  maxWaiting: number;
  /** The waiting list's name in the key's object: `<rule>:waiting`. */
  name: string;
}
