/**
 * The per-request context: everything the steps of one decision share, in
 * one object instead of long parameter lists. The ports and settings come
 * from the adapter that runs the engine (the Workers limiter, a test).
 * @module
 */
import type { CompiledPolicy } from "../policy/compile";
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
  /** Time budget of one counter-store check, in ms; past it the rule's `onError` decides. 0: none. */
  budgetMs: number;
  /** The whole deployment gets the sandbox multiplier. */
  sandbox: boolean;
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
  readonly ports: EnginePorts;
  readonly settings: EngineSettings;
  readonly hooks: EngineHooks;
  readonly refusals: RefusalCache;
}
