/**
 * Isolate-local memory of refusals: once a counter of an object refused a
 * request until time T, later requests that would hit the same counter with
 * the same numbers are refused here until T, without calling the object. A
 * flood from one client then costs the object one call, not one per request.
 *
 * It only ever refuses, so it can never admit what the object would refuse.
 * Only counters whose room cannot come back before T are remembered: fixed and
 * sliding windows and token buckets of rules that count every request, not
 * concurrency slots or failures-only counters (a release or a refund can free
 * room early). Bounded: the oldest entries go first.
 * @module
 */
import type { LimitReport } from "../http/rate-limit-headers";
import type { CounterSpec } from "../limiter/types";

const MAX_ENTRIES = 10_000;

export interface CachedRefusal {
  until: number;
  /** The reports of the refused request, to answer with the same headers. */
  reports: LimitReport[];
  refusedBy: LimitReport;
}

export function refusalKey(objectName: string, spec: CounterSpec): string {
  return `${objectName}\u0000${spec.name}\u0000${spec.algorithm}\u0000${spec.limit}\u0000${spec.windowMs}\u0000${spec.burst ?? ""}\u0000${spec.cost}`;
}

export class RefusalCache {
  private entries = new Map<string, CachedRefusal>();

  constructor(private readonly maxEntries = MAX_ENTRIES) {}

  /** A live refusal for any of these counters of this object, if one is remembered. */
  find(objectName: string, specs: readonly CounterSpec[], now: number): CachedRefusal | undefined {
    for (const spec of specs) {
      const key = refusalKey(objectName, spec);
      const hit = this.entries.get(key);
      if (!hit) continue;
      if (hit.until > now) return hit;
      this.entries.delete(key);
    }
    return undefined;
  }

  remember(objectName: string, spec: CounterSpec, refusal: CachedRefusal): void {
    const key = refusalKey(objectName, spec);
    this.entries.delete(key);
    this.entries.set(key, refusal);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Forget every refusal of an object (its counters were reset). */
  forgetObject(objectName: string): void {
    const prefix = `${objectName}\u0000`;
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
