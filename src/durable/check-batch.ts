/**
 * A batch of checks in one object call: each decided in order, exactly as
 * separate calls arriving in that order would be, in one synchronous turn.
 * Durable Objects commit the writes of a turn that does not await as one
 * atomic write set, and the output gate holds the answer until that one set
 * is durable: a batch of N checks pays one flush, not N. An entry that throws
 * (its own bad input, a failed write) answers with its error and changes
 * nothing (a check writes before it updates memory); the others stand.
 * @module
 */
/** One entry's answer in a batch: its value, or the error it alone met. */
export type Settled<A> = { ok: true; value: A } | { ok: false; error: string };

export function decideEach<Q, A>(requests: readonly Q[], decide: (request: Q) => A): Settled<A>[] {
  return requests.map((request) => {
    try {
      return { ok: true, value: decide(request) };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  });
}
