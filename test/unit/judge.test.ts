/**
 * The simulation's judge (scripts/simulation/judge/): an exact reference
 * written from docs/policy.md, which must share no code with what it judges.
 * Its definitions at their boundaries, refunds that do and do not give room
 * back, and the two sequences of issue 26 as logs.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type JudgeEvent, type JudgeSpec, judge } from "../../scripts/simulation/judge/judge";

const T0 = 20_000 * 86_400_000; // a multiple of every window used here

/** A little log builder: events get increasing seq in the order written. */
function log() {
  const events: JudgeEvent[] = [];
  let seq = 0;
  let id = 0;
  return {
    events,
    admit(at: number, specs: JudgeSpec[], n = 1, key = "k"): number[] {
      const ids: number[] = [];
      for (let i = 0; i < n; i++) {
        ids.push(++id);
        events.push({ type: "admit", id, at: T0 + at, seq: seq++, key, specs });
      }
      return ids;
    },
    refund(at: number, ids: number[], key = "k") {
      for (const i of ids) events.push({ type: "refund", id: i, at: T0 + at, seq: seq++, key });
    },
    settle(at: number, id: number, actual: number, key = "k") {
      events.push({ type: "settle", id, at: T0 + at, seq: seq++, key, actual });
    },
    reset(at: number, key = "k") {
      events.push({ type: "reset", at: T0 + at, seq: seq++, key });
    },
  };
}

const fixed = (limit: number, windowMs = 1_000): JudgeSpec => ({
  name: "f",
  algorithm: "fixed",
  limit,
  windowMs,
  cost: 1,
});
const sliding = (limit: number, windowMs = 1_000): JudgeSpec => ({
  name: "s",
  algorithm: "sliding",
  limit,
  windowMs,
  cost: 1,
});
const bucket = (limit: number, windowMs: number, burst: number, cost = 1): JudgeSpec => ({
  name: "b",
  algorithm: "token-bucket",
  limit,
  windowMs,
  burst,
  cost,
});

describe("judge: independence", () => {
  it("imports nothing from outside its own folder (no src/, no simulation code)", () => {
    const dir = join(import.meta.dirname, "../../scripts/simulation/judge");
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = readFileSync(join(dir, file), "utf8");
      const specifiers = [
        ...text.matchAll(
          /(?:import|export)[^"';]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']|require\s*\(\s*["']([^"']+)["']/g,
        ),
      ].map((m) => m[1] ?? m[2] ?? m[3]);
      for (const s of specifiers) expect(s, `${file} imports ${s}`).toMatch(/^\.\/[^/]+$/);
      expect(text, `${file} mentions src/`).not.toMatch(/from\s*["'][^"']*src\//);
    }
  });

  it("the simulation's side of it (reference.ts) imports only the judge", () => {
    const text = readFileSync(join(import.meta.dirname, "../../scripts/simulation/reference.ts"), "utf8");
    const specifiers = [...text.matchAll(/from\s*["']([^"']+)["']/g)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    for (const s of specifiers) expect(s).toMatch(/^\.\/judge\//);
  });
});

describe("judge: fixed window", () => {
  it("admits the limit-th and reports the next; a new window starts empty", () => {
    const l = log();
    l.admit(0, [fixed(3)], 3);
    const over = l.admit(999, [fixed(3)]);
    l.admit(1_000, [fixed(3)], 3);
    const v = judge(l.events);
    expect(v.over).toBe(1);
    expect([...v.overIds]).toEqual(over);
  });

  it("a refund in the charge's window gives room back once; a second refund of it gives nothing", () => {
    const l = log();
    const ids = l.admit(0, [fixed(3)], 3);
    l.refund(10, [ids[0]!, ids[0]!]);
    l.admit(20, [fixed(3)], 2);
    const v = judge(l.events);
    expect(v.over).toBe(1);
    expect(v.refundsIgnored).toBe(1);
  });

  it("a refund after the window ended gives the next window nothing", () => {
    const l = log();
    const ids = l.admit(900, [fixed(3)], 3);
    l.admit(1_000, [fixed(3)], 3);
    l.refund(1_001, ids);
    l.admit(1_002, [fixed(3)]);
    expect(judge(l.events).over).toBe(1);
  });

  it("is judged in apply order within a millisecond (a refund applied after an admission does not make room for it)", () => {
    const l = log();
    const ids = l.admit(0, [fixed(2)], 2);
    l.admit(5, [fixed(2)]);
    l.refund(5, ids.slice(0, 1));
    expect(judge(l.events).over).toBe(1);
  });

  it("keys are independent; every counter of an admission must have room", () => {
    const l = log();
    l.admit(0, [fixed(1)], 1, "a");
    l.admit(0, [fixed(1)], 1, "b");
    l.admit(0, [{ ...fixed(10), name: "g" }, fixed(1)], 1, "a");
    const v = judge(l.events);
    expect(v.over).toBe(1);
    expect(v.firstOver[0]!.counter).toBe("f");
  });
});

describe("judge: sliding window", () => {
  it("weighs the previous window by the part the sliding window still covers, exactly", () => {
    // 10 in the previous window; at e = 250 of 1000 it weighs 7.5: 2 more fit (9.5), a third does not (10.5).
    const l = log();
    l.admit(0, [sliding(10)], 10);
    l.admit(1_250, [sliding(10)], 2);
    const over = l.admit(1_250, [sliding(10)]);
    // At e = 500 the previous weighs 5: 5 + 2 + 3 = 10 fits exactly.
    l.admit(1_500, [sliding(10)], 3);
    const v = judge(l.events);
    expect([...v.overIds]).toEqual(over);
  });

  it("a refund of a previous window's charge lowers its weight", () => {
    const l = log();
    const ids = l.admit(0, [sliding(10)], 10);
    l.refund(1_000, ids.slice(0, 4)); // previous 6: at e = 0 it weighs 6
    l.admit(1_000, [sliding(10)], 4);
    const over = l.admit(1_000, [sliding(10)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });
});

describe("judge: token bucket", () => {
  it("a full bucket admits the burst at once, then the rate", () => {
    const l = log();
    l.admit(0, [bucket(10, 1_000, 20)], 20);
    const early = l.admit(99, [bucket(10, 1_000, 20)]);
    l.admit(100, [bucket(10, 1_000, 20)]); // one token back after 100 ms
    const twice = l.admit(100, [bucket(10, 1_000, 20)]);
    expect([...judge(l.events).overIds]).toEqual([...early, ...twice]);
  });

  it("exact for an interval that is not a whole ms (3 per 1000 ms)", () => {
    const l = log();
    l.admit(0, [bucket(3, 1_000, 3)], 3);
    const early = l.admit(333, [bucket(3, 1_000, 3)]);
    l.admit(334, [bucket(3, 1_000, 3)]);
    expect([...judge(l.events).overIds]).toEqual(early);
  });

  it("a refund gives back only what the charge still holds: nothing once the bucket refilled past it", () => {
    // Bucket 10/s, burst 20: one charge at 0 is refilled by 100 ms. At 2,000 the bucket is full; 20 are
    // admitted; the old charge's refund then must not make room for a 21st.
    const l = log();
    const old = l.admit(0, [bucket(10, 1_000, 20)]);
    l.admit(2_000, [bucket(10, 1_000, 20)], 20);
    l.refund(2_000, old);
    const over = l.admit(2_000, [bucket(10, 1_000, 20)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });

  it("a refund while its charge still holds room gives it back", () => {
    const l = log();
    const ids = l.admit(0, [bucket(10, 1_000, 20)], 20);
    l.refund(1, ids.slice(0, 5));
    l.admit(1, [bucket(10, 1_000, 20)], 5);
    const over = l.admit(1, [bucket(10, 1_000, 20)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });

  it("a cost larger than the burst never fits", () => {
    const l = log();
    l.admit(0, [bucket(10, 1_000, 20, 21)]);
    expect(judge(l.events).over).toBe(1);
  });

  it("two versions share one bucket measured in time: each unit takes its own interval, the bucket holds the longer fill time", () => {
    // 100/s burst 200 (10 ms a unit, 2 s to fill), then 40/s burst 100 (25 ms a unit, 2.5 s to fill) at 10 ms:
    // 200 × 10 ms were charged, so 2,010 ms + 25 ms × n ≤ 10 ms + 2,500 ms admits 20 new units (as one
    // GCRA state would: 1,990 ms ahead, plus 25 ms each, up to 2,500 ms).
    const l = log();
    l.admit(0, [bucket(100, 1_000, 200)], 200);
    l.admit(10, [bucket(40, 1_000, 100)], 20);
    const over = l.admit(10, [bucket(40, 1_000, 100)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });

  it("a staged rollout: the old version keeping to its own rate does not use up the new version's bucket", () => {
    // 50/s burst 100 (20 ms a unit, 2 s to fill) is live from 0; the old 100/s burst 200 (10 ms, 2 s) admits
    // one every 10 ms for a second. Held to the new bucket alone, 101 + n in [0, 1000] would have to be at most
    // 100 + 50: nothing more fits. In time, 20 + 100 × 10 + 20 × n ≤ 1,000 + 2,000: 99 new units fit.
    const l = log();
    l.admit(0, [bucket(50, 1_000, 100)]);
    for (let t = 0; t < 1_000; t += 10) l.admit(t, [bucket(100, 1_000, 200)]);
    l.admit(1_000, [bucket(50, 1_000, 100)], 99);
    const over = l.admit(1_000, [bucket(50, 1_000, 100)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });
});

describe("judge: policy rollouts, windows", () => {
  it("a window in which two versions admitted is bound by the larger limit; one with the new version alone by the new", () => {
    // 428 -> 214 per second. The new version's units are used late in the window (a lease charged early), after
    // the old version's: 300 + 50 ≤ 428. The next window has the new version alone: 214, and the 215th is over.
    const l = log();
    l.admit(0, [fixed(428)], 300);
    l.admit(330, [fixed(214)], 50);
    l.admit(340, [fixed(428)], 78);
    const overOld = l.admit(350, [fixed(428)]);
    l.admit(1_000, [fixed(214)], 214);
    const overNew = l.admit(1_001, [fixed(214)]);
    expect([...judge(l.events).overIds]).toEqual([...overOld, ...overNew]);
  });

  it("sliding: the same rule per window", () => {
    const l = log();
    l.admit(0, [sliding(428)], 300);
    l.admit(330, [sliding(214)], 128);
    const over = l.admit(331, [sliding(214)]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });
});

describe("judge: resets", () => {
  it("a reset starts a new epoch: the full limit again, and old refunds give nothing", () => {
    const l = log();
    const ids = l.admit(0, [fixed(5, 10_000)], 5);
    l.reset(10);
    l.admit(20, [fixed(5, 10_000)], 5);
    l.refund(30, ids);
    const over = l.admit(40, [fixed(5, 10_000)]);
    const v = judge(l.events);
    expect([...v.overIds]).toEqual(over);
    expect(v.refundsIgnored).toBe(5);
  });
});

describe("judge: concurrency", () => {
  it("holds a slot until its release, or 60 s", () => {
    const spec: JudgeSpec = { name: "c", algorithm: "concurrency", limit: 2, windowMs: 0, cost: 1 };
    const l = log();
    const ids = l.admit(0, [spec], 2);
    const over = l.admit(1, [spec]);
    l.refund(2, ids.slice(0, 1));
    l.admit(3, [spec]);
    l.admit(60_000, [spec]); // the unreleased one expired
    expect([...judge(l.events).overIds]).toEqual(over);
  });
});

describe("judge: the two sequences of issue 26, as logs", () => {
  it("token bucket, plain charges refunded after a lease: 218 in one millisecond against a burst of 200", () => {
    // 10/s, burst 200. Nineteen plain checks admitted; a lease of 22 granted (no use yet); the nineteen
    // given back; at the lease's last moment its 22 units and 196 plain checks are admitted.
    const spec = bucket(10, 1_000, 200);
    const l = log();
    const plain = l.admit(0, [spec], 19);
    l.refund(5, plain);
    l.admit(225, [spec], 22 + 196);
    const v = judge(l.events);
    expect(v.over).toBe(18);
  });

  it("a charge made before DELETE /keys, given back after it: 101 against 100", () => {
    const spec = fixed(100, 10_000);
    const l = log();
    const old = l.admit(0, [spec]);
    l.reset(100);
    l.refund(150, old);
    l.admit(200, [spec], 12 + 89);
    const v = judge(l.events);
    expect(v.over).toBe(1);
    expect(v.refundsIgnored).toBe(1);
  });
});

describe("judge: the bucket's tree against the definition, by brute force", () => {
  it("agrees on random logs with refunds (every interval [a, t] checked directly)", () => {
    let s = 12345;
    const random = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
    let caught = 0;
    for (let run = 0; run < 60; run++) {
      const spec = bucket(
        1 + Math.floor(random() * 7),
        100 + Math.floor(random() * 900),
        8,
        1 + Math.floor(random() * 2),
      );
      const l = log();
      let t = 0;
      const ids: number[] = [];
      for (let i = 0; i < 80; i++) {
        t += Math.floor(random() * 40);
        if (random() < 0.2 && ids.length > 0) l.refund(t, [ids[Math.floor(random() * ids.length)]!]);
        else ids.push(...l.admit(t, [spec]));
      }
      // Brute force: accepted charges (time, cost, refunded-by), each admission checked over every interval.
      const kept: { at: number; id: number }[] = [];
      const refunded = new Set<number>();
      const expected: number[] = [];
      for (const e of l.events) {
        if (e.type === "refund") {
          refunded.add(e.id);
          continue;
        }
        if (e.type !== "admit") continue;
        const live = kept.filter((k) => !refunded.has(k.id));
        let fits = spec.cost <= spec.burst!;
        for (const start of live) {
          const inside = live.filter((k) => k.at >= start.at).length * spec.cost + spec.cost;
          // inside ≤ burst + limit × (t − a) / window, multiplied out
          if (inside * spec.windowMs > spec.burst! * spec.windowMs + spec.limit * (e.at - start.at)) fits = false;
        }
        if (fits) kept.push({ at: e.at, id: e.id });
        else expected.push(e.id);
      }
      expect([...judge(l.events).overIds]).toEqual(expected);
      caught += expected.length;
    }
    expect(caught).toBeGreaterThan(0);
  });
});

describe("judge: two versions of a bucket against the definition in time, by brute force", () => {
  it("agrees on random logs mixing two versions, with refunds", () => {
    let s = 777;
    const random = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
    let caught = 0;
    for (let run = 0; run < 60; run++) {
      const versions = [0, 1].map(() =>
        bucket(1 + Math.floor(random() * 7), 100 + Math.floor(random() * 900), 2 + Math.floor(random() * 8)),
      );
      const l = log();
      let t = 0;
      const ids: number[] = [];
      const specOf = new Map<number, JudgeSpec>();
      for (let i = 0; i < 80; i++) {
        t += Math.floor(random() * 40);
        if (random() < 0.2 && ids.length > 0) l.refund(t, [ids[Math.floor(random() * ids.length)]!]);
        else {
          const spec = versions[random() < 0.5 ? 0 : 1]!;
          const [id] = l.admit(t, [spec]);
          ids.push(id!);
          specOf.set(id!, spec);
        }
      }
      // Times scaled by D = l1 × l2, so that every interval (window / limit) is whole.
      const D = versions[0]!.limit * versions[1]!.limit;
      const weight = (v: JudgeSpec) => (v.cost * v.windowMs * D) / v.limit;
      const fill = (v: JudgeSpec) => (v.burst! * v.windowMs * D) / v.limit;
      const kept: { at: number; id: number; spec: JudgeSpec }[] = [];
      const refunded = new Set<number>();
      const expected: number[] = [];
      for (const e of l.events) {
        if (e.type === "refund") {
          refunded.add(e.id);
          continue;
        }
        if (e.type !== "admit") continue;
        const spec = specOf.get(e.id)!;
        const live = kept.filter((k) => !refunded.has(k.id));
        let fits = spec.cost <= spec.burst!;
        for (const start of live) {
          const inside = live.filter((k) => k.at >= start.at);
          const used = inside.reduce((sum, k) => sum + weight(k.spec), weight(spec));
          const room = Math.max(fill(spec), ...inside.map((k) => fill(k.spec)));
          if (used > (e.at - start.at) * D + room) fits = false;
        }
        if (fits) kept.push({ at: e.at, id: e.id, spec });
        else expected.push(e.id);
      }
      expect([...judge(l.events).overIds]).toEqual(expected);
      caught += expected.length;
    }
    expect(caught).toBeGreaterThan(0);
  });
});

describe("judge: reserve, then settle", () => {
  const est = (spec: JudgeSpec) => ({ ...spec, cost: 10 });

  it("fixed: a debt past the limit refuses the admissions after it; the window's end clears it", () => {
    const l = log();
    const [a] = l.admit(0, [est(fixed(100, 1_000))]);
    l.settle(1, a!, 95); // 95 used: 5 left, less than an estimate
    const over = l.admit(2, [est(fixed(100, 1_000))]);
    l.admit(1_000, [est(fixed(100, 1_000))], 10); // a new window: all its room
    const v = judge(l.events);
    expect([...v.overIds]).toEqual(over);
    expect(v.settlesIgnored).toBe(0);
  });

  it("fixed: a settle below the estimate gives the difference back, exactly, once", () => {
    const l = log();
    const ids = l.admit(0, [est(fixed(100, 1_000))], 10);
    l.settle(1, ids[0]!, 0);
    l.settle(1, ids[0]!, 0); // a second settle of it changes nothing
    l.settle(1, ids[1]!, 9); // one back
    l.admit(2, [est(fixed(100, 1_000))]); // the 10 + 1 back: room for one estimate
    const over = l.admit(2, [{ ...fixed(100, 1_000), cost: 2 }]); // 1 left
    const v = judge(l.events);
    expect([...v.overIds]).toEqual(over);
    expect(v.settlesIgnored).toBe(1);
  });

  it("in-flight estimates count: an admission that fits settled usage but not the reservations is over", () => {
    const l = log();
    const [a] = l.admit(0, [est(fixed(20, 1_000))]);
    l.admit(1, [est(fixed(20, 1_000))]); // 20 reserved
    const over = l.admit(2, [est(fixed(20, 1_000))]); // before either settled
    l.settle(3, a!, 0);
    l.admit(4, [est(fixed(20, 1_000))]); // 10 back: fits
    expect([...judge(l.events).overIds]).toEqual(over);
  });

  it("sliding: a debt in the previous window weighs as its charges do", () => {
    const l = log();
    const [a] = l.admit(999, [est(sliding(100, 1_000))]);
    l.settle(1_000, a!, 100); // the previous window holds 100
    // Half of it still weighs at 1,500: 50 + 10 + 10 × 4 = 100, the fifth estimate over.
    l.admit(1_500, [est(sliding(100, 1_000))], 5);
    const over = l.admit(1_500, [est(sliding(100, 1_000))]);
    expect([...judge(l.events).overIds]).toEqual(over);
  });

  it("token bucket: a debt is used at the settle's time, and refills at the rate", () => {
    const l = log();
    const spec = bucket(100, 1_000, 100, 10); // 10 ms per token
    const [a] = l.admit(0, [spec]);
    l.settle(0, a!, 190); // 180 more than the estimate: 90 below empty
    const early = l.admit(999, [spec]); // 190 - 99.9 refilled: not yet room for 10
    l.admit(1_000, [spec]); // 190 - 100 = 90 used: room for exactly 10
    const over = l.admit(1_000, [spec]);
    expect([...judge(l.events).overIds]).toEqual([...early, ...over]);
  });

  it("token bucket: a settle below the estimate gives the difference back", () => {
    const l = log();
    const spec = bucket(100, 1_000, 100, 10);
    const ids = l.admit(0, [spec], 10);
    l.settle(0, ids[0]!, 3); // 7 back
    const over = l.admit(0, [spec]); // 7 of room: not 10
    l.admit(30, [spec]); // 30 ms refill 3 more: 10
    expect([...judge(l.events).overIds]).toEqual(over);
  });
});
