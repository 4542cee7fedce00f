/**
 * The isolate's check batcher with a window the test closes: who leads, what
 * one call carries, and that a follower never depends on the leader's fate.
 */
import { describe, expect, it } from "vitest";
import { type BatchCalls, BatchEntryError, CheckBatcher, type Settled } from "../../src/adapters/workers/check-batch";

/** A window the test closes by hand. */
function handWindow() {
  const closes: (() => void)[] = [];
  return {
    window: () => new Promise<void>((resolve) => closes.push(resolve)),
    close: () => {
      for (const c of closes.splice(0)) c();
    },
  };
}

/** A counter with `limit` units at one object: the calls made, and each one's checks. */
function objectOf(limit: number, failMany = false) {
  let used = 0;
  const made: string[][] = [];
  const decide = (request: string): Settled<boolean> => {
    if (request.startsWith("bad")) return { ok: false, error: `bad request ${request}` };
    if (used >= limit) return { ok: true, value: false };
    used++;
    return { ok: true, value: true };
  };
  const kept: Promise<unknown>[] = [];
  const calls: BatchCalls<string, boolean> = {
    one: async (request) => {
      made.push([request]);
      const settled = decide(request);
      if (!settled.ok) throw new Error(settled.error);
      return settled.value;
    },
    many: async (requests) => {
      made.push(requests);
      if (failMany) throw new Error("the batch call failed");
      return requests.map(decide);
    },
    keepAlive: (work) => void kept.push(work),
  };
  return { calls, made, kept };
}

describe("batching concurrent checks of one object", () => {
  it("a lone check makes the call it would make alone", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls, made } = objectOf(5);
    const answer = batcher.check("k", "a", calls);
    close();
    expect(await answer).toBe(true);
    expect(made).toEqual([["a"]]);
  });

  it("checks in one window go as one call, decided in arrival order: the limit-th admitted, the next refused", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls, made, kept } = objectOf(3);
    const answers = ["a", "b", "c", "d", "e"].map((r) => batcher.check("k", r, calls));
    close();
    expect(await Promise.all(answers)).toEqual([true, true, true, false, false]);
    expect(made).toEqual([["a", "b", "c", "d", "e"]]);
    // The leader's batch is kept alive by its own request, so its followers are answered if it ends first.
    expect(kept).toHaveLength(1);
    expect(batcher).toMatchObject({ calls: 1, checks: 5 });
  });

  it("batches per object: checks of other keys go in their own calls", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls, made } = objectOf(10);
    const answers = [batcher.check("k1", "a", calls), batcher.check("k2", "b", calls), batcher.check("k1", "c", calls)];
    close();
    await Promise.all(answers);
    expect(made).toEqual([["a", "c"], ["b"]]);
  });

  it("a check after the window closed leads the next batch", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls, made } = objectOf(10);
    const first = [batcher.check("k", "a", calls), batcher.check("k", "b", calls)];
    close();
    await Promise.resolve();
    const later = batcher.check("k", "c", calls);
    await Promise.all(first);
    close();
    await later;
    expect(made).toEqual([["a", "b"], ["c"]]);
  });

  it("a full batch starts the next: at most maxEntries checks per call", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window, maxEntries: 2 });
    const { calls, made } = objectOf(10);
    const answers = ["a", "b", "c", "d", "e"].map((r) => batcher.check("k", r, calls));
    close();
    await Promise.all(answers);
    expect(made).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("when the leader's call fails, the leader meets the error and each follower asks alone", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls, made } = objectOf(2, true);
    const answers = ["a", "b", "c", "d"].map((r) => batcher.check("k", r, calls).catch((e: Error) => e.message));
    close();
    expect(await Promise.all(answers)).toEqual(["the batch call failed", true, true, false]);
    expect(made).toEqual([["a", "b", "c", "d"], ["b"], ["c"], ["d"]]);
  });

  it("an entry the object could not decide fails only its own check", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
    const { calls } = objectOf(5);
    const answers = ["a", "bad-1", "c"].map((r) => batcher.check("k", r, calls).catch((e: unknown) => e));
    close();
    const [a, bad, c] = await Promise.all(answers);
    expect([a, c]).toEqual([true, true]);
    expect(bad).toBeInstanceOf(BatchEntryError);
    expect((bad as Error).message).toBe("bad request bad-1");
  });

  it("an answer that does not hold one entry per check fails the leader, and the followers ask alone", async () => {
    const { window, close } = handWindow();
    const batcher = new CheckBatcher<string, boolean>({ window });
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
    };
    const answers = ["a", "b"].map((r) => batcher.check("k", r, calls).catch(() => "failed"));
    close();
    expect(await Promise.all(answers)).toEqual(["failed", true]);
    expect(made).toEqual([["a", "b"], ["b"]]);
  });
});
