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
 * Reserve, then settle (a rule's `settle`): an admission is charged its
 * estimate (its spec's `cost`); a settle event, when the response has said
 * what the request really cost (`actual`), replaces that charge by `actual`,
 * once, in the same places a refund would take it from (a fixed window's
 * refund after that window ended changes nothing, and so does a settle).
 * Exactness with settling: at each admission, the settled usage so far plus
 * the estimates of the admissions not yet settled, plus this one's, fits the
 * limit; a debt (a settle above its estimate) may take a counter past its
 * limit, and the admissions after it are then judged against that. A
 * bucket's debt is usage at the settle's time (its part above the estimate
 * taken in every interval that holds that time); a settle below its
 * estimate gives the difference back as a refund gives its whole charge.
 *
 * Policy changes and staged rollouts (docs/leases.md, "Rollouts"): an
 * admission is judged over the shared history of its counter (a window's
 * count is kept across a change of its limit, as the product keeps it).
 * - fixed, sliding: against the larger of its own limit and the limits of
 *   the versions that admitted in the same window before it. A window in
 *   which two versions admitted is bound by the larger limit; one in which
 *   only the new version admitted, by the new limit.
 * - token bucket: one bucket measured in time, which every version charges
 *   by its own interval (window / limit per unit) and which holds the longest
 *   time to fill (burst × interval) of the versions charged in the interval
 *   judged; see `BucketCounter`. With one version this is the definition
 *   above.
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
  /** The real cost of admission `id` (≥ 0), known when its response ended. */
  | {
      readonly type: "settle";
      readonly id: number;
      readonly at: number;
      readonly seq: number;
      readonly key: string;
      readonly actual: number;
    }
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
  /** Settles that changed nothing: repeated, of an over-admission, from before a reset, into a window past. */
  settlesIgnored: number;
}

/** Judges a whole log (any order; it is sorted by `at`, then `seq`). */
export function judge(events: readonly JudgeEvent[]): Verdict {
  const sorted = [...events].sort((a, b) => a.at - b.at || a.seq - b.seq);
  const keys = new Map<string, KeyJudge>();
  const verdict: Verdict = {
    admitted: 0,
    over: 0,
    firstOver: [],
    overIds: new Set(),
    refundsIgnored: 0,
    settlesIgnored: 0,
  };
  for (const event of sorted) {
    let key = keys.get(event.key);
    if (!key) {
      key = new KeyJudge();
      keys.set(event.key, key);
    }
    if (event.type === "reset") key.reset();
    else if (event.type === "settle") {
      if (!key.settle(event.id, BigInt(event.at), BigInt(event.actual))) verdict.settlesIgnored++;
    } else if (event.type === "refund") {
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
  /** Replaces the charge of admission `id` by `actual` at `at`, if it still counts; whether it did. */
  settle(id: number, at: bigint, actual: bigint): boolean;
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
  settle(id: number, at: bigint, actual: bigint): boolean {
    const names = this.charged.get(id);
    if (!names) return false;
    // Settled once: what the response said is the request's cost from now on; nothing more comes back.
    this.charged.delete(id);
    let changed = false;
    for (const name of names) if (this.counters.get(name)?.settle(id, at, actual)) changed = true;
    return changed;
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

/** The larger of two limits (a window in which two versions admitted is bound by the larger). */
const maxOf = (a: bigint, b: bigint) => (a > b ? a : b);

class FixedCounter implements Counter {
  private windowStart = -1n;
  private windowMs = 0n;
  private count = 0n;
  /** The largest limit of the versions that admitted in this window so far. */
  private bound = 0n;
  private readonly charges = new Map<number, { windowStart: bigint; cost: bigint }>();

  private advance(spec: JudgeSpec, at: bigint): void {
    const w = BigInt(spec.windowMs);
    const start = floorTo(at, w);
    if (start !== this.windowStart || w !== this.windowMs) {
      this.windowStart = start;
      this.windowMs = w;
      this.count = 0n;
      this.bound = 0n;
    }
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    this.advance(spec, at);
    return this.count + BigInt(spec.cost) <= maxOf(this.bound, BigInt(spec.limit));
  }

  charge(spec: JudgeSpec, _at: bigint, id: number): void {
    this.count += BigInt(spec.cost);
    this.bound = maxOf(this.bound, BigInt(spec.limit));
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

  settle(id: number, at: bigint, actual: bigint): boolean {
    const charge = this.charges.get(id);
    if (!charge) return false;
    this.charges.delete(id);
    if (charge.windowStart !== this.windowStart || at >= this.windowStart + this.windowMs) return false;
    this.count += actual - charge.cost;
    return actual !== charge.cost;
  }
}

class SlidingCounter implements Counter {
  private windowStart = -1n;
  private windowMs = 0n;
  private current = 0n;
  private previous = 0n;
  /** The largest limit of the versions that admitted in the current window so far. */
  private bound = 0n;
  private readonly charges = new Map<number, { windowStart: bigint; cost: bigint }>();

  private advance(w: bigint, at: bigint): void {
    const start = floorTo(at, w);
    if (w !== this.windowMs) {
      this.windowMs = w;
      this.windowStart = start;
      this.current = 0n;
      this.previous = 0n;
      this.bound = 0n;
      return;
    }
    if (start === this.windowStart) return;
    this.previous = start - w === this.windowStart ? this.current : 0n;
    this.current = 0n;
    this.bound = 0n;
    this.windowStart = start;
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    const w = BigInt(spec.windowMs);
    this.advance(w, at);
    const elapsed = at - this.windowStart;
    const limit = maxOf(this.bound, BigInt(spec.limit));
    return this.previous * (w - elapsed) + (this.current + BigInt(spec.cost)) * w <= limit * w;
  }

  charge(spec: JudgeSpec, _at: bigint, id: number): void {
    this.current += BigInt(spec.cost);
    this.bound = maxOf(this.bound, BigInt(spec.limit));
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
  settle(id: number, at: bigint, actual: bigint): boolean {
    const charge = this.charges.get(id);
    if (!charge) return false;
    this.charges.delete(id);
    this.advance(this.windowMs, at);
    const delta = actual - charge.cost;
    if (charge.windowStart === this.windowStart) this.current += delta;
    else if (charge.windowStart === this.windowStart - this.windowMs) this.previous += delta;
    else return false;
    return delta !== 0n;
  }
}

/**
 * The bucket, as intervals, measured in time. A unit of cost c charged under
 * numbers (limit, window, burst) takes c × window / limit ms of refill (its
 * version's interval), and the bucket holds burst × window / limit ms of it
 * (its version's time to fill). With one version, "for every [a, b] the
 * costs in it are at most burst + limit × (b − a) / window" is, multiplied by
 * the interval:
 *   Σ cost × interval ≤ (b − a) + burst × interval.
 * While two versions are live (a staged rollout) both charge the same bucket,
 * each unit by its own interval, and the bucket holds the longer of the fill
 * times of the versions charged in [a, b]:
 *   Σ_{units in [a, b]} cost_v × interval_v ≤ (b − a) + max_v burst_v × interval_v.
 * An admission at t fits when that holds for every [g_i, t] (g_i a charge's
 * time: the tightest interval that holds a set of charges begins at the
 * first), and its cost is at most its burst.
 *
 * In integers: every time is scaled by D, a common multiple of the limits
 * seen (rescaled when a new limit comes). A tree keeps
 * y_i = D × g_i + D × Σ_{j ≥ i} cost_j × interval_j: a charge adds its weight
 * to every y before it and appends its own, a refund subtracts its weight
 * from every y up to its own. The largest fill time among the charges from i
 * on only falls as i grows, so the i fall into ranges with one fill time
 * each, and the test is, per range, max y_i + D × (cost × interval − t) ≤
 * D × max(that fill time, the admission's own).
 */
class BucketCounter implements Counter {
  private readonly times: bigint[] = [];
  /** The numbers each charge was made under (its weight is cost × interval), and whether it was given back. */
  private readonly specs: JudgeSpec[] = [];
  private readonly refunded: boolean[] = [];
  private readonly index = new Map<number, number>();
  /** Per version (its fill time): the indices of its charges, in order (given-back ones dropped from the end). */
  private readonly versions = new Map<string, { spec: JudgeSpec; charges: number[] }>();
  private scale = 1n;
  private tree = new MaxTree();

  /** cost × interval, scaled by D. */
  private weight(spec: JudgeSpec): bigint {
    return (BigInt(spec.cost) * BigInt(spec.windowMs) * this.scale) / BigInt(spec.limit);
  }

  /** burst × interval (the time to fill), scaled by D. */
  private fillTime(spec: JudgeSpec): bigint {
    return (BigInt(spec.burst ?? spec.limit) * BigInt(spec.windowMs) * this.scale) / BigInt(spec.limit);
  }

  /** Makes D a multiple of this limit (every weight and fill time is then a whole number). */
  private scaleFor(spec: JudgeSpec): void {
    const limit = BigInt(spec.limit);
    if (this.scale % limit === 0n) return;
    this.scale = (this.scale * limit) / gcd(this.scale, limit);
    this.tree = new MaxTree();
    const suffix: bigint[] = new Array(this.specs.length);
    let sum = 0n;
    for (let i = this.specs.length - 1; i >= 0; i--) {
      if (!this.refunded[i]) sum += this.weight(this.specs[i]!);
      suffix[i] = sum;
    }
    for (let i = 0; i < this.specs.length; i++) this.tree.push(this.scale * this.times[i]! + suffix[i]!);
  }

  private versionOf(spec: JudgeSpec) {
    const id = `${spec.limit}/${spec.windowMs}/${spec.burst ?? spec.limit}`;
    let version = this.versions.get(id);
    if (!version) {
      version = { spec, charges: [] };
      this.versions.set(id, version);
    }
    return version;
  }

  fits(spec: JudgeSpec, at: bigint): boolean {
    this.scaleFor(spec);
    const weight = this.weight(spec);
    const own = this.fillTime(spec);
    if (BigInt(spec.cost) > BigInt(spec.burst ?? spec.limit)) return false;
    // Each version's last charge still counted, longest fill time first: the ranges of i described above.
    const lasts: { fill: bigint; last: number }[] = [];
    for (const { spec: v, charges } of this.versions.values()) {
      while (charges.length > 0 && this.refunded[charges[charges.length - 1]!]) charges.pop();
      if (charges.length > 0) lasts.push({ fill: this.fillTime(v), last: charges[charges.length - 1]! });
    }
    lasts.sort((a, b) => (a.fill > b.fill ? -1 : a.fill < b.fill ? 1 : 0));
    let from = 0;
    for (const { fill, last } of lasts) {
      if (last < from) continue;
      const max = this.tree.maxIn(from, last + 1);
      const room = fill > own ? fill : own;
      if (max !== null && max + weight - this.scale * at > room) return false;
      from = last + 1;
    }
    return true;
  }

  charge(spec: JudgeSpec, at: bigint, id: number): void {
    this.scaleFor(spec);
    const i = this.specs.length;
    const weight = this.weight(spec);
    this.times.push(at);
    this.specs.push(spec);
    this.refunded.push(false);
    this.index.set(id, i);
    this.versionOf(spec).charges.push(i);
    this.tree.addPrefix(i, weight);
    this.tree.push(this.scale * at + weight);
  }

  refund(id: number, _at: bigint): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    this.index.delete(id);
    this.refunded[i] = true;
    this.tree.addPrefix(i + 1, -this.weight(this.specs[i]!));
    return true;
  }
  settle(id: number, at: bigint, actual: bigint): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    this.index.delete(id);
    const spec = this.specs[i]!;
    const cost = BigInt(spec.cost);
    if (actual === cost) return false;
    if (actual < cost) {
      // The difference given back, as a refund gives its whole charge back.
      this.tree.addPrefix(i + 1, -this.weight({ ...spec, cost: Number(cost - actual) }));
      if (actual === 0n) this.refunded[i] = true;
      else this.specs[i] = { ...spec, cost: Number(actual) };
      return true;
    }
    // The debt: used at the settle's time, under the admission's numbers, with no room asked of it.
    const debt = { ...spec, cost: Number(actual - cost) };
    const j = this.specs.length;
    const weight = this.weight(debt);
    this.times.push(at);
    this.specs.push(debt);
    this.refunded.push(false);
    this.versionOf(debt).charges.push(j);
    this.tree.addPrefix(j, weight);
    this.tree.push(this.scale * at + weight);
    return true;
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
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
  /** A slot is one, whatever the response: a settle changes nothing (a rule with a slot cannot settle). */
  settle(): boolean {
    return false;
  }
}
