import { describe, expect, it } from "vitest";
import { crossedThresholds, MAX_ATTEMPTS, nextAttemptAt, thresholdCount } from "../../src/notify/crossing";
import { validatePolicyText } from "../../src/policy/validate";

describe("threshold crossings", () => {
  it("a threshold stands for ceil(t × limit), never 0, with no floating-point step over", () => {
    expect(thresholdCount(0.7, 10)).toBe(7);
    expect(thresholdCount(0.8, 10)).toBe(8);
    expect(thresholdCount(0.8, 7)).toBe(6);
    expect(thresholdCount(0.01, 10)).toBe(1);
    expect(thresholdCount(1, 10)).toBe(10);
  });

  it("fires each threshold the count reaches, at the exact count, and none below or already passed", () => {
    const at = [0.5, 0.8, 1];
    expect(crossedThresholds(at, 10, 3, 4)).toEqual([]);
    expect(crossedThresholds(at, 10, 4, 5)).toEqual([0.5]);
    expect(crossedThresholds(at, 10, 5, 6)).toEqual([]);
    // One charge of a large cost crosses several at once.
    expect(crossedThresholds(at, 10, 4, 10)).toEqual([0.5, 0.8, 1]);
    expect(crossedThresholds(at, 10, 10, 10)).toEqual([]);
    expect(crossedThresholds(at, 10, 9, 8)).toEqual([]);
  });

  it("retries after 1 s, 2 s, 4 s, ... for MAX_ATTEMPTS attempts in all", () => {
    expect([1, 2, 3, 4].map((n) => nextAttemptAt(n, 0))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(MAX_ATTEMPTS).toBe(10);
  });
});

describe("thresholds in a policy", () => {
  const doc = (rule: Record<string, unknown>, notify = true) =>
    JSON.stringify({
      version: 1,
      ...(notify ? { notify: { url: "https://hooks.example.com/sluice" } } : {}),
      rules: [{ id: "api", ...rule }],
    });
  const errors = (text: string) => {
    const r = validatePolicyText(text);
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };

  it("accepts fractions in (0, 1], ascending, on a window limit, with notify.url", () => {
    expect(errors(doc({ limits: [{ limit: 10, window: "1m" }], thresholds: [0.8, 0.9, 1] }))).toEqual([]);
  });

  it("refuses each wrong form with its path", () => {
    const limits = [{ limit: 10, window: "1m" }];
    expect(errors(doc({ limits, thresholds: [0.8] }, false))).toEqual([
      'rules[0].thresholds: needs the policy\'s "notify": { "url": "https://..." } to send its events to',
    ]);
    expect(errors(doc({ limits, thresholds: [0] }))[0]).toMatch(/^rules\[0\]\.thresholds\[0\]: .*above 0/);
    expect(errors(doc({ limits, thresholds: [0.8, 0.8] }))).toEqual([
      "rules[0].thresholds: must be ascending, each threshold once",
    ]);
    expect(errors(doc({ limits, thresholds: [] }))[0]).toMatch(/at least one/);
    expect(errors(doc({ limits: [{ concurrency: 5 }], thresholds: [0.8] }))[0]).toMatch(
      /^rules\[0\]\.thresholds: only allowed on a rule with a fixed or sliding window limit/,
    );
    expect(
      errors(
        JSON.stringify({ version: 1, notify: { url: "ftp://x" }, rules: [{ id: "a", limits, thresholds: [1] }] }),
      )[0],
    ).toMatch(/^notify\.url: must be an http\(s\) URL/);
  });
});
