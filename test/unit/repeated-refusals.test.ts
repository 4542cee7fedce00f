import { describe, expect, it } from "vitest";
import { MAX_REPEATING, RepeatedRefusals } from "../../src/observability/repeated-refusals";

function harness(intervalMs = 5_000) {
  const lines: Array<Record<string, unknown>> = [];
  const repeats = new RepeatedRefusals((fields) => lines.push(fields), intervalMs);
  const total = () => lines.reduce((n, l) => n + ((l.count as number | undefined) ?? 1), 0);
  return { lines, repeats, total };
}

describe("cached refusals folded into one line per key and interval", () => {
  it("writes the first at once, counts the repeats, and writes them as one line with their count", () => {
    const { lines, repeats, total } = harness();
    expect(repeats.note("k", { object: "k", retryAfter: 9 }, 1_000)).toBeUndefined();
    expect(lines).toEqual([{ object: "k", retryAfter: 9 }]);
    // The interval's first repeat asks for the flush at the interval's end; the others ask for nothing.
    expect(repeats.note("k", { object: "k", retryAfter: 8 }, 2_000)).toBe(4_000);
    for (let i = 0; i < 998; i++) expect(repeats.note("k", { object: "k", retryAfter: 7 }, 3_000)).toBeUndefined();
    expect(lines).toHaveLength(1);
    repeats.flush();
    expect(lines).toEqual([
      { object: "k", retryAfter: 9 },
      { object: "k", retryAfter: 7, count: 999 },
    ]);
    expect(total()).toBe(1_000);
  });

  it("keeps keys apart, and a key seen once holds no timer and writes no count", () => {
    const { lines, repeats, total } = harness();
    expect(repeats.note("a", { object: "a" }, 0)).toBeUndefined();
    expect(repeats.note("b", { object: "b" }, 1)).toBeUndefined();
    expect(repeats.note("b", { object: "b" }, 2)).toBe(4_998);
    repeats.flush();
    expect(lines).toEqual([{ object: "a" }, { object: "b" }, { object: "b", count: 1 }]);
    expect(total()).toBe(3);
  });

  it("a refusal after the interval writes what was counted, then itself at once", () => {
    const { lines, repeats, total } = harness(100);
    repeats.note("k", { object: "k" }, 0);
    repeats.note("k", { object: "k" }, 50);
    repeats.note("k", { object: "k" }, 100);
    expect(lines).toEqual([{ object: "k" }, { object: "k", count: 1 }, { object: "k" }]);
    expect(total()).toBe(3);
  });

  it("past MAX_REPEATING keys, writes what it counted rather than hold more", () => {
    const { repeats, total } = harness();
    for (let i = 0; i <= MAX_REPEATING; i++) {
      repeats.note(`k${i}`, { object: `k${i}` }, 0);
      repeats.note(`k${i}`, { object: `k${i}` }, 0);
    }
    // Every refusal is in a line already but the last key's repeat.
    expect(total()).toBe(2 * (MAX_REPEATING + 1) - 1);
    repeats.flush();
    expect(total()).toBe(2 * (MAX_REPEATING + 1));
  });
});
