/**
 * The per-request context: everything the steps of one decision share, in
 * one object instead of long parameter lists. The ports and settings come
 * from the adapter that runs the engine (the Workers limiter, a test).
 * @module
 */
import type { CompiledPolicy } from "../policy/compile";
import type { RoundTrips } from "./budget";
import type { ClientIp } from "./identity";
import type { EngineHooks } from "./outcome";
import type { Background, Clock, CounterStore, DecisionObserver, PolicySource, TenantLookup } from "./ports";
import type { RefusalCache } from "./refusal-cache";

export interface EnginePorts {
  policies: PolicySource;
  counters: CounterStore;
  tenants: TenantLookup;
  clock: Clock;
  observer: DecisionObserver;
  background: Background;
}

export interface EngineSettings {
  /**
   * The floor of a counter-store check's time budget, in ms (`LIMITER_TIMEOUT_MS`); past the
   * budget the rule's `onError` decides. 0: no budget (every check is waited for).
   */
  budgetMs: number;
  /**
   * The ceiling of the budget (`LIMITER_TIMEOUT_CEILING_MS`): between floor and ceiling a check is
   * budgeted by the round trip observed on its key (see `budget.ts`). Absent, or at most the floor:
   * every check gets the floor (a fixed budget).
   */
  ceilingMs?: number;
  /** The whole deployment gets the sandbox multiplier. */
  sandbox: boolean;
  /**
   * The request's region (a location hint, from its `cf`), for rules with `scope: "region"`;
   * absent: unknown (such rules count it in the `unknown` region).
   */
  region?: string;
}

export interface RequestContext {
  /** The request as it came. */
  readonly original: Request;
  /** The request to forward (page size may rewrite it). */
  request: Request;
  url: URL;
  readonly policy: CompiledPolicy;
  readonly client: ClientIp;
  /** Ids of the rules that apply, in order. */
  rules: string[];
  /** The tenant's id once its API key is resolved (the usage ledger counts by it); absent: none. */
  tenant?: string;
  readonly ports: EnginePorts;
  readonly settings: EngineSettings;
  readonly hooks: EngineHooks;
  readonly refusals: RefusalCache;
  /** This engine's observed round trips per key (the time budget's memory). */
  readonly roundTrips: RoundTrips;
}
