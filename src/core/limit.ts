/**
 * The framework-free core: one call decides a request, and the outcome says
 * what to answer (a refusal, a block, a 400 or a 503), which request to
 * forward (page size rewritten), and how to finish the origin's response
 * (headers added, concurrency slots released when its body ends, failures-only
 * charges refunded when it succeeded).
 *
 * @example
 * const limiter = createLimiter();
 * const outcome = await limiter.limit(request, env, ctx);
 * if (outcome.response) return outcome.response;
 * return outcome.finish(await fetch(outcome.request));
 * @module
 */
import type { CompiledLimit, CompiledPolicy, CompiledRule } from "../config/compile";
import { type PolicyInForce, PolicyStore, policyTtlMs } from "../config/policy-store";
import { TenantCache } from "../config/tenants";
import type { CheckRequest, CheckResponse } from "../durable/rate-limiter";
import { type Env, numberVar } from "../env";
import { type BodyFields, readBodyFields } from "../http/body-fields";
import { normalizePath } from "../http/normalize-path";
import { headline, type LimitReport, rateLimitHeaders } from "../http/rate-limit-headers";
import { jsonError, refusalResponse, retryAfterSeconds } from "../http/refusal";
import type { Charge, CounterSpec } from "../limiter/types";
import { logEvent } from "../log";
import { Stats, type Verdict } from "../observability/stats";
import { onBodyEnd } from "./body-end";
import { checkCounters, releaseCharges } from "./counter-client";
import { countingKey } from "./counting-key";
import { clientIp, type Identity, resolveIdentity } from "./identity";
import { applyPageSize } from "./page-size";
import { RefusalCache } from "./refusal-cache";

/** Why a request was decided as it was (after Upstash's `RatelimitResponse.reason`). */
export type LimitReason =
  | "no-rule" // no rule applied: no limit, no headers
  | "bypass" // a bypass rule applied
  | "allowed" // every limit had room
  | "limit" // a limit refused
  | "cached" // refused from this isolate's memory of a refusal, without calling the counter store
  | "shadow" // a shadow rule would have refused; admitted
  | "block" // a block rule applied: 403
  | "page-size" // page size refused: 400
  | "error-open" // the counter store failed; admitted without headers
  | "error-closed"; // the counter store failed; 503

/** The decision in the shape of a documented result type. */
export interface RateLimitResult {
  /** The request may go on to the origin. */
  success: boolean;
  /** The headline limit (the refusing one, or the one with least room); 0 when none applied. */
  limit: number;
  remaining: number;
  /** Epoch ms when the headline limit has full room again; 0 when none applied. */
  reset: number;
  reason: LimitReason;
  /** The rules that applied, in order. */
  rules: string[];
}

export interface LimitOutcome {
  result: RateLimitResult;
  /** Answer with this instead of calling the origin (refusal, block, 400, 503). */
  response?: Response;
  /** The request to forward: the original, or a rewritten one (page size). */
  request: Request;
  /**
   * Adds the rate-limit headers to the origin's response and arranges what
   * must happen after it: slots released when its body ends, failures-only
   * charges refunded when its status is below 400. Call it exactly once.
   */
  finish(response: Response): Response;
  /** Call when the origin could not be reached: releases slots, keeps failure charges. */
  abandon(): void;
  /** What each applying rule decided, for the stats. */
  verdicts: Array<[rule: string, verdict: Verdict]>;
}

export interface LimiterOptions {
  /** A fixed policy document (already validated) instead of KV `policy`. */
  policy?: () => Promise<PolicyInForce> | PolicyInForce;
  /** A counting key of your own for a rule (e.g. a user id your app knows); `undefined` falls back to the rule's key. */
  key?: (request: Request, rule: string) => string | undefined | Promise<string | undefined>;
  /** Shape the refusal: receives the contract's 429 and may return another response. */
  onRefuse?: (response: Response, result: RateLimitResult) => Response | Promise<Response>;
}

interface Group {
  objectName: string;
  counters: CounterSpec[];
  shadow: CounterSpec[];
  rules: CompiledRule[];
}

interface Executed {
  group: Group;
  response?: CheckResponse;
  error?: unknown;
}

export interface Limiter {
  limit(request: Request, env: Env, ctx: ExecutionContext): Promise<LimitOutcome>;
  /** The KV-backed policy store of this limiter (the admin API installs into it). */
  readonly policies: PolicyStore;
  readonly tenants: TenantCache;
  readonly stats: Stats;
  readonly refusals: RefusalCache;
}

const DEFAULT_TIMEOUT_MS = 50;

export function createLimiter(options: LimiterOptions = {}): Limiter {
  const policies = new PolicyStore();
  const tenants = new TenantCache();
  const stats = new Stats();
  const refusals = new RefusalCache();
  return {
    policies,
    tenants,
    stats,
    refusals,
    async limit(request, env, ctx) {
      const inForce = options.policy ? await options.policy() : await policies.get(env);
      const outcome = await decideRequest(request, env, ctx, inForce.compiled, { tenants, refusals }, options);
      for (const [rule, verdict] of outcome.verdicts) stats.record(env, rule, verdict);
      return outcome;
    },
  };
}

function passThrough(request: Request, reason: LimitReason, rules: string[] = []): LimitOutcome {
  return {
    result: { success: true, limit: 0, remaining: 0, reset: 0, reason, rules },
    request,
    finish: (response) => response,
    abandon: () => {},
    verdicts: [],
  };
}

function answer(
  request: Request,
  response: Response,
  reason: LimitReason,
  rules: string[],
  verdict?: Verdict,
): LimitOutcome {
  return {
    result: { success: false, limit: 0, remaining: 0, reset: 0, reason, rules },
    response,
    request,
    finish: (r) => r,
    abandon: () => {},
    verdicts: verdict ? rules.map((r) => [r, verdict]) : [],
  };
}

async function decideRequest(
  original: Request,
  env: Env,
  ctx: ExecutionContext,
  policy: CompiledPolicy,
  { tenants, refusals }: { tenants: TenantCache; refusals: RefusalCache },
  options: LimiterOptions,
): Promise<LimitOutcome> {
  let url = new URL(original.url);
  const host = url.hostname.toLowerCase();
  const ip = clientIp(original.headers, policy);
  const facts = {
    method: original.method.toUpperCase(),
    path: normalizePath(url.pathname),
    host,
    headers: original.headers,
    ip: ip.ip,
  };

  // First match decides; `continue` stacks the next matching rule on top.
  const applying: CompiledRule[] = [];
  for (const rule of policy.rules) {
    if (!rule.matches(facts)) continue;
    if (rule.action === "block") {
      logEvent("request.blocked", { rule: rule.id, ip: ip.ipKey });
      return answer(
        original,
        jsonError(403, "Forbidden", "This client may not call this API.", { code: "BLOCKED", rule: rule.id }),
        "block",
        [rule.id],
        "blocked",
      );
    }
    if (rule.action === "bypass") {
      if (applying.length === 0) return passThrough(original, "bypass", [rule.id]);
      break;
    }
    applying.push(rule);
    if (!rule.continue) break;
  }
  if (applying.length === 0) return passThrough(original, "no-rule");
  const ruleIds = applying.map((r) => r.id);

  let request = original;
  for (const rule of applying) {
    if (!rule.pageSize) continue;
    const page = applyPageSize(url, rule.pageSize);
    if (page.kind === "rejected")
      return answer(
        original,
        jsonError(400, "Bad Request", page.message, { code: "INVALID_PAGE_SIZE" }),
        "page-size",
        ruleIds,
      );
    if (page.kind === "rewritten") url = page.url;
  }
  if (url.href !== original.url) request = new Request(url.href, original);

  const limited = applying.filter((r) => r.limits.length > 0);
  if (limited.length === 0) return passThrough(request, "allowed", ruleIds);

  const identity = await resolveIdentity(request, host, policy, env, tenants, policyTtlMs(env), ip);
  const groups = await groupByCountingKey(limited, request, url, identity, policy, options);

  // A refusal this isolate already knows about is answered without calling the object.
  const startedAt = Date.now();
  for (const group of groups.values()) {
    const hit = refusals.find(group.objectName, group.counters, startedAt);
    if (!hit) continue;
    const refusedBy: LimitReport = {
      ...hit.refusedBy,
      result: { ...hit.refusedBy.result, retryAfterMs: hit.until - startedAt },
    };
    const reports = hit.reports.map((r) => (r === hit.refusedBy ? refusedBy : r));
    // One line per refusal, cached or not, so the log and /stats count the same refusals.
    logEvent("request.refused", {
      rule: refusedBy.rule,
      policy: refusedBy.result.name,
      object: group.objectName,
      limit: refusedBy.result.limit,
      retryAfter: retryAfterSeconds(refusedBy.result.retryAfterMs),
      cached: true,
    });
    return refuse(request, policy, reports, refusedBy, startedAt, "cached", ruleIds, options);
  }

  const timeoutMs = numberVar(env.LIMITER_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
  const executed: Executed[] = await Promise.all(
    [...groups.values()].map(async (group): Promise<Executed> => {
      const check: CheckRequest = {
        counters: group.counters,
        ...(group.shadow.length > 0 ? { shadow: group.shadow } : {}),
      };
      try {
        return { group, response: await checkCounters(env.LIMITER, group.objectName, check, timeoutMs) };
      } catch (error) {
        return { group, error };
      }
    }),
  );

  const rollback = () => {
    for (const e of executed) {
      if (e.response?.allowed && e.response.charges.length > 0) {
        ctx.waitUntil(releaseQuietly(env, e.group.objectName, e.response.charges));
      }
    }
  };

  // The counter store failed: each rule's onError decides.
  const failed = executed.filter((e) => e.error !== undefined);
  for (const f of failed) {
    const closed = f.group.rules.find((r) => r.onError === "closed");
    logEvent(
      "limiter.error",
      {
        object: f.group.objectName,
        rules: f.group.rules.map((r) => r.id),
        onError: closed ? "closed" : "open",
        message: errorMessage(f.error),
      },
      "error",
    );
    if (closed) {
      rollback();
      return answer(
        request,
        jsonError(
          503,
          "Service Unavailable",
          "The rate limiter is unavailable. Please try again shortly.",
          { code: "RATE_LIMITER_UNAVAILABLE" },
          { "Retry-After": "1" },
        ),
        "error-closed",
        ruleIds,
        "error_closed",
      );
    }
  }

  const now = Math.max(0, ...executed.map((e) => e.response?.now ?? 0)) || Date.now();
  const reports: LimitReport[] = [];
  const shadowRefusals: LimitReport[] = [];
  let refusedBy: LimitReport | undefined;
  for (const e of executed) {
    if (!e.response) continue;
    const byName = new Map([...e.response.results, ...e.response.shadowResults].map((r) => [r.name, r]));
    for (const rule of e.group.rules) {
      for (const l of rule.limits) {
        const result = byName.get(l.name);
        if (!result) continue;
        const spec = [...e.group.counters, ...e.group.shadow].find((c) => c.name === l.name);
        const report: LimitReport = {
          result,
          concurrency: l.algorithm === "concurrency",
          windowSeconds: advertisedWindow(l.windowMs, spec),
          windowWords: l.windowWords,
          rule: rule.id,
        };
        reports.push(report);
        if (!result.allowed) {
          if (rule.mode === "shadow") shadowRefusals.push(report);
          else refusedBy ??= report;
        }
      }
    }
  }

  if (refusedBy) {
    rollback();
    rememberRefusal(refusals, executed, refusedBy, reports, startedAt);
    logEvent("request.refused", {
      rule: refusedBy.rule,
      policy: refusedBy.result.name,
      object: keyOf(executed, refusedBy),
      limit: refusedBy.result.limit,
      retryAfter: retryAfterSeconds(refusedBy.result.retryAfterMs),
    });
    return refuse(request, policy, reports, refusedBy, now, "limit", ruleIds, options);
  }

  for (const s of shadowRefusals) {
    logEvent(
      "request.shadow_refused",
      {
        rule: s.rule,
        policy: s.result.name,
        limit: s.result.limit,
        retryAfter: retryAfterSeconds(s.result.retryAfterMs),
      },
      "warn",
    );
  }
  const head = headline(reports);
  const result: RateLimitResult = {
    success: true,
    limit: head?.result.limit ?? 0,
    remaining: head?.result.remaining ?? 0,
    reset: head?.result.resetAt ?? 0,
    reason: failed.length > 0 ? "error-open" : shadowRefusals.length > 0 ? "shadow" : "allowed",
    rules: ruleIds,
  };
  const verdicts: Array<[string, Verdict]> = limited.map((r) => [
    r.id,
    failed.some((f) => f.group.rules.includes(r))
      ? "error_open"
      : shadowRefusals.some((s) => s.rule === r.id)
        ? "shadow_refused"
        : "admitted",
  ]);
  return admitted(request, env, ctx, policy, executed, reports, now, result, verdicts);
}

/** The refusal outcome: the contract's response (shaped by `onRefuse` when given). */
async function refuse(
  request: Request,
  policy: CompiledPolicy,
  reports: LimitReport[],
  refusedBy: LimitReport,
  now: number,
  reason: "limit" | "cached",
  rules: string[],
  options: LimiterOptions,
): Promise<LimitOutcome> {
  const result: RateLimitResult = {
    success: false,
    limit: refusedBy.result.limit,
    remaining: refusedBy.result.remaining,
    reset: refusedBy.result.resetAt,
    reason,
    rules,
  };
  let response = refusalResponse(policy, reports, refusedBy, now);
  if (options.onRefuse) response = await options.onRefuse(response, result);
  return { result, response, request, finish: (r) => r, abandon: () => {}, verdicts: [[refusedBy.rule, "refused"]] };
}

/** Remembers a refusal whose room cannot come back early (see RefusalCache). */
function rememberRefusal(
  refusals: RefusalCache,
  executed: Executed[],
  refusedBy: LimitReport,
  reports: LimitReport[],
  startedAt: number,
): void {
  if (refusedBy.concurrency) return;
  for (const e of executed) {
    const rule = e.group.rules.find((r) => r.id === refusedBy.rule);
    if (rule?.count !== "all" || rule.mode !== "enforce") continue;
    const spec = e.group.counters.find((c) => c.name === refusedBy.result.name);
    // The object decided at or after startedAt, so startedAt + retryAfter is never later than its own time of room.
    if (spec)
      refusals.remember(e.group.objectName, spec, {
        until: startedAt + refusedBy.result.retryAfterMs,
        reports,
        refusedBy,
      });
  }
}

async function groupByCountingKey(
  rules: CompiledRule[],
  request: Request,
  url: URL,
  identity: Identity,
  policy: CompiledPolicy,
  options: LimiterOptions,
): Promise<Map<string, Group>> {
  let bodyRead: Promise<BodyFields | undefined> | undefined;
  const sources = {
    identity,
    url,
    headers: request.headers,
    body: () => (bodyRead ??= readBodyFields(request)),
  };
  const multiplier = identity.sandbox ? policy.sandboxMultiplier : 1;
  const groups = new Map<string, Group>();
  for (const rule of rules) {
    const custom = options.key ? await options.key(request, rule.id) : undefined;
    const objectName = custom !== undefined ? `custom:${custom}` : await countingKey(rule.key, sources);
    let group = groups.get(objectName);
    if (!group) {
      group = { objectName, counters: [], shadow: [], rules: [] };
      groups.set(objectName, group);
    }
    group.rules.push(rule);
    for (const l of rule.limits)
      (rule.mode === "shadow" ? group.shadow : group.counters).push(
        counterSpec(l, rule.cost, identity.tier, multiplier),
      );
  }
  return groups;
}

/**
 * The `w` of a limit's `ietf` item. A token bucket advertises its burst as `q`,
 * so its `w` is the time that burst takes to refill: `q` per `w` is then its rate.
 */
function advertisedWindow(windowMs: number, spec: CounterSpec | undefined): number | undefined {
  if (!spec || spec.algorithm === "concurrency") return undefined;
  if (spec.algorithm !== "token-bucket") return windowMs / 1000;
  const burst = spec.burst ?? spec.limit;
  return Math.max(1, Math.ceil((burst * windowMs) / spec.limit / 1000));
}

/** What the counter store checks for one limit: the numbers of this tier, with the sandbox multiplier. */
export function counterSpec(l: CompiledLimit, cost: number, tier: string, multiplier: number): CounterSpec {
  return {
    name: l.name,
    algorithm: l.algorithm,
    limit: scaled(l.limitFor(tier), multiplier),
    windowMs: l.windowMs,
    cost,
    ...(l.burst !== undefined ? { burst: scaled(l.burst, multiplier) } : {}),
  };
}

/** The sandbox multiplier applied: rounded down, at least 1. */
export function scaled(limit: number, multiplier: number): number {
  return Math.max(1, Math.floor(limit * multiplier));
}

function admitted(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  policy: CompiledPolicy,
  executed: Executed[],
  reports: LimitReport[],
  now: number,
  result: RateLimitResult,
  verdicts: Array<[string, Verdict]>,
): LimitOutcome {
  const failureCounters = new Set<string>();
  for (const e of executed)
    for (const r of e.group.rules) if (r.count === "failures") for (const l of r.limits) failureCounters.add(l.name);

  let settled = false;
  // What each object must get back once the response is known: every slot, and failures-only charges when it succeeded.
  const giveBack = (status: number | undefined) => {
    const perObject: Array<[string, Charge[]]> = [];
    for (const e of executed) {
      if (!e.response) continue;
      const charges = e.response.charges.filter(
        (c) => c.algorithm === "concurrency" || (status !== undefined && status < 400 && failureCounters.has(c.name)),
      );
      if (charges.length > 0) perObject.push([e.group.objectName, charges]);
    }
    return perObject;
  };
  const settle = (status: number | undefined) => {
    if (settled) return;
    settled = true;
    for (const [objectName, charges] of giveBack(status)) ctx.waitUntil(releaseQuietly(env, objectName, charges));
  };

  return {
    result,
    request,
    verdicts,
    abandon: () => settle(undefined),
    finish(response) {
      const succeeded = response.status < 400;
      // A success does not use a failures-only limit up: show the room it leaves.
      const shown = succeeded
        ? reports.map((r) =>
            failureCounters.has(r.result.name)
              ? {
                  ...r,
                  result: {
                    ...r.result,
                    remaining: Math.min(r.result.limit, r.result.remaining + costOf(executed, r.result.name)),
                  },
                }
              : r,
          )
        : reports;
      const headers = new Headers(response.headers);
      for (const [name, value] of rateLimitHeaders(policy, shown, now)) headers.set(name, value);
      if (response.webSocket) {
        // An accepted WebSocket upgrade (101): its slot is not held for the socket's life.
        settle(response.status);
        return new Response(null, { status: 101, headers, webSocket: response.webSocket });
      }
      const holdsSlot = executed.some((e) => e.response?.charges.some((c) => c.algorithm === "concurrency"));
      if (!holdsSlot || !response.body) {
        settle(response.status);
        return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
      }
      // Slots come back when the body has been sent (or failed), not when fetch resolved.
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      ctx.waitUntil(released);
      const body = onBodyEnd(response.body, () => {
        settle(response.status);
        release();
      });
      return new Response(body, { status: response.status, statusText: response.statusText, headers });
    },
  };
}

function costOf(executed: Executed[], name: string): number {
  for (const e of executed) for (const c of e.response?.charges ?? []) if (c.name === name) return c.cost;
  return 0;
}

function keyOf(executed: Executed[], report: LimitReport): string {
  return executed.find((e) => e.group.rules.some((r) => r.id === report.rule))?.group.objectName ?? "";
}

async function releaseQuietly(env: Env, objectName: string, charges: Charge[]): Promise<void> {
  try {
    await releaseCharges(env.LIMITER, objectName, charges);
  } catch (e) {
    // A lost release costs at most a slot until its lease runs out (60 s).
    logEvent("limiter.release_failed", { object: objectName, message: errorMessage(e) }, "warn");
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
