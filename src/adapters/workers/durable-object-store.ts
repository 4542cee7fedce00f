/**
 * Calls to the counter store with a time budget. An error the runtime marks
 * `retryable` (and not `overloaded`) is retried once, at once, on a fresh
 * stub; anything else, or a second failure, or the budget running out, is
 * the caller's to handle through the rule's `onError`.
 * @module
 */
import type { CheckRequest, CheckResponse, RateLimiter } from "../durable/rate-limiter";
import type { Charge } from "../limiter/types";

export class CounterStoreTimeout extends Error {
  constructor(ms: number) {
    super(`counter store did not answer within ${ms} ms`);
    this.name = "CounterStoreTimeout";
  }
}

interface RuntimeError {
  retryable?: boolean;
  overloaded?: boolean;
}

export function isRetryable(e: unknown): boolean {
  const err = e as RuntimeError | null;
  return typeof err === "object" && err !== null && err.retryable === true && err.overloaded !== true;
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CounterStoreTimeout(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function checkCounters(
  namespace: DurableObjectNamespace<RateLimiter>,
  objectName: string,
  request: CheckRequest,
  timeoutMs: number,
): Promise<CheckResponse> {
  const started = Date.now();
  try {
    return await withTimeout(namespace.getByName(objectName).check(request) as Promise<CheckResponse>, timeoutMs);
  } catch (e) {
    if (!isRetryable(e)) throw e;
    const left = timeoutMs - (Date.now() - started);
    if (left <= 0) throw new CounterStoreTimeout(timeoutMs);
    return await withTimeout(namespace.getByName(objectName).check(request) as Promise<CheckResponse>, left);
  }
}

export async function releaseCharges(
  namespace: DurableObjectNamespace<RateLimiter>,
  objectName: string,
  charges: Charge[],
): Promise<void> {
  if (charges.length === 0) return;
  try {
    await namespace.getByName(objectName).release(charges);
  } catch (e) {
    if (!isRetryable(e)) throw e;
    await namespace.getByName(objectName).release(charges);
  }
}
