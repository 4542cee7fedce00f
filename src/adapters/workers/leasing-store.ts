/**
 * Leased quota as a counter store: a key's requests are admitted from a
 * lease in this isolate's memory, with no call, while it has units and time;
 * the next lease is fetched in the background (`waitUntil`) before it runs
 * dry; when none is held, the object decides the request itself, exactly as
 * the plain store does, and lends room with its answer. Counters that cannot
 * be leased (concurrency slots), requests with shadow counters and requests of
 * rules with a penalty or an `onLimit.delay` go to the plain store unchanged:
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
import type { Background, CheckRequest, CheckResponse, CounterStore, InspectResponse } from "../../engine/ports";
import { LeasingClient } from "../../lease/client";
import { leasable } from "../../lease/ledger";
import { LOCATION_HINTS, type LocationHint, locationHintOf, type PlaceOf } from "../../lease/region";
import type { Charge, CounterSpec } from "../../limiter/types";
import { DurableObjectStore } from "./durable-object-store";

/** Marks the charges of a request admitted from a lease: `lease:<id>` in `leaseId`. */
const LEASE_MARK = "lease:";

export class LeasingCounterStore implements CounterStore {
  private readonly plain: DurableObjectStore;
  private readonly client: LeasingClient;

  constructor(
    private readonly namespace: DurableObjectNamespace<RateLimiter>,
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.plain = new DurableObjectStore(namespace);
    this.client = new LeasingClient({ clock });
  }

  /** Keys whose leases (and rate) this isolate tracks: at most the lease client's bound. */
  get trackedKeys(): number {
    return this.client.size;
  }

  /** Picks this isolate's shard of a key: stable for the isolate's life, spread over isolates and keys. */
  private readonly isolateDraw = Math.floor(Math.random() * 2 ** 31);

  async check(key: string, request: CheckRequest, background: Background): Promise<CheckResponse> {
    const perRequest =
      (request.shadow && request.shadow.length > 0) ||
      (request.penalties && request.penalties.length > 0) ||
      // A delayed request's slot is reserved in the object's own state: never admitted from a lease.
      request.delay !== undefined ||
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
          : rootTransport(this.namespace, key, background, false);
    const decision = await this.client.admit(key, request.counters, transport);
    if (decision.outcome) {
      return {
        ...decision.outcome,
        results: decision.results,
        now: decision.now ?? this.clock(),
        shadowResults: [],
      };
    }
    return {
      allowed: true,
      results: decision.results,
      charges: request.counters.map((spec) => leasedCharge(spec, decision.leaseId!)),
      now: this.clock(),
      shadowResults: [],
      // From the lease in memory: no round trip for the time budget to learn from.
      local: decision.fromLease,
    };
  }

  async release(key: string, charges: Charge[]): Promise<void> {
    const leased = charges.filter((c) => c.leaseId?.startsWith(LEASE_MARK));
    const leaseIds = new Set(leased.map((c) => Number(c.leaseId!.slice(LEASE_MARK.length))));
    // One unit per request, however many counters it charged.
    for (const id of leaseIds) this.client.returnUnit(key, id);
    const rest = charges.filter((c) => !c.leaseId?.startsWith(LEASE_MARK));
    if (rest.length > 0) await this.plain.release(key, rest);
  }

  /** The root's counters, and with `shards` what each shard holds and has sublet (the tree summed up). */
  async inspect(key: string, counters: CounterSpec[], penalties?: string[], shards?: number): Promise<InspectResponse> {
    const root = await this.plain.inspect(key, counters, penalties);
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
}

function leasedCharge(spec: CounterSpec, leaseId: number): Charge {
  return {
    name: spec.name,
    algorithm: spec.algorithm,
    cost: spec.cost,
    windowMs: spec.windowMs,
    limit: spec.limit,
    ...(spec.calendar ? { calendar: spec.calendar } : {}),
    leaseId: `${LEASE_MARK}${leaseId}`,
  };
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
