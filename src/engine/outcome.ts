/**
 * What the engine answers for a request, and the options a limiter takes:
 * the public result types of `createLimiter()` and the middlewares.
 * @module
 */
import type { PolicyInForce } from "../policy/in-force";

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
  | "key-refused" // the rule's key could not be read unambiguously (body, credentials, client IP): 400 or 413
  | "error-open" // the counter store failed; admitted without headers
  | "error-closed"; // the counter store failed; 503

/**
 * The decision in the shape of Upstash's `RatelimitResponse`: what
 * `limit(key, { rule })` returns, and `outcome.result` of a request.
 */
export interface RateLimitResult {
  /** Admitted: the request may go on (the work may be done). `false`: refused, blocked or failed closed. */
  success: boolean;
  /** The headline limit (the refusing one, or the one with least room) in units per window; 0 when none applied. */
  limit: number;
  /** Units left in the headline limit after this decision (a refusal charges nothing); 0 when none applied. */
  remaining: number;
  /** Epoch milliseconds (like `Date.now()`) when the headline limit has full room again; 0 when none applied. */
  reset: number;
  /** Why it was decided so: see {@link LimitReason}. */
  reason: LimitReason;
  /** The ids of the rules that applied, in order. */
  rules: string[];
  /**
   * Admitted after waiting this many ms for its slot (a rule's `onLimit.delay`): the limit
   * was used up, and the request was held until its room came back. Absent: not held.
   */
  delayedMs?: number;
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
}

/** The hooks a limiter's user may give the engine. */
export interface EngineHooks {
  /** A counting key of your own for a rule (e.g. a user id your app knows); `undefined` falls back to the rule's key. */
  key?: (request: Request, rule: string) => string | undefined | Promise<string | undefined>;
  /** Shape the refusal: receives the contract's 429 and may return another response. */
  onRefuse?: (response: Response, result: RateLimitResult) => Response | Promise<Response>;
}

export interface LimiterOptions extends EngineHooks {
  /** A fixed policy document (already validated) instead of KV `policy`. */
  policy?: () => Promise<PolicyInForce> | PolicyInForce;
}

/** An outcome with nothing to finish: no rule, a bypass, or a response that replaces the origin's. */
export function settledOutcome(request: Request, result: RateLimitResult, response?: Response): LimitOutcome {
  return { result, request, ...(response ? { response } : {}), finish: (r) => r, abandon: () => {} };
}

/** A result that names no limit (nothing counted, or the answer is not a limit's). */
export function resultWithoutLimit(success: boolean, reason: LimitReason, rules: string[]): RateLimitResult {
  return { success, limit: 0, remaining: 0, reset: 0, reason, rules };
}
