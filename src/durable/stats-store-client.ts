/**
 * The statistics store as the Worker sees it: STATS_SHARDS Durable Objects.
 * An isolate sends all its batches to one shard, picked at random when it
 * starts, so the fleet's flushes spread evenly; a read asks every shard and
 * merges. docs/operations.md gives the arithmetic behind the shard count.
 * @module
 */

import type { FlushBatch } from "../observability/fleet-aggregate";
import { mergeKeys, mergeSeries, mergeTotals } from "../observability/fleet-merge";
import type { StatsSink } from "../observability/fleet-recorder";
import type { KeyTotal, SeriesRow, StatsStore, Totals } from "./stats-store";

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
