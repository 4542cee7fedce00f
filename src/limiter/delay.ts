/**
 * Delay instead of refuse (`onLimit.delay`): a request that would be refused
 * now, but for which room comes back within a bound, is charged now for the
 * moment it will be used (its slot, `at`), so that no later request can take
 * that room; the caller waits until then and forwards it. Which algorithms can
 * reserve a slot, and where:
 *
 * - **Token bucket**: anywhere ahead. GCRA stacks every charge's slot on the
 *   time line below `tat`: the request is checked as if it arrived at `at`
 *   (the first moment its tokens are there), which moves `tat` exactly as that
 *   arrival would. A request decided later, before `at`, sees the reservation
 *   in `tat` and is refused (or delayed behind it); replayed in time order,
 *   each is still admitted, since GCRA's `tat` after both is no later than
 *   ours.
 * - **Fixed window**: the slot is the start of the next window (only the one
 *   right after the current one): the units are counted into that window's
 *   `next`, which it starts with. The current window is not charged.
 * - **Sliding window**: only within the current window, where the previous
 *   window's weight falls as time passes: the request is counted in the current
 *   window now and checked at `at`. A request decided before `at` sees it
 *   counted and is checked against a weight at least as heavy, so both hold in
 *   time order. A slot in the next window is not reserved: the current window's
 *   later requests would raise its weight there after the reservation was
 *   decided. Such a request is refused as without `onLimit`.
 * - **Concurrency**: never (a slot is held from now until the response ends).
 *
 * Pure: no clock, no I/O.
 * @module
 */
import { checkFixed, reserveFixed } from "./algorithms/fixed-window";
import { checkSliding } from "./algorithms/sliding-window";
import { checkTokenBucket } from "./algorithms/token-bucket";
import { windowBoundsOf } from "./calendar";
import type { CounterResult, CounterSpec, CounterState, WaitingState } from "./types";

/** A counter checked for a request that will be used at `at` (≥ now); `windowStart`: the window it is charged into when not the state's. */
export interface Reserved {
  result: CounterResult;
  charged: CounterState;
  windowStart?: number;
}

/**
 * One counter as decided for a request used at `at` but charged now; its
 * `retryAfterMs` counts from `at`. `undefined`: this counter cannot reserve a
 * slot at `at` (a concurrency slot, a sliding window's next window, a fixed
 * window past the next one).
 */
export function reserveOne(
  state: CounterState | undefined,
  spec: CounterSpec,
  now: number,
  at: number,
): Reserved | undefined {
  switch (spec.algorithm) {
    case "token-bucket":
      return checkTokenBucket(state?.algorithm === "token-bucket" ? state : undefined, at, spec);
    case "sliding":
      if (windowBoundsOf(spec, at).start !== windowBoundsOf(spec, now).start) return undefined;
      return checkSliding(state?.algorithm === "sliding" ? state : undefined, at, spec);
    case "fixed": {
      const fixed = state?.algorithm === "fixed" ? state : undefined;
      const current = windowBoundsOf(spec, now).start;
      const window = windowBoundsOf(spec, at).start;
      // The same window: the request is counted in it as it would be now.
      if (window === current) return checkFixed(fixed, at, spec);
      if (window !== windowBoundsOf(spec, now).end) return undefined;
      const reserved = reserveFixed(fixed, now, spec);
      return {
        ...reserved,
        result: { ...reserved.result, retryAfterMs: reserved.result.allowed ? 0 : reserved.result.resetAt - at },
      };
    }
    case "concurrency":
      return undefined;
  }
}

/** A delaying rule's waiting list in its key's object. Rule ids have no `:`, so it never clashes with a counter. */
export function waitingName(ruleId: string): string {
  return `${ruleId}:waiting`;
}

/** The waiting list of the rule a counter belongs to (`<rule>-<window>`). */
export function waitingListOf(counterName: string): string {
  return waitingName(counterName.slice(0, counterName.lastIndexOf("-")));
}

/**
 * What a reset (`DELETE /keys`) leaves of a counter while requests charged to
 * it are still held for their slot: they were admitted and will be forwarded,
 * so their units stay charged in the new epoch, as a lease's do. A fixed
 * window keeps what is reserved in its next window (the current one is
 * emptied); a bucket or a sliding window, which cannot tell held units from
 * used ones, is kept as it is (the reset frees it once no request is held:
 * within the rule's `delay`, at most a minute). `undefined`: nothing is held.
 */
export function keepReserved(
  state: CounterState | undefined,
  waiting: readonly number[],
  epoch: number,
): CounterState | undefined {
  if (!state || waiting.length === 0) return undefined;
  switch (state.algorithm) {
    case "fixed":
      return state.next
        ? { algorithm: "fixed", windowStart: state.windowStart, count: 0, next: state.next, epoch }
        : undefined;
    case "sliding":
    case "token-bucket":
      return { ...state, epoch };
    default:
      return undefined;
  }
}

/** The slots of the requests still waiting at `now`, ascending. */
export function waitingAt(state: CounterState | undefined, now: number): number[] {
  return state?.algorithm === "waiting" ? state.until.filter((at) => at > now) : [];
}

/** The waiting list with one more request, waiting for `at`. */
export function withWaiting(waiting: readonly number[], at: number): WaitingState {
  return { algorithm: "waiting", until: [...waiting, at].sort((a, b) => a - b) };
}
