/**
 * An isolate's side of the fleet-wide figures: decisions are recorded in
 * memory (no I/O) and, at most every `intervalMs`, what was recorded is sent
 * to the statistics store in the background. A send that fails is dropped
 * and counted, never retried and never felt by a request.
 * @module
 */
import { logEvent } from "../log";
import { FleetAggregate, type FlushBatch } from "./fleet-aggregate";
import { type DecisionFacts, fleetVerdicts } from "./fleet-verdict";

/** Where batches go (the statistics store, or a test double). */
export interface StatsSink {
  ingest(batch: FlushBatch): Promise<unknown>;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 5_000;

export class FleetRecorder {
  readonly aggregate = new FleetAggregate();
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private flushing = false;
  /** A flush has been handed to a request's waitUntil and has not run yet. */
  private scheduled = false;
  /** Batches this isolate dropped because the store could not be reached (for /metrics). */
  failedFlushes = 0;

  constructor(readonly intervalMs = DEFAULT_FLUSH_INTERVAL_MS) {}

  observe(decision: DecisionFacts, latencyMs: number, now: number): void {
    const verdicts = fleetVerdicts(decision);
    for (const [rule, verdict] of verdicts) {
      this.aggregate.record(rule, verdict, now, decision.refusedKey, decision.refusedLabel);
      if (decision.tenant !== undefined)
        this.aggregate.recordUsage(decision.tenant, rule, verdict, decision.costs?.[rule] ?? 1, now);
    }
    if (verdicts.length > 0) this.aggregate.recordLatency(latencyMs, now);
  }

  /**
   * Claims the next flush for the caller: how many ms it should wait before calling `flush`, or
   * undefined when nothing is pending or another caller already holds the next flush. A decision
   * thus schedules the flush that carries it, so an isolate that goes quiet still sends its last
   * figures (within the 30 s that waitUntil grants after a response).
   */
  claimFlush(now: number): number | undefined {
    if (!this.aggregate.pending || this.flushing || this.scheduled) return undefined;
    this.scheduled = true;
    return Math.max(0, this.lastFlushAt + this.intervalMs - now);
  }

  /** Sends what is pending; resolves false (never rejects) when the batch was dropped. */
  async flush(sink: StatsSink, now: number): Promise<boolean> {
    this.scheduled = false;
    const batch = this.aggregate.drain();
    if (this.aggregate.droppedUsage > 0) {
      logEvent("stats.usage_dropped", { units: this.aggregate.droppedUsage }, "error");
      this.aggregate.droppedUsage = 0;
    }
    if (!batch) return true;
    this.lastFlushAt = now;
    this.flushing = true;
    try {
      await sink.ingest(batch);
      return true;
    } catch (e) {
      this.aggregate.flushFailed();
      this.failedFlushes++;
      logEvent("stats.flush_failed", { message: e instanceof Error ? e.message : String(e) }, "warn");
      return false;
    } finally {
      this.flushing = false;
    }
  }
}
