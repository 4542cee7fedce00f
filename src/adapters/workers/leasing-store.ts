/**
 * Leased quota as a counter store: a key's requests are admitted from a
 * lease in this isolate's memory, with no call, while it has units and time;
 * the next lease is fetched in the background (`waitUntil`) before it runs
 * dry; when none is held, the object decides the request itself, exactly as
 * the plain store does, and lends room with its answer. Counters that cannot
 * be leased (concurrency slots), requests with shadow counters and requests of
 * rules with a penalty, an `onLimit.delay` or a `settle` go to the plain store unchanged:
 * a penalty is set and read in the object at each request, and a lease would
 * admit past it; a delay reserves a future slot in the object's own state,
 * which a lease (charged as used at its end) cannot. See `src/lease/` for the invariant.
 *
 * A sharded key (`CheckRequest.shards`, a rule's `shards`) is leased through
 * its tree: this isolate talks to one shard object of the key, picked by a
 * number drawn once per isolate and the key, and the shard to the key's root.
 * @module
 */
import type { RateLimiter } from "../../durable/rate-limiter";

import { rootTransport, shardOf, shardStub, shardTransport } from "../../durable/rate-limiter-client";
import type { Background, CheckRequest, CounterStore, InspectResponse } from "../../engine/ports";
import { type LeaseTransport, LeasingClient } from "../../lease/client";
import { leasable } from "../../lease/ledger";
import { LOCATION_HINTS, type LocationHint, locationHintOf, type PlaceOf } from "../../lease/region";
import type { Charge, CounterAnswer, CounterSpec } from "../../limiter/types";
import { withBatchedCheck } from "./batching-transport";
import { CheckBatcher, type CheckBatcherOptions } from "./check-batch";
import { DurableObjectStore } from "./durable-object-store";

export class LeasingCounterStore implements CounterStore {
  private readonly plain: DurableObjectStore;
  private readonly client: LeasingClient;
  /** Concurrent plain checks of one key's object, batched into one call; none: each its own call (the default). */
  readonly batcher: CheckBatcher<CheckRequest, CounterAnswer> | undefined;

  constructor(
    private readonly namespace: DurableObjectNamespace<RateLimiter>,
    clock: () => number = () => Date.now(),
    batching: CheckBatcherOptions | false = false,
  ) {
    this.plain = new DurableObjectStore(namespace);
    this.client = new LeasingClient({ clock });
    this.batcher = batching === false ? undefined : new CheckBatcher(batching);
  }

  /** Keys whose leases (and rate) this isolate tracks: at most the lease client's bound. */
  get trackedKeys(): number {
    return this.client.size;
  }

  /** Picks this isolate's shard of a key: stable for the isolate's life, spread over isolates and keys. */
  private readonly isolateDraw = Math.floor(Math.random() * 2 ** 31);

  async check(key: string, request: CheckRequest, background: Background): Promise<CounterAnswer> {
    const perRequest =
      request.counters.some((c) => c.shadow) ||
      (request.penalties && request.penalties.length > 0) ||
      // A delayed request's slot is reserved in the object's own state: never admitted from a lease.
      request.delay !== undefined ||
      // A settle's debt is charged at the object: room lent before it would still admit.
      request.settles === true ||
      !leasable(request.counters);
    if (perRequest) {
      return this.plain.check(key, request);
    }
    const region = request.region as LocationHint | undefined;
    // A regional tree: one of the shards of this request's region, created there by its hint. A request
    // with no region (no `cf.continent`) leases from the root, as a key without a tree.
    const transport =
      request.shards && request.shards > 1
        ? shardTransport(this.namespace, key, shardOf(key, this.isolateDraw, request.shards), background)
        : request.shardsPerRegion && region
          ? shardTransport(
              this.namespace,
              key,
              shardOf(key, this.isolateDraw, request.shardsPerRegion),
              background,
              region,
            )
          : this.transport(key, background);
    return this.client.admit(key, request.counters, transport);
  }

  async release(key: string, charges: Charge[]): Promise<void> {
    // One unit per request, however many counters it charged.
    const leases = new Set(charges.flatMap((c) => (c.lease !== undefined ? [c.lease] : [])));
    for (const id of leases) this.client.returnUnit(key, id);
    const rest = charges.filter((c) => c.lease === undefined);
    if (rest.length > 0) await this.plain.release(key, rest);
  }

  /**
   * The root's counters, and with `shards` (or `shardsPerRegion`) what each shard holds and has
   * sublet (the tree summed up); a regional shard is read through its region's hint, as it was created.
   */
  async inspect(
    key: string,
    counters: CounterSpec[],
    penalties?: string[],
    shards?: number,
    shardsPerRegion?: number,
  ): Promise<InspectResponse> {
    const root = await this.plain.inspect(key, counters, penalties);
    if (shardsPerRegion && shardsPerRegion > 0 && !(shards && shards > 1)) {
      const places = LOCATION_HINTS.flatMap((region) =>
        Array.from({ length: shardsPerRegion }, (_, shard) => ({ region, shard })),
      );
      const views = await Promise.all(
        places.map(({ region, shard }) => shardStub(this.namespace, key, shard, region).shardView(key)),
      );
      return {
        ...root,
        shards: views.map((view, i) => ({ ...places[i]!, held: view.held, sublet: view.sublet })),
      };
    }
    if (!shards || shards < 2) return root;
    const views = await Promise.all(
      Array.from({ length: shards }, (_, shard) => shardStub(this.namespace, key, shard).shardView(key)),
    );
    return { ...root, shards: views.map((view, shard) => ({ shard, held: view.held, sublet: view.sublet })) };
  }

  /**
   * Ends this isolate's own leases of the key first (their unused units go
   * back before the reset, so its next request shows the room the reset left),
   * then resets the root (units out on other isolates' leases and on blocks
   * stay charged until they end), then has every shard forget the refusals it
   * remembers.
   */
  async reset(key: string, names?: string[], shards?: number, shardsPerRegion?: number): Promise<number> {
    await this.client.endKey(key, names);
    const removed = await this.plain.reset(key, names);
    if (shards && shards > 1) {
      await Promise.all(
        Array.from({ length: shards }, (_, shard) => shardStub(this.namespace, key, shard).shardReset(key)),
      );
    }
    if (shardsPerRegion && shardsPerRegion > 0) {
      // Each by its region's hint: a name first used without it would place that region's shard here.
      await Promise.all(
        LOCATION_HINTS.flatMap((region) =>
          Array.from({ length: shardsPerRegion }, (_, shard) =>
            shardStub(this.namespace, key, shard, region).shardReset(key),
          ),
        ),
      );
    }
    return removed;
  }

  private transport(key: string, background: Background): LeaseTransport {
    const transport = rootTransport(this.namespace, key, background, false);
    return this.batcher ? withBatchedCheck(transport, this.batcher, this.namespace, key, background) : transport;
  }
}

/**
 * The counter store for one request: the isolate's store, with the request's location hint (from its
 * `cf`) on every check, for keys with a regional tree. An isolate serves one location, so its requests
 * carry the same hint.
 */
export function withRegion(store: CounterStore, place: PlaceOf | undefined | null): CounterStore {
  const region = locationHintOf(place);
  if (!region) return store;
  return {
    check: (key, request, background) => store.check(key, { ...request, region }, background),
    release: (key, charges, background) => store.release(key, charges, background),
    inspect: (...args) => store.inspect(...args),
    reset: (...args) => store.reset(...args),
  };
}
