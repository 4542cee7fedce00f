/**
 * The usage ledger and the threshold events over the admin API:
 * `GET /usage?tenant=<id>&from=YYYY-MM-DD[&to=YYYY-MM-DD]` (units admitted
 * and refused per UTC day and rule) and `GET /thresholds/events?limit=N`
 * (the latest threshold webhooks and how their delivery went). Read calls:
 * a read token may make them. Each first sends this isolate's pending
 * figures, so its own decisions are in the answer.
 * @module
 */
import type { Hono } from "hono";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import { flushNow } from "../adapters/workers/observe-decision";
import { USAGE_RETENTION_DAYS } from "../durable/stats-store";
import { readThresholdEvents, readUsage } from "../durable/stats-store-client";
import type { Env } from "../env";
import { utcDay } from "../observability/fleet-aggregate";

const NO_STORE = { "Cache-Control": "no-store" };
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** The longest span one read may ask for: the ledger's retention. */
const MAX_SPAN_DAYS = USAGE_RETENTION_DAYS;

/** A `YYYY-MM-DD` that names a real day (not `2026-02-30`), as epoch ms of its 00:00 UTC; else undefined. */
export function parseDay(value: string | undefined): number | undefined {
  const m = value === undefined ? null : DAY.exec(value);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return utcDay(ms) === value ? ms : undefined;
}

function bad(message: string): Response {
  return Response.json({ error: "bad_request", message }, { status: 400, headers: NO_STORE });
}

// biome-ignore lint/suspicious/noExplicitAny: the admin app's Variables are its own; these routes use only Bindings.
export function mountUsage<E extends { Bindings: Env; Variables: any }>(admin: Hono<E>, limiter: SluiceLimiter): void {
  admin.get("/usage", async (c) => {
    if (!c.env.STATS) return c.json({ error: "no_stats", message: "the STATS binding is not configured" }, 501);
    const tenant = c.req.query("tenant");
    if (!tenant) return bad("tenant is required: ?tenant=<the tenant record's id>");
    const fromText = c.req.query("from");
    const from = parseDay(fromText);
    if (from === undefined) return bad(`from must be a day, YYYY-MM-DD (UTC), not ${JSON.stringify(fromText ?? "")}`);
    const toText = c.req.query("to") ?? utcDay(Date.now());
    const to = parseDay(toText);
    if (to === undefined) return bad(`to must be a day, YYYY-MM-DD (UTC), not ${JSON.stringify(toText)}`);
    if (to < from) return bad(`to (${toText}) is before from (${fromText})`);
    if ((to - from) / 86_400_000 >= MAX_SPAN_DAYS)
      return bad(`at most ${MAX_SPAN_DAYS} days per call (the ledger keeps ${USAGE_RETENTION_DAYS})`);
    await flushNow(limiter.fleet, c.env);
    const rows = await readUsage(c.env.STATS, tenant, fromText!, toText);
    return c.json({ tenant, from: fromText, to: toText, retentionDays: USAGE_RETENTION_DAYS, rows }, 200, NO_STORE);
  });

  admin.get("/thresholds/events", async (c) => {
    if (!c.env.STATS) return c.json({ error: "no_stats", message: "the STATS binding is not configured" }, 501);
    const n = Number(c.req.query("limit") ?? 50);
    const limit = Number.isInteger(n) && n >= 1 && n <= 200 ? n : 50;
    return c.json({ events: await readThresholdEvents(c.env.STATS, limit) }, 200, NO_STORE);
  });
}
