/**
 * The counter store on Durable Objects: one `RateLimiter` object per counting
 * key, called over RPC through the object's client (`retryOnce`); a failure
 * is the engine's to handle through the rule's `onError` (the engine also
 * bounds each check with its time budget).
 * @module
 */
import type { RateLimiter } from "../../durable/rate-limiter";
import { retryOnce } from "../../durable/rate-limiter-client";
import type { CheckRequest, CounterStore, InspectResponse } from "../../engine/ports";
import type { Charge, CounterAnswer, CounterSpec } from "../../limiter/types";

export class DurableObjectStore implements CounterStore {
  constructor(private readonly namespace: DurableObjectNamespace<RateLimiter>) {}

  check(key: string, request: CheckRequest): Promise<CounterAnswer> {
    return retryOnce(() => this.namespace.getByName(key).check(request) as Promise<CounterAnswer>);
  }

  async release(key: string, charges: Charge[]): Promise<void> {
    if (charges.length === 0) return;
    await retryOnce(() => this.namespace.getByName(key).release(charges));
  }

  inspect(key: string, counters: CounterSpec[], penalties?: string[]): Promise<InspectResponse> {
    return this.namespace.getByName(key).inspect(counters, penalties) as Promise<InspectResponse>;
  }

  reset(key: string, names?: string[]): Promise<number> {
    return this.namespace.getByName(key).reset(names) as Promise<number>;
  }
}
