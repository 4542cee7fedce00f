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
import { calendarTag } from "../limiter/calendar";
import type { CounterSpec } from "../limiter/types";

/** Refusals remembered per isolate (per engine: the candidate's is its own). */
export const MAX_REFUSALS = 2_048;

/**
 * The longest a refusal by a calendar window is remembered: its room comes back
 * at the period's end, weeks away, or when an operator resets the key (a
 * "reset when paid"), and another isolate must not go on refusing after that
 * reset for the rest of the month.
 */
export const CALENDAR_REFUSAL_MEMORY_MS = 60_000;

export interface CachedRefusal {
  /** Until when this isolate refuses from memory. */
  until: number;
  /** When the refused counter has room again, when later than `until` (a calendar window's memory is shorter). */
  retryUntil?: number;
  /** The reports of the refused request, to answer with the same headers. */
  reports: LimitReport[];
  refusedBy: LimitReport;
}

/** The counter and the numbers it was refused with: a tier or policy change is a different entry. */
function refusalKey(spec: CounterSpec): string {
  return `${spec.name}\u0000${spec.algorithm}\u0000${spec.limit}\u0000${spec.windowMs}\u0000${spec.burst ?? ""}\u0000${spec.cost}\u0000${calendarTag(spec.calendar)}`;
}

export class RefusalCache {
  /** Object name → counter key → refusal. Looked up by object first, so a request whose object has no refusal builds no key. */
  private objects = new Map<string, Map<string, CachedRefusal>>();
  private count = 0;

  constructor(private readonly maxEntries = MAX_REFUSALS) {}

  /** A live refusal for any of these counters of this object, if one is remembered. */
  find(objectName: string, specs: readonly CounterSpec[], now: number): CachedRefusal | undefined {
    const entries = this.objects.get(objectName);
    if (!entries) return undefined;
    for (const spec of specs) {
      const key = refusalKey(spec);
      const hit = entries.get(key);
      if (!hit) continue;
      if (hit.until > now) return hit;
      this.remove(objectName, entries, key);
    }
    return undefined;
  }

  remember(objectName: string, spec: CounterSpec, refusal: CachedRefusal): void {
    // Re-inserting the object moves it to the end of the eviction order.
    const entries = this.objects.get(objectName) ?? new Map<string, CachedRefusal>();
    this.objects.delete(objectName);
    this.objects.set(objectName, entries);
    const key = refusalKey(spec);
    if (!entries.has(key)) this.count++;
    entries.set(key, refusal);
    while (this.count > this.maxEntries) {
      const [oldestName, oldest] = this.objects.entries().next().value as [string, Map<string, CachedRefusal>];
      this.count -= oldest.size;
      this.objects.delete(oldestName);
    }
  }

  /** Forget every refusal of an object (its counters were reset). */
  forgetObject(objectName: string): void {
    const entries = this.objects.get(objectName);
    if (!entries) return;
    this.count -= entries.size;
    this.objects.delete(objectName);
  }

  get size(): number {
    return this.count;
  }

  private remove(objectName: string, entries: Map<string, CachedRefusal>, key: string): void {
    if (entries.delete(key)) this.count--;
    if (entries.size === 0) this.objects.delete(objectName);
  }
}
