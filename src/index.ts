/**
 * sluice: an exact rate limiter for Cloudflare Workers.
 *
 * The default export is the front door Worker; the named exports let you run
 * the same limiter inside your own Worker (Hono: `rateLimit`; itty-router:
 * `ittyRateLimit`, also from the Hono-free entry `sluice/itty`).
 *
 * @example
 * // wrangler.toml: a LIMITER Durable Object binding (class RateLimiter) and a POLICIES KV binding.
 * export { RateLimiter } from "sluice";
 * @module
 */
export { default } from "./worker";
export { RateLimiter } from "./durable/rate-limiter";
export { createLimiter } from "./core/limit";
export type { Limiter, LimiterOptions, LimitOutcome, LimitReason, RateLimitResult } from "./core/limit";
export { rateLimit } from "./middleware/hono";
export type { RateLimitOptions, RateLimitVariables } from "./middleware/hono";
export { ittyRateLimit } from "./middleware/itty";
export type { IttyRateLimit, IttyRateLimitOptions } from "./middleware/itty";
export { PolicyDocumentError, fixedPolicy } from "./middleware/policy";
export type { PolicyInForce } from "./config/policy-store";
export { validatePolicy, validatePolicyText } from "./config/validate";
export type { PolicyError, ValidationResult } from "./config/validate";
export type { PolicyInput, Policy } from "./config/schema";
export type { Env } from "./env";
