import { describe, expect, it } from "vitest";
import { SpaceSaving } from "../../src/observability/space-saving";

describe("space-saving heavy hitters", () => {
  it("counts exactly while the keys fit", () => {
    const s = new SpaceSaving(3);
    for (const k of ["a", "b", "a", "c", "a", "b"]) s.offer(k);
    expect(s.top()).toEqual([
      { key: "a", count: 3, error: 0 },
      { key: "b", count: 2, error: 0 },
      { key: "c", count: 1, error: 0 },
    ]);
  });

  it("a new key when full replaces the smallest and inherits its count as error", () => {
    const s = new SpaceSaving(2);
    s.offer("a", 5);
    s.offer("b", 2);
    s.offer("c");
    expect(s.size).toBe(2);
    expect(s.top()).toEqual([
      { key: "a", count: 5, error: 0 },
      { key: "c", count: 3, error: 2 },
    ]);
  });

  it("keeps every key whose true count is above total/capacity, with count - error <= true <= count", () => {
    const s = new SpaceSaving(4);
    const truth = new Map<string, number>();
    // One heavy key among many light ones, interleaved.
    for (let i = 0; i < 1000; i++) {
      const key = i % 3 === 0 ? "heavy" : `light-${i % 97}`;
      truth.set(key, (truth.get(key) ?? 0) + 1);
      s.offer(key);
    }
    const top = s.top();
    const heavy = top.find((h) => h.key === "heavy");
    expect(heavy).toBeDefined();
    expect(top[0]!.key).toBe("heavy");
    for (const h of top) {
      const t = truth.get(h.key)!;
      expect(h.count).toBeGreaterThanOrEqual(t);
      expect(h.count - h.error).toBeLessThanOrEqual(t);
    }
  });

  it("top(n) cuts the list; ties are ordered by key", () => {
    const s = new SpaceSaving(5);
    for (const k of ["z", "y", "x"]) s.offer(k);
    expect(s.top(2).map((h) => h.key)).toEqual(["x", "y"]);
  });

  it("refuses a capacity below 1", () => {
    expect(() => new SpaceSaving(0)).toThrow(RangeError);
  });
});
