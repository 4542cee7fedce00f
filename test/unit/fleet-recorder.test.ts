import { describe, expect, it } from "vitest";
import type { FlushBatch } from "../../src/observability/fleet-aggregate";
import { mergeKeys, mergeSeries, mergeTotals } from "../../src/observability/fleet-merge";
import { FleetRecorder, type StatsSink } from "../../src/observability/fleet-recorder";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

function sink(fail = false): StatsSink & { batches: FlushBatch[] } {
  const batches: FlushBatch[] = [];
  return {
    batches,
    async ingest(batch) {
      if (fail) throw new Error("store unreachable");
      batches.push(batch);
    },
  };
}

const refused = { reason: "limit", rules: ["r"], verdicts: [["r", "refused"]] as const, refusedKey: "ip:1" };

describe("the isolate's flush schedule", () => {
  it("flushes at once first, then only after the interval and only with something pending", async () => {
    const r = new FleetRecorder(5_000);
    expect(r.claimFlush(T0)).toBeUndefined();
    r.observe(refused, 2, T0);
    expect(r.claimFlush(T0)).toBe(0);
    const s = sink();
    expect(await r.flush(s, T0)).toBe(true);
    expect(s.batches).toHaveLength(1);
    r.observe(refused, 2, T0 + 1);
    expect(r.claimFlush(T0 + 4_999)).toBe(1);
    await r.flush(s, T0 + 5_000);
    r.observe(refused, 2, T0 + 10_000);
    expect(r.claimFlush(T0 + 10_000)).toBe(0);
  });

  it("a failed flush resolves false, drops its batch and counts it in the next", async () => {
    const r = new FleetRecorder(5_000);
    r.observe(refused, 2, T0);
    expect(await r.flush(sink(true), T0)).toBe(false);
    expect(r.failedFlushes).toBe(1);
    r.observe(refused, 2, T0 + 6_000);
    const s = sink();
    await r.flush(s, T0 + 6_000);
    expect(s.batches[0]!.droppedFlushes).toBe(1);
    expect(s.batches[0]!.counts).toEqual([{ minute: T0, rule: "r", verdict: "refused", n: 1 }]);
  });

  it("gives no flush while one is under way", async () => {
    const r = new FleetRecorder(0);
    r.observe(refused, 2, T0);
    let release!: () => void;
    const slow: StatsSink = { ingest: () => new Promise<void>((resolve) => (release = resolve)) };
    const flushing = r.flush(slow, T0);
    r.observe(refused, 2, T0 + 1);
    expect(r.claimFlush(T0 + 10)).toBeUndefined();
    release();
    await flushing;
    expect(r.claimFlush(T0 + 10)).toBe(0);
  });

  it("a decision that concerned no rule records nothing", () => {
    const r = new FleetRecorder();
    r.observe({ reason: "no-rule", rules: [], verdicts: [] }, 1, T0);
    expect(r.aggregate.drain()).toBeUndefined();
  });
});

describe("merging the shards", () => {
  it("adds series rows of the same minute, rule and verdict", () => {
    expect(
      mergeSeries([
        [{ minute: 1, rule: "a", verdict: "refused", n: 2 }],
        [
          { minute: 1, rule: "a", verdict: "refused", n: 3 },
          { minute: 0, rule: "a", verdict: "admitted", n: 1 },
        ],
      ]),
    ).toEqual([
      { minute: 0, rule: "a", verdict: "admitted", n: 1 },
      { minute: 1, rule: "a", verdict: "refused", n: 5 },
    ]);
  });

  it("adds a key refused on several shards before cutting the top list", () => {
    const merged = mergeKeys(
      [
        [
          { rule: "r", key: "x", n: 3 },
          { rule: "r", key: "y", n: 4 },
        ],
        [
          { rule: "r", key: "x", n: 3 },
          { rule: "r", key: "z", n: 1 },
        ],
      ],
      2,
    );
    expect(merged).toEqual([
      { rule: "r", key: "x", n: 6 },
      { rule: "r", key: "y", n: 4 },
    ]);
  });

  it("adds totals, latency buckets and dropped flushes", () => {
    const t = mergeTotals([
      {
        counts: [{ rule: "r", verdict: "admitted", n: 1 }],
        latency: [{ bucket: 2, n: 1 }],
        latencySumMs: 4,
        droppedFlushes: 1,
        batches: 2,
      },
      {
        counts: [{ rule: "r", verdict: "admitted", n: 2 }],
        latency: [{ bucket: 0, n: 5 }],
        latencySumMs: 2.5,
        droppedFlushes: 0,
        batches: 1,
      },
    ]);
    expect(t).toEqual({
      counts: [{ rule: "r", verdict: "admitted", n: 3 }],
      latency: [
        { bucket: 0, n: 5 },
        { bucket: 2, n: 1 },
      ],
      latencySumMs: 6.5,
      droppedFlushes: 1,
      batches: 3,
    });
  });
});

describe("claiming the next flush", () => {
  it("the first decision claims a flush at once; later ones wait out the interval; one claim at a time", async () => {
    const r = new FleetRecorder(5_000);
    expect(r.claimFlush(T0)).toBeUndefined();
    r.observe(refused, 2, T0);
    expect(r.claimFlush(T0)).toBe(0);
    expect(r.claimFlush(T0)).toBeUndefined();
    await r.flush(sink(), T0);
    r.observe(refused, 2, T0 + 1_000);
    expect(r.claimFlush(T0 + 1_000)).toBe(4_000);
    r.observe(refused, 2, T0 + 2_000);
    // The flush already claimed will carry this decision too.
    expect(r.claimFlush(T0 + 2_000)).toBeUndefined();
    const s = sink();
    await r.flush(s, T0 + 5_000);
    expect(s.batches[0]!.counts).toEqual([{ minute: T0, rule: "r", verdict: "refused", n: 2 }]);
    expect(r.claimFlush(T0 + 5_000)).toBeUndefined();
  });
});
