/**
 * The plan of a request, made without I/O: which rules apply (first match
 * decides, `continue` stacks the next), what page size to forward, and for
 * each counting key the limits to check there, each kept with its rule and
 * its counter spec so that results never need to be joined back by name.
 * @module
 */
import type { CounterSpec, DelaySpec } from "../limiter/types";
import type { ThresholdSpec } from "../notify/types";
import { withBilling } from "../policy/calendar-anchor";
import type { CompiledLimit, CompiledPolicy, CompiledRule, RequestFacts } from "../policy/compile";
import { activeOverride, type Overrides, overridden, overriddenBurst } from "../policy/overrides";
import type { Billing } from "../policy/tenant-record";
import type { Identity } from "./identity";
import { applyPageSize } from "./page-size";
import type { CheckRequest } from "./ports";

export type RuleMatch =
  | { kind: "none" }
  | { kind: "block"; rule: CompiledRule }
  | { kind: "bypass"; rule: CompiledRule }
  | { kind: "apply"; rules: CompiledRule[]; endedBy?: CompiledRule };

/**
 * One limit to check: its rule, its compiled limit, the numbers for this
 * request, and whether it is a shadow rule's (checked beside the others, in
 * plan order, never refusing).
 */
export interface PlannedLimit {
  rule: CompiledRule;
  limit: CompiledLimit;
  spec: CounterSpec;
  shadow: boolean;
}

/** Everything to check under one counting key, in rule order. */
export interface KeyPlan {
  key: string;
  /** What an operator reads for the key (`header:x-user-id:u1`; see key-label.ts); absent: the key is readable. */
  label?: string;
  rules: CompiledRule[];
  limits: PlannedLimit[];
}

/** First match decides; `continue` stacks the next matching rule on top; a bypass after a stack ends it. */
export function matchRules(policy: CompiledPolicy, facts: RequestFacts): RuleMatch {
  const applying: CompiledRule[] = [];
  for (const rule of policy.rules) {
    if (!rule.matches(facts)) continue;
    if (rule.action === "block") return { kind: "block", rule };
    if (rule.action === "bypass") {
      if (applying.length === 0) return { kind: "bypass", rule };
      // Kept so that an explain can say which bypass ended the stack (./explain.ts).
      return { kind: "apply", rules: applying, endedBy: rule };
    }
    applying.push(rule);
    if (!rule.continue) break;
  }
  return applying.length === 0 ? { kind: "none" } : { kind: "apply", rules: applying };
}

/** The URL to forward after every applying rule's page size, or the message of a refusal. */
export function plannedPageSize(url: URL, rules: readonly CompiledRule[]): { url: URL } | { rejected: string } {
  let planned = url;
  for (const rule of rules) {
    if (!rule.pageSize) continue;
    const page = applyPageSize(planned, rule.pageSize);
    if (page.kind === "rejected") return { rejected: page.message };
    if (page.kind === "rewritten") planned = page.url;
  }
  return { url: planned };
}

/** A limited rule read one way: the counting key it is counted under, and the tier and scope of that reading. */
export interface RuleReading {
  rule: CompiledRule;
  key: string;
  /** The key's display label, when it has one. */
  label?: string;
  identity: Pick<Identity, "tier" | "sandbox"> & { tenant?: Identity["tenant"] };
}

/**
 * Groups the readings by counting key, in order. A rule usually has one
 * reading; a request with conflicting API keys under `"strictest"` has one per
 * key, and when two of them land on one key (say, by IP with tiered numbers)
 * the smaller numbers apply.
 */
export function planCounters(readings: readonly RuleReading[], policy: CompiledPolicy, now = 0): KeyPlan[] {
  const plans = new Map<string, KeyPlan>();
  for (const { rule, key, label, identity } of readings) {
    let plan = plans.get(key);
    if (!plan) {
      plan = { key, ...(label !== undefined ? { label } : {}), rules: [], limits: [] };
      plans.set(key, plan);
    }
    const specs = ruleCounterSpecs(
      policy,
      rule,
      identity.tier,
      identity.sandbox,
      identity.tenant?.overrides,
      now,
      identity.tenant?.billing,
    );
    if (plan.rules.includes(rule)) {
      for (const planned of plan.limits) {
        const other = planned.rule === rule ? specs.find((s) => s.name === planned.spec.name) : undefined;
        if (other) planned.spec = tightened(planned.spec, other);
      }
      continue;
    }
    plan.rules.push(rule);
    rule.limits.forEach((limit, j) => {
      const spec = specs[j]!;
      const thresholds = thresholdSpec(policy, rule, limit, key, label, identity.tenant?.id);
      plan.limits.push({
        rule,
        limit,
        spec: thresholds ? { ...spec, thresholds } : spec,
        shadow: rule.mode === "shadow",
      });
    });
  }
  return [...plans.values()];
}

/** What the key's object needs to fire a rule's thresholds on one of its window limits; undefined: none. */
function thresholdSpec(
  policy: CompiledPolicy,
  rule: CompiledRule,
  limit: CompiledLimit,
  key: string,
  label: string | undefined,
  tenant: string | undefined,
): ThresholdSpec | undefined {
  if (!rule.thresholds || policy.notifyUrl === undefined) return undefined;
  if (limit.algorithm !== "fixed" && limit.algorithm !== "sliding") return undefined;
  return {
    rule: rule.id,
    at: rule.thresholds,
    url: policy.notifyUrl,
    key,
    ...(label !== undefined ? { label } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
  };
}

function tightened(spec: CounterSpec, other: CounterSpec): CounterSpec {
  return {
    ...spec,
    limit: Math.min(spec.limit, other.limit),
    ...(spec.burst !== undefined && other.burst !== undefined ? { burst: Math.min(spec.burst, other.burst) } : {}),
  };
}

/**
 * What the counter store checks for a rule: the numbers of this tier, or the
 * tenant's override of them in force at `now`, with the sandbox multiplier.
 * A calendar window of a rule keyed by `tenant` starts where the tenant's
 * `billing` says (over the policy's `anchor`).
 */
export function ruleCounterSpecs(
  policy: CompiledPolicy,
  rule: CompiledRule,
  tier: string,
  sandbox: boolean,
  overrides?: Overrides,
  now = 0,
  billing?: Billing,
): CounterSpec[] {
  const multiplier = sandbox ? policy.sandboxMultiplier : 1;
  // The sandbox multiplier, rounded down, never below 1.
  const scale = (n: number) => Math.max(1, Math.floor(n * multiplier));
  return rule.limits.map((l) => {
    const base = l.limitFor(tier);
    const override = activeOverride(overrides, l.name, now);
    return {
      name: l.name,
      algorithm: l.algorithm,
      limit: scale(overridden(base, override)),
      windowMs: l.windowMs,
      ...(l.calendar ? { calendar: withBilling(l.calendar, rule.key.kind === "tenant" ? billing : undefined) } : {}),
      cost: rule.cost,
      ...(l.burst !== undefined ? { burst: scale(overriddenBurst(l.burst, base, override)) } : {}),
    };
  });
}

export function isShadow(planned: PlannedLimit): boolean {
  return planned.shadow;
}

/**
 * The store's request for one key: every counter in plan order, shadow ones
 * marked (the answer has an entry per counter in the same order), the enforced rules' penalties, how many shards the key's
 * room is spread over when an enforced rule asks for a tree, and with
 * `delayable` (the request is counted under this key alone) the rules'
 * `onLimit.delay` when every enforced rule counted here has one.
 */
export function checkRequestOf(plan: KeyPlan, delayable = false): CheckRequest {
  const counters = plan.limits.map((l) => (l.shadow ? { ...l.spec, shadow: true } : l.spec));
  // A shadow rule never refuses, so it never starts a penalty.
  const penalties = plan.rules.flatMap((r) => (r.penalty && r.mode === "enforce" ? [r.penalty] : []));
  // Stacked rules on one key share its objects: the widest tree any of them asks for holds them all. A
  // failures-only rule stacked there gives each success's charge back, which a shard's block cannot take
  // back: such a request is decided without the tree (at the root, as a plain leased key is).
  const failuresOnly = plan.rules.some((r) => r.mode === "enforce" && r.count === "failures");
  // A settling rule's debt is charged at the key's own object: its requests are decided there, never
  // from room lent before the debt (a lease, a shard's block).
  const settles = plan.rules.some((r) => r.settle !== undefined);
  const shards =
    failuresOnly || settles ? 0 : Math.max(0, ...plan.rules.map((r) => (r.mode === "enforce" ? (r.shards ?? 0) : 0)));
  const delay = delayable ? delayOf(plan.rules) : undefined;
  // A hashed tree, when a stacked rule asks for one, holds the key; otherwise the widest regional tree.
  const perRegion =
    failuresOnly || settles || shards > 0
      ? 0
      : Math.max(0, ...plan.rules.map((r) => (r.mode === "enforce" ? (r.shardsPerRegion ?? 0) : 0)));
  return {
    counters,
    ...(penalties.length > 0 ? { penalties } : {}),
    ...(shards > 0 ? { shards } : {}),
    ...(delay ? { delay } : {}),
    ...(perRegion > 0 ? { shardsPerRegion: perRegion } : {}),
    ...(settles ? { settles } : {}),
  };
}

/**
 * The delay of a key's rules: only when every enforced rule there delays (a
 * rule without `onLimit` refuses as it always has), with the smallest bound
 * and cap among them, on the first one's waiting list.
 */
export function delayOf(rules: readonly CompiledRule[]): DelaySpec | undefined {
  const enforced = rules.filter((r) => r.mode === "enforce");
  if (enforced.length === 0 || !enforced.every((r) => r.delay)) return undefined;
  const delays = enforced.map((r) => r.delay!);
  return {
    maxMs: Math.min(...delays.map((d) => d.maxMs)),
    maxWaiting: Math.min(...delays.map((d) => d.maxWaiting)),
    name: delays[0]!.name,
  };
}
