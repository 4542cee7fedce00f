/**
 * Calls reaching each object, per second of virtual time: what a Durable
 * Object's soft limit (about 1,000 calls/s, 200-500 with storage writes) is
 * measured against.
 */
export interface Peak {
  /** The object's name (a key for a root or a flat key's object, `shard:<n>:<key>` for a shard). */
  object: string;
  /** Most calls it received within one second of the run (seconds counted from the run's start). */
  callsPerSecond: number;
  /** Which second that was. */
  second: number;
}

export class CallLoad {
  private readonly perObject = new Map<string, Map<number, number>>();

  constructor(private readonly start: number) {}

  /** One call arrived at `object` at time `at`. */
  note(object: string, at: number): void {
    const second = Math.floor((at - this.start) / 1_000);
    let seconds = this.perObject.get(object);
    if (!seconds) {
      seconds = new Map();
      this.perObject.set(object, seconds);
    }
    seconds.set(second, (seconds.get(second) ?? 0) + 1);
  }

  /** Calls received by the objects `which` accepts, over the whole run. */
  total(which: (object: string) => boolean = () => true): number {
    let sum = 0;
    for (const [object, seconds] of this.perObject) {
      if (!which(object)) continue;
      for (const n of seconds.values()) sum += n;
    }
    return sum;
  }

  /**
   * The busiest object among those `which` accepts, by its peak second,
   * counting seconds from `fromSecond` on (1: after the cold start, when
   * every isolate and shard met the key at once).
   */
  peak(which: (object: string) => boolean = () => true, fromSecond = 0): Peak {
    let best: Peak = { object: "-", callsPerSecond: 0, second: 0 };
    for (const [object, seconds] of this.perObject) {
      if (!which(object)) continue;
      for (const [second, callsPerSecond] of seconds) {
        if (second >= fromSecond && callsPerSecond > best.callsPerSecond) best = { object, callsPerSecond, second };
      }
    }
    return best;
  }
}
