/**
 * The statistics store as the Worker sees it: STATS_SHARDS Durable Objects.
 * An isolate sends all its batches to one shard, picked at random when it
 * starts, so the fleet's flushes spread evenly; a read asks every shard and
 * merges. docs/operations.md gives the arithmetic behind the shard count.
 * @module
 */
import type { NotificationReport } from "../notify/types";
import type { FlushBatch } from "../observability/fleet-aggregate";
import { mergeKeys, mergeSeries, mergeTotals } from "../observability/fleet-merge";
import type { StatsSink } from "../observability/fleet-recorder";
import type { KeyTotal, SeriesRow, StatsStore, ThresholdEventEntry, Totals, UsageEntry } from "./stats-store";

export const STATS_SHARDS = 8;

export function shardName(index: number): string {
  return `stats-shard-${index}`;
}

/** This isolate's shard. */
const ownShard = Math.floor(Math.random() * STATS_SHARDS);

export function statsSink(ns: DurableObjectNamespace<StatsStore>): StatsSink {
  return {
    async ingest(batch: FlushBatch) {
      const answer = await ns.getByName(shardName(ownShard)).ingest(batch);
      if (!answer.accepted) throw new Error(`the statistics store turned away a batch of ${answer.rows} rows`);
    },
  };
}

function everyShard<T>(ns: DurableObjectNamespace<StatsStore>, read: (s: DurableObjectStub<StatsStore>) => Promise<T>) {
  return Promise.all(Array.from({ length: STATS_SHARDS }, (_, i) => read(ns.getByName(shardName(i)))));
}

export async function readSeries(
  ns: DurableObjectNamespace<StatsStore>,
  from: number,
  to: number,
  stepMinutes: number,
): Promise<SeriesRow[]> {
  return mergeSeries(await everyShard(ns, async (s) => (await s.series(from, to, stepMinutes)) as SeriesRow[]));
}

export async function readRefusedKeys(
  ns: DurableObjectNamespace<StatsStore>,
  from: number,
  limit: number,
): Promise<KeyTotal[]> {
  // Each shard's own top `limit` could miss a key that is middling on every shard; asking for more narrows that.
  return mergeKeys(await everyShard(ns, async (s) => (await s.refusedKeys(from, limit * 4)) as KeyTotal[]), limit);
}

export async function readTotals(ns: DurableObjectNamespace<StatsStore>): Promise<Totals> {
  return mergeTotals(await everyShard(ns, async (s) => (await s.totals()) as Totals));
}

/** The usage ledger of a tenant over UTC days [from, to], every shard's rows summed per day and rule. */
export async function readUsage(
  ns: DurableObjectNamespace<StatsStore>,
  tenant: string,
  from: string,
  to: string,
): Promise<UsageEntry[]> {
  const parts = await everyShard(ns, async (s) => (await s.usage(tenant, from, to)) as UsageEntry[]);
  const sum = new Map<string, UsageEntry>();
  for (const row of parts.flat()) {
    const id = JSON.stringify([row.day, row.rule]);
    const known = sum.get(id);
    if (known) {
      known.admitted += row.admitted;
      known.refused += row.refused;
    } else sum.set(id, { ...row });
  }
  return [...sum.values()].sort((a, b) => (a.day === b.day ? (a.rule < b.rule ? -1 : 1) : a.day < b.day ? -1 : 1));
}

/** The latest threshold events of every shard, newest first. */
export async function readThresholdEvents(
  ns: DurableObjectNamespace<StatsStore>,
  limit: number,
): Promise<ThresholdEventEntry[]> {
  const parts = await everyShard(ns, async (s) => (await s.thresholdEvents(limit)) as ThresholdEventEntry[]);
  return parts
    .flat()
    .sort((a, b) => b.at - a.at)
    .slice(0, limit);
}

/**
 * Sends a key object's delivery reports, each to the shard its event's id picks: all of one event's
 * reports land together, so the shard's row for it holds its latest outcome.
 */
export async function reportNotifications(
  ns: DurableObjectNamespace<StatsStore>,
  reports: NotificationReport[],
): Promise<void> {
  const byShard = new Map<number, NotificationReport[]>();
  for (const r of reports) {
    const shard = (Number.parseInt(r.event.id.slice(0, 8), 16) || 0) % STATS_SHARDS;
    byShard.set(shard, [...(byShard.get(shard) ?? []), r]);
  }
  await Promise.all([...byShard].map(([shard, rs]) => ns.getByName(shardName(shard)).recordNotifications(rs)));
}
