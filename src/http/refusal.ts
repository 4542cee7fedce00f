/**
 * The refusal a client sees (contract section 5): the configured status and
 * body with its `{{placeholders}}` filled in (or RFC 9457 problem details with
 * `response.format: "problem"`), `Retry-After`, the header families and
 * `Cache-Control: no-store`.
 * @module
 */
import type { CompiledPolicy } from "../policy/compile";
import { type LimitReport, rateLimitHeaders, secondsUntil } from "./rate-limit-headers";

/** The problem types of draft-ietf-httpapi-ratelimit-headers (section "Problem Types"). */
export const QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded";
export const TEMPORARY_REDUCED_CAPACITY = "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity";
export const PROBLEM_JSON = "application/problem+json";

export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/**
 * `Retry-After` of a refusal by `refusedBy`, in whole seconds (at least 1). A fixed window's room comes
 * back only at its end, so its `Retry-After` is never earlier than the reset its `RateLimit` item's `t`
 * states (the draft: Retry-After SHOULD NOT reference a point in time earlier than the reset), even when
 * the refusal was measured from an earlier clock (the isolate's refusal cache counts from when the
 * request was sent to the object, a few ms before the object's own time).
 */
export function refusalRetryAfter(refusedBy: LimitReport, now: number): number {
  const seconds = retryAfterSeconds(refusedBy.result.retryAfterMs);
  if (refusedBy.algorithm !== "fixed") return seconds;
  return Math.max(seconds, secondsUntil(refusedBy.result.resetAt, now));
}

/** The names of the enforced limits that refused (the draft's `violated-policies`), the refusing one first. */
function violatedPolicies(policy: CompiledPolicy, reports: readonly LimitReport[], refusedBy: LimitReport): string[] {
  const shadow = new Set(policy.rules.filter((r) => r.mode === "shadow").map((r) => r.id));
  const names = [refusedBy.result.name];
  for (const r of reports)
    if (!r.result.allowed && !shadow.has(r.rule) && !names.includes(r.result.name)) names.push(r.result.name);
  return names;
}

export function refusalResponse(
  policy: CompiledPolicy,
  reports: readonly LimitReport[],
  refusedBy: LimitReport,
  now: number,
): Response {
  const retryAfter = refusalRetryAfter(refusedBy, now);
  const values: Record<string, number | string> = {
    retry_after: retryAfter,
    limit: refusedBy.result.limit,
    remaining: refusedBy.result.remaining,
    reset: Math.ceil(refusedBy.result.resetAt / 1000),
    window: refusedBy.windowWords,
    policy: refusedBy.result.name,
    rule: refusedBy.rule,
  };
  const headers = new Headers(rateLimitHeaders(policy, reports, now));
  headers.set("Retry-After", String(retryAfter));
  headers.set("Cache-Control", "no-store");
  const { status, format, body } = policy.response;
  if (format === "problem") {
    headers.set("Content-Type", PROBLEM_JSON);
    const problem = {
      type: QUOTA_EXCEEDED,
      title: "Request cannot be satisfied as assigned quota has been exceeded",
      status,
      detail: `The quota "${refusedBy.result.name}" (${refusedBy.result.limit} per ${refusedBy.windowWords}) has been exceeded. Retry after ${retryAfter} s.`,
      ...(fillTemplate(body ?? {}, values) as Record<string, unknown>),
      "violated-policies": violatedPolicies(policy, reports, refusedBy),
    };
    return new Response(JSON.stringify(problem), { status, headers });
  }
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify(fillTemplate(body, values)), { status, headers });
}

/**
 * The 503 of a rule with `onError: "closed"` whose counter store failed: sluice's JSON, or with
 * `response.format: "problem"` the draft's `temporary-reduced-capacity` problem naming the limits that
 * could not be checked. `Retry-After: 1` either way.
 */
export function unavailableResponse(policy: CompiledPolicy, unchecked: readonly string[]): Response {
  const message = "The rate limiter is unavailable. Please try again shortly.";
  if (policy.response.format !== "problem")
    return jsonError(503, "Service Unavailable", message, { code: "RATE_LIMITER_UNAVAILABLE" }, { "Retry-After": "1" });
  const problem = {
    type: TEMPORARY_REDUCED_CAPACITY,
    title: "Request cannot be satisfied due to temporary server capacity constraints",
    status: 503,
    detail: message,
    "violated-policies": [...new Set(unchecked)],
  };
  return new Response(JSON.stringify(problem), {
    status: 503,
    headers: { "Content-Type": PROBLEM_JSON, "Cache-Control": "no-store", "Retry-After": "1" },
  });
}

const WHOLE = /^\{\{\s*([a-z_]+)\s*\}\}$/;
const ANY = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** Fills `{{name}}`: a string that is only a placeholder becomes the value itself (a JSON number for numbers). */
export function fillTemplate(template: unknown, values: Record<string, number | string>): unknown {
  if (typeof template === "string") {
    const whole = WHOLE.exec(template);
    if (whole && whole[1]! in values) return values[whole[1]!];
    return template.replace(ANY, (all, name: string) => (name in values ? String(values[name]) : all));
  }
  if (Array.isArray(template)) return template.map((t) => fillTemplate(t, values));
  if (template !== null && typeof template === "object") {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, values)]));
  }
  return template;
}

export function jsonError(
  status: number,
  error: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const h = new Headers(headers);
  h.set("Content-Type", "application/json");
  h.set("Cache-Control", "no-store");
  return new Response(JSON.stringify({ success: false, error, message, ...extra }), { status, headers: h });
}
