/**
 * `sluice/itty`: the limiter for an itty-router Worker, without Hono.
 *
 * The root entry (`sluice`) also carries the front door and the Hono
 * middleware, which import `hono`; this entry imports nothing outside the
 * package but `zod`, so a Worker that does not use Hono need not install it.
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

export type { PolicyInForce } from "./config/policy-store";
export type { Policy, PolicyInput } from "./config/schema";
export type { PolicyError, ValidationResult } from "./config/validate";
export { validatePolicy, validatePolicyText } from "./config/validate";
export type { Limiter, LimiterOptions, LimitOutcome, LimitReason, RateLimitResult } from "./core/limit";
export { createLimiter } from "./core/limit";
export { RateLimiter } from "./durable/rate-limiter";
export type { Env } from "./env";
export type { IttyRateLimit, IttyRateLimitOptions } from "./middleware/itty";
export { ittyRateLimit } from "./middleware/itty";
export { fixedPolicy, PolicyDocumentError } from "./middleware/policy";
