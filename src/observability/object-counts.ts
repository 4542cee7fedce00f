/**
 * What the Durable Objects of this isolate were asked to do: calls received
 * per class and method, alarms run, activations, and new objects (activated
 * with nothing stored). The bench reads it to report object calls per
 * response and new objects per 1,000 requests.
 *
 * Counted where the objects run. Under `wrangler dev` (and the vitest pool)
 * every object of the Worker runs in the front door's own isolate, so one
 * read covers them all; in production an object runs in an isolate of its
 * own and the front door's figures would say nothing, which is why they are
 * served only when `OBJECT_COUNTS` is `"true"` (see `src/admin/object-counts-route.ts`).
 * A handful of numbers, bounded by the methods that exist.
 * @module
 */

export interface ObjectCounts {
  /** `RateLimiter.check`, `StatsStore.ingest`, …: calls received, by class and method. */
  calls: Record<string, number>;
  /** Alarms run, by class. */
  alarms: Record<string, number>;
  /** Objects started in this isolate (a new object, or an evicted one coming back), by class. */
  activations: Record<string, number>;
  /** Activations of an object with nothing stored: a key's first call, by class. */
  newObjects: Record<string, number>;
}

const counts: ObjectCounts = { calls: {}, alarms: {}, activations: {}, newObjects: {} };

function add(into: Record<string, number>, name: string): void {
  into[name] = (into[name] ?? 0) + 1;
}

export function countCall(objectClass: string, method: string): void {
  add(counts.calls, `${objectClass}.${method}`);
}

export function countAlarm(objectClass: string): void {
  add(counts.alarms, objectClass);
}

/** `stored`: whether the object found anything stored when it started (not told: not counted as new or not). */
export function countActivation(objectClass: string, stored?: boolean): void {
  add(counts.activations, objectClass);
  if (stored === false) add(counts.newObjects, objectClass);
}

/** A copy of the counts so far (they only grow: a reader subtracts two reads). */
export function objectCounts(): ObjectCounts {
  return {
    calls: { ...counts.calls },
    alarms: { ...counts.alarms },
    activations: { ...counts.activations },
    newObjects: { ...counts.newObjects },
  };
}
