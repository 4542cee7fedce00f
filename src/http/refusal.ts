/**
 * The refusal a client sees (contract section 5): the configured status and
 * body with its `{{placeholders}}` filled in, `Retry-After`, the header
 * families and `Cache-Control: no-store`.
 * @module
 */
import type { CompiledPolicy } from "../policy/compile";
import { type LimitReport, rateLimitHeaders } from "./rate-limit-headers";

export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

export function refusalResponse(
  policy: CompiledPolicy,
  reports: readonly LimitReport[],
  refusedBy: LimitReport,
  now: number,
): Response {
  const retryAfter = retryAfterSeconds(refusedBy.result.retryAfterMs);
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
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify(fillTemplate(policy.response.body, values)), {
    status: policy.response.status,
    headers,
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
