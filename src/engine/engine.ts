/**
 * The engine: one call decides a request, through the ports it is given.
 * Plan (which rules, which page size, which counters under which key), then
 * execute (the counter store, within the budget), then the verdict (the
 * outcome, its headers, the observers told). It imports no Workers runtime:
 * `src/adapters/workers/limiter.ts` runs it in a Worker, the unit tests run it
 * over the in-memory store.
 * @module
 */
import { type BodyRead, readBody } from "../http/body-key";
import { KeyRefusal } from "../http/key-refusal";
import { type LimitReport, partitionKey } from "../http/rate-limit-headers";
import { jsonError, refusalResponse, unavailableResponse } from "../http/refusal";
import { logEvent } from "../log";
import type { CompiledRule } from "../policy/compile";
import { normalizePath } from "../policy/normalize-path";
import { DEFAULT_BODY_MAX_BYTES } from "../policy/schema";
import { RoundTrips } from "./budget";
import type { EnginePorts, EngineSettings, RequestContext } from "./context";
import {
  customCountingKey,
  type KeySources,
  type LabelledKey,
  labelledCountingKeys,
  regionalKey,
  scoped,
} from "./counting-key";
import { type ExecutionScope, executePlan, failures, type KeyResult, rollBack } from "./execute";
import { admittedOutcome } from "./finish";
import { clientIp, type Identity, resolveIdentity, UNKNOWN_IP } from "./identity";
import { isCredentialKey } from "./key-label";
import { overriddenMethods } from "./method-override";
import {
  type EngineHooks,
  type LimitOutcome,
  type RateLimitResult,
  resultWithoutLimit,
  settledOutcome,
} from "./outcome";
import { type KeyPlan, matchRules, planCounters, plannedPageSize, type RuleReading } from "./plan";
import type { DecisionRecord } from "./ports";
import { CALENDAR_REFUSAL_MEMORY_MS, RefusalCache } from "./refusal-cache";
import { applyEstimates } from "./settle";
import { admittedResult, admittedVerdicts, type CountedLimit, refusedResult, tally } from "./verdict";

/** A decision without an HTTP request (a queue message, a WebSocket message, a cron job): a key and a rule. */
export interface KeyCall {
  /** Counted as `custom:<key>`: the counter an HTTP request shares when the `key` hook gives it this value for this rule. */
  key: string;
  /** The id of a rule of the policy in force. */
  rule: string;
  /** Units to charge; the rule's `cost` when absent. */
  cost?: number;
}

/** A call by key that cannot be decided as asked (no such rule, a rule that needs a response): a programming error. */
export class KeyCallError extends Error {
  override name = "KeyCallError";
}

export interface Engine {
  decide(request: Request, ports: EnginePorts, settings: EngineSettings): Promise<LimitOutcome>;
  /**
   * Decides a call by key through the same plan, counters, refusal cache and
   * observers as a request; rejects with a {@link KeyCallError} for a rule the
   * policy does not have or one with a concurrency limit (nothing would give
   * its slot back).
   */
  decideKey(call: KeyCall, ports: EnginePorts, settings: EngineSettings): Promise<RateLimitResult>;
  /** This engine's memory of refusals (the admin API forgets a key's on reset). */
  readonly refusals: RefusalCache;
  /** The round trips it has observed per counting key (each check's time budget). */
  readonly roundTrips: RoundTrips;
}

/** An engine with its per-isolate state (the refusal cache, the round trips) and the user's hooks. */
export function createEngine(
  hooks: EngineHooks = {},
  refusals = new RefusalCache(),
  roundTrips = new RoundTrips(),
): Engine {
  return {
    refusals,
    roundTrips,
    async decide(request, ports, settings) {
      const { compiled } = await ports.policies.current();
      const url = new URL(request.url);
      const ctx: RequestContext = {
        original: request,
        request,
        url,
        policy: compiled,
        client: clientIp(request.headers, compiled),
        rules: [],
        ports,
        settings,
        hooks,
        refusals,
        roundTrips,
      };
      return decideRequest(ctx);
    },
    async decideKey(call, ports, settings) {
      if (typeof call.rule !== "string" || call.rule === "")
        throw new KeyCallError("limit(): rule must be the id of a rule of the policy in force");
      if (typeof call.key !== "string" || call.key === "")
        throw new KeyCallError("limit(): key must be a non-empty string");
      if (call.cost !== undefined && !(Number.isSafeInteger(call.cost) && call.cost >= 1)) {
        throw new KeyCallError(`limit(): cost must be a whole number of at least 1, not ${String(call.cost)}`);
      }
      const { compiled } = await ports.policies.current();
      return decideByKey({ ports, settings, refusals, roundTrips, policy: compiled }, call);
    },
  };
}

interface KeyScope extends ExecutionScope {
  readonly policy: RequestContext["policy"];
}

async function decideByKey(scope: KeyScope, call: KeyCall): Promise<RateLimitResult> {
  const { policy, ports } = scope;
  const rule = policy.rules.find((r) => r.id === call.rule);
  if (!rule) {
    const known = policy.rules.map((r) => r.id).join(", ") || "none";
    throw new KeyCallError(`limit(): the policy in force has no rule "${call.rule}" (its rules: ${known})`);
  }
  const rules = [rule.id];
  const observe = (result: RateLimitResult, record: Partial<Omit<DecisionRecord, "result" | "ipKey">> = {}) => {
    // No client IP: the call was made by key.
    ports.observer.decided({
      result,
      verdicts: record.verdicts ?? [],
      ipKey: UNKNOWN_IP,
      shadowRefusals: record.shadowRefusals ?? [],
      ...(record.refusal ? { refusal: record.refusal } : {}),
    });
    return result;
  };
  if (rule.action === "bypass") return observe(resultWithoutLimit(true, "bypass", rules));
  if (rule.action === "block")
    return observe(resultWithoutLimit(false, "block", rules), { verdicts: [{ rule: rule.id, verdict: "blocked" }] });
  if (rule.limits.length === 0) return observe(resultWithoutLimit(true, "allowed", rules));
  if (rule.limits.some((l) => l.algorithm === "concurrency")) {
    throw new KeyCallError(
      `limit(): rule "${rule.id}" has a concurrency limit, whose slot is given back when a response ends; a call by key has no response`,
    );
  }
  const startedAt = ports.clock.now();
  const identity = { tier: policy.defaultTier, sandbox: scope.settings.sandbox };
  // A call by key has no request, so no region: a rule counted per region counts it in `unknown`.
  const key = perRegion(rule, customCountingKey(call.key), scope.settings.region);
  const plans = planCounters([{ rule, key, identity }], policy, startedAt);
  if (call.cost !== undefined) {
    for (const plan of plans) for (const planned of plan.limits) planned.spec = { ...planned.spec, cost: call.cost };
  }

  const cached = cachedRefusal(scope, plans, startedAt);
  if (cached) {
    return observe(refusedResult(cached.refusedBy, "cached", rules), {
      verdicts: [{ rule: rule.id, verdict: "refused" }],
      refusal: { report: cached.refusedBy, key: cached.key },
    });
  }
  const results = await executePlan(plans, scope);
  const { failed, closed } = failures(results);
  if (closed) {
    rollBack(results, scope);
    return observe(resultWithoutLimit(false, "error-closed", rules), {
      verdicts: [{ rule: rule.id, verdict: "error_closed" }],
    });
  }
  const t = tally(results, ports.clock.now());
  if (t.refusedBy) {
    rollBack(results, scope);
    rememberRefusal(
      scope,
      t.refusedBy,
      t.counted.map((c) => c.report),
      startedAt,
    );
    return observe(refusedResult(t.refusedBy.report, "limit", rules), {
      verdicts: [{ rule: rule.id, verdict: "refused" }],
      refusal: { report: t.refusedBy.report, key: t.refusedBy.key },
    });
  }
  return observe(admittedResult(t, failed.length > 0, rules), {
    verdicts: admittedVerdicts([rule], new Set(failed.flatMap((f) => f.plan.rules)), t),
    shadowRefusals: t.shadowRefusals.map((s) => s.report),
  });
}

async function decideRequest(ctx: RequestContext): Promise<LimitOutcome> {
  const { policy, url, original } = ctx;
  // Before any rule: an address no rule can match (a block list included) must not reach the origin unmatched.
  if (ctx.client.malformed !== undefined) return invalidClientIp(ctx, ctx.client.malformed);
  const host = url.hostname.toLowerCase();
  const method = original.method.toUpperCase();
  // The body, read once per size limit, for the rules' keys and a `_method` override alike.
  const bodies = new Map<number, Promise<BodyRead>>();
  const body = (maxBytes: number) => {
    let read = bodies.get(maxBytes);
    if (!read) {
      read = readBody(ctx.request, maxBytes);
      bodies.set(maxBytes, read);
    }
    return read;
  };
  const seen = { method, path: normalizePath(url.pathname), host, headers: original.headers, ip: ctx.client.ip };
  // A POST's overrides (headers, `_method` in the query or body) are read only where a rule could match by them.
  const overrides =
    policy.methodOverride && method === "POST" && policy.rules.some((r) => r.mayMatchOverridden?.(seen))
      ? await overriddenMethods(original.headers, url, () => body(DEFAULT_BODY_MAX_BYTES))
      : undefined;
  const facts = { ...seen, ...(overrides ? { overrides } : {}) };
  const match = matchRules(policy, facts);
  if (match.kind === "none") return observed(ctx, settledOutcome(original, resultWithoutLimit(true, "no-rule", [])));
  if (match.kind === "bypass")
    return observed(ctx, settledOutcome(original, resultWithoutLimit(true, "bypass", [match.rule.id])));
  if (match.kind === "block")
    return observed(ctx, blocked(ctx, match.rule), { verdicts: [{ rule: match.rule.id, verdict: "blocked" }] });
  ctx.rules = match.rules.map((r) => r.id);

  const page = plannedPageSize(url, match.rules);
  if ("rejected" in page) {
    const response = jsonError(400, "Bad Request", page.rejected, { code: "INVALID_PAGE_SIZE" });
    return observed(ctx, settledOutcome(original, resultWithoutLimit(false, "page-size", ctx.rules), response));
  }
  if (page.url.href !== original.url) {
    ctx.url = page.url;
    ctx.request = new Request(page.url.href, original);
  }
  const limited = match.rules.filter((r) => r.limits.length > 0);
  if (limited.length === 0)
    return observed(ctx, settledOutcome(ctx.request, resultWithoutLimit(true, "allowed", ctx.rules)));
  let plans: KeyPlan[];
  try {
    const identity = await resolveIdentity(ctx, host);
    if (identity.tenant) ctx.tenant = identity.tenant.id;
    plans = planCounters(await ruleReadings(ctx, limited, identity, body), policy, ctx.ports.clock.now());
    if (limited.some((r) => r.settle?.estimate)) await applyEstimates(plans, original.headers, body);
  } catch (e) {
    if (!(e instanceof KeyRefusal)) throw e;
    return keyRefused(ctx, e);
  }
  return count(ctx, plans, limited);
}

/** A rule's key could not be read unambiguously (a body, two API keys) and the rule refuses: 400 or 413 naming it. */
function keyRefused(ctx: RequestContext, refusal: KeyRefusal): LimitOutcome {
  const { rule, code, reason } = refusal;
  logEvent("request.key_refused", { rule, code, reason, ip: ctx.client.ipKey }, "warn");
  const result = resultWithoutLimit(false, "key-refused", ctx.rules);
  const verdicts = ctx.rules.map((r) => ({ rule: r, verdict: "refused" as const }));
  return observed(ctx, settledOutcome(ctx.original, result, refusal.response()), { verdicts });
}

/**
 * `CF-Connecting-IP` is there but is not one IP address. Counting such clients on one shared key would
 * pool every one of them; counting each on its raw value would give a fresh counter per spelling. The
 * value is neither matched nor counted: 400, and the origin never sees the request.
 */
function invalidClientIp(ctx: RequestContext, value: string): LimitOutcome {
  logEvent("request.invalid_client_ip", { value }, "warn");
  const response = jsonError(400, "Bad Request", "CF-Connecting-IP is not one IPv4 or IPv6 address.", {
    code: "INVALID_CLIENT_IP",
  });
  return observed(ctx, settledOutcome(ctx.original, resultWithoutLimit(false, "key-refused", []), response));
}

/**
 * The counting key of each limited rule, in order: the user's `key` hook
 * first, else the rule's key. A request with conflicting API keys under
 * `"strictest"` gives each rule one reading per key.
 */
async function ruleReadings(
  ctx: RequestContext,
  rules: readonly CompiledRule[],
  identity: Identity,
  body: (maxBytes: number) => Promise<BodyRead>,
): Promise<RuleReading[]> {
  const readings: RuleReading[] = [];
  for (const rule of rules) {
    const custom = ctx.hooks.key ? await ctx.hooks.key(ctx.request, rule.id) : undefined;
    for (const reading of [identity, ...(identity.alsoCountedAs ?? [])]) {
      const sources: KeySources = {
        ipKey: reading.ipKey,
        tenantId: reading.tenant?.id,
        url: ctx.url,
        headers: ctx.request.headers,
        body,
      };
      const region = ctx.settings.region;
      const keys: LabelledKey[] =
        custom !== undefined
          ? [{ key: perRegion(rule, customCountingKey(custom), region) }]
          : (await keysOf(rule, sources, isCredentialKey(rule.key, ctx.policy.credentials))).map((k) => ({
              key: scoped(perRegion(rule, k.key, region), reading.sandbox),
              ...(k.label !== undefined ? { label: scoped(perRegion(rule, k.label, region), reading.sandbox) } : {}),
            }));
      for (const { key, label } of keys)
        readings.push({ rule, key, ...(label !== undefined ? { label } : {}), identity: reading });
    }
  }
  return readings;
}

/** The key as the rule counts it: per region under `scope: "region"`, else as it is. */
function perRegion(rule: CompiledRule, key: string, region: string | undefined): string {
  return rule.perRegion ? regionalKey(key, region) : key;
}

/** The rule's counting keys (one per value of an array counted on each); a key that cannot be read and must not be guessed refuses, naming the rule. */
async function keysOf(rule: CompiledRule, sources: KeySources, credential: boolean): Promise<LabelledKey[]> {
  try {
    return await labelledCountingKeys(rule.key, sources, rule.bodyKey, credential);
  } catch (e) {
    throw e instanceof KeyRefusal ? e.forRule(rule.id) : e;
  }
}

/** Counts the request under each key (or refuses it from the refusal cache) and turns the results into the outcome. */
async function count(ctx: RequestContext, plans: KeyPlan[], limited: CompiledRule[]): Promise<LimitOutcome> {
  const startedAt = ctx.ports.clock.now();
  const cached = cachedRefusal(ctx, plans, startedAt);
  if (cached) return refuse(ctx, cached.reports, cached.refusedBy, startedAt, "cached", cached.key, cached.label);

  const results = await executePlan(plans, ctx, true);
  const { failed, closed, lateRules } = failures(results);
  if (closed) {
    rollBack(results, ctx);
    const verdicts = ctx.rules.map((rule) => ({ rule, verdict: "error_closed" as const }));
    const result = resultWithoutLimit(false, "error-closed", ctx.rules);
    const unchecked = failed.flatMap((f) =>
      f.plan.limits.filter((l) => l.rule.onError === "closed").map((l) => l.spec.name),
    );
    return observed(ctx, settledOutcome(ctx.request, result, unavailableResponse(ctx.policy, unchecked)), {
      verdicts,
      lateRules,
    });
  }
  const t = tally(results, ctx.ports.clock.now());
  if (ctx.policy.partitionKey) await addPartitionKeys(t.counted);
  const reports = t.counted.map((c) => c.report);
  if (t.refusedBy) {
    rollBack(results, ctx);
    rememberRefusal(ctx, t.refusedBy, reports, startedAt);
    return refuse(ctx, reports, t.refusedBy.report, t.now, "limit", t.refusedBy.key, t.refusedBy.label);
  }
  for (const f of failed) rememberLateRefusal(ctx, f, startedAt);
  const delayMs = Math.max(0, ...results.map((r) => (r.ok ? (r.response.delayMs ?? 0) : 0)));
  // Held until its slot (onLimit.delay): wall time from the answer, which left the object at or after its decision.
  if (delayMs > 0) {
    await waitFor(ctx, delayMs);
    // The headers go out at the slot: their seconds count from it (the results were decided for it).
    t.now += delayMs;
  }
  const result = { ...admittedResult(t, failed.length > 0, ctx.rules), ...(delayMs > 0 ? { delayedMs: delayMs } : {}) };
  const verdicts = admittedVerdicts(limited, new Set(failed.flatMap((f) => f.plan.rules)), t);
  const shadowRefusals = t.shadowRefusals.map((s) => s.report);
  return observed(ctx, admittedOutcome(ctx, t, result, failed), { verdicts, shadowRefusals, lateRules });
}

/** Waits `ms` of wall time (no CPU): the clock's own wait, or a timer. */
function waitFor(ctx: RequestContext, ms: number): Promise<void> {
  const { clock } = ctx.ports;
  if (clock.wait) return clock.wait(ms);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The refusal outcome: the contract's response (shaped by `onRefuse` when given). */
async function refuse(
  ctx: RequestContext,
  reports: LimitReport[],
  refusedBy: LimitReport,
  now: number,
  reason: "limit" | "cached",
  key?: string,
  label?: string,
): Promise<LimitOutcome> {
  const result = refusedResult(refusedBy, reason, ctx.rules);
  let response = refusalResponse(ctx.policy, reports, refusedBy, now);
  if (ctx.hooks.onRefuse) response = await ctx.hooks.onRefuse(response, result);
  const verdicts = [{ rule: refusedBy.rule, verdict: "refused" as const }];
  return observed(ctx, settledOutcome(ctx.request, result, response), {
    verdicts,
    ...(key !== undefined ? { refusal: { report: refusedBy, key, ...(label !== undefined ? { label } : {}) } } : {}),
  });
}

/** A refusal this isolate already knows about, with its retry time as of now. */
function cachedRefusal(
  ctx: Pick<RequestContext, "refusals">,
  plans: readonly KeyPlan[],
  now: number,
): { reports: LimitReport[]; refusedBy: LimitReport; key: string; label?: string } | undefined {
  for (const plan of plans) {
    const hit = ctx.refusals.find(plan.key, enforcedSpecs(plan), now);
    if (!hit) continue;
    const retryAfterMs = (hit.retryUntil ?? hit.until) - now;
    const refusedBy = { ...hit.refusedBy, result: { ...hit.refusedBy.result, retryAfterMs } };
    return {
      refusedBy,
      reports: hit.reports.map((r) => (r === hit.refusedBy ? refusedBy : r)),
      key: plan.key,
      ...(plan.label !== undefined ? { label: plan.label } : {}),
    };
  }
  return undefined;
}

/** Remembers a refusal whose room cannot come back early (see RefusalCache). */
function rememberRefusal(
  ctx: Pick<RequestContext, "refusals">,
  refusedBy: CountedLimit,
  reports: LimitReport[],
  startedAt: number,
): void {
  const { rule, spec } = refusedBy.planned;
  // A penalty ends when it ends: no release or refund can free room before it.
  const penalised = refusedBy.report.result.penaltyUntil !== undefined;
  if (rule.mode !== "enforce") return;
  // A delaying rule's room comes back for a delayed request before its retry time (and when a waiter's slot passes).
  if (rule.delay) return;
  // A settle may give room back before the retry time too.
  if (!penalised && (spec.algorithm === "concurrency" || rule.count !== "all" || rule.settle)) return;
  // The store decided at or after startedAt, so startedAt + retryAfter is never later than its own time of room.
  const until = startedAt + refusedBy.report.result.retryAfterMs;
  // A calendar window's refusal is remembered for a minute at most: a reset elsewhere must take effect here.
  const memory = spec.calendar ? Math.min(until, startedAt + CALENDAR_REFUSAL_MEMORY_MS) : until;
  ctx.refusals.remember(refusedBy.key, spec, {
    until: memory,
    ...(memory < until ? { retryUntil: until } : {}),
    reports,
    refusedBy: refusedBy.report,
  });
}

/**
 * A refusal that a late answer brings cannot stop the request that failed open: it was forwarded. It is
 * remembered like any other, so the key's next requests here are refused without a call.
 */
function rememberLateRefusal(ctx: RequestContext, failed: KeyResult, startedAt: number): void {
  if (failed.ok || !failed.late) return;
  failed.late.then(
    (response) => {
      if (response.allowed) return;
      const t = tally([{ plan: failed.plan, ok: true, response }], response.now);
      if (t.refusedBy)
        rememberRefusal(
          ctx,
          t.refusedBy,
          t.counted.map((c) => c.report),
          startedAt,
        );
    },
    () => {},
  );
}

function enforcedSpecs(plan: KeyPlan) {
  return plan.limits.filter((l) => !l.shadow).map((l) => l.spec);
}

function blocked(ctx: RequestContext, rule: CompiledRule): LimitOutcome {
  const response = jsonError(403, "Forbidden", "This client may not call this API.", {
    code: "BLOCKED",
    rule: rule.id,
  });
  return settledOutcome(ctx.original, resultWithoutLimit(false, "block", [rule.id]), response);
}

/** Gives each report the `pk` of the key it was counted under (one hash per distinct key). */
async function addPartitionKeys(counted: ReadonlyArray<{ key: string; report: LimitReport }>): Promise<void> {
  const byKey = new Map<string, Promise<string>>();
  for (const c of counted) if (!byKey.has(c.key)) byKey.set(c.key, partitionKey(c.key));
  for (const c of counted) c.report.partitionKey = await byKey.get(c.key)!;
}

/** Tells the observers, and returns the outcome. */
function observed(
  ctx: RequestContext,
  outcome: LimitOutcome,
  record: Partial<Omit<DecisionRecord, "result" | "ipKey">> = {},
): LimitOutcome {
  ctx.ports.observer.decided({
    result: outcome.result,
    verdicts: record.verdicts ?? [],
    ipKey: ctx.client.ipKey,
    shadowRefusals: record.shadowRefusals ?? [],
    ...(record.refusal ? { refusal: record.refusal } : {}),
    ...(record.lateRules && record.lateRules.length > 0 ? { lateRules: record.lateRules } : {}),
    ...(ctx.tenant !== undefined
      ? {
          tenant: ctx.tenant,
          costs: Object.fromEntries(
            ctx.policy.rules.filter((r) => ctx.rules.includes(r.id)).map((r) => [r.id, r.cost]),
          ),
        }
      : {}),
  });
  return outcome;
}
