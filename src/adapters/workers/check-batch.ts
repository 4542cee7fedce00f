/**
 * Batching of concurrent checks to one object (no I/O of its own, no runtime
 * types): the first check of a target in a window leads; checks of the same
 * target that arrive before the window closes join it; the leader then makes
 * one call carrying every queued check, in arrival order, and hands each
 * follower its own answer. A lone check makes the call it would have made
 * alone, one window later (one macrotask by default).
 *
 * Why followers wait as they do: in workerd an I/O object (a stub, an RPC's
 * promise) belongs to the request that made it, and using it from another
 * request throws "Cannot perform I/O on behalf of a different request". Only
 * the leader touches the call it made. The followers await one plain promise
 * the leader made (its window and its call, chained), as the lease client's
 * requests await a lease call in flight; a promise a follower made itself and
 * the leader resolved failed with that error and left requests hung. When the
 * leader's call fails, each follower makes its own call from its own request,
 * so one request's failure cannot fail another's check; the leader's error is
 * its own (its rule's `onError` decides).
 * @module
 */

import type { Settled } from "../../durable/check-batch";

export type { Settled };

/** The calls a batch is made of, built by the caller in its own request. */
export interface BatchCalls<Q, A> {
  /** The call a check makes alone (no batch formed, or the leader's batch call failed). */
  one(request: Q): Promise<A>;
  /** One call deciding every request in order; one answer per request. */
  many(requests: Q[]): Promise<Settled<A>[]>;
  /** Keeps the leader's batch going if its own request ends first (`ctx.waitUntil`): its followers wait on it. */
  keepAlive(work: Promise<unknown>): void;
}

export interface CheckBatcherOptions {
  /** Resolves when the window closes; default the next macrotask (`setTimeout(0)`). */
  window?: () => Promise<void>;
  /** Entries per batch at most; a check that finds the open batch full leads the next. */
  maxEntries?: number;
}

/** A batch's size bound: one call's arguments and answers stay small, and one object turn stays short. */
export const DEFAULT_MAX_BATCH_ENTRIES = 64;

const nextMacrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * The checks of one window and, once its call is answered, their answers: `undefined` when no batch
 * call was made (the leader was alone) or it failed. The promise is made in the leader's request
 * and only awaited by the others, as a lease call in flight is (see `LeasingClient.admit`): a
 * promise made in a follower's request and resolved from the leader's is not safe in workerd.
 */
interface Batch<Q, A> {
  requests: Q[];
  answered: Promise<Settled<A>[] | undefined>;
}

/** An entry error as thrown to its own request. */
export class BatchEntryError extends Error {
  override readonly name = "BatchEntryError";
}

export class CheckBatcher<Q, A> {
  private readonly open = new Map<string, Batch<Q, A>>();
  private readonly window: () => Promise<void>;
  private readonly maxEntries: number;
  /** Calls made and checks they carried (tests, figures). */
  calls = 0;
  checks = 0;

  constructor(options: CheckBatcherOptions = {}) {
    this.window = options.window ?? nextMacrotask;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_BATCH_ENTRIES);
  }

  /** Decides `request` at `target`, alone or in a batch with the checks of `target` around it. */
  async check(target: string, request: Q, calls: BatchCalls<Q, A>): Promise<A> {
    this.checks++;
    const open = this.open.get(target);
    if (open && open.requests.length < this.maxEntries) {
      const at = open.requests.push(request) - 1;
      const answers = await open.answered;
      const own = answers?.[at];
      if (own === undefined) {
        // The leader's call failed (or answered short): this request asks alone, from its own request.
        this.calls++;
        return calls.one(request);
      }
      return unwrap(own);
    }
    const batch: Batch<Q, A> = { requests: [request], answered: Promise.resolve(undefined) };
    this.open.set(target, batch);
    let failure: { error: unknown } | undefined;
    batch.answered = this.window().then(async () => {
      if (this.open.get(target) === batch) this.open.delete(target);
      if (batch.requests.length === 1) return undefined;
      this.calls++;
      try {
        const answers = await calls.many(batch.requests);
        if (!Array.isArray(answers) || answers.length !== batch.requests.length) {
          throw new Error(`a batch of ${batch.requests.length} checks was answered with ${answers?.length} answers`);
        }
        return answers;
      } catch (error) {
        failure = { error };
        return undefined;
      }
    });
    // Kept alive by the leader's request: its followers are answered even if that request ends first.
    calls.keepAlive(batch.answered);
    const answers = await batch.answered;
    if (failure) throw failure.error;
    if (answers === undefined) {
      this.calls++;
      return calls.one(request);
    }
    return unwrap(answers[0]!);
  }
}

function unwrap<A>(settled: Settled<A>): A {
  if (!settled.ok) throw new BatchEntryError(settled.error);
  return settled.value;
}
