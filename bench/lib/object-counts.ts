/**
 * Object calls and new objects per measurement, for sluice: its admin API's
 * `GET /object-counts` (served with `OBJECT_COUNTS=true`, which the bench
 * sets) is read before and after each measurement. Under `wrangler dev` every
 * Durable Object of the Worker runs in the front door's isolate, so the counts
 * are the whole Worker's: every call an object received (from the front door,
 * from another object, in the background), every alarm, every activation and
 * every new object (one that started with nothing stored). Each read is an
 * admin call, whose token check charges and gives back a lockout counter: at
 * most two calls of the read itself land in a measurement.
 */
import { request } from "./load";

export interface ObjectCountsRead {
  calls: Record<string, number>;
  alarms: Record<string, number>;
  activations: Record<string, number>;
  newObjects: Record<string, number>;
}

/** What the objects did during one measurement. */
export interface ObjectWork {
  /** Calls received by every object (RateLimiter and StatsStore). */
  calls: number;
  /** The same by `Class.method`. */
  byMethod: Record<string, number>;
  alarms: number;
  activations: number;
  /** Activations of objects with nothing stored: the key's first call made its object. */
  newObjects: number;
}

export async function readObjectCounts(baseUrl: string, adminToken: string): Promise<ObjectCountsRead | null> {
  try {
    const r = await request(baseUrl, "/__ratelimit/object-counts", {
      headers: { authorization: `Bearer ${adminToken}` },
      timeoutMs: 10_000,
    });
    return r.status === 200 ? (JSON.parse(r.body) as ObjectCountsRead) : null;
  } catch {
    return null;
  }
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

export function objectWork(before: ObjectCountsRead, after: ObjectCountsRead): ObjectWork {
  const byMethod: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.calls)) {
    const d = n - (before.calls[name] ?? 0);
    if (d > 0) byMethod[name] = d;
  }
  return {
    calls: total(byMethod),
    byMethod,
    alarms: total(after.alarms) - total(before.alarms),
    activations: total(after.activations) - total(before.activations),
    newObjects: total(after.newObjects) - total(before.newObjects),
  };
}
