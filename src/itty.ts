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
export { RateLimiter } from "./durable/rate-limiter";
export { createLimiter } from "./core/limit";
export type { Limiter, LimiterOptions, LimitOutcome, LimitReason, RateLimitResult } from "./core/limit";
export { ittyRateLimit } from "./middleware/itty";
export type { IttyRateLimit, IttyRateLimitOptions } from "./middleware/itty";
export { PolicyDocumentError, fixedPolicy } from "./middleware/policy";
export { validatePolicy, validatePolicyText } from "./config/validate";
export type { PolicyError, ValidationResult } from "./config/validate";
export type { PolicyInForce } from "./config/policy-store";
export type { PolicyInput, Policy } from "./config/schema";
export type { Env } from "./env";
