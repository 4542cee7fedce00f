/**
 * Concurrency: at most `limit` requests in flight. A slot is a lease that the
 * request gives back when its response has been sent; a lease whose release
 * never comes runs out after {@link LEASE_TTL_MS}.
 * @module
 */
import { type Charge, type ConcurrencyState, type CounterResult, type CounterSpec, LEASE_TTL_MS } from "../types";

/** Retry-After for a full set of slots: slots turn over in about a request's time. */
const CONCURRENCY_RETRY_MS = 1_000;

export function advanceConcurrency(state: ConcurrencyState | undefined, now: number): ConcurrencyState {
  if (!state) return { algorithm: "concurrency", leases: [] };
  const live = state.leases.filter((l) => l.expiresAt > now);
  return live.length === state.leases.length ? state : { algorithm: "concurrency", leases: live };
}

export function checkConcurrency(
  previous: ConcurrencyState | undefined,
  now: number,
  spec: CounterSpec,
  leaseId: string,
): { result: CounterResult; charged: ConcurrencyState } {
  const state = advanceConcurrency(previous, now);
  const allowed = state.leases.length + 1 <= spec.limit;
  const leases = allowed ? [...state.leases, { id: leaseId, expiresAt: now + LEASE_TTL_MS }] : state.leases;
  return {
    result: {
      name: spec.name,
      allowed,
      limit: spec.limit,
      remaining: Math.max(0, spec.limit - leases.length),
      resetAt: leases.length < spec.limit ? now : Math.min(...leases.map((l) => l.expiresAt)),
      retryAfterMs: allowed ? 0 : CONCURRENCY_RETRY_MS,
    },
    charged: allowed ? { algorithm: "concurrency", leases } : state,
  };
}

export function releaseConcurrency(state: ConcurrencyState | undefined, now: number, charge: Charge): ConcurrencyState {
  const current = advanceConcurrency(state, now);
  return { algorithm: "concurrency", leases: current.leases.filter((l) => l.id !== charge.leaseId) };
}
