/**
 * The time budget of a counter-store call: past it, the call counts as failed
 * and the rule's `onError` decides.
 *
 * A late answer is not a failure: distance is. An object lives where its first
 * request came from, so from another continent every call to it takes the
 * ocean's round trip (100 to 300 ms), and a fixed budget of 50 ms would fail
 * open on every synchronous call to it. So each call is budgeted against the
 * round trip this isolate has observed on that counting key's calls (its
 * object, or the shard it leases from), never below the floor
 * (`LIMITER_TIMEOUT_MS`) and never above the ceiling
 * (`LIMITER_TIMEOUT_CEILING_MS`):
 *
 *     budget = min(ceiling, max(floor, 4 × (srtt + 4 × rttvar)))
 *
 * `srtt` and `rttvar` are TCP's smoothed round trip and its mean deviation
 * (RFC 6298, α = 1/8, β = 1/4); `srtt + 4 × rttvar` is TCP's own "this is
 * late" point, and the factor of 4 makes a spurious fail-open (an exactness
 * loss) rarer than TCP makes a spurious retransmission. A key this isolate has
 * not heard from (a new object, a cold start, a key evicted from the table, or
 * one idle for `ROUND_TRIP_IDLE_MS`, whose object may have been evicted from
 * memory) gets the ceiling: its first call may cross an ocean and start an
 * object, and that is slow, not failed.
 *
 * Per key rather than per isolate: an isolate talks to near objects (per-IP
 * keys, created here) and far ones (a tenant's key created on another
 * continent) at once, and an isolate-wide figure would budget the far ones by
 * the near ones' round trip. The table is bounded (the keys are chosen by
 * clients) and forgetting a key only makes its budget the ceiling: a client
 * that floods it with new keys can make budgets longer, never shorter.
 * @module
 */

export class CounterStoreTimeout extends Error {
  constructor(ms: number) {
    super(`counter store did not answer within ${ms} ms`);
    this.name = "CounterStoreTimeout";
  }
}

/** `promise`, or a {@link CounterStoreTimeout} after `ms` (no budget when `ms` is 0 or not finite). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CounterStoreTimeout(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

/** The operator's bounds on a call's budget. */
export interface BudgetTerms {
  /** `LIMITER_TIMEOUT_MS`: no call is given up on sooner. 0: no budget at all (every call is waited for). */
  floorMs: number;
  /** `LIMITER_TIMEOUT_CEILING_MS`: no call is waited for longer; at or below the floor, the floor (a fixed budget). */
  ceilingMs: number;
}

/** The budget is this many times TCP's retransmission point (`srtt + 4 × rttvar`). */
export const BUDGET_MULTIPLIER = 4;
/** A key not heard from for this long is budgeted as a new one (its object may have left memory). */
export const ROUND_TRIP_IDLE_MS = 60_000;
/** Keys whose round trips an isolate keeps; the least recently heard from is forgotten first. */
export const MAX_ROUND_TRIP_KEYS = 10_000;

interface RoundTrip {
  /** Smoothed round trip, ms. */
  srtt: number;
  /** Its mean deviation, ms. */
  rttvar: number;
  /** When it was last observed (the clock's ms). */
  at: number;
}

/**
 * The round trips this isolate has observed, per counting key, and the budget
 * they give a key's next call. Pure: time comes in as numbers.
 */
export class RoundTrips {
  /** Oldest observation first (the eviction order). */
  private readonly entries = new Map<string, RoundTrip>();

  constructor(
    private readonly maxKeys = MAX_ROUND_TRIP_KEYS,
    private readonly idleMs = ROUND_TRIP_IDLE_MS,
  ) {}

  /** A call of `key` answered after `ms` (in time or late), at `now`. */
  observe(key: string, ms: number, now: number): void {
    const sample = Math.max(0, ms);
    const old = this.entries.get(key);
    let entry: RoundTrip;
    if (!old) {
      entry = { srtt: sample, rttvar: sample / 2, at: now };
    } else {
      // RFC 6298 §2.3: the deviation first, against the old mean.
      const rttvar = 0.75 * old.rttvar + 0.25 * Math.abs(old.srtt - sample);
      entry = { srtt: 0.875 * old.srtt + 0.125 * sample, rttvar, at: now };
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** The budget of `key`'s next call at `now`, in ms (0: none). */
  budget(key: string, terms: BudgetTerms, now: number): number {
    if (!(terms.floorMs > 0) || !Number.isFinite(terms.floorMs)) return 0;
    const ceiling = Number.isFinite(terms.ceilingMs) ? Math.max(terms.floorMs, terms.ceilingMs) : terms.floorMs;
    const entry = this.entries.get(key);
    if (!entry || now - entry.at > this.idleMs) return ceiling;
    const late = entry.srtt + 4 * entry.rttvar;
    return Math.min(ceiling, Math.max(terms.floorMs, Math.ceil(BUDGET_MULTIPLIER * late)));
  }

  /** The round trip kept for `key`, if any (for tests and the admin's explain). */
  estimate(key: string): { srtt: number; rttvar: number; at: number } | undefined {
    const e = this.entries.get(key);
    return e ? { ...e } : undefined;
  }

  get size(): number {
    return this.entries.size;
  }
}
