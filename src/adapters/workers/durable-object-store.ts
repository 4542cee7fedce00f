/**
 * The counter store on Durable Objects: one `RateLimiter` object per counting
 * key, called over RPC. An error the runtime marks `retryable` (and not
 * `overloaded`) is retried once, at once, on a fresh stub; anything else, or a
 * second failure, is the engine's to handle through the rule's `onError` (the
 * engine also bounds each check with its time budget).
 * @module
 */
import type { RateLimiter } from "../../durable/rate-limiter";
import type { CheckRequest, CounterStore, InspectResponse } from "../../engine/ports";
import type { Charge, CounterAnswer, CounterSpec } from "../../limiter/types";

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
