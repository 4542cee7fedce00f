/**
 * The `RateLimiter` object's client: how a caller reaches a key's object and
 * the shards of its tree, and the one retry every call gets. The plain and the
 * leasing counter stores call through it, and so does a shard object calling
 * its root, so the object and its callers agree on names, hints and retries.
 *
 * An error the runtime marks `retryable` (and not `overloaded`) is retried
 * once, at once, on a fresh stub; anything else, or a second failure, is the
 * caller's to handle.
 * @module
 */
import type { Background } from "../engine/ports";
import type { LeaseTransport } from "../lease/client";
import type { LocationHint } from "../lease/region";
import { regionalShardName, shardName, shardOf } from "../lease/shard";
import type { CounterAnswer } from "../limiter/types";
import type { RateLimiter } from "./rate-limiter";

export { regionalShardName, shardName, shardOf };

interface RuntimeError {
  retryable?: boolean;
  overloaded?: boolean;
}

function isRetryable(e: unknown): boolean {
  const err = e as RuntimeError | null;
  return typeof err === "object" && err !== null && err.retryable === true && err.overloaded !== true;
}

export async function retryOnce<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (!isRetryable(e)) throw e;
    return await call();
  }
}

/** A shard object of a key's tree; with `region`, that region's shard, created there by its location hint. */
export function shardStub(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  shard: number,
  region?: LocationHint,
): DurableObjectStub<RateLimiter> {
  return region
    ? namespace.get(namespace.idFromName(regionalShardName(key, region, shard)), { locationHint: region })
    : namespace.getByName(shardName(key, shard));
}

/**
 * A transport from calls and the request's `waitUntil`. The calls are built in
 * a scope of their own, without `background`: the lease client keeps a key's
 * `giveBack` after its request is over, and a closure that shared a scope with
 * `background` would keep the finished request's context alive with it.
 */
function withBackground(calls: Omit<LeaseTransport, "waitUntil">, background: Background): LeaseTransport {
  return { ...calls, waitUntil: (work) => background.waitUntil(work) };
}

/**
 * The calls of a sharded key: to its shard object, which answers from its blocks and asks the root. With
 * `region`, the shard of that region, created there by location hint.
 */
export function shardTransport(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  shard: number,
  background: Background,
  region?: LocationHint,
): LeaseTransport {
  return withBackground(shardCalls(namespace, key, shard, region), background);
}

function shardCalls(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  shard: number,
  region?: LocationHint,
): Omit<LeaseTransport, "waitUntil"> {
  const stub = () => shardStub(namespace, key, shard, region);
  return {
    // A plain check is a take that wants nothing.
    check: (specs) => retryOnce(() => stub().shardTake(key, specs, 0, 0)),
    take: (specs, ask) => retryOnce(() => stub().shardTake(key, specs, ask.want, ask.held)),
    lend: async (specs, ask) => (await retryOnce(() => stub().shardLend(key, specs, ask.want, ask.held))) ?? undefined,
    giveBack: (_specs, id, unused) => retryOnce(() => stub().shardGiveBack(key, id, unused)),
  };
}

/**
 * The leasing calls to a key's own object (its root, when it has a tree), from
 * an isolate or, with `toShard`, from one of its shards (lent blocks).
 */
export function rootTransport(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  background: Background,
  toShard: boolean,
): LeaseTransport {
  return withBackground(rootCalls(namespace, key, toShard), background);
}

function rootCalls(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  toShard: boolean,
): Omit<LeaseTransport, "waitUntil"> {
  const stub = () => namespace.getByName(key);
  return {
    check: (specs) => retryOnce(() => stub().check({ counters: specs }) as Promise<CounterAnswer>),
    take: (specs, ask) => retryOnce(() => stub().take(specs, ask.want, ask.held, toShard)),
    lend: async (specs, ask) => (await retryOnce(() => stub().lend(specs, ask.want, ask.held, toShard))) ?? undefined,
    giveBack: (specs, id, unused) => retryOnce(() => stub().giveBack(specs, id, unused)),
  };
}
