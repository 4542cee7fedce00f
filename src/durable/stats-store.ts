/**
 * The statistics store: one shard of the fleet-wide figures. Isolates send
 * it batches (`ingest`) in the background; it adds them to per-minute
 * buckets kept for RETENTION_MS, to all-time totals (the monotonic counters
 * of `/metrics`), and prunes old minutes from its alarm. Reads merge every
 * shard (see ./stats-store-client.ts).
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { type FlushBatch, MINUTE_MS } from "../observability/fleet-aggregate";
import type { KeyTotal, SeriesRow, Totals } from "../observability/fleet-rows";
import { isFleetVerdict } from "../observability/fleet-verdict";
import { LATENCY_BUCKETS_MS } from "../observability/latency-buckets";

import { applyMigrations } from "./migrations";
import { STATS_MIGRATIONS } from "./stats-migrations";

export type { KeyTotal, SeriesRow, Totals };

/** Per-minute buckets are kept this long (the console's day view needs 24 h). */
export const RETENTION_MS = 25 * 60 * MINUTE_MS;
/** How often the alarm prunes. */
const PRUNE_EVERY_MS = 10 * MINUTE_MS;
/** Refused keys kept per minute in one shard: the heaviest, by count. */
const KEYS_PER_MINUTE = 64;
/** Characters of a label kept (an isolate's are shorter: a name and 64 characters of value). */
const MAX_LABEL_LENGTH = 512;
/** Rows a single batch may carry (an isolate's batch is far smaller): a bound on one call's work. */
const MAX_ROWS_PER_BATCH = 20_000;

/** Reads no bindings: its figures come in through `ingest`. */
export class StatsStore extends DurableObject<object> {
  private alarmSet = false;

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    applyMigrations(ctx.storage, STATS_MIGRATIONS);
  }

  ingest(batch: FlushBatch): { rows: number; accepted: boolean } {
    const rows = batch.counts.length + batch.keys.length + batch.latency.length;
    // Answered, not thrown: the sender drops a batch either way, and a throw here would be an uncaught error.
    if (rows > MAX_ROWS_PER_BATCH) return { rows, accepted: false };
    const sql = this.ctx.storage.sql;
    const oldest = Date.now() - RETENTION_MS;
    this.ctx.storage.transactionSync(() => {
      for (const c of batch.counts) {
        if (!isFleetVerdict(c.verdict) || !(c.n > 0)) continue;
        sql.exec(
          "INSERT INTO totals (rule, verdict, n) VALUES (?1, ?2, ?3) ON CONFLICT (rule, verdict) DO UPDATE SET n = n + ?3",
          c.rule,
          c.verdict,
          c.n,
        );
        if (c.minute < oldest) continue;
        sql.exec(
          "INSERT INTO counts (minute, rule, verdict, n) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (minute, rule, verdict) DO UPDATE SET n = n + ?4",
          c.minute,
          c.rule,
          c.verdict,
          c.n,
        );
      }
      const keyMinutes = new Set<number>();
      for (const k of batch.keys) {
        if (!(k.n > 0) || k.minute < oldest) continue;
        const label = typeof k.label === "string" ? k.label.slice(0, MAX_LABEL_LENGTH) : null;
        sql.exec(
          "INSERT INTO refused_keys (minute, rule, key, n, label) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (minute, rule, key) DO UPDATE SET n = n + ?4, label = COALESCE(?5, label)",
          k.minute,
          k.rule,
          k.key,
          k.n,
          label,
        );
        keyMinutes.add(k.minute);
      }
      // Keep the heaviest keys of each minute; the lightest cannot make a top list anyway.
      for (const minute of keyMinutes) {
        sql.exec(
          `DELETE FROM refused_keys WHERE minute = ?1 AND n < (SELECT n FROM refused_keys WHERE minute = ?1 ORDER BY n DESC LIMIT 1 OFFSET ${KEYS_PER_MINUTE - 1})`,
          minute,
        );
      }
      for (const l of batch.latency) {
        if (!(l.n > 0) || l.bucket < 0 || l.bucket > LATENCY_BUCKETS_MS.length) continue;
        sql.exec(
          "INSERT INTO latency_totals (bucket, n) VALUES (?1, ?2) ON CONFLICT (bucket) DO UPDATE SET n = n + ?2",
          l.bucket,
          l.n,
        );
      }
      sql.exec("INSERT INTO meta_totals (name, n) VALUES ('batches', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1");
      if (batch.latencySumMs > 0)
        sql.exec(
          "INSERT INTO meta_totals (name, n) VALUES ('latency_sum_ms', ?1) ON CONFLICT (name) DO UPDATE SET n = n + ?1",
          batch.latencySumMs,
        );
      if (batch.droppedFlushes > 0)
        sql.exec(
          "INSERT INTO meta_totals (name, n) VALUES ('dropped_flushes', ?1) ON CONFLICT (name) DO UPDATE SET n = n + ?1",
          batch.droppedFlushes,
        );
    });
    this.armAlarm();
    return { rows, accepted: true };
  }

  /** Counts per minute in [from, to), summed into steps of `stepMinutes` (the day view uses 10). */
  series(from: number, to: number, stepMinutes = 1): SeriesRow[] {
    const step = Math.max(1, Math.floor(stepMinutes)) * MINUTE_MS;
    return this.ctx.storage.sql
      .exec<{ minute: number; rule: string; verdict: string; n: number }>(
        "SELECT (minute / ?3) * ?3 AS minute, rule, verdict, SUM(n) AS n FROM counts WHERE minute >= ?1 AND minute < ?2 GROUP BY 1, 2, 3 ORDER BY 1",
        from,
        to,
        step,
      )
      .toArray();
  }

  /**
   * Refused keys since `from`, heaviest first, each with its label of the latest minute that had one (a
   * policy that has since declared a header a credential shows it hashed from its next refusal on).
   */
  refusedKeys(from: number, limit: number): KeyTotal[] {
    return this.ctx.storage.sql
      .exec<{ rule: string; key: string; n: number; label: string | null }>(
        `SELECT rule, key, SUM(n) AS n,
           (SELECT l.label FROM refused_keys l WHERE l.rule = r.rule AND l.key = r.key AND l.minute >= ?1 AND l.label IS NOT NULL
            ORDER BY l.minute DESC LIMIT 1) AS label
         FROM refused_keys r WHERE minute >= ?1 GROUP BY rule, key ORDER BY n DESC, rule, key LIMIT ?2`,
        from,
        limit,
      )
      .toArray()
      .map(({ rule, key, n, label }) => ({ rule, key, ...(label !== null ? { label } : {}), n }));
  }

  totals(): Totals {
    const sql = this.ctx.storage.sql;
    const meta = new Map(
      sql
        .exec<{ name: string; n: number }>("SELECT name, n FROM meta_totals")
        .toArray()
        .map((r) => [r.name, r.n]),
    );
    return {
      counts: sql
        .exec<{ rule: string; verdict: string; n: number }>(
          "SELECT rule, verdict, n FROM totals ORDER BY rule, verdict",
        )
        .toArray(),
      latency: sql
        .exec<{ bucket: number; n: number }>("SELECT bucket, n FROM latency_totals ORDER BY bucket")
        .toArray(),
      latencySumMs: meta.get("latency_sum_ms") ?? 0,
      droppedFlushes: meta.get("dropped_flushes") ?? 0,
      batches: meta.get("batches") ?? 0,
    };
  }

  override async alarm(): Promise<void> {
    const oldest = Date.now() - RETENTION_MS;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM counts WHERE minute < ?1", oldest);
    sql.exec("DELETE FROM refused_keys WHERE minute < ?1", oldest);
    const left = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM counts").one().n;
    // An idle shard stops waking up once its buckets are gone; the next batch arms it again.
    if (left > 0) {
      await this.ctx.storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
      this.alarmSet = true;
    } else this.alarmSet = false;
  }

  private armAlarm(): void {
    if (this.alarmSet) return;
    this.alarmSet = true;
    void this.ctx.storage.getAlarm().then((at) => {
      if (at === null) return this.ctx.storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
    });
  }
}
