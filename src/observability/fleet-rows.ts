/**
 * What the statistics store answers, in a Workers-free module so the merge
 * and rendering code can be tested in plain Node.
 * @module
 */

export interface SeriesRow {
  minute: number;
  rule: string;
  verdict: string;
  n: number;
}

export interface KeyTotal {
  rule: string;
  key: string;
  /** What an operator reads for the key (src/engine/key-label.ts); absent for a readable key, or one stored before labels. */
  label?: string;
  n: number;
}

export interface Totals {
  counts: Array<{ rule: string; verdict: string; n: number }>;
  /** Per bucket index (LATENCY_BUCKETS_MS, then +Inf), not cumulative. */
  latency: Array<{ bucket: number; n: number }>;
  latencySumMs: number;
  droppedFlushes: number;
  batches: number;
  /** Threshold webhook attempts per rule, threshold and outcome (absent from a store older than thresholds). */
  notifications?: Array<{ rule: string; threshold: number; outcome: string; n: number }>;
}
