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
 *
 * @example
 * // Work that is not an HTTP request (a queue message, a WebSocket message, a cron job):
 * const { success, reset } = await limiter.limit("user-42", { rule: "jobs", env, ctx });
 * @module
 */
import type { EnginePorts } from "../../engine/context";
import { createEngine } from "../../engine/engine";
import type { LimiterOptions, LimitOutcome, RateLimitResult } from "../../engine/outcome";
import type { Background, CounterStore, DecisionObserver } from "../../engine/ports";
import type { RefusalCache } from "../../engine/refusal-cache";
import { type Env, numberVar } from "../../env";
import { locationHintOf } from "../../lease/region";
import { FleetRecorder } from "../../observability/fleet-recorder";
import { Stats } from "../../observability/stats";
import { CandidateShadow } from "./candidate";
import { placeOf } from "./dev-place";
import { fleetObserver } from "./fleet-observer";
import { PolicyStore, policyTtlMs } from "./kv-policy-source";
import { TenantCache } from "./kv-tenants";
import { LeasingCounterStore, withRegion } from "./leasing-store";
import { workersObserver } from "./observer";

/** The second argument of {@link SluiceLimiter.limit} for a call by key. */
export interface LimitKeyOptions {
  /** The id of a rule of the policy in force: its limits, mode, penalty and `onError` decide. */
  rule: string;
  /** Units to charge, a whole number of at least 1; default the rule's `cost` (1 unless the policy says). */
  cost?: number;
  /** The Worker's bindings (`LIMITER`, `POLICIES`, optional `STATS`, `ANALYTICS`). */
  env: Env;
  /**
   * The invocation's context: a `fetch`, `queue` or `scheduled` handler's `ctx`, or a Durable
   * Object's `this.ctx`. Work after the decision (a lease given back or renewed, figures sent) goes to its
   * `waitUntil`; without it that work runs unawaited.
   */
  ctx?: Background;
}

/**
 * What `createLimiter()` builds: decides requests and calls by key over the isolate's caches. (Not a
 * counter store, the engine's port, nor the `RateLimiter` object that holds a key's counters.)
 */
export interface SluiceLimiter {
  /** Decides an HTTP request: the outcome holds the refusal to answer with, or `finish` for the origin's response. */
  limit(request: Request, env: Env, ctx: ExecutionContext): Promise<LimitOutcome>;
  /**
   * Decides a call by key, for work that is not an HTTP request: one unit (or `cost`) of the
   * rule's limits under `key`, through the same counters (exact, leased) as requests. The key is
   * counted as `custom:<key>`, the counter an HTTP request shares when your `key` hook gives it
   * the same value for the same rule. Rejects with a `KeyCallError` for an empty key, a cost that
   * is not a whole number of at least 1, a rule the policy in force does not have, or a rule
   * with a concurrency limit (a call has no response to give its slot back).
   */
  limit(key: string, options: LimitKeyOptions): Promise<RateLimitResult>;
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
/** A delayed request (`onLimit.delay`) waits with `scheduler.wait`: wall time, the isolate idle meanwhile. */
const systemClock = { now: () => Date.now(), wait: (ms: number) => scheduler.wait(ms) };

/** The counter store of a `LIMITER` binding: one per binding, so a store may keep state for the isolate's life. */
const stores = new WeakMap<object, CounterStore>();
export function counterStoreOf(env: Env): CounterStore {
  let store = stores.get(env.LIMITER);
  if (!store) {
    // Batching is off unless `LIMITER_BATCH=on`: under load a batch that waits past its budget fails all its
    // requests open at once (measured, docs/architecture.md).
    store = new LeasingCounterStore(env.LIMITER, undefined, env.LIMITER_BATCH === "on" ? {} : false);
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

export function createLimiter(options: LimiterOptions = {}): SluiceLimiter {
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
    // biome-ignore lint/suspicious/noExplicitAny: the implementation of the two overloads above.
    async limit(first: Request | string, second: any, third?: ExecutionContext): Promise<any> {
      if (typeof first === "string") return limitKey(first, second as LimitKeyOptions);
      return limitRequest(first, second as Env, third as ExecutionContext);
    },
  };

  function portsFor(env: Env, background: Background, startedAt: number): EnginePorts {
    return {
      // The background lets the first isolate to enforce a hand-published document record it in history.
      policies: { current: fixed ?? (() => policies.get(env, undefined, background)) },
      counters: counterStoreOf(env),
      tenants: { lookup: (hash) => tenants.lookup(env.POLICIES, hash, policyTtlMs(env)) },
      clock: systemClock,
      observer: both(
        workersObserver(stats, env.ANALYTICS, background),
        fleetObserver(fleet, env, background, startedAt),
      ),
      background,
    };
  }

  async function limitKey(key: string, options: LimitKeyOptions): Promise<RateLimitResult> {
    if (!options || typeof options !== "object" || !options.env) {
      throw new TypeError(
        'limit(key, options): options must hold the rule and the Worker\'s env: { rule: "...", env }',
      );
    }
    const { env, ctx } = options;
    const background: Background = ctx ?? { waitUntil: (p) => void p.catch(() => {}) };
    const ports = portsFor(env, background, Date.now());
    const call = { key, rule: options.rule, ...(options.cost !== undefined ? { cost: options.cost } : {}) };
    return engine.decideKey(call, ports, settingsOf(env));
  }

  async function limitRequest(request: Request, env: Env, ctx: ExecutionContext): Promise<LimitOutcome> {
    const base = portsFor(env, ctx, Date.now());
    // The request's location hint, for keys with a regional tree (`shardsPerRegion`) and rules counted per region.
    const place = placeOf(request, env);
    const ports = { ...base, counters: withRegion(base.counters, place) };
    const region = locationHintOf(place);
    const settings = { ...settingsOf(env), ...(region ? { region } : {}) };
    const outcome = await engine.decide(request, ports, settings);
    // A fixed policy has no published candidate beside it.
    return fixed ? outcome : candidates.attach(request, env, ports, settings, outcome);
  }
}

function settingsOf(env: Env) {
  return {
    budgetMs: numberVar(env.LIMITER_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
    ceilingMs: numberVar(env.LIMITER_TIMEOUT_CEILING_MS, DEFAULT_TIMEOUT_CEILING_MS),
    sandbox: env.SANDBOX === "true",
  };
}
