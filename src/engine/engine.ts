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
import type { LimitReport } from "../http/rate-limit-headers";
import { jsonError, refusalResponse } from "../http/refusal";
import { logEvent } from "../log";
import type { CompiledRule } from "../policy/compile";
import { normalizePath } from "../policy/normalize-path";
import { RoundTrips } from "./budget";
import type { EnginePorts, EngineSettings, RequestContext } from "./context";
import { countingKey, customCountingKey, type KeySources, scoped } from "./counting-key";
import { executePlan, failures, type KeyResult, rollBack } from "./execute";
import { admittedOutcome } from "./finish";
import { clientIp, type Identity, resolveIdentity } from "./identity";
import { type EngineHooks, type LimitOutcome, resultWithoutLimit, settledOutcome } from "./outcome";
import { type KeyPlan, matchRules, planCounters, plannedPageSize, type RuleReading } from "./plan";
import type { DecisionRecord } from "./ports";
import { RefusalCache } from "./refusal-cache";
import { admittedResult, admittedVerdicts, type CountedLimit, refusedResult, tally } from "./verdict";

export interface Engine {
  decide(request: Request, ports: EnginePorts, settings: EngineSettings): Promise<LimitOutcome>;
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
  };
}

async function decideRequest(ctx: RequestContext): Promise<LimitOutcome> {
  const { policy, url, original } = ctx;
  const host = url.hostname.toLowerCase();
  const facts = { method: original.method.toUpperCase(), path: normalizePath(url.pathname), host };
  const match = matchRules(policy, { ...facts, headers: original.headers, ip: ctx.client.ip });
  if (match.kind === "none") return settle(ctx, settledOutcome(original, resultWithoutLimit(true, "no-rule", [])));
  if (match.kind === "bypass")
    return settle(ctx, settledOutcome(original, resultWithoutLimit(true, "bypass", [match.rule.id])));
  if (match.kind === "block")
    return settle(ctx, blocked(ctx, match.rule), { verdicts: [{ rule: match.rule.id, verdict: "blocked" }] });
  ctx.rules = match.rules.map((r) => r.id);

  const page = plannedPageSize(url, match.rules);
  if ("rejected" in page) {
    const response = jsonError(400, "Bad Request", page.rejected, { code: "INVALID_PAGE_SIZE" });
    return settle(ctx, settledOutcome(original, resultWithoutLimit(false, "page-size", ctx.rules), response));
  }
  if (page.url.href !== original.url) {
    ctx.url = page.url;
    ctx.request = new Request(page.url.href, original);
  }
  const limited = match.rules.filter((r) => r.limits.length > 0);
  if (limited.length === 0)
    return settle(ctx, settledOutcome(ctx.request, resultWithoutLimit(true, "allowed", ctx.rules)));
  let plans: KeyPlan[];
  try {
    plans = planCounters(
      await ruleReadings(ctx, limited, await resolveIdentity(ctx, host)),
      policy,
      ctx.ports.clock.now(),
    );
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
  return settle(ctx, settledOutcome(ctx.original, result, refusal.response()), { verdicts });
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
): Promise<RuleReading[]> {
  const bodies = new Map<number, Promise<BodyRead>>();
  const body = (maxBytes: number) => {
    let read = bodies.get(maxBytes);
    if (!read) {
      read = readBody(ctx.request, maxBytes);
      bodies.set(maxBytes, read);
    }
    return read;
  };
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
      const key =
        custom !== undefined ? customCountingKey(custom) : scoped(await keyOf(rule, sources), reading.sandbox);
      readings.push({ rule, key, identity: reading });
    }
  }
  return readings;
}

/** The rule's counting key; a key that cannot be read and must not be guessed refuses, naming the rule. */
async function keyOf(rule: CompiledRule, sources: KeySources): Promise<string> {
  try {
    return await countingKey(rule.key, sources, rule.bodyKey);
  } catch (e) {
    throw e instanceof KeyRefusal ? e.forRule(rule.id) : e;
  }
}

/** Counts the request under each key (or refuses it from the refusal cache) and turns the results into the outcome. */
async function count(ctx: RequestContext, plans: KeyPlan[], limited: CompiledRule[]): Promise<LimitOutcome> {
  const startedAt = ctx.ports.clock.now();
  const cached = cachedRefusal(ctx, plans, startedAt);
  if (cached) return refuse(ctx, cached.reports, cached.refusedBy, startedAt, "cached", cached.key);

  const results = await executePlan(plans, ctx);
  const { failed, closed, lateRules } = failures(results);
  if (closed) {
    rollBack(results, ctx);
    const verdicts = ctx.rules.map((rule) => ({ rule, verdict: "error_closed" as const }));
    const result = resultWithoutLimit(false, "error-closed", ctx.rules);
    return settle(ctx, settledOutcome(ctx.request, result, unavailable()), { verdicts, lateRules });
  }
  const t = tally(results, ctx.ports.clock.now());
  const reports = t.counted.map((c) => c.report);
  if (t.refusedBy) {
    rollBack(results, ctx);
    rememberRefusal(ctx, t.refusedBy, reports, startedAt);
    return refuse(ctx, reports, t.refusedBy.report, t.now, "limit", t.refusedBy.key);
  }
  for (const f of failed) rememberLateRefusal(ctx, f, startedAt);
  const result = admittedResult(t, failed.length > 0, ctx.rules);
  const verdicts = admittedVerdicts(limited, new Set(failed.flatMap((f) => f.plan.rules)), t);
  const shadowRefusals = t.shadowRefusals.map((s) => s.report);
  return settle(ctx, admittedOutcome(ctx, t, result, failed), { verdicts, shadowRefusals, lateRules });
}

/** The refusal outcome: the contract's response (shaped by `onRefuse` when given). */
async function refuse(
  ctx: RequestContext,
  reports: LimitReport[],
  refusedBy: LimitReport,
  now: number,
  reason: "limit" | "cached",
  key?: string,
): Promise<LimitOutcome> {
  const result = refusedResult(refusedBy, reason, ctx.rules);
  let response = refusalResponse(ctx.policy, reports, refusedBy, now);
  if (ctx.hooks.onRefuse) response = await ctx.hooks.onRefuse(response, result);
  const verdicts = [{ rule: refusedBy.rule, verdict: "refused" as const }];
  return settle(ctx, settledOutcome(ctx.request, result, response), {
    verdicts,
    ...(key !== undefined ? { refusal: { report: refusedBy, key } } : {}),
  });
}

/** A refusal this isolate already knows about, with its retry time as of now. */
function cachedRefusal(
  ctx: RequestContext,
  plans: readonly KeyPlan[],
  now: number,
): { reports: LimitReport[]; refusedBy: LimitReport; key: string } | undefined {
  for (const plan of plans) {
    const hit = ctx.refusals.find(plan.key, enforcedSpecs(plan), now);
    if (!hit) continue;
    const refusedBy = { ...hit.refusedBy, result: { ...hit.refusedBy.result, retryAfterMs: hit.until - now } };
    return { refusedBy, reports: hit.reports.map((r) => (r === hit.refusedBy ? refusedBy : r)), key: plan.key };
  }
  return undefined;
}

/** Remembers a refusal whose room cannot come back early (see RefusalCache). */
function rememberRefusal(
  ctx: RequestContext,
  refusedBy: CountedLimit,
  reports: LimitReport[],
  startedAt: number,
): void {
  const { rule, spec } = refusedBy.planned;
  // A penalty ends when it ends: no release or refund can free room before it.
  const penalised = refusedBy.report.result.penaltyUntil !== undefined;
  if (rule.mode !== "enforce") return;
  if (!penalised && (spec.algorithm === "concurrency" || rule.count !== "all")) return;
  // The store decided at or after startedAt, so startedAt + retryAfter is never later than its own time of room.
  const until = startedAt + refusedBy.report.result.retryAfterMs;
  ctx.refusals.remember(refusedBy.key, spec, { until, reports, refusedBy: refusedBy.report });
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
  return plan.limits.filter((l) => l.rule.mode !== "shadow").map((l) => l.spec);
}

function blocked(ctx: RequestContext, rule: CompiledRule): LimitOutcome {
  const response = jsonError(403, "Forbidden", "This client may not call this API.", {
    code: "BLOCKED",
    rule: rule.id,
  });
  return settledOutcome(ctx.original, resultWithoutLimit(false, "block", [rule.id]), response);
}

function unavailable(): Response {
  return jsonError(
    503,
    "Service Unavailable",
    "The rate limiter is unavailable. Please try again shortly.",
    { code: "RATE_LIMITER_UNAVAILABLE" },
    { "Retry-After": "1" },
  );
}

/** Tells the observers, and returns the outcome. */
function settle(
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
  });
  return outcome;
}
