/**
 * Space-saving heavy hitters (Metwally, Agrawal, El Abbadi 2005): at most
 * `capacity` keys are tracked; a new key when full takes the place of the
 * key with the smallest count and inherits that count as its possible
 * over-estimate (`error`). Every key whose true count exceeds total/capacity
 * is guaranteed to be in the summary, and a reported count is never below
 * the true one nor above it by more than `error`.
 * @module
 */

export interface HeavyHitter {
  key: string;
  /** Upper bound of the key's true count. */
  count: number;
  /** How much of `count` may have been inherited from an evicted key. */
  error: number;
  /** What the key is shown as, when it was offered with one (the latest offer's). */
  label?: string;
}

export class SpaceSaving {
  private readonly entries = new Map<string, HeavyHitter>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts `key` `weight` times; `label` travels with it (it is not part of what is counted). */
  offer(key: string, weight = 1, label?: string): void {
    const known = this.entries.get(key);
    if (known) {
      known.count += weight;
      if (label !== undefined) known.label = label;
      return;
    }
    const withLabel = label !== undefined ? { label } : {};
    if (this.entries.size < this.capacity) {
      this.entries.set(key, { key, count: weight, error: 0, ...withLabel });
      return;
    }
    // Capacity is small (tens), so a linear scan for the minimum is cheaper than keeping a heap in order.
    let min: HeavyHitter | undefined;
    for (const e of this.entries.values()) if (!min || e.count < min.count) min = e;
    this.entries.delete(min!.key);
    this.entries.set(key, { key, count: min!.count + weight, error: min!.count, ...withLabel });
  }

  /** The tracked keys, largest count first (ties by key, so the order is stable). */
  top(n = this.capacity): HeavyHitter[] {
    return [...this.entries.values()]
      .map((e) => ({ ...e }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }
}
