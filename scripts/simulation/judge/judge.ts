/**
 * The judge: an exact reference for "never admits more than the limit",
 * written from the definitions in docs/policy.md alone. It imports nothing
 * from the deciding code (src/limiter, src/lease, or anything else in src/:
 * `test/unit/judge.test.ts` fails on any import from outside this folder), so
 * a bug there cannot hide itself here. All arithmetic on counts and times is
 * in BigInt.
 *
 * Input: the log of what happened, in the order it happened at the objects'
 * true time: admissions (at the time the request was admitted, from a lease or
 * by an object), refunds (when the give-back was applied, not when its
 * request was admitted), resets (`DELETE /keys`), and every admission's
 * counters as it was decided under (a policy change or a staged rollout shows
 * as admissions carrying other numbers). Events are judged in order of
 * (`at`, `seq`): `seq` is the order they were applied in within a millisecond.
 *
 * Every admission is checked against every counter it names, in its own
 * numbers; an admission a counter has no room for is an over-admission, and
 * (as a refusal) charges nothing, so one fault is counted once.
 *
 * The definitions, per algorithm (docs/policy.md, "Limits"):
 * - fixed: at most `limit` per window; windows aligned to multiples of their
 *   length since the epoch. The net count of a window is its admissions'
 *   costs less those refunded so far.
 * - sliding: with e the time since the current window began and W its length,
 *   previous × (W − e) + (current + cost) × W ≤ limit × W, previous and
 *   current being the net counts of the previous and current window.
 * - token bucket: `limit` tokens refill per `window`, up to `burst`; the
 *   bucket is full at the start and after a reset. Stated without a bucket's
 *   state: for every interval [a, b], the costs admitted in it and not given
 *   back by b are at most burst + limit × (b − a) / window. (For a log without
 *   refunds this is the same as replaying a bucket that starts full.)
 * - concurrency: at most `limit` slots held at once; a slot is held from its
 *   admission until its release (a refund) or 60 s later.
 *
 * When a refund gives room back (the only refunds that count):
 * - It gives back its admission's own charge, once (a second refund of the
 *   same admission, or one of an admission the judge refused, gives nothing).
 * - Only to the window (fixed, sliding) or the intervals (bucket) that
 *   contain the charge: a fixed window's refund after that window ended
 *   changes nothing; a sliding window's lowers the previous window's count
 *   only while that window is the previous one; a bucket's takes the charge
 *   out of every interval that ends at or after the refund and contains the
 *   charge, and so cannot raise the bucket above where it would stand had the
 *   charge never been made (a bucket that refilled since gets nothing back).
 * - Only within its epoch: a reset starts a new epoch for every counter of
 *   its key; charges made before it are gone, and their refunds, however late,
 *   give nothing.
 *
 * Policy changes: an admission is judged in its own numbers over the shared
 * history of its counter (a window's count is kept across a change of its
 * limit, as the product keeps it). A bucket's admission is judged over the
 * intervals that begin no earlier than the first admission in its numbers
 * (when its version went live): while two versions are live, each is held
 * to its own bucket from the moment it appeared, the larger of the two bounds
 * (docs/leases.md, "Policy changes").
 */
import { MaxTree } from "./max-tree";

export type JudgeAlgorithm = "fixed" | "sliding" | "token-bucket" | "concurrency";

/** One counter's numbers, as an admission was decided under them (the shape of a policy limit, resolved). */
export interface JudgeSpec {
  /** The counter's name within its key (`<rule>-<window>`). */
  readonly name: string;
  readonly algorithm: JudgeAlgorithm;
  /** Requests per window; tokens per window for a bucket; slots for concurrency. */
  readonly limit: number;
  /** Window length in ms (a bucket's refill period); unused for concurrency. */
  readonly windowMs: number;
  /** A bucket's capacity (default: `limit`). */
  readonly burst?: number;
  /** What one request uses (concurrency: always one slot). */
  readonly cost: number;
}

export type JudgeEvent =
  | {
      readonly type: "admit";
      /** Unique per log: refunds name it. */
      readonly id: number;
      /** True time (the objects' clock, whole ms). */
      readonly at: number;
      /** Order within the log (the order events were applied in). */
      readonly seq: number;
      readonly key: string;
      readonly specs: readonly JudgeSpec[];
    }
  | { readonly type: "refund"; readonly id: number; readonly at: number; readonly seq: number; readonly key: string }
  | { readonly type: "reset"; readonly at: number; readonly seq: number; readonly key: string };

export type Admit = Extract<JudgeEvent, { type: "admit" }>;

export interface OverAdmission {
  id: number;
  at: number;
  key: string;
  /** The counter that had no room for it. */
  counter: string;
}

export interface Verdict {
  /** Admissions in the log. */
  admitted: number;
  /** Admissions a counter had no room for. Must be 0. */
  over: number;
  /** The first few (to say where it went wrong). */
  firstOver: OverAdmission[];
  /** Ids of every over-admission. */
  overIds: Set<number>;
  /** Refunds that gave nothing back: repeated, of an over-admission, or of a charge from before a reset. */
  refundsIgnored: number;
}

/** Judges a whole log (any order; it is sorted by `at`, then `seq`). */
export function judge(events: readonly JudgeEvent[]): Verdict {
  const sorted = [...events].sort((a, b) => a.at - b.at || a.seq - b.seq);
  const keys = new Map<string, KeyJudge>();
  const verdict: Verdict = { admitted: 0, over: 0, firstOver: [], overIds: new Set(), refundsIgnored: 0 };
  for (const event of sorted) {
    let key = keys.get(event.key);
    if (!key) {
      key = new KeyJudge();
      keys.set(event.key, key);
    }
    if (event.type === "reset") key.reset();
    else if (event.type === "refund") {
      if (!key.refund(event.id, BigInt(event.at))) verdict.refundsIgnored++;
    } else {
      verdict.admitted++;
      const refusing = key.admit(event);
      if (refusing !== undefined) {
        verdict.over++;
        verdict.overIds.add(event.id);
        if (verdict.firstOver.length < 5)
          verdict.firstOver.push({ id: event.id, at: event.at, key: event.key, counter: refusing });
      }
    }
  }
  return verdict;
}

interface Counter {
  /** Whether `cost` more fits at `at` in these numbers. */
  fits(spec: JudgeSpec, at: bigint): boolean;
  /** Charges it (after every counter of the admission said it fits); returns what a refund needs. */
  charge(spec: JudgeSpec, at: bigint, id: number): void;
  /** Gives the charge of admission `id` back at `at`, if it still counts; whether it held one. */
  refund(id: number, at: bigint): boolean;
}

/** One key's counters, for the current epoch (a reset starts a new one). */
class KeyJudge {
  private counters = new Map<string, Counter>();
  /** Admissions charged in this epoch, by id, with the counters they charged. */
  private charged = new Map<number, string[]>();

  reset(): void {
    this.counters = new Map();
    this.charged = new Map();
  }

  /** The name of the first counter with no room, or undefined when admitted (and then charged). */
  admit(event: Admit): string | undefined {
    const at = BigInt(event.at);
    const counters = event.specs.map((spec) => {
      let counter = this.counters.get(spec.name);
      if (!counter) {
        counter = newCounter(spec.algorithm);
        this.counters.set(spec.name, counter);
      }
      return counter;
    });
    for (let i = 0; i < event.specs.length; i++) {
      if (!counters[i]!.fits(event.specs[i]!, at)) return event.specs[i]!.name;
    }
    for (let i = 0; i < event.specs.length; i++) counters[i]!.charge(event.specs[i]!, at, event.id);
    this.charged.set(
      event.id,
      event.specs.map((s) => s.name),
    );
    return undefined;
  }

  refund(id: number, at: bigint): boolean {
    const names = this.charged.get(id);
    if (!names) return false;
    this.charged.delete(id);
    let gave = false;
    for (const name of names) if (this.counters.get(name)?.refund(id, at)) gave = true;
    return gave;
  }
}

function newCounter(algorithm: JudgeAlgorithm): Counter {
  switch (algorithm) {
    case "fixed":
      return new FixedCounter();
    case "sliding":
      return new SlidingCounter();
    case "token-bucket":
      return new BucketCounter();
    case "concurrency":
      return new ConcurrencyCounter();
  }
}

const floorTo = (at: bigint, w: bigint) => (at / w) * w; // times are never negative

class FixedCounter implements Counter {
  private windowStart = -1n;
  private windowMs = 0n;
  private count = 0n;
  private readonly charges = new Map<number, { windowStart: bigint; cost: bigint }>();

  private advance(spec: JudgeSpec, at: bigint): void {
    const w = BigInt(spec.windowMs);
    const start = floorTo(at, w);
    if (start !== this.windowStart || w !== this.windowMs) {
      this.windowStart = start;
      this.windowMs = w;
      this.count = 0n;
    }
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    this.advance(spec, at);
    return this.count + BigInt(spec.cost) <= BigInt(spec.limit);
  }

  charge(spec: JudgeSpec, _at: bigint, id: number): void {
    this.count += BigInt(spec.cost);
    this.charges.set(id, { windowStart: this.windowStart, cost: BigInt(spec.cost) });
  }

  refund(id: number, at: bigint): boolean {
    const charge = this.charges.get(id);
    if (!charge) return false;
    this.charges.delete(id);
    // Only while its window is the current one (a later window never held it).
    if (charge.windowStart !== this.windowStart || at >= this.windowStart + this.windowMs) return false;
    this.count -= charge.cost;
    return true;
  }
}

class SlidingCounter implements Counter {
  private windowStart = -1n;
  private windowMs = 0n;
  private current = 0n;
  private previous = 0n;
  private readonly charges = new Map<number, { windowStart: bigint; cost: bigint }>();

  private advance(w: bigint, at: bigint): void {
    const start = floorTo(at, w);
    if (w !== this.windowMs) {
      this.windowMs = w;
      this.windowStart = start;
      this.current = 0n;
      this.previous = 0n;
      return;
    }
    if (start === this.windowStart) return;
    this.previous = start - w === this.windowStart ? this.current : 0n;
    this.current = 0n;
    this.windowStart = start;
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    const w = BigInt(spec.windowMs);
    this.advance(w, at);
    const elapsed = at - this.windowStart;
    return this.previous * (w - elapsed) + (this.current + BigInt(spec.cost)) * w <= BigInt(spec.limit) * w;
  }

  charge(spec: JudgeSpec, _at: bigint, id: number): void {
    this.current += BigInt(spec.cost);
    this.charges.set(id, { windowStart: this.windowStart, cost: BigInt(spec.cost) });
  }

  refund(id: number, at: bigint): boolean {
    const charge = this.charges.get(id);
    if (!charge) return false;
    this.charges.delete(id);
    this.advance(this.windowMs, at);
    if (charge.windowStart === this.windowStart) this.current -= charge.cost;
    else if (charge.windowStart === this.windowStart - this.windowMs) this.previous -= charge.cost;
    else return false;
    return true;
  }
}

/**
 * The bucket, as intervals. With the epoch's charges in time order
 * (g_0 ≤ g_1 ≤ ...), the tightest interval ending at t that begins at a charge
 * is the one that begins at some g_i, and the admission of c at t fits when,
 * for every such i (and for the empty interval [t, t]),
 *   window × (S_i + c) ≤ burst × window + limit × (t − g_i),
 * S_i being the costs charged at or after g_i and not given back. A tree per
 * refill rate (limit, window) keeps v_i = window × S_i + limit × g_i: a charge
 * adds window × cost to every v before it and appends its own, a refund
 * subtracts its cost from every v up to its own, and the test is
 * max v_i + window × c − limit × t ≤ burst × window.
 */
class BucketCounter implements Counter {
  private readonly times: bigint[] = [];
  private readonly costs: bigint[] = [];
  private readonly index = new Map<number, number>();
  /** Per refill rate: its tree, and the index of the first charge since its numbers went live. */
  private readonly rates = new Map<string, { limit: bigint; w: bigint; tree: MaxTree; since: number }>();

  private rateOf(spec: JudgeSpec) {
    const id = `${spec.limit}/${spec.windowMs}/${spec.burst ?? spec.limit}`;
    let rate = this.rates.get(id);
    if (!rate) {
      const limit = BigInt(spec.limit);
      const w = BigInt(spec.windowMs);
      const tree = new MaxTree();
      // v_i for the charges so far (their suffix sums), so the tree can take every later charge and refund.
      const suffix: bigint[] = new Array(this.costs.length);
      let sum = 0n;
      for (let i = this.costs.length - 1; i >= 0; i--) {
        sum += this.costs[i]!;
        suffix[i] = sum;
      }
      for (let i = 0; i < this.costs.length; i++) tree.push(w * suffix[i]! + limit * this.times[i]!);
      rate = { limit, w, tree, since: this.costs.length };
      this.rates.set(id, rate);
    }
    return rate;
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    const { limit, w, tree, since } = this.rateOf(spec);
    const cost = BigInt(spec.cost);
    const burst = BigInt(spec.burst ?? spec.limit);
    if (cost > burst) return false;
    const max = tree.maxFrom(since);
    return max === null || max + w * cost - limit * at <= burst * w;
  }

  charge(spec: JudgeSpec, at: bigint, id: number): void {
    this.rateOf(spec);
    const cost = BigInt(spec.cost);
    const i = this.costs.length;
    this.times.push(at);
    this.costs.push(cost);
    this.index.set(id, i);
    for (const { limit, w, tree } of this.rates.values()) {
      tree.addPrefix(i, w * cost);
      tree.push(w * cost + limit * at);
    }
  }

  refund(id: number, _at: bigint): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    this.index.delete(id);
    const cost = this.costs[i]!;
    this.costs[i] = 0n;
    for (const { w, tree } of this.rates.values()) tree.addPrefix(i + 1, -w * cost);
    return true;
  }
}

/** How long a slot is held when its release never comes (docs/policy.md, "concurrency"). */
const SLOT_HELD_MS = 60_000n;

class ConcurrencyCounter implements Counter {
  private readonly held = new Map<number, bigint>();

  private expire(at: bigint): void {
    for (const [id, until] of this.held) if (until <= at) this.held.delete(id);
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    this.expire(at);
    return BigInt(this.held.size) + 1n <= BigInt(spec.limit);
  }

  charge(_spec: JudgeSpec, at: bigint, id: number): void {
    this.held.set(id, at + SLOT_HELD_MS);
  }

  refund(id: number, at: bigint): boolean {
    this.expire(at);
    return this.held.delete(id);
  }
}
