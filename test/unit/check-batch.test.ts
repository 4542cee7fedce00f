/**
 * The isolate's check batcher, with calls the test answers by hand: who goes
 * at once, what one call carries, and that a follower never depends on the
 * leader's fate.
 */
import { describe, expect, it } from "vitest";
import { type BatchCalls, BatchEntryError, CheckBatcher, type Settled } from "../../src/adapters/workers/check-batch";

/**
 * An object with `limit` units, whose calls wait until the test answers them (`answerAll`): the calls made,
 * each with its checks, in the order they reached it. `failMany`: every batch call fails.
 */
function objectOf(limit: number, options: { failMany?: boolean; sleep?: (ms: number) => Promise<void> } = {}) {
  let used = 0;
  const made: string[][] = [];
  const pending: (() => void)[] = [];
  const decide = (request: string): Settled<boolean> => {
    if (request.startsWith("bad")) return { ok: false, error: `bad request ${request}` };
    if (used >= limit) return { ok: true, value: false };
    used++;
    return { ok: true, value: true };
  };
  const later = <T>(work: () => T) =>
    new Promise<T>((resolve, reject) =>
      pending.push(() => {
        try {
          resolve(work());
        } catch (e) {
          reject(e);
        }
      }),
    );
  const kept: Promise<unknown>[] = [];
  const calls: BatchCalls<string, boolean> = {
    one: (request) => {
      made.push([request]);
      return later(() => {
        const settled = decide(request);
        if (!settled.ok) throw new Error(settled.error);
        return settled.value;
      });
    },
    many: (requests) => {
      made.push(requests);
      return later(() => {
        if (options.failMany) throw new Error("the batch call failed");
        return requests.map(decide);
      });
    },
    keepAlive: (work) => void kept.push(work),
    sleep: options.sleep ?? (() => new Promise<void>(() => {})),
  };
  /** Answers every call made so far, and those they lead to, until none is left. */
  const answerAll = async () => {
    for (let i = 0; i < 20; i++) {
      for (const answer of pending.splice(0)) answer();
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { calls, made, kept, answerAll };
}

describe("batching concurrent checks of one object", () => {
  it("a lone check goes at once, alone", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made, answerAll } = objectOf(5);
    const answer = batcher.check("k", "a", calls);
    expect(made).toEqual([["a"]]);
    await answerAll();
    expect(await answer).toBe(true);
  });

  it("checks that come while a call is in flight go as one call after it, in arrival order: the limit-th admitted, the next refused", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made, kept, answerAll } = objectOf(3);
    const answers = ["a", "b", "c", "d", "e"].map((r) => batcher.check("k", r, calls));
    expect(made).toEqual([["a"]]);
    await answerAll();
    expect(await Promise.all(answers)).toEqual([true, true, true, false, false]);
    expect(made).toEqual([["a"], ["b", "c", "d", "e"]]);
    // The leader's batch is kept alive by its own request, so its followers are answered if it ends first.
    expect(kept).toHaveLength(1);
    expect(batcher).toMatchObject({ calls: 2, checks: 5 });
  });

  it("batches per object: checks of other keys go in their own calls", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made, answerAll } = objectOf(10);
    const answers = ["k1:a", "k2:b", "k1:c", "k1:d", "k2:e"].map((r) => batcher.check(r.split(":")[0]!, r, calls));
    await answerAll();
    await Promise.all(answers);
    expect(made).toEqual([["k1:a"], ["k2:b"], ["k1:c", "k1:d"], ["k2:e"]]);
  });

  it("once every call is answered, the next check goes at once again", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made, answerAll } = objectOf(10);
    const first = [batcher.check("k", "a", calls), batcher.check("k", "b", calls)];
    await answerAll();
    await Promise.all(first);
    const later = batcher.check("k", "c", calls);
    expect(made).toEqual([["a"], ["b"], ["c"]]);
    await answerAll();
    expect(await later).toBe(true);
  });

  it("a full batch starts the next, sent after it: at most maxEntries checks per call", async () => {
    const batcher = new CheckBatcher<string, boolean>({ maxEntries: 2 });
    const { calls, made, answerAll } = objectOf(10);
    const answers = ["a", "b", "c", "d", "e", "f"].map((r) => batcher.check("k", r, calls));
    await answerAll();
    await Promise.all(answers);
    expect(made).toEqual([["a"], ["b", "c"], ["d", "e"], ["f"]]);
  });

  it("a batch waits no longer than maxWaitMs for a call that does not answer", async () => {
    let wake: () => void = () => {};
    const sleep = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      });
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made } = objectOf(10, { sleep });
    void batcher.check("k", "a", calls); // never answered
    void batcher.check("k", "b", calls);
    void batcher.check("k", "c", calls);
    await new Promise((r) => setTimeout(r, 0));
    expect(made).toEqual([["a"]]);
    wake();
    await new Promise((r) => setTimeout(r, 0));
    expect(made).toEqual([["a"], ["b", "c"]]);
  });

  it("when the leader's call fails, the leader meets the error and each follower asks alone", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, made, answerAll } = objectOf(2, { failMany: true });
    const answers = ["a", "b", "c", "d"].map((r) => batcher.check("k", r, calls).catch((e: Error) => e.message));
    await answerAll();
    expect(await Promise.all(answers)).toEqual([true, "the batch call failed", true, false]);
    expect(made).toEqual([["a"], ["b", "c", "d"], ["c"], ["d"]]);
  });

  it("an entry the object could not decide fails only its own check", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const { calls, answerAll } = objectOf(5);
    const answers = ["a", "b", "bad-1", "c"].map((r) => batcher.check("k", r, calls).catch((e: unknown) => e));
    await answerAll();
    const [a, b, bad, c] = await Promise.all(answers);
    expect([a, b, c]).toEqual([true, true, true]);
    expect(bad).toBeInstanceOf(BatchEntryError);
    expect((bad as Error).message).toBe("bad request bad-1");
  });

  it("an answer that does not hold one entry per check fails the leader, and the followers ask alone", async () => {
    const batcher = new CheckBatcher<string, boolean>();
    const made: string[][] = [];
    const calls: BatchCalls<string, boolean> = {
      one: async (r) => {
        made.push([r]);
        return true;
      },
      many: async (rs) => {
        made.push(rs);
        return [{ ok: true, value: true }];
      },
      keepAlive: () => {},
      sleep: () => new Promise(() => {}),
    };
    const answers = ["a", "b", "c"].map((r) => batcher.check("k", r, calls).catch(() => "failed"));
    expect(await Promise.all(answers)).toEqual([true, "failed", true]);
    expect(made).toEqual([["a"], ["b", "c"], ["c"]]);
  });
});
