/**
 * What one isolate has decided since its last flush to the statistics store:
 * per minute, counts per rule and verdict, a space-saving summary of the
 * refused keys, and the decision latency histogram. Pure (time is passed in)
 * and bounded: at most MAX_RULES rules per minute (more fold into `(other)`)
 * and MAX_PENDING_MINUTES minutes (older ones are dropped if flushes keep
 * failing).
 * @module
 */
import type { FleetVerdict } from "./fleet-verdict";
import { latencyBucket } from "./latency-buckets";
import { SpaceSaving } from "./space-saving";

export const MINUTE_MS = 60_000;
/** Refused keys tracked per minute in one isolate. */
export const TOP_KEYS_PER_MINUTE = 32;
export const MAX_RULES = 256;
export const MAX_PENDING_MINUTES = 15;
export const OTHER_RULE = "(other)";

export interface CountRow {
  /** Start of the minute, epoch ms. */
  minute: number;
  rule: string;
  verdict: FleetVerdict;
  n: number;
}

export interface KeyRow {
  minute: number;
  rule: string;
  /** The counting key as the logs show it. */
  key: string;
  /** What an operator reads for it (see src/engine/key-label.ts); absent when the key is readable as it is. */
  label?: string;
  /** Upper bound of its refusals in that minute in this isolate (space-saving). */
  n: number;
}

export interface LatencyRow {
  minute: number;
  /** Index into LATENCY_BUCKETS_MS; its length is the +Inf bucket. */
  bucket: number;
  n: number;
}

/** Usage of one tenant under one rule on one UTC day (the ledger's row): units admitted and refused. */
export interface UsageRow {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  tenant: string;
  rule: string;
  admitted: number;
  refused: number;
}

/** Distinct (day, tenant, rule) rows one isolate holds between flushes; past it a row's units are dropped and counted. */
export const MAX_USAGE_ROWS = 10_000;

/** One flush: what the statistics store adds to its buckets. */
export interface FlushBatch {
  counts: CountRow[];
  keys: KeyRow[];
  latency: LatencyRow[];
  /** Sum of the latencies in `latency`, ms (the histogram's `_sum`). */
  latencySumMs: number;
  /** Flushes of this isolate that failed (and were dropped) since the last batch that was sent. */
  droppedFlushes: number;
  /** The usage ledger's increments (absent in batches of isolates older than the ledger). */
  usage?: UsageRow[];
}

interface Minute {
  counts: Map<string, Map<FleetVerdict, number>>;
  keys: SpaceSaving;
  latency: Map<number, number>;
}

export class FleetAggregate {
  private minutes = new Map<number, Minute>();
  private dropped = 0;
  private latencySumMs = 0;
  private usage = new Map<string, UsageRow>();
  /** Usage units dropped because this isolate held MAX_USAGE_ROWS rows already (the recorder logs them). */
  droppedUsage = 0;

  /** Counts one rule's verdict; a refusal with its counting key (and the key's label) also feeds the heavy hitters. */
  record(rule: string, verdict: FleetVerdict, now: number, refusedKey?: string, refusedLabel?: string): void {
    const m = this.minute(now);
    const name = m.counts.has(rule) || m.counts.size < MAX_RULES ? rule : OTHER_RULE;
    let verdicts = m.counts.get(name);
    if (!verdicts) {
      verdicts = new Map();
      m.counts.set(name, verdicts);
    }
    verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    if (refusedKey !== undefined && (verdict === "refused" || verdict === "cached_refusal"))
      m.keys.offer(JSON.stringify([name, refusedKey]), 1, refusedLabel);
  }

  /**
   * Units of one rule's verdict for a tenant, on the UTC day of `now`: admitted units count as admitted,
   * refusals (cached ones too) as refused; other verdicts (errors, bypasses, shadow) are not billed.
   */
  recordUsage(tenant: string, rule: string, verdict: FleetVerdict, units: number, now: number): void {
    const admitted = verdict === "admitted" ? units : 0;
    const refused = verdict === "refused" || verdict === "cached_refusal" ? units : 0;
    if (admitted === 0 && refused === 0) return;
    const day = utcDay(now);
    const id = JSON.stringify([day, tenant, rule]);
    let row = this.usage.get(id);
    if (!row) {
      if (this.usage.size >= MAX_USAGE_ROWS) {
        this.droppedUsage += admitted + refused;
        return;
      }
      row = { day, tenant, rule, admitted: 0, refused: 0 };
      this.usage.set(id, row);
    }
    row.admitted += admitted;
    row.refused += refused;
  }

  /** One decision's latency (ms), counted once per decision. */
  recordLatency(ms: number, now: number): void {
    const m = this.minute(now);
    const b = latencyBucket(ms);
    m.latency.set(b, (m.latency.get(b) ?? 0) + 1);
    this.latencySumMs += ms;
  }

  get pending(): boolean {
    return this.minutes.size > 0 || this.usage.size > 0;
  }

  /** How full it is: minutes pending, and the most rules and refused keys any of them holds. */
  footprint(): { minutes: number; rules: number; keys: number } {
    let rules = 0;
    let keys = 0;
    for (const m of this.minutes.values()) {
      rules = Math.max(rules, m.counts.size);
      keys = Math.max(keys, m.keys.size);
    }
    return { minutes: this.minutes.size, rules, keys };
  }

  /** Everything recorded so far, as one batch, and forgets it: a batch is sent once, never re-sent. */
  drain(): FlushBatch | undefined {
    if (this.minutes.size === 0 && this.usage.size === 0) return undefined;
    const batch: FlushBatch = {
      counts: [],
      keys: [],
      latency: [],
      latencySumMs: this.latencySumMs,
      droppedFlushes: this.dropped,
    };
    for (const [minute, m] of [...this.minutes.entries()].sort(([a], [b]) => a - b)) {
      for (const [rule, verdicts] of m.counts)
        for (const [verdict, n] of verdicts) batch.counts.push({ minute, rule, verdict, n });
      for (const hit of m.keys.top()) {
        const [rule, key] = JSON.parse(hit.key) as [string, string];
        batch.keys.push({ minute, rule, key, n: hit.count, ...(hit.label !== undefined ? { label: hit.label } : {}) });
      }
      for (const [bucket, n] of m.latency) batch.latency.push({ minute, bucket, n });
    }
    if (this.usage.size > 0) batch.usage = [...this.usage.values()];
    this.usage.clear();
    this.minutes.clear();
    this.dropped = 0;
    this.latencySumMs = 0;
    return batch;
  }

  /** A drained batch did not reach the store: it is gone, and counted in the next batch. */
  flushFailed(): void {
    this.dropped++;
  }

  private minute(now: number): Minute {
    const start = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    let m = this.minutes.get(start);
    if (!m) {
      m = { counts: new Map(), keys: new SpaceSaving(TOP_KEYS_PER_MINUTE), latency: new Map() };
      this.minutes.set(start, m);
      for (const old of this.minutes.keys())
        if (old <= start - MAX_PENDING_MINUTES * MINUTE_MS) this.minutes.delete(old);
      // A clock that went back adds minutes below the newest: still no more than MAX_PENDING_MINUTES.
      while (this.minutes.size > MAX_PENDING_MINUTES) this.minutes.delete(Math.min(...this.minutes.keys()));
    }
    return m;
  }
}

/** The UTC day of an epoch-ms time, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
