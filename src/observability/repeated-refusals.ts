/**
 * The log lines of refusals answered from the refusal cache, folded: a flood
 * from one client is what the cache is for, and one line per refused request
 * made the log the flood's cost (under `wrangler dev` each line cost the
 * Worker's processes about 2.5 ms of CPU, more than the refusal itself; in
 * production every line is a Workers Logs event). Per key and limit, the
 * first cached refusal of an interval is written at once, as before; the
 * ones after it in that interval are counted and written as one line with
 * their `count` when the interval is over. Lines still add up to the refusals
 * (`count`, 1 when absent). Pure: time is passed in, lines go to `write`.
 * @module
 */

/** How long the repeats of one key and limit are counted before their line is written. */
export const REPEAT_INTERVAL_MS = 1_000;
/** Keys and limits counted at once: past it, every count is written at once (bounded memory). */
export const MAX_REPEATING = 1_024;

interface Repeating {
  fields: Record<string, unknown>;
  repeats: number;
}

export class RepeatedRefusals {
  /** By key and limit; present from a first line until the interval's lines are written. */
  private open = new Map<string, Repeating>();
  private openedAt = Number.NEGATIVE_INFINITY;
  /** A flush has been asked for since the last one. */
  private timed = false;

  constructor(
    private readonly write: (fields: Record<string, unknown>) => void,
    readonly intervalMs = REPEAT_INTERVAL_MS,
  ) {}

  /**
   * One cached refusal. Returns the ms after which {@link flush} must be
   * called when this one is the interval's first repeat (the caller keeps a
   * timer alive for it), else undefined: a refusal that repeats nothing holds
   * no timer.
   */
  note(id: string, fields: Record<string, unknown>, now: number): number | undefined {
    if (this.open.size > 0 && now - this.openedAt >= this.intervalMs) this.flush();
    const seen = this.open.get(id);
    if (!seen) {
      this.write(fields);
      if (this.open.size >= MAX_REPEATING) this.flush();
      if (this.open.size === 0) this.openedAt = now;
      this.open.set(id, { fields, repeats: 0 });
      return undefined;
    }
    seen.repeats++;
    // The latest retry time is the one worth reading.
    seen.fields = fields;
    if (this.timed) return undefined;
    this.timed = true;
    return Math.max(0, this.openedAt + this.intervalMs - now);
  }

  /** Writes the counted repeats, one line per key and limit, and starts afresh. */
  flush(): void {
    const open = this.open;
    this.open = new Map();
    this.timed = false;
    for (const { fields, repeats } of open.values()) if (repeats > 0) this.write({ ...fields, count: repeats });
  }
}
