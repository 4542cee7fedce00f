/**
 * The shapes of leased quota. A lease is room the object has already charged
 * (and stored) for requests an isolate has not seen yet: the isolate admits
 * from it in memory, and what it does not use lapses or is given back.
 * Plain data, so it crosses the object's RPC boundary cheaply.
 * @module
 */
import type { CounterState } from "../limiter/types";

/** Units of one counter out on one lease: charged in the object, perhaps not yet used. */
export interface LentUnits {
  /** The lease's id, so that a give-back counts once; {@link MERGED_LEASE_ID} for merged entries. */
  id: number;
  /** Counter units charged for it: requests × the counter's cost. */
  n: number;
  /** Object time from which none of its units can be used any more. */
  until: number;
}

/** A merged entry stands for several old leases and cannot be given back (their units just lapse). */
export const MERGED_LEASE_ID = -1;

/** A counter's stored state with the leases still out on it. */
export type LeasedState = CounterState & { lent?: LentUnits[] };

/** What the object hands out: a part of every store answer, so defined beside it. */
export type { LeaseGrant } from "../limiter/types";

/** What an isolate asks for. */
export interface LeaseAsk {
  /** Requests it expects to admit within a lease's lifetime. */
  want: number;
  /** Requests it still holds on earlier leases of this key (bounds its share). */
  held: number;
}

/**
 * How generous the object is. Leases trade a bounded under-admission (units
 * stranded in other isolates until their leases end) for fewer calls; these
 * numbers bound it.
 */
export interface LeaseTerms {
  /** Longest lifetime of a lease. */
  maxLifetimeMs: number;
  /** A lease that could live less than this (a window about to end) is not worth granting. */
  minLifetimeMs: number;
  /** Below this much room, in requests, on any counter, nothing is leased: every request asks the object. */
  minRoom: number;
  /** The most of the remaining room one isolate may hold, counting what it holds already. */
  maxShare: number;
  /** Fewer units than this are not worth a lease. */
  minUnits: number;
  /** Most units in one lease. */
  maxUnits: number;
  /**
   * Token buckets: the most of the bucket's capacity a lease's lifetime may
   * cost (a leased unit is accounted as used at the end of its lifetime, so
   * the refill of that lifetime is forgone once).
   */
  bucketLifetimeShare: number;
}

export const DEFAULT_LEASE_TERMS: LeaseTerms = {
  maxLifetimeMs: 2_000,
  minLifetimeMs: 100,
  minRoom: 64,
  maxShare: 1 / 8,
  minUnits: 2,
  maxUnits: 1_000,
  bucketLifetimeShare: 1 / 8,
};
