/**
 * The counter store's one answer: an entry per counter asked, in the order
 * asked, each with its own result and charge, shadow counters among the others.
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import { answerOf, chargesOf } from "../../src/limiter/answer";
import { decide } from "../../src/limiter/decide";
import type { AskedCounter, CounterSpec } from "../../src/limiter/types";

const T0 = Date.UTC(2026, 0, 1);
const fixed = (name: string, limit: number): CounterSpec => ({
  name,
  algorithm: "fixed",
  limit,
  windowMs: 60_000,
  cost: 1,
});

describe("the counter store's answer", () => {
  // A shadow rule's counter between two enforced ones, as a plan of stacked rules asks for them.
  const asked: AskedCounter[] = [fixed("a", 2), { ...fixed("s", 1), shadow: true }, fixed("b", 5)];

  it("pairs each counter with its own result and charge, a shadow one in its place", async () => {
    const store = new MemoryCounterStore({ now: () => T0 });
    const first = await store.check("k", { counters: asked });
    expect(first.allowed).toBe(true);
    expect(first.counters.map((e) => [e?.result.name, e?.charge?.name, e?.shadow === true])).toEqual([
      ["a", "a", false],
      ["s", "s", true],
      ["b", "b", false],
    ]);

    // The shadow counter has no room left: it would refuse, is not charged, and refuses nothing.
    const second = await store.check("k", { counters: asked });
    expect(second.allowed).toBe(true);
    expect(second.counters.map((e) => [e?.result.name, e?.result.allowed, e?.charge?.name])).toEqual([
      ["a", true, "a"],
      ["s", false, undefined],
      ["b", true, "b"],
    ]);

    // The limit-th request was the second: the next is refused, and nothing is charged.
    const third = await store.check("k", { counters: asked });
    expect(third.allowed).toBe(false);
    expect(third.counters.map((e) => e?.result.name)).toEqual(["a", "s", "b"]);
    expect(chargesOf(third)).toEqual([]);
  });

  it("puts a stand-in where a shadow counter was kept out of the decision (a corrupt row)", () => {
    const twoShadows: AskedCounter[] = [
      fixed("a", 2),
      { ...fixed("s1", 1), shadow: true },
      { ...fixed("s2", 1), shadow: true },
    ];
    // s1 is kept out: decide sees a and s2 only.
    const decision = decide(new Map(), [twoShadows[0]!], T0, "", [twoShadows[2]!]);
    const standIn = { name: "s1", allowed: false, limit: 1, remaining: 0, resetAt: T0 + 60_000, retryAfterMs: 60_000 };
    const answer = answerOf(twoShadows, decision, T0, (spec) => (spec.name === "s1" ? standIn : undefined));
    expect(answer.counters).toEqual([
      expect.objectContaining({
        result: expect.objectContaining({ name: "a" }),
        charge: expect.objectContaining({ name: "a" }),
      }),
      { result: standIn, shadow: true },
      expect.objectContaining({
        result: expect.objectContaining({ name: "s2" }),
        charge: expect.objectContaining({ name: "s2" }),
        shadow: true,
      }),
    ]);
  });
});
