/**
 * Batching of concurrent checks to one object (no I/O of its own, no runtime
 * types). A check of a target with no call of it in flight here goes at once,
 * alone: a lone check waits for nothing. Checks that arrive while a call of
 * the target is in flight wait for it (at most `maxWaitMs`) and then go
 * together, in arrival order, as one call made by the first of them (the
 * leader), which hands each the answer for its own entry. Under a burst of
 * one key the object answers a few calls, each a batch, instead of one each.
 *
 * Why followers wait as they do: in workerd an I/O object (a stub, an RPC's
 * promise) belongs to the request that made it, and using it from another
 * request throws "Cannot perform I/O on behalf of a different request". Only
 * the leader touches the call it made. The followers await one plain promise
 * the leader made (its wait and its call, chained), as the lease client's
 * requests await a lease call in flight; a promise a follower made itself and
 * the leader resolved failed with that error and left requests hung. When the
 * leader's call fails, each follower makes its own call from its own request,
 * so one request's failure cannot fail another's check; the leader's error is
 * its own (its rule's `onError` decides).
 * @module
 */

/** One entry's answer in a batch: its result, or the error that entry alone met. */
export type Settled<A> = { ok: true; value: A } | { ok: false; error: string };

/** The calls a batch is made of, built by the caller in its own request. */
export interface BatchCalls<Q, A> {
  /** The call a check makes alone (nothing in flight, a batch of one, or the leader's batch call failed). */
  one(request: Q): Promise<A>;
  /** One call deciding every request in order; one answer per request. */
  many(requests: Q[]): Promise<Settled<A>[]>;
  /** Keeps the leader's batch going if its own request ends first (`ctx.waitUntil`): its followers wait on it. */
  keepAlive(work: Promise<unknown>): void;
  /** Resolves after `ms` (a timer of the calling request): a batch waits no longer for the call before it. */
  sleep(ms: number): Promise<void>;
}

export interface CheckBatcherOptions {
  /** Entries per batch at most; a check that finds the waiting batch full leads the next. */
  maxEntries?: number;
  /** How long a batch waits for the call in flight before it goes anyway (a slow or lost call holds no one long). */
  maxWaitMs?: number;
}

/** A batch's size bound: one call's arguments and answers stay small, and one object turn stays short. */
export const DEFAULT_MAX_BATCH_ENTRIES = 64;
/** A batch waits this long at most for the call before it: about a near object's warm round trip. */
export const DEFAULT_MAX_BATCH_WAIT_MS = 25;

/**
 * The checks waiting to go as one call and, once it is answered, their answers (`undefined`: the call
 * failed). The promise is made in the leader's request and only awaited by the others, as a lease call
 * in flight is (see `LeasingClient.admit`): a promise made in a follower's request and resolved from the
 * leader's is not safe in workerd.
 */
interface Batch<Q, A> {
  requests: Q[];
  answered: Promise<Settled<A>[] | undefined>;
}

/** A target's calls here: the last one queued (settles when it is answered) and the batch still open. */
interface Lane<Q, A> {
  tail: Promise<unknown>;
  open: Batch<Q, A> | undefined;
}

/** An entry error as thrown to its own request. */
export class BatchEntryError extends Error {
  override readonly name = "BatchEntryError";
}

export class CheckBatcher<Q, A> {
  private readonly lanes = new Map<string, Lane<Q, A>>();
  private readonly maxEntries: number;
  private readonly maxWaitMs: number;
  /** Calls made and checks they carried (tests, figures). */
  calls = 0;
  checks = 0;

  constructor(options: CheckBatcherOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_BATCH_ENTRIES);
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? DEFAULT_MAX_BATCH_WAIT_MS);
  }

  /** Decides `request` at `target`, alone or in a batch with the checks of `target` around it. */
  async check(target: string, request: Q, calls: BatchCalls<Q, A>): Promise<A> {
    this.checks++;
    const lane = this.lanes.get(target);
    if (!lane) {
      // Nothing of this target in flight here: at once, alone.
      this.calls++;
      const call = calls.one(request);
      this.queue(target, { tail: Promise.resolve(), open: undefined }, call);
      return call;
    }
    const open = lane.open;
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
    return this.lead(target, lane, request, calls);
  }

  /** Opens a batch behind the lane's last call, sent when that call is answered (or after `maxWaitMs`). */
  private async lead(target: string, lane: Lane<Q, A>, request: Q, calls: BatchCalls<Q, A>): Promise<A> {
    const batch: Batch<Q, A> = { requests: [request], answered: Promise.resolve(undefined) };
    const before = lane.tail;
    lane.open = batch;
    let failure: { error: unknown } | undefined;
    batch.answered = Promise.race([before, calls.sleep(this.maxWaitMs)]).then(async () => {
      if (lane.open === batch) lane.open = undefined;
      this.calls++;
      try {
        if (batch.requests.length === 1) return [{ ok: true, value: await calls.one(request) } as Settled<A>];
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
    this.queue(target, lane, batch.answered);
    // Kept alive by the leader's request: its followers are answered even if that request ends first.
    calls.keepAlive(batch.answered);
    const answers = await batch.answered;
    if (failure) throw failure.error;
    return unwrap(answers![0]!);
  }

  /** Makes `call` the lane's last; the lane is forgotten once its last call is answered. */
  private queue(target: string, lane: Lane<Q, A>, call: Promise<unknown>): void {
    const tail = call.then(
      () => undefined,
      () => undefined,
    );
    lane.tail = tail;
    this.lanes.set(target, lane);
    void tail.then(() => {
      if (lane.tail === tail && this.lanes.get(target) === lane) this.lanes.delete(target);
    });
  }
}

function unwrap<A>(settled: Settled<A>): A {
  if (!settled.ok) throw new BatchEntryError(settled.error);
  return settled.value;
}
