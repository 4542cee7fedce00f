/**
 * The plain checks of a key's own object, batched per isolate: concurrent
 * cold checks of one key travel as one `checkBatch` call and commit as one
 * write set at the object (see `check-batch.ts` on both sides). Only the
 * plain check is batched: a lease call is one in flight per key already,
 * and a give-back or a refresh is background work.
 *
 * Every call is built here, in the calling request, from the namespace: the
 * leader's batch call uses the leader's own stub; a follower that must ask
 * alone uses its own.
 * @module
 */
import type { RateLimiter } from "../../durable/rate-limiter";
import { retryOnce } from "../../durable/rate-limiter-client";
import type { Background, CheckRequest } from "../../engine/ports";
import type { LeaseTransport } from "../../lease/client";
import type { CounterAnswer } from "../../limiter/types";
import type { CheckBatcher, Settled } from "./check-batch";

export type ObjectCheckBatcher = CheckBatcher<CheckRequest, CounterAnswer>;

/** `transport` with its plain check made through `batcher`, for the object named `key`. */
export function withBatchedCheck(
  transport: LeaseTransport,
  batcher: ObjectCheckBatcher,
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  background: Background,
): LeaseTransport {
  const stub = () => namespace.getByName(key);
  const calls = {
    one: (request: CheckRequest) => retryOnce(() => stub().check(request) as Promise<CounterAnswer>),
    many: (requests: CheckRequest[]) =>
      retryOnce(() => stub().checkBatch(requests) as Promise<Settled<CounterAnswer>[]>),
    keepAlive: (work: Promise<unknown>) => background.waitUntil(work),
  };
  return { ...transport, check: (specs) => batcher.check(key, { counters: specs }, calls) };
}
