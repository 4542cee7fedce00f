/**
 * Threshold events in a key's object: found where the count is exact (the
 * charge, in `RateLimiter.store`), written to an outbox table in the same
 * transaction as the charge, and delivered by the object's alarm as a signed
 * webhook, at least once: a failed attempt is retried 1 s, 2 s, 4 s, ...
 * later, up to MAX_ATTEMPTS, then dropped (logged and counted). Nothing on
 * the request path calls out.
 *
 * The outbox row is also the record that the threshold fired in that window:
 * its primary key is (key, counter, window start, threshold), so `INSERT OR
 * IGNORE` fires each once per window, across restarts. Rows are kept until
 * their window ends, then swept by the alarm.
 *
 * The table is created by the first event (`CREATE TABLE IF NOT EXISTS`), so
 * an object whose rules have no thresholds never has it: activation is not
 * one read or write dearer. A request that fires an event sets the alarm
 * before it answers (see `RateLimiter.store`).
 * @module
 */
import { peekOne } from "../limiter/decide";
import type { CounterSpec, CounterState } from "../limiter/types";
import { logEvent } from "../log";
import { crossedThresholds, MAX_ATTEMPTS, nextAttemptAt } from "../notify/crossing";
import { eventId, SIGNATURE_HEADER, signatureHeader } from "../notify/signature";
import type { NotificationReport, ThresholdEvent } from "../notify/types";

export const OUTBOX_TABLE = "threshold_outbox";
const OUTBOX_SCHEMA = `CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (id TEXT PRIMARY KEY, url TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, keep_until INTEGER NOT NULL)`;
/** One attempt's time limit: a receiver that does not answer by then has failed this attempt. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Events sent per alarm; more wait for the next, which is due at once. */
const PER_ALARM = 50;

/** An event found at a charge, not yet in the outbox. */
export interface Crossing {
  /** What makes it one event: key, counter, window start, threshold. Hashed into its id at delivery. */
  parts: string;
  url: string;
  keepUntil: number;
  event: Omit<ThresholdEvent, "id">;
}

/** The count a counter's state stands for now: units charged in its window (leases included), at most its limit. */
function usedOf(state: CounterState | undefined, spec: CounterSpec, now: number): number {
  if (!state) return 0;
  return spec.limit - peekOne(new Map([[spec.name, state]]), spec, now).remaining;
}

/** The thresholds a charge's updates crossed, for the counters that have thresholds. */
export function findCrossings(
  before: ReadonlyMap<string, CounterState>,
  updates: ReadonlyMap<string, CounterState>,
  specs: readonly CounterSpec[],
  now: number,
): Crossing[] {
  const out: Crossing[] = [];
  for (const spec of specs) {
    const t = spec.thresholds;
    const after = updates.get(spec.name);
    if (!t || !after || (after.algorithm !== "fixed" && after.algorithm !== "sliding")) continue;
    const prior = before.get(spec.name);
    // A state of another window counts nothing in this one.
    const was =
      prior && prior.algorithm === after.algorithm && prior.windowStart === after.windowStart
        ? usedOf(prior, spec, now)
        : 0;
    const is = usedOf(after, spec, now);
    const crossed = crossedThresholds(t.at, spec.limit, was, is);
    if (crossed.length === 0) continue;
    const windowEnd =
      after.algorithm === "fixed"
        ? peekOne(new Map([[spec.name, after]]), spec, now).resetAt
        : after.windowStart + spec.windowMs;
    for (const threshold of crossed)
      out.push({
        parts: JSON.stringify([t.key, spec.name, after.windowStart, threshold]),
        url: t.url,
        keepUntil: windowEnd,
        event: {
          type: "threshold.crossed",
          rule: t.rule,
          counter: spec.name,
          key: t.key,
          ...(t.label !== undefined ? { label: t.label } : {}),
          ...(t.tenant !== undefined ? { tenant: t.tenant } : {}),
          threshold,
          count: is,
          limit: spec.limit,
          windowStart: new Date(after.windowStart).toISOString(),
          windowEnd: new Date(windowEnd).toISOString(),
          crossedAt: new Date(now).toISOString(),
        },
      });
  }
  return out;
}

/** Adds crossings not fired before in their window; how many were new. Call inside the charge's transaction. */
export function writeCrossings(sql: SqlStorage, crossings: readonly Crossing[], now: number): number {
  sql.exec(OUTBOX_SCHEMA);
  let added = 0;
  for (const c of crossings) {
    const cursor = sql.exec(
      `INSERT OR IGNORE INTO ${OUTBOX_TABLE} (id, url, event, state, attempts, next_at, keep_until) VALUES (?, ?, ?, 'pending', 0, ?, ?)`,
      c.parts,
      c.url,
      JSON.stringify(c.event),
      now,
      c.keepUntil,
    );
    cursor.toArray();
    added += cursor.rowsWritten > 0 ? 1 : 0;
  }
  return added;
}

function hasOutbox(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", OUTBOX_TABLE).toArray().length > 0;
}

interface OutboxRow {
  id: string;
  url: string;
  event: string;
  attempts: number;
  keep_until: number;
  [key: string]: SqlStorageValue;
}

/**
 * The alarm's part: sends each due event once, records how it went, and sweeps rows whose window has
 * ended. Returns what happened (for the statistics store) and when the outbox next needs the alarm.
 */
export async function deliverDue(
  sql: SqlStorage,
  secret: string | undefined,
  now: () => number,
): Promise<{ reports: NotificationReport[]; next: number | undefined }> {
  if (!hasOutbox(sql)) return { reports: [], next: undefined };
  const reports: NotificationReport[] = [];
  const due = sql
    .exec<OutboxRow>(
      `SELECT id, url, event, attempts, keep_until FROM ${OUTBOX_TABLE} WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ${PER_ALARM}`,
      now(),
    )
    .toArray();
  for (const row of due) {
    const event: ThresholdEvent = {
      id: await eventId(row.id),
      ...(JSON.parse(row.event) as Omit<ThresholdEvent, "id">),
    };
    const ok = await send(row.url, event, secret, now());
    const attempts = row.attempts + 1;
    const at = now();
    const outcome = ok ? "delivered" : attempts >= MAX_ATTEMPTS ? "dropped" : "retrying";
    if (outcome === "retrying")
      sql.exec(
        `UPDATE ${OUTBOX_TABLE} SET attempts = ?, next_at = ? WHERE id = ?`,
        attempts,
        nextAttemptAt(attempts, at),
        row.id,
      );
    else sql.exec(`UPDATE ${OUTBOX_TABLE} SET attempts = ?, state = ? WHERE id = ?`, attempts, outcome, row.id);
    if (outcome === "dropped")
      logEvent("threshold.dropped", { id: event.id, rule: event.rule, threshold: event.threshold, attempts }, "error");
    reports.push({ outcome, at, attempts, event });
  }
  sql.exec(`DELETE FROM ${OUTBOX_TABLE} WHERE state != 'pending' AND keep_until <= ?`, now());
  const next = sql
    .exec<{ at: number | null }>(
      `SELECT MIN(CASE WHEN state = 'pending' THEN next_at ELSE keep_until END) AS at FROM ${OUTBOX_TABLE}`,
    )
    .one().at;
  return { reports, next: next ?? undefined };
}

/** One attempt: true when the receiver answered 2xx. */
async function send(url: string, event: ThresholdEvent, secret: string | undefined, now: number): Promise<boolean> {
  const body = JSON.stringify(event);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "idempotency-key": event.id,
    "user-agent": "sluice-threshold-webhook",
  };
  if (secret) headers[SIGNATURE_HEADER] = await signatureHeader(secret, body, Math.floor(now / 1000));
  else logEvent("threshold.unsigned", { id: event.id, reason: "THRESHOLD_WEBHOOK_SECRET is not set" }, "warn");
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 300;
  } catch (e) {
    logEvent("threshold.attempt_failed", { id: event.id, message: e instanceof Error ? e.message : String(e) }, "warn");
    return false;
  }
}
