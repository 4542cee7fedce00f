/**
 * The time budget of a counter-store call: past it, the call counts as failed
 * and the rule's `onError` decides.
 * @module
 */
class CounterStoreTimeout extends Error {
  constructor(ms: number) {
    super(`counter store did not answer within ${ms} ms`);
    this.name = "CounterStoreTimeout";
  }
}

/** `promise`, or a {@link CounterStoreTimeout} after `ms` (no budget when `ms` is 0 or not finite). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CounterStoreTimeout(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
