/**
 * Leased quota as a counter store: a key's requests are admitted from a
 * lease in this isolate's memory, with no call, while it has units and time;
 * the next lease is fetched in the background (`waitUntil`) before it runs
 * dry; when none is held, the object decides the request itself, exactly as
 * the plain store does, and lends room with its answer. Counters that cannot
 * be leased (concurrency slots), requests with shadow counters and requests of
 * rules with a penalty go to the plain store unchanged: a penalty is set and
 * read in the object at each request, and a lease would admit past it. See `src/limiter/lease/` for the invariant.
 * @module
 */
import type { RateLimiter } from "../../durable/rate-limiter";
import type { Background, CheckRequest, CheckResponse, CounterStore, InspectResponse } from "../../engine/ports";
import { type LeaseTransport, LeasingClient } from "../../limiter/lease/client";
import { leasable } from "../../limiter/lease/ledger";
import type { Charge, CounterSpec } from "../../limiter/types";
import { DurableObjectStore, retryOnce } from "./durable-object-store";

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

  async check(key: string, request: CheckRequest, background: Background): Promise<CheckResponse> {
    const perRequest =
      (request.shadow && request.shadow.length > 0) ||
      (request.penalties && request.penalties.length > 0) ||
      !leasable(request.counters);
    if (perRequest) {
      return this.plain.check(key, request);
    }
    const decision = await this.client.admit(key, request.counters, this.transport(key, background));
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

  inspect(key: string, counters: CounterSpec[], penalties?: string[]): Promise<InspectResponse> {
    return this.plain.inspect(key, counters, penalties);
  }

  reset(key: string, names?: string[]): Promise<number> {
    return this.plain.reset(key, names);
  }

  private transport(key: string, background: Background): LeaseTransport {
    const stub = () => this.namespace.getByName(key);
    return {
      check: (specs) => retryOnce(() => stub().check({ counters: specs }) as Promise<CheckResponse>),
      take: (specs, ask) => retryOnce(() => stub().take(specs, ask.want, ask.held)),
      lend: async (specs, ask) => (await retryOnce(() => stub().lend(specs, ask.want, ask.held))) ?? undefined,
      giveBack: (specs, id, unused) => retryOnce(() => stub().giveBack(specs, id, unused)),
      waitUntil: (work) => background.waitUntil(work),
    };
  }
}

function leasedCharge(spec: CounterSpec, leaseId: number): Charge {
  return {
    name: spec.name,
    algorithm: spec.algorithm,
    cost: spec.cost,
    windowMs: spec.windowMs,
    limit: spec.limit,
    leaseId: `${LEASE_MARK}${leaseId}`,
  };
}
