/**
 * Admin calls over the fleet-wide figures: `GET /metrics` (OpenMetrics, or the
 * Prometheus text format 0.0.4 when `Accept` prefers it) and
 * the JSON the console draws (`GET /fleet/series`, `/fleet/top-keys`,
 * `/fleet/overview`). Mounted on the admin app, so behind its token. Each
 * first sends this isolate's pending figures, so its own are included.
 * @module
 */
import type { Hono } from "hono";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import { flushNow } from "../adapters/workers/observe-decision";
import { readRefusedKeys, readSeries, readTotals } from "../durable/stats-store-client";
import type { Env } from "../env";
import { HISTORY_PREFIX, VERSION_KEY } from "../kv/keys";
import { MINUTE_MS } from "../observability/fleet-aggregate";
import type { Totals } from "../observability/fleet-rows";
import { STORE_FAILURE_VERDICTS } from "../observability/fleet-verdict";
import { metricsFormat } from "../observability/metrics-format";
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  renderOpenMetrics,
  renderPrometheusText,
} from "../observability/openmetrics";

const NO_STORE = { "Cache-Control": "no-store" };
const EMPTY_TOTALS: Totals = { counts: [], latency: [], latencySumMs: 0, droppedFlushes: 0, batches: 0 };

/** The latest published version and when it was published (KV `policy:version` and its history entry). */
export async function publishedPolicy(env: Env): Promise<{ version: number; publishedAt?: number; actor?: string }> {
  const version = Number((await env.POLICIES.get(VERSION_KEY)) ?? "0") || 0;
  if (version === 0) return { version };
  const entry = await env.POLICIES.getWithMetadata<{ at?: string; actor?: string }>(`${HISTORY_PREFIX}${version}`);
  const at = entry.metadata?.at ? Date.parse(entry.metadata.at) : Number.NaN;
  return {
    version,
    ...(Number.isFinite(at) ? { publishedAt: at } : {}),
    ...(entry.metadata?.actor ? { actor: entry.metadata.actor } : {}),
  };
}

function intParam(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

// biome-ignore lint/suspicious/noExplicitAny: the admin app's Variables are its own; these routes use only Bindings.
export function mountObservability<E extends { Bindings: Env; Variables: any }>(
  admin: Hono<E>,
  limiter: SluiceLimiter,
) {
  admin.get("/metrics", async (c) => {
    await flushNow(limiter.fleet, c.env);
    const [totals, policy] = await Promise.all([
      c.env.STATS ? readTotals(c.env.STATS) : EMPTY_TOTALS,
      publishedPolicy(c.env),
    ]);
    const input = {
      totals,
      policyVersion: policy.version,
      ...(policy.publishedAt !== undefined ? { policyPublishedAt: policy.publishedAt } : {}),
      isolateFailedFlushes: limiter.fleet.failedFlushes,
    };
    const headers = { Vary: "Accept", ...NO_STORE };
    if (metricsFormat(c.req.header("accept")) === "prometheus-text")
      return new Response(renderPrometheusText(input), {
        headers: { "Content-Type": PROMETHEUS_TEXT_CONTENT_TYPE, ...headers },
      });
    return new Response(renderOpenMetrics(input), {
      headers: { "Content-Type": OPENMETRICS_CONTENT_TYPE, ...headers },
    });
  });

  admin.get("/fleet/series", async (c) => {
    if (!c.env.STATS) return c.json({ error: "no_stats", message: "the STATS binding is not configured" }, 501);
    await flushNow(limiter.fleet, c.env);
    // Up to a day: per minute for an hour or less, in steps of 10 minutes beyond.
    const minutes = intParam(c.req.query("minutes"), 60, 1, 1440);
    const step = minutes <= 60 ? 1 : 10;
    const to = (Math.floor(Date.now() / (step * MINUTE_MS)) + 1) * step * MINUTE_MS;
    const from = to - Math.ceil(minutes / step) * step * MINUTE_MS;
    const rows = await readSeries(c.env.STATS, from, to, step);
    return c.json({ from, to, stepMinutes: step, rows }, 200, NO_STORE);
  });

  admin.get("/fleet/top-keys", async (c) => {
    if (!c.env.STATS) return c.json({ error: "no_stats", message: "the STATS binding is not configured" }, 501);
    await flushNow(limiter.fleet, c.env);
    const minutes = intParam(c.req.query("minutes"), 15, 1, 1440);
    const limit = intParam(c.req.query("limit"), 20, 1, 100);
    const from = (Math.floor(Date.now() / MINUTE_MS) - minutes + 1) * MINUTE_MS;
    return c.json({ from, minutes, keys: await readRefusedKeys(c.env.STATS, from, limit) }, 200, NO_STORE);
  });

  admin.get("/fleet/overview", async (c) => {
    await flushNow(limiter.fleet, c.env);
    const inForce = await limiter.policies.get(c.env);
    const [policy, totals] = await Promise.all([
      publishedPolicy(c.env),
      c.env.STATS ? readTotals(c.env.STATS) : EMPTY_TOTALS,
    ]);
    const errors = totals.counts
      .filter((t) => (STORE_FAILURE_VERDICTS as readonly string[]).includes(t.verdict))
      .reduce((n, t) => n + t.n, 0);
    return c.json(
      {
        policy: {
          ...policy,
          source: inForce.source,
          documentVersion: inForce.compiled.document.version,
          rules: inForce.compiled.rules.map((r) => r.id),
        },
        counterStoreErrors: errors,
        droppedFlushes: totals.droppedFlushes + limiter.fleet.failedFlushes,
        statsConfigured: c.env.STATS !== undefined,
      },
      200,
      NO_STORE,
    );
  });
}
