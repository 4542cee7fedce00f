/**
 * Fleet-wide figures through the Workers runtime: the statistics store (a SQLite Durable Object),
 * the flush from the front door, and the admin reads over it (`/metrics`, `/fleet/*`).
 */
import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLimiter } from "../../src/adapters/workers/limiter";
import { RETENTION_MS, type StatsStore } from "../../src/durable/stats-store";
import { sha256Hex } from "../../src/hash";
import { type FlushBatch, MINUTE_MS } from "../../src/observability/fleet-aggregate";
import type { PolicyInput } from "../../src/policy/schema";
import { call, callMany, uniqueIp, useBuiltinPolicy, usePolicy } from "../support/client";
import { parseOpenMetricsStrict } from "../support/openmetrics-check";

const PREFIX = "/__ratelimit";

function admin(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, ...headers },
    ip: uniqueIp(),
  });
}

/** The body as text; decoded by hand: workerd warns when .text() meets a content type it does not know as text. */
async function bodyText(res: Response): Promise<string> {
  return new TextDecoder().decode(await res.arrayBuffer());
}

const policy = (id: string, limit: number): PolicyInput => ({
  version: 1,
  rules: [{ id, key: "ip", limits: [{ limit, window: "15m" }] }],
});

function uniqueRule(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

type Family = { name: string; type: string; metrics: Array<{ value?: string; labels?: Record<string, string> }> };

/** A rule's count of a verdict, read both ways: OpenMetrics (strictly) and the 0.0.4 text (its parser); they must agree. */
async function metricValue(rule: string, verdict: string): Promise<number> {
  const om = await admin("/metrics");
  expect(om.status).toBe(200);
  const fromOm = parseOpenMetricsStrict(await bodyText(om))
    .get("sluice_decisions")
    ?.samples.find((x) => x.labels.rule === rule && x.labels.verdict === verdict)?.value;
  const text = await admin("/metrics", { accept: "text/plain;version=0.0.4" });
  expect(text.status).toBe(200);
  const families = parsePrometheusTextFormat(await bodyText(text)) as Family[];
  const decisions = families.find((f) => f.name === "sluice_decisions_total");
  expect(decisions?.type).toBe("COUNTER");
  const fromText = decisions?.metrics.find((x) => x.labels?.rule === rule && x.labels?.verdict === verdict)?.value;
  expect(fromText === undefined ? undefined : Number(fromText)).toBe(fromOm);
  return fromOm ?? 0;
}

beforeEach(useBuiltinPolicy);
afterEach(() => vi.useRealTimers());

describe("the statistics store", () => {
  const stub = () => env.STATS!.getByName(`test-${Math.random()}`);

  it("adds batches into per-minute buckets and all-time totals; keeps the heaviest refused keys", async () => {
    const s = stub();
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const batch = {
      counts: [
        { minute, rule: "r", verdict: "admitted" as const, n: 3 },
        { minute, rule: "r", verdict: "refused" as const, n: 2 },
      ],
      keys: [{ minute, rule: "r", key: "ip:192.0.2.1", n: 2 }],
      latency: [{ minute, bucket: 1, n: 5 }],
      latencySumMs: 7,
      droppedFlushes: 1,
    };
    await s.ingest(batch);
    await s.ingest(batch);
    expect(await s.series(minute, minute + MINUTE_MS, 1)).toEqual([
      { minute, rule: "r", verdict: "admitted", n: 6 },
      { minute, rule: "r", verdict: "refused", n: 4 },
    ]);
    expect(await s.refusedKeys(minute, 10)).toEqual([{ rule: "r", key: "ip:192.0.2.1", n: 4 }]);
    const totals = await s.totals();
    expect(totals).toEqual({
      counts: [
        { rule: "r", verdict: "admitted", n: 6 },
        { rule: "r", verdict: "refused", n: 4 },
      ],
      latency: [{ bucket: 1, n: 10 }],
      latencySumMs: 14,
      droppedFlushes: 2,
      batches: 2,
    });
  });

  it("ignores unknown verdicts; turns an oversized batch away whole", async () => {
    const s = stub();
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    // biome-ignore lint/suspicious/noExplicitAny: a batch from a misbehaving caller
    const bad: any = {
      counts: [{ minute, rule: "r", verdict: "drop table", n: 1 }],
      keys: [],
      latency: [],
      latencySumMs: 0,
      droppedFlushes: 0,
    };
    await s.ingest(bad);
    expect((await s.totals()).counts).toEqual([]);
    const huge = {
      ...bad,
      counts: Array.from({ length: 20_001 }, () => ({ minute, rule: "r", verdict: "admitted", n: 1 })),
    };
    expect(await s.ingest(huge)).toEqual({ rows: 20_001, accepted: false });
    expect((await s.totals()).batches).toBe(1);
  });

  it("its alarm prunes minutes older than the retention, keeps the totals", async () => {
    const s = stub();
    const now = Date.now();
    const old = Math.floor((now - RETENTION_MS - MINUTE_MS) / MINUTE_MS) * MINUTE_MS;
    const recent = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    await runInDurableObject(s, (_instance: StatsStore, state) => {
      state.storage.sql.exec("INSERT INTO counts (minute, rule, verdict, n) VALUES (?, 'r', 'admitted', 1)", old);
      state.storage.sql.exec("INSERT INTO counts (minute, rule, verdict, n) VALUES (?, 'r', 'admitted', 1)", recent);
      state.storage.sql.exec("INSERT INTO totals (rule, verdict, n) VALUES ('r', 'admitted', 2)");
    });
    await runInDurableObject(s, (_i: StatsStore, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(s)).toBe(true);
    expect(await s.series(0, now + MINUTE_MS, 1)).toEqual([{ minute: recent, rule: "r", verdict: "admitted", n: 1 }]);
    expect((await s.totals()).counts).toEqual([{ rule: "r", verdict: "admitted", n: 2 }]);
    // Buckets are left, so it wakes again to prune them later.
    expect(await runInDurableObject(s, (_i: StatsStore, state) => state.storage.getAlarm())).not.toBeNull();
  });
});

describe("figures from the front door", () => {
  it("/metrics, /fleet/series and /fleet/top-keys count the same requests: 2 admitted, 1 refused, 2 cached refusals", async () => {
    const rule = uniqueRule("fleet");
    await usePolicy(policy(rule, 2));
    const ip = uniqueIp();
    expect(await callMany(5, "/x", { ip })).toEqual([200, 200, 429, 429, 429]);

    expect(await metricValue(rule, "admitted")).toBe(2);
    // The first refusal asks the counter object; the two after it are answered from the isolate's memory.
    expect(await metricValue(rule, "refused")).toBe(1);
    expect(await metricValue(rule, "cached_refusal")).toBe(2);

    const series = (await (await admin("/fleet/series?minutes=60")).json()) as {
      stepMinutes: number;
      rows: Array<{ rule: string; verdict: string; n: number }>;
    };
    expect(series.stepMinutes).toBe(1);
    const sum = (verdict: string) =>
      series.rows.filter((r) => r.rule === rule && r.verdict === verdict).reduce((n, r) => n + r.n, 0);
    expect([sum("admitted"), sum("refused"), sum("cached_refusal")]).toEqual([2, 1, 2]);

    const top = (await (await admin("/fleet/top-keys?minutes=15")).json()) as {
      keys: Array<{ rule: string; key: string; n: number }>;
    };
    expect(top.keys.filter((k) => k.rule === rule)).toEqual([{ rule, key: `ip:${ip}`, n: 3 }]);
  });

  it("/fleet/top-keys labels a header-keyed row with its value (x-user-id) and an API key only by its hash", async () => {
    const user = uniqueRule("user");
    const apiKey = `sk_live_${uniqueRule("secret")}`;
    const userRule = uniqueRule("per-user");
    const keyRule = uniqueRule("per-key");
    await usePolicy({
      version: 1,
      rules: [
        { id: userRule, match: { paths: ["/u"] }, key: "header:x-user-id", limits: [{ limit: 1, window: "15m" }] },
        { id: keyRule, match: { paths: ["/k"] }, key: "header:x-api-key", limits: [{ limit: 1, window: "15m" }] },
      ],
    });
    const ip = uniqueIp();
    expect(await callMany(2, "/u", { ip, headers: { "x-user-id": ` ${user.toUpperCase()} ` } })).toEqual([200, 429]);
    expect(await callMany(2, "/k", { ip, headers: { "x-api-key": apiKey } })).toEqual([200, 429]);

    const res = await admin("/fleet/top-keys?minutes=15&limit=100");
    const text = await res.text();
    const top = JSON.parse(text) as { keys: Array<{ rule: string; key: string; label?: string; n: number }> };
    const userHash = await sha256Hex(user);
    const apiHash = await sha256Hex(apiKey.toLowerCase());
    expect(top.keys.filter((k) => k.rule === userRule)).toEqual([
      { rule: userRule, key: `header:x-user-id:${userHash}`, label: `header:x-user-id:${user}`, n: 1 },
    ]);
    expect(top.keys.filter((k) => k.rule === keyRule)).toEqual([
      {
        rule: keyRule,
        key: `header:x-api-key:${apiHash}`,
        label: `header:x-api-key:[credential ${apiHash.slice(0, 8)}]`,
        n: 1,
      },
    ]);
    expect(text.toLowerCase()).not.toContain(apiKey.toLowerCase());
  });

  it("a refused key stored before labels (migration 2) is listed without one", async () => {
    const s = env.STATS!.getByName(`test-${Math.random()}`);
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    await runInDurableObject(s, (_i: StatsStore, state) => {
      state.storage.sql.exec(
        "INSERT INTO refused_keys (minute, rule, key, n) VALUES (?, 'r', 'header:h:abc', 2)",
        minute,
      );
    });
    await s.ingest({
      counts: [],
      keys: [{ minute, rule: "r", key: "ip:203.0.113.9", n: 1 }],
      latency: [],
      latencySumMs: 0,
      droppedFlushes: 0,
    });
    expect(await s.refusedKeys(minute, 10)).toEqual([
      { rule: "r", key: "header:h:abc", n: 2 },
      { rule: "r", key: "ip:203.0.113.9", n: 1 },
    ]);
    // A later batch brings the label; the minute's count adds up under it.
    await s.ingest({
      counts: [],
      keys: [{ minute, rule: "r", key: "header:h:abc", label: "header:h:u1", n: 1 }],
      latency: [],
      latencySumMs: 0,
      droppedFlushes: 0,
    });
    expect((await s.refusedKeys(minute, 10))[0]).toEqual({
      rule: "r",
      key: "header:h:abc",
      label: "header:h:u1",
      n: 3,
    });
  });

  it("/metrics needs the admin token and carries the OpenMetrics content type", async () => {
    const anonymous = await call(`${PREFIX}/metrics`, { ip: uniqueIp() });
    expect(anonymous.status).toBe(401);
    const res = await admin("/metrics");
    expect(res.headers.get("content-type")).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    expect(res.headers.get("vary")).toBe("Accept");
    expect((await bodyText(res)).endsWith("# EOF\n")).toBe(true);
  });

  const OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
  const TEXT_004 = "text/plain; version=0.0.4; charset=utf-8";
  it.each([
    ["text/plain;version=0.0.4", TEXT_004],
    ["text/plain", TEXT_004],
    ["application/openmetrics-text;q=0.4, text/plain;version=0.0.4;q=0.5", TEXT_004],
    ["text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.6", OPENMETRICS],
    [
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      OPENMETRICS,
    ],
    ["*/*", OPENMETRICS],
    ["application/json", OPENMETRICS],
  ])("/metrics with Accept %j answers %s, and its own parser reads it", async (accept, type) => {
    const res = await admin("/metrics", { accept });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(type);
    expect(res.headers.get("vary")).toBe("Accept");
    const text = await bodyText(res);
    if (type === OPENMETRICS) {
      expect(parseOpenMetricsStrict(text).get("sluice_stats_batches")?.type).toBe("counter");
    } else {
      expect(text).not.toContain("# EOF");
      const families = parsePrometheusTextFormat(text) as Family[];
      expect(families.find((f) => f.name === "sluice_stats_batches_total")?.type).toBe("COUNTER");
      expect(families.filter((f) => f.type === "UNTYPED" || f.metrics.length === 0)).toEqual([]);
    }
  });
});

describe("a statistics store that fails", () => {
  it("never reaches the request: the decision stands, the batch is dropped and counted", async () => {
    const rule = uniqueRule("broken-store");
    await usePolicy(policy(rule, 5));
    const broken = {
      getByName: () => ({ ingest: () => Promise.reject(new Error("store unreachable")) }),
    } as unknown as DurableObjectNamespace<StatsStore>;
    const limiter = createLimiter();
    const ctx = createExecutionContext();
    const request = new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } });
    const outcome = await limiter.limit(request, { ...env, STATS: broken }, ctx);
    expect(outcome.result).toMatchObject({ success: true, reason: "allowed", rules: [rule] });
    await waitOnExecutionContext(ctx);
    expect(limiter.fleet.failedFlushes).toBe(1);
    // The dropped batch is not sent again; the next batch says one was lost.
    const sent: FlushBatch[] = [];
    const ctx2 = createExecutionContext();
    const working = {
      getByName: () => ({
        ingest: async (b: FlushBatch) => {
          sent.push(b);
          return { rows: 1, accepted: true };
        },
      }),
    } as unknown as DurableObjectNamespace<StatsStore>;
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 10_000 });
    await limiter.limit(request, { ...env, STATS: working }, ctx2);
    vi.useRealTimers();
    await waitOnExecutionContext(ctx2);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.droppedFlushes).toBe(1);
    expect(sent[0]!.counts.filter((c) => c.rule === rule).reduce((n, c) => n + c.n, 0)).toBe(1);
  });
});
