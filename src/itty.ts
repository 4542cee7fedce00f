/**
 * `sluice/itty`: the limiter for an itty-router Worker, without Hono.
 *
 * The root entry (`sluice`) adds the Hono middleware, which imports `hono`;
 * this entry imports nothing outside the package but `zod`, so a Worker that
 * does not use Hono need not install it. Importing it builds nothing and
 * changes nothing global: a limiter exists once you call `createLimiter()` or
 * a middleware factory.
 *
 * @example
 * // wrangler.toml: a LIMITER Durable Object binding (class RateLimiter) and a POLICIES KV binding.
 * import { AutoRouter } from "itty-router";
 * import { ittyRateLimit, RateLimiter } from "sluice/itty";
 * export { RateLimiter };
 * const limit = ittyRateLimit();
 * export default AutoRouter({ before: [limit.before], finally: [limit.finally] });
 * @module
 */

/** @deprecated The old name of {@link SluiceLimiter}, kept for existing imports. */
export type { LimitKeyOptions, SluiceLimiter, SluiceLimiter as Limiter } from "./adapters/workers/limiter";
export { createLimiter } from "./adapters/workers/limiter";
export { PolicyWriter } from "./durable/policy-writer";
export { RateLimiter } from "./durable/rate-limiter";
export { KeyCallError } from "./engine/engine";
export type { LimiterOptions, LimitOutcome, LimitReason, RateLimitResult } from "./engine/outcome";
export type { Env } from "./env";
export type { IttyRateLimit, IttyRateLimitOptions } from "./middleware/itty";
export { ittyRateLimit } from "./middleware/itty";
export type { InlineLimitOptions, PolicyLimitOptions, RuleKey } from "./middleware/limiter-option";
export { fixedPolicy, PolicyDocumentError } from "./policy/fixed-policy";
export type { PolicyInForce } from "./policy/in-force";
export type { Policy, PolicyInput } from "./policy/schema";
export type { PolicyError, ValidationResult } from "./policy/validate";
export { validatePolicy, validatePolicyText } from "./policy/validate";
