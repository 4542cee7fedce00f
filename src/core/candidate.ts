/**
 * The candidate policy in shadow: for every request, after the live policy
 * has answered, the candidate document is evaluated as if it were in force,
 * in `ctx.waitUntil` so the live path waits for none of it.
 *
 * Its counters are its own (objects named `candidate:<candidate id>:<key>`),
 * so it never charges a live counter and each candidate document starts
 * afresh. Its decisions never refuse anything; they are counted per rule,
 * exactly as the live policy counts its own (`admitted`, `refused`,
 * `shadow_refused`, ...), so the two can be compared rule by rule.
 *
 * Where it must differ from being live: a concurrency slot is given back as
 * soon as it is taken (the candidate learns of the request only when it is
 * over); failures-only charges are given back when the live response was
 * under 400, or when the live policy refused the request (the origin's
 * answer is then unknown); a request the live policy refused never reached
 * the origin, but the candidate counts it as if it had been admitted.
 * @module
 */
import { type Candidate, CandidateStore } from "../config/candidate-store";
import type { CompiledRule } from "../config/compile";
import { policyTtlMs } from "../config/policy-store";
import type { TenantCache } from "../config/tenants";
import type { CheckResponse } from "../durable/rate-limiter";
import { type Env, numberVar } from "../env";
import { type BodyFields, readBodyFields } from "../http/body-fields";
import { normalizePath } from "../http/normalize-path";
import type { Charge } from "../limiter/types";
import { logEvent } from "../log";
import { type MinuteStats, Stats, type Verdict } from "../observability/stats";
import { checkCounters, releaseCharges } from "./counter-client";
import { clientIp, resolveIdentity } from "./identity";
import { type Group, groupByCountingKey, type LimiterOptions, type LimitOutcome } from "./limit";
import { applyPageSize } from "./page-size";

/** A candidate's calls run after the response: they can wait longer than the live budget. */
const CANDIDATE_TIMEOUT_MS = 1000;

/** How a live request ended, as the candidate needs it: a status, or unknown (refused by the live policy). */
type LiveEnd = number | undefined;

export function candidateObjectName(candidate: Candidate, objectName: string): string {
  return `candidate:${candidate.id}:${objectName}`;
}

export interface CandidateStats {
  /** The candidate these counts are of. */
  id: string;
  minutes: MinuteStats[];
}

export class CandidateShadow {
  readonly store = new CandidateStore();
  private stats = new Stats("candidate:");
  private statsOf: string | null = null;

  constructor(
    private readonly tenants: TenantCache,
    private readonly options: LimiterOptions,
  ) {}

  /** Per-rule counts of the current candidate in this isolate; undefined when none has been evaluated. */
  snapshot(): CandidateStats | undefined {
    return this.statsOf === null ? undefined : { id: this.statsOf, minutes: this.stats.snapshot() };
  }

  /**
   * Arranges the candidate's evaluation of this request once the live outcome
   * is known: at once for a live refusal, else when `finish` or `abandon` is
   * called. Returns the outcome to use in place of the live one.
   */
  attach(request: Request, env: Env, ctx: ExecutionContext, outcome: LimitOutcome): LimitOutcome {
    if (typeof ctx?.waitUntil !== "function") return outcome;
    // A body key must be read before the origin takes the body; only when the candidate known here needs it.
    const body = this.store.peek()?.compiled.readsBody ? readBodyFields(request).catch(() => undefined) : undefined;
    let started = false;
    const start = (end: LiveEnd) => {
      if (started) return;
      started = true;
      ctx.waitUntil(
        this.run(request, env, end, body).catch((e) =>
          logEvent("candidate.failed", { message: e instanceof Error ? e.message : String(e) }, "warn"),
        ),
      );
    };
    if (outcome.response) {
      start(undefined);
      return outcome;
    }
    return {
      ...outcome,
      finish(response) {
        const finished = outcome.finish(response);
        start(response.status);
        return finished;
      },
      abandon() {
        outcome.abandon();
        // The origin could not be reached: the live policy keeps failures-only charges, and so does the candidate.
        start(502);
      },
    };
  }

  private async run(
    request: Request,
    env: Env,
    end: LiveEnd,
    body: Promise<BodyFields | undefined> | undefined,
  ): Promise<void> {
    const candidate = await this.store.get(env);
    if (!candidate) return;
    const verdicts = await evaluateCandidate(candidate, request, env, this.tenants, this.options, end, body);
    if (this.statsOf !== candidate.id) {
      this.stats = new Stats("candidate:");
      this.statsOf = candidate.id;
    }
    for (const [rule, verdict] of verdicts) this.stats.record(env, rule, verdict);
  }
}

/** The candidate's decision on one request, charged to its own counters: what each rule would have said. */
export async function evaluateCandidate(
  candidate: Candidate,
  request: Request,
  env: Env,
  tenants: TenantCache,
  options: LimiterOptions,
  end: LiveEnd,
  body?: Promise<BodyFields | undefined>,
): Promise<Array<[rule: string, verdict: Verdict]>> {
  const policy = candidate.compiled;
  let url = new URL(request.url);
  const host = url.hostname.toLowerCase();
  const ip = clientIp(request.headers, policy);
  const facts = {
    method: request.method.toUpperCase(),
    path: normalizePath(url.pathname),
    host,
    headers: request.headers,
    ip: ip.ip,
  };
  const applying: CompiledRule[] = [];
  for (const rule of policy.rules) {
    if (!rule.matches(facts)) continue;
    if (rule.action === "block") return [[rule.id, "blocked"]];
    if (rule.action === "bypass") {
      if (applying.length === 0) return [];
      break;
    }
    applying.push(rule);
    if (!rule.continue) break;
  }
  for (const rule of applying) {
    if (!rule.pageSize) continue;
    const page = applyPageSize(url, rule.pageSize);
    if (page.kind === "rejected") return []; // a 400, not a rate limit
    if (page.kind === "rewritten") url = page.url;
  }
  const limited = applying.filter((r) => r.limits.length > 0);
  if (limited.length === 0) return [];

  const identity = await resolveIdentity(request, host, policy, env, tenants, policyTtlMs(env), ip);
  const groups = await groupByCountingKey(limited, request, url, identity, policy, options, body);
  const timeoutMs = Math.max(CANDIDATE_TIMEOUT_MS, numberVar(env.LIMITER_TIMEOUT_MS, 0));
  const executed = await Promise.all(
    [...groups.values()].map(async (group) => {
      const objectName = candidateObjectName(candidate, group.objectName);
      try {
        const response = await checkCounters(
          env.LIMITER,
          objectName,
          {
            counters: group.counters,
            ...(group.shadow.length > 0 ? { shadow: group.shadow } : {}),
            ...(group.penalties.length > 0 ? { penalties: group.penalties } : {}),
          },
          timeoutMs,
        );
        return { group, objectName, response };
      } catch {
        return { group, objectName, response: undefined };
      }
    }),
  );

  const failed = executed.filter((e) => e.response === undefined);
  if (failed.some((f) => f.group.rules.some((r) => r.onError === "closed"))) {
    await giveBackAll(env, executed, () => true);
    return applying.map((r) => [r.id, "error_closed"]);
  }

  const refusedRule = firstRefusal(executed);
  if (refusedRule !== undefined) {
    await giveBackAll(env, executed, () => true);
    return [[refusedRule, "refused"]];
  }

  const failureCounters = new Set<string>();
  for (const e of executed)
    for (const r of e.group.rules) if (r.count === "failures") for (const l of r.limits) failureCounters.add(l.name);
  const succeeded = end === undefined || end < 400;
  await giveBackAll(env, executed, (c) => c.algorithm === "concurrency" || (succeeded && failureCounters.has(c.name)));
  return limited.map((r) => [
    r.id,
    failed.some((f) => f.group.rules.includes(r))
      ? "error_open"
      : shadowRefused(executed, r)
        ? "shadow_refused"
        : "admitted",
  ]);
}

interface Executed {
  group: Group;
  objectName: string;
  response: CheckResponse | undefined;
}

/** The rule that refuses, in the order the live policy picks it: groups, their rules, their limits. */
function firstRefusal(executed: Executed[]): string | undefined {
  for (const e of executed) {
    if (!e.response) continue;
    const refused = new Set(e.response.results.filter((r) => !r.allowed).map((r) => r.name));
    for (const rule of e.group.rules) {
      if (rule.mode !== "enforce") continue;
      if (rule.limits.some((l) => refused.has(l.name))) return rule.id;
    }
  }
  return undefined;
}

function shadowRefused(executed: Executed[], rule: CompiledRule): boolean {
  if (rule.mode !== "shadow") return false;
  const names = new Set(rule.limits.map((l) => l.name));
  return executed.some((e) => e.response?.shadowResults.some((r) => names.has(r.name) && !r.allowed));
}

async function giveBackAll(env: Env, executed: Executed[], which: (c: Charge) => boolean): Promise<void> {
  await Promise.all(
    executed.map(async (e) => {
      const charges = e.response?.allowed ? e.response.charges.filter(which) : [];
      if (charges.length === 0) return;
      try {
        await releaseCharges(env.LIMITER, e.objectName, charges);
      } catch (err) {
        logEvent("candidate.release_failed", { object: e.objectName, message: (err as Error).message }, "warn");
      }
    }),
  );
}
