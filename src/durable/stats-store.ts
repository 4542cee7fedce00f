/**
 * The statistics store: one shard of the fleet-wide figures. Isolates send
 * it batches (`ingest`) in the background; it adds them to per-minute
 * buckets kept for RETENTION_MS, to all-time totals (the monotonic counters
 * of `/metrics`), and prunes old minutes from its alarm. Reads merge every
 * shard (see ./stats-store-client.ts).
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import type { NotificationReport, ThresholdEvent } from "../notify/types";
import { type FlushBatch, MINUTE_MS, type UsageRow, utcDay } from "../observability/fleet-aggregate";
import type { KeyTotal, SeriesRow, Totals } from "../observability/fleet-rows";
import { isFleetVerdict } from "../observability/fleet-verdict";
import { LATENCY_BUCKETS_MS } from "../observability/latency-buckets";
import { countActivation, countAlarm, countCall } from "../observability/object-counts";

import { applyMigrations } from "./migrations";
import { STATS_MIGRATIONS } from "./stats-migrations";

export type { KeyTotal, SeriesRow, Totals };

/** The usage ledger's rows are kept this many days (a year and a month: last year's same month can be billed). */
export const USAGE_RETENTION_DAYS = 400;
/** Threshold events kept per shard for the console (the latest). */
const EVENTS_KEPT = 200;
const NOTIFICATION_OUTCOMES = new Set(["delivered", "retrying", "dropped"]);

/** One ledger row as read back. */
export interface UsageEntry {
  day: string;
  tenant: string;
  rule: string;
  admitted: number;
  refused: number;
}

/** A threshold event with the latest outcome of its delivery. */
export interface ThresholdEventEntry {
  at: number;
  outcome: string;
  attempts: number;
  event: ThresholdEvent;
}

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
/** Its name in the object counts (src/observability/object-counts.ts). */
const CLASS = "StatsStore";

/** Reads no bindings: its figures come in through `ingest`. */
export class StatsStore extends DurableObject<object> {
  private alarmSet = false;

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    applyMigrations(ctx.storage, STATS_MIGRATIONS);
    countActivation(CLASS);
  }

  ingest(batch: FlushBatch): { rows: number; accepted: boolean } {
    countCall(CLASS, "ingest");
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
      for (const u of batch.usage ?? []) {
        if (!isUsageRow(u)) continue;
        sql.exec(
          "INSERT INTO usage (day, tenant, rule, admitted, refused) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, day, rule) DO UPDATE SET admitted = admitted + ?4, refused = refused + ?5",
          u.day,
          u.tenant.slice(0, MAX_LABEL_LENGTH),
          u.rule,
          u.admitted,
          u.refused,
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

  /** The ledger's rows of a tenant for the UTC days in [from, to] (`YYYY-MM-DD`), by day then rule. */
  usage(tenant: string, from: string, to: string): UsageEntry[] {
    return this.ctx.storage.sql
      .exec<{ day: string; tenant: string; rule: string; admitted: number; refused: number }>(
        "SELECT day, tenant, rule, admitted, refused FROM usage WHERE tenant = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, rule",
        tenant,
        from,
        to,
      )
      .toArray();
  }

  /**
   * What the key objects report of their threshold webhooks: each attempt's outcome adds to the totals of
   * `/metrics`; the event is kept (its latest outcome) for the console. A report sent twice (the object
   * retried its report) counts twice: the figures are for watching, the webhook's id is what is exact.
   */
  recordNotifications(reports: NotificationReport[]): void {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const r of reports.slice(0, MAX_ROWS_PER_BATCH)) {
        if (!NOTIFICATION_OUTCOMES.has(r.outcome) || typeof r.event?.id !== "string") continue;
        sql.exec(
          "INSERT INTO notification_totals (rule, threshold, outcome, n) VALUES (?1, ?2, ?3, 1) ON CONFLICT (rule, threshold, outcome) DO UPDATE SET n = n + 1",
          r.event.rule,
          r.event.threshold,
          r.outcome,
        );
        sql.exec("DELETE FROM threshold_events WHERE id = ?1", r.event.id);
        sql.exec(
          "INSERT INTO threshold_events (id, outcome, at, event) VALUES (?1, ?2, ?3, ?4)",
          r.event.id,
          `${r.outcome}:${r.attempts}`,
          r.at,
          JSON.stringify(r.event),
        );
      }
      sql.exec(
        `DELETE FROM threshold_events WHERE at < (SELECT at FROM threshold_events ORDER BY at DESC LIMIT 1 OFFSET ${EVENTS_KEPT - 1})`,
      );
    });
  }

  /** The latest threshold events, newest first. */
  thresholdEvents(limit: number): ThresholdEventEntry[] {
    return this.ctx.storage.sql
      .exec<{ outcome: string; at: number; event: string }>(
        "SELECT outcome, at, event FROM threshold_events ORDER BY at DESC LIMIT ?1",
        Math.min(limit, EVENTS_KEPT),
      )
      .toArray()
      .map((r) => {
        const [outcome = "", attempts = "0"] = r.outcome.split(":");
        return { at: r.at, outcome, attempts: Number(attempts), event: JSON.parse(r.event) as ThresholdEvent };
      });
  }

  /** Counts per minute in [from, to), summed into steps of `stepMinutes` (the day view uses 10). */
  series(from: number, to: number, stepMinutes = 1): SeriesRow[] {
    countCall(CLASS, "series");
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
    countCall(CLASS, "refusedKeys");
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
    countCall(CLASS, "totals");
    const sql = this.ctx.storage.sql;
    const meta = new Map(
      sql
        .exec<{ name: string; n: number }>("SELECT name, n FROM meta_totals")
        .toArray()
        .map((r) => [r.name, r.n]),
    );
    const notifications = sql
      .exec<{ rule: string; threshold: number; outcome: string; n: number }>(
        "SELECT rule, threshold, outcome, n FROM notification_totals ORDER BY rule, threshold, outcome",
      )
      .toArray();
    return {
      counts: sql
        .exec<{ rule: string; verdict: string; n: number }>(
          "SELECT rule, verdict, n FROM totals ORDER BY rule, verdict",
        )
        .toArray(),
      latency: sql
        .exec<{ bucket: number; n: number }>("SELECT bucket, n FROM latency_totals ORDER BY bucket")
        .toArray(),
      ...(notifications.length > 0 ? { notifications } : {}),
      latencySumMs: meta.get("latency_sum_ms") ?? 0,
      droppedFlushes: meta.get("dropped_flushes") ?? 0,
      batches: meta.get("batches") ?? 0,
    };
  }

  override async alarm(): Promise<void> {
    countAlarm(CLASS);
    const oldest = Date.now() - RETENTION_MS;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM counts WHERE minute < ?1", oldest);
    sql.exec("DELETE FROM refused_keys WHERE minute < ?1", oldest);
    sql.exec("DELETE FROM usage WHERE day < ?1", utcDay(Date.now() - USAGE_RETENTION_DAYS * 86_400_000));
    const left =
      sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM counts").one().n +
      sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage").one().n;
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

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function isUsageRow(u: UsageRow): boolean {
  return (
    typeof u?.tenant === "string" &&
    typeof u.rule === "string" &&
    typeof u.day === "string" &&
    DAY.test(u.day) &&
    Number.isSafeInteger(u.admitted) &&
    Number.isSafeInteger(u.refused) &&
    u.admitted >= 0 &&
    u.refused >= 0
  );
}
