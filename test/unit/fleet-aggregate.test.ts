import { describe, expect, it } from "vitest";
import { FleetAggregate, MINUTE_MS, TOP_KEYS_PER_MINUTE } from "../../src/observability/fleet-aggregate";
import { fleetVerdicts } from "../../src/observability/fleet-verdict";
import { LATENCY_BUCKETS_MS, latencyBucket } from "../../src/observability/latency-buckets";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

describe("fleet verdicts from a decision", () => {
  it("tells a store failure that was the time budget running out (late_open, late_closed) from an error", () => {
    const facts = (reason: string, verdict: string) => ({
      reason,
      rules: ["far", "near", "fine"],
      verdicts: [
        ["far", verdict],
        ["near", verdict],
        ["fine", "admitted"],
      ] as Array<[string, string]>,
      lateRules: ["far", "fine"],
    });
    expect(fleetVerdicts(facts("error-open", "error_open"))).toEqual([
      ["far", "late_open"],
      ["near", "error_open"],
      ["fine", "admitted"],
    ]);
    expect(fleetVerdicts(facts("error-closed", "error_closed"))).toEqual([
      ["far", "late_closed"],
      ["near", "error_closed"],
      ["fine", "admitted"],
    ]);
  });

  it("tells cached refusals and bypasses apart; keeps the core's other verdicts", () => {
    expect(fleetVerdicts({ reason: "limit", rules: ["r"], verdicts: [["r", "refused"]] })).toEqual([["r", "refused"]]);
    expect(fleetVerdicts({ reason: "cached", rules: ["r"], verdicts: [["r", "refused"]] })).toEqual([
      ["r", "cached_refusal"],
    ]);
    expect(fleetVerdicts({ reason: "bypass", rules: ["health"], verdicts: [] })).toEqual([["health", "bypass"]]);
    expect(
      fleetVerdicts({
        reason: "shadow",
        rules: ["a", "b"],
        verdicts: [
          ["a", "admitted"],
          ["b", "shadow_refused"],
        ],
      }),
    ).toEqual([
      ["a", "admitted"],
      ["b", "shadow_refused"],
    ]);
    expect(fleetVerdicts({ reason: "block", rules: ["bad"], verdicts: [["bad", "blocked"]] })).toEqual([
      ["bad", "blocked"],
    ]);
    expect(fleetVerdicts({ reason: "no-rule", rules: [], verdicts: [] })).toEqual([]);
  });
});

describe("latency buckets", () => {
  it("a latency equal to a bound is in that bucket; above the last bound is +Inf", () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.5)).toBe(1);
    expect(latencyBucket(50)).toBe(LATENCY_BUCKETS_MS.indexOf(50));
    expect(latencyBucket(2500)).toBe(LATENCY_BUCKETS_MS.length - 1);
    expect(latencyBucket(2501)).toBe(LATENCY_BUCKETS_MS.length);
  });
});

describe("an isolate's aggregate", () => {
  it("counts per minute, rule and verdict, and drains once", () => {
    const a = new FleetAggregate();
    a.record("r", "admitted", T0);
    a.record("r", "admitted", T0 + 59_999);
    a.record("r", "refused", T0 + 30_000, "ip:192.0.2.1");
    a.record("r", "admitted", T0 + MINUTE_MS);
    a.recordLatency(3, T0);
    const batch = a.drain()!;
    expect(batch.counts).toEqual([
      { minute: T0, rule: "r", verdict: "admitted", n: 2 },
      { minute: T0, rule: "r", verdict: "refused", n: 1 },
      { minute: T0 + MINUTE_MS, rule: "r", verdict: "admitted", n: 1 },
    ]);
    expect(batch.keys).toEqual([{ minute: T0, rule: "r", key: "ip:192.0.2.1", n: 1 }]);
    expect(batch.latency).toEqual([{ minute: T0, bucket: latencyBucket(3), n: 1 }]);
    expect(batch.droppedFlushes).toBe(0);
    expect(a.drain()).toBeUndefined();
  });

  it("feeds only refusals (fresh and cached) to the refused keys", () => {
    const a = new FleetAggregate();
    a.record("r", "admitted", T0, "ip:1");
    a.record("r", "shadow_refused", T0, "ip:2");
    a.record("r", "refused", T0, "ip:3");
    a.record("r", "cached_refusal", T0, "ip:3");
    expect(a.drain()!.keys).toEqual([{ minute: T0, rule: "r", key: "ip:3", n: 2 }]);
  });

  it("keeps at most TOP_KEYS_PER_MINUTE refused keys per minute", () => {
    const a = new FleetAggregate();
    for (let i = 0; i < TOP_KEYS_PER_MINUTE + 10; i++) a.record("r", "refused", T0, `ip:${i}`);
    for (let i = 0; i < 5; i++) a.record("r", "refused", T0, "ip:heavy");
    const keys = a.drain()!.keys;
    expect(keys).toHaveLength(TOP_KEYS_PER_MINUTE);
    expect(keys[0]!.key).toBe("ip:heavy");
  });

  it("a rule id or key with any characters survives the round trip", () => {
    const a = new FleetAggregate();
    a.record("r", "refused", T0, 'tenant:<img src=x onerror=alert(1)>"\u0000,');
    expect(a.drain()!.keys[0]!.key).toBe('tenant:<img src=x onerror=alert(1)>"\u0000,');
  });

  it("counts a failed flush in the next batch, and the failed batch is not sent again", () => {
    const a = new FleetAggregate();
    a.record("r", "admitted", T0);
    a.drain();
    a.flushFailed();
    a.flushFailed();
    a.record("r", "admitted", T0 + 1);
    const next = a.drain()!;
    expect(next.droppedFlushes).toBe(2);
    expect(next.counts).toEqual([{ minute: T0, rule: "r", verdict: "admitted", n: 1 }]);
    a.record("r", "admitted", T0 + 2);
    expect(a.drain()!.droppedFlushes).toBe(0);
  });

  it("drops minutes more than 15 old while nothing drains", () => {
    const a = new FleetAggregate();
    a.record("r", "admitted", T0);
    a.record("r", "admitted", T0 + 14 * MINUTE_MS);
    expect(a.drain()!.counts.map((c) => c.minute)).toEqual([T0, T0 + 14 * MINUTE_MS]);
    a.record("r", "admitted", T0);
    a.record("r", "admitted", T0 + 15 * MINUTE_MS);
    expect(a.drain()!.counts.map((c) => c.minute)).toEqual([T0 + 15 * MINUTE_MS]);
  });

  it("folds rules past 256 in one minute into (other)", () => {
    const a = new FleetAggregate();
    for (let i = 0; i < 257; i++) a.record(`r${i}`, "admitted", T0);
    a.record("r0", "admitted", T0);
    const counts = a.drain()!.counts;
    expect(counts).toHaveLength(257);
    expect(counts.find((c) => c.rule === "(other)")).toEqual({
      minute: T0,
      rule: "(other)",
      verdict: "admitted",
      n: 1,
    });
    expect(counts.find((c) => c.rule === "r0")!.n).toBe(2);
  });
});
