/**
 * What the engine would do with a request, charging nothing: the admin API's
 * `POST /explain`, the console's explain view and `policy explain` all read
 * this one plan, so none of them walks the rules, reads the identity or
 * scales a limit in its own way. It runs the engine's own steps (the client
 * IP, the identity, the first-match walk, the counting keys, the counter
 * specs with sandbox and overrides) and peeks at each counter's room.
 * @module
 */
import type { CounterResult, CounterSpec } from "../limiter/types";
import type { CompiledLimit, CompiledPolicy, CompiledRule } from "../policy/compile";
import { normalizePath } from "../policy/normalize-path";
import { labelledCountingKeys, regionalKey, scoped } from "./counting-key";
import { clientIp, identityOf } from "./identity";
import { isCredentialKey } from "./key-label";
import { matchRules, type RuleMatch, ruleCounterSpecs } from "./plan";
import type { Clock, CounterStore, TenantLookup } from "./ports";

export interface ExplainRequest {
  method: string;
  url: URL;
  /** The client address is read from `CF-Connecting-IP`, as for a request. */
  headers: Headers;
}

export interface ExplainPorts {
  counters: CounterStore;
  tenants: TenantLookup;
  clock: Clock;
}

export interface ExplainOptions {
  /** The whole deployment gets the sandbox multiplier (`SANDBOX`). */
  sandbox?: boolean;
  /** Size the limits for this tier rather than the tenant's (an operator's "what if"). */
  tier?: string;
  /** The region (a location hint) a rule counted per region would count the request in; absent: unknown. */
  region?: string;
}

/**
 * Where a rule stands in the walk: it does not match, it is counted, it blocks, it bypasses (the
 * rest, or the rules below a stack), or the walk ended above it.
 */
export type RuleStep = "no-match" | "applies" | "blocks" | "bypasses" | "not-reached";

export interface ExplainedLimit {
  limit: CompiledLimit;
  /** The numbers the counter store would check: tier, override, sandbox multiplier applied. */
  spec: CounterSpec;
  /** The counter's room as it stands (a peek: nothing charged). */
  room: CounterResult;
}

export interface ExplainedRule {
  rule: CompiledRule;
  index: number;
  matches: boolean;
  step: RuleStep;
  /** For a counted rule with limits: the counting key (sandbox-scoped) and its display label. */
  key?: string;
  label?: string;
  limits?: ExplainedLimit[];
  /** The counter store's clock at the peek, the one the room's times are on. */
  now?: number;
}

export type Explanation =
  | { kind: "invalid-client-ip"; method: string; malformed: string }
  | {
      kind: "explained";
      method: string;
      /** The path as rules match it. */
      path: string;
      host: string;
      client: { ipKey: string; tenant: string | null; tier: string; sandbox: boolean };
      decision: RuleMatch;
      rules: ExplainedRule[];
    };

/**
 * The plan for `request` under `policy`. Throws the engine's `KeyRefusal` when the request's API
 * keys conflict and the policy refuses such a request (it would be answered 400).
 */
export async function explain(
  policy: CompiledPolicy,
  request: ExplainRequest,
  ports: ExplainPorts,
  options: ExplainOptions = {},
): Promise<Explanation> {
  const { url, headers } = request;
  const method = request.method.toUpperCase();
  const client = clientIp(headers, policy);
  if (client.malformed !== undefined) return { kind: "invalid-client-ip", method, malformed: client.malformed };
  const host = url.hostname.toLowerCase();
  const facts = { method, path: normalizePath(url.pathname), host, headers, ip: client.ip };
  const identity = await identityOf(
    { policy, headers, url, client, tenants: ports.tenants, sandbox: options.sandbox === true },
    host,
  );
  const tier = options.tier ?? identity.tier;
  const decision = matchRules(policy, facts);
  const last = lastReached(policy, decision);
  const now = ports.clock.now();
  const rules: ExplainedRule[] = [];
  for (const [index, rule] of policy.rules.entries()) {
    const matches = rule.matches(facts);
    const step: RuleStep = index > last ? "not-reached" : stepOf(rule, matches, decision);
    const entry: ExplainedRule = { rule, index, matches, step };
    if (step === "applies" && rule.limits.length > 0) {
      const [first] = await labelledCountingKeys(
        rule.key,
        {
          ipKey: client.ipKey,
          tenantId: identity.tenant?.id,
          url,
          headers,
          // An explain has no body: a body key reads as absent, as for a request without one.
          body: async () => ({ kind: "none" }) as const,
        },
        rule.bodyKey,
        isCredentialKey(rule.key, policy.credentials),
      );
      const inRegion = (k: string) => (rule.perRegion ? regionalKey(k, options.region) : k);
      entry.key = scoped(inRegion(first!.key), identity.sandbox);
      if (first!.label !== undefined) entry.label = scoped(inRegion(first!.label), identity.sandbox);
      const specs = ruleCounterSpecs(
        policy,
        rule,
        tier,
        identity.sandbox,
        identity.tenant?.overrides,
        now,
        identity.tenant?.billing,
      );
      const peek = await ports.counters.inspect(entry.key, specs);
      entry.now = peek.now;
      entry.limits = specs.map((spec, j) => ({ limit: rule.limits[j]!, spec, room: peek.results[j]! }));
    }
    rules.push(entry);
  }
  return {
    kind: "explained",
    method,
    path: facts.path,
    host,
    client: { ipKey: client.ipKey, tenant: identity.tenant?.id ?? null, tier, sandbox: identity.sandbox },
    decision,
    rules,
  };
}

/** The index of the last rule the walk looked at: the rule that decided, or the last rule. */
function lastReached(policy: CompiledPolicy, decision: RuleMatch): number {
  const end = policy.rules.length - 1;
  if (decision.kind === "none") return end;
  if (decision.kind !== "apply") return policy.rules.indexOf(decision.rule);
  if (decision.endedBy) return policy.rules.indexOf(decision.endedBy);
  const lastApplying = decision.rules[decision.rules.length - 1]!;
  return lastApplying.continue ? end : policy.rules.indexOf(lastApplying);
}

function stepOf(rule: CompiledRule, matches: boolean, decision: RuleMatch): RuleStep {
  if (!matches) return "no-match";
  if (decision.kind === "apply" && decision.rules.includes(rule)) return "applies";
  return rule.action === "block" ? "blocks" : "bypasses";
}
