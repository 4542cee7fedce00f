/**
 * The engine in a Worker: `createLimiter()` wires the Workers adapters (the
 * Durable Object counter store, the KV policy source and tenant cache, the
 * stats and analytics observer) into the engine's ports for each request.
 * This is the one place to plug another counter store or observer in.
 *
 * @example
 * const limiter = createLimiter();
 * const outcome = await limiter.limit(request, env, ctx);
 * if (outcome.response) return outcome.response;
 * return outcome.finish(await fetch(outcome.request));
 * @module
 */
import type { EnginePorts } from "../../engine/context";
import { createEngine } from "../../engine/engine";
import type { LimiterOptions, LimitOutcome } from "../../engine/outcome";
import type { CounterStore, DecisionObserver, PolicySource, TenantLookup } from "../../engine/ports";
import type { RefusalCache } from "../../engine/refusal-cache";
import { type Env, numberVar } from "../../env";
import { FleetRecorder } from "../../observability/fleet-recorder";
import { Stats } from "../../observability/stats";
import { CandidateShadow } from "./candidate";
import { fleetObserver } from "./fleet-observer";
import { PolicyStore, policyTtlMs } from "./kv-policy-source";
import { TenantCache } from "./kv-tenants";
import { LeasingCounterStore } from "./leasing-store";
import { workersObserver } from "./observer";

export interface Limiter {
  limit(request: Request, env: Env, ctx: ExecutionContext): Promise<LimitOutcome>;
  /** The KV-backed policy store of this limiter (the admin API installs into it). */
  readonly policies: PolicyStore;
  readonly tenants: TenantCache;
  readonly stats: Stats;
  readonly refusals: RefusalCache;
  /** This isolate's share of the fleet-wide figures, sent to the STATS store when it is bound. */
  readonly fleet: FleetRecorder;
  /** The candidate policy evaluated in shadow beside the live one, and its counts. */
  readonly candidates: CandidateShadow;
}

/**
 * The floor of a counter-store check's budget (`LIMITER_TIMEOUT_MS`): an object this isolate knows
 * to be near is given up on after this long. See src/engine/budget.ts.
 */
const DEFAULT_TIMEOUT_MS = 50;
/**
 * The ceiling (`LIMITER_TIMEOUT_CEILING_MS`): what a new or far object's call may take before the
 * rule's `onError` decides. Above the longest round trip between two continents (about 300 ms)
 * plus a new object's start, with room for both at once; an object that hangs costs this much.
 */
const DEFAULT_TIMEOUT_CEILING_MS = 2_000;
const systemClock = { now: () => Date.now() };

/** The counter store of a `LIMITER` binding: one per binding, so a store may keep state for the isolate's life. */
const stores = new WeakMap<object, CounterStore>();
export function counterStoreOf(env: Env): CounterStore {
  let store = stores.get(env.LIMITER);
  if (!store) {
    store = new LeasingCounterStore(env.LIMITER);
    stores.set(env.LIMITER, store);
  }
  return store;
}

function both(a: DecisionObserver, b: DecisionObserver): DecisionObserver {
  return {
    decided(record) {
      a.decided(record);
      b.decided(record);
    },
  };
}

export function createLimiter(options: LimiterOptions = {}): Limiter {
  const policies = new PolicyStore();
  const tenants = new TenantCache();
  const stats = new Stats();
  const fleet = new FleetRecorder();
  const engine = createEngine({ key: options.key, onRefuse: options.onRefuse });
  const fixed = options.policy;
  const candidates = new CandidateShadow({ ...(options.key ? { key: options.key } : {}) });
  return {
    policies,
    tenants,
    stats,
    refusals: engine.refusals,
    fleet,
    candidates,
    async limit(request, env, ctx) {
      const startedAt = Date.now();
      const policySource: PolicySource = { current: fixed ?? (() => policies.get(env)) };
      const tenantLookup: TenantLookup = {
        lookup: (hash) => tenants.lookup(env.POLICIES, hash, policyTtlMs(env)),
      };
      const ports: EnginePorts = {
        policies: policySource,
        counters: counterStoreOf(env),
        tenants: tenantLookup,
        clock: systemClock,
        observer: both(workersObserver(stats, env.ANALYTICS), fleetObserver(fleet, env, ctx, startedAt)),
        background: ctx,
      };
      const settings = {
        budgetMs: numberVar(env.LIMITER_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
        ceilingMs: numberVar(env.LIMITER_TIMEOUT_CEILING_MS, DEFAULT_TIMEOUT_CEILING_MS),
        sandbox: env.SANDBOX === "true",
      };
      const outcome = await engine.decide(request, ports, settings);
      // A fixed policy has no published candidate beside it.
      return fixed ? outcome : candidates.attach(request, env, ports, settings, outcome);
    },
  };
}
