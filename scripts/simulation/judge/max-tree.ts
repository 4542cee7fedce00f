/**
 * A segment tree over a growing list of exact integers (BigInt): add a value
 * to a prefix, set a new last element, and read the largest element of a
 * suffix or a range. The token-bucket judge keeps one per counter (see `judge.ts`).
 * Written for the judge alone: it imports nothing.
 */
const NONE: bigint | null = null;

export class MaxTree {
  private size = 1;
  private max: (bigint | null)[] = [NONE, NONE];
  private add: bigint[] = [0n, 0n];
  /** Elements appended so far (indices 0..length-1). */
  length = 0;

  /** Appends an element (the tree doubles when full, rebuilding from its leaves). */
  push(value: bigint): void {
    if (this.length === this.size) this.grow();
    this.set(this.length, value);
    this.length++;
  }

  /** Adds `delta` to every element with index < `end`. */
  addPrefix(end: number, delta: bigint): void {
    if (end > 0) this.update(1, 0, this.size, 0, Math.min(end, this.length), delta);
  }

  /** The largest element with index >= `from`, or null when there is none. */
  maxFrom(from: number): bigint | null {
    if (from >= this.length) return null;
    return this.query(1, 0, this.size, from, this.length);
  }

  /** The largest element with index in [`from`, `to`), or null when there is none. */
  maxIn(from: number, to: number): bigint | null {
    const end = Math.min(to, this.length);
    if (from >= end) return null;
    return this.query(1, 0, this.size, from, end);
  }

  private grow(): void {
    const leaves: (bigint | null)[] = [];
    for (let i = 0; i < this.length; i++) leaves.push(this.query(1, 0, this.size, i, i + 1));
    this.size *= 2;
    this.max = new Array(2 * this.size).fill(NONE);
    this.add = new Array(2 * this.size).fill(0n);
    for (let i = 0; i < leaves.length; i++) this.max[this.size + i] = leaves[i]!;
    for (let n = this.size - 1; n >= 1; n--) this.max[n] = bigger(this.max[2 * n]!, this.max[2 * n + 1]!);
  }

  private set(index: number, value: bigint): void {
    // Pending additions on the path apply to everything below them: store the leaf net of them.
    let node = 1;
    let lo = 0;
    let hi = this.size;
    let pending = 0n;
    const path: number[] = [];
    while (hi - lo > 1) {
      path.push(node);
      pending += this.add[node]!;
      const mid = (lo + hi) >> 1;
      if (index < mid) {
        node = 2 * node;
        hi = mid;
      } else {
        node = 2 * node + 1;
        lo = mid;
      }
    }
    this.add[node] = 0n;
    this.max[node] = value - pending;
    for (let i = path.length - 1; i >= 0; i--) this.pull(path[i]!);
  }

  private pull(node: number): void {
    const m = bigger(this.max[2 * node]!, this.max[2 * node + 1]!);
    this.max[node] = m === null ? null : m + this.add[node]!;
  }

  private update(node: number, lo: number, hi: number, from: number, to: number, delta: bigint): void {
    if (to <= lo || hi <= from) return;
    if (from <= lo && hi <= to) {
      this.add[node] = this.add[node]! + delta;
      const m = this.max[node]!;
      this.max[node] = m === null ? null : m + delta;
      return;
    }
    const mid = (lo + hi) >> 1;
    this.update(2 * node, lo, mid, from, to, delta);
    this.update(2 * node + 1, mid, hi, from, to, delta);
    this.pull(node);
  }

  private query(node: number, lo: number, hi: number, from: number, to: number): bigint | null {
    if (to <= lo || hi <= from) return null;
    if (from <= lo && hi <= to) return this.max[node]!;
    const mid = (lo + hi) >> 1;
    const m = bigger(this.query(2 * node, lo, mid, from, to), this.query(2 * node + 1, mid, hi, from, to));
    return m === null ? null : m + this.add[node]!;
  }
}

function bigger(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
