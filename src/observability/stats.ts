/**
 * Per-rule counts of what the limiter decided, kept per minute in this
 * isolate for `GET <ADMIN_PREFIX>/stats`. Bounded whatever the keys: counts
 * are per rule, never per key; at most STATS_MINUTES minutes (the oldest goes
 * first) of at most MAX_RULES_PER_MINUTE rules (more fold into `(other)`).
 * @module
 */
import type { Verdict } from "../engine/ports";

const MINUTE_MS = 60_000;
/** Minutes of history an isolate keeps. */
export const STATS_MINUTES = 15;
/** Rules tracked per minute; more are folded into `(other)` to keep memory bounded. */
export const MAX_RULES_PER_MINUTE = 256;

type Counts = Record<Verdict, number>;

export interface MinuteStats {
  minute: string;
  rules: Record<string, Counts>;
}

const empty = (): Counts => ({
  admitted: 0,
  refused: 0,
  shadow_refused: 0,
  error_open: 0,
  error_closed: 0,
  blocked: 0,
});

export class Stats {
  private minutes = new Map<number, Map<string, Counts>>();

  record(rule: string, verdict: Verdict, now = Date.now()): void {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    let rules = this.minutes.get(minute);
    if (!rules) {
      rules = new Map();
      this.minutes.set(minute, rules);
      for (const m of this.minutes.keys()) if (m <= minute - STATS_MINUTES * MINUTE_MS) this.minutes.delete(m);
      // A clock that went back adds minutes below the newest: still no more than STATS_MINUTES.
      while (this.minutes.size > STATS_MINUTES) this.minutes.delete(Math.min(...this.minutes.keys()));
    }
    const name = rules.has(rule) || rules.size < MAX_RULES_PER_MINUTE ? rule : "(other)";
    let counts = rules.get(name);
    if (!counts) {
      counts = empty();
      rules.set(name, counts);
    }
    counts[verdict]++;
  }

  /** How full it is: minutes kept, and the most rules any of them holds. */
  footprint(): { minutes: number; rules: number } {
    let rules = 0;
    for (const m of this.minutes.values()) rules = Math.max(rules, m.size);
    return { minutes: this.minutes.size, rules };
  }

  snapshot(now = Date.now()): MinuteStats[] {
    const from = Math.floor(now / MINUTE_MS) * MINUTE_MS - (STATS_MINUTES - 1) * MINUTE_MS;
    return [...this.minutes.entries()]
      .filter(([m]) => m >= from)
      .sort(([a], [b]) => a - b)
      .map(([m, rules]) => ({ minute: new Date(m).toISOString(), rules: Object.fromEntries(rules) }));
  }
}
