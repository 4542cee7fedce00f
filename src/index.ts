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

export type { PolicyInForce } from "./config/policy-store";
export type { Policy, PolicyInput } from "./config/schema";
export type { PolicyError, ValidationResult } from "./config/validate";
export { validatePolicy, validatePolicyText } from "./config/validate";
export type { Limiter, LimiterOptions, LimitOutcome, LimitReason, RateLimitResult } from "./core/limit";
export { createLimiter } from "./core/limit";
export { PolicyWriter } from "./durable/policy-writer";
export { RateLimiter } from "./durable/rate-limiter";
export type { Env } from "./env";
export type { RateLimitOptions, RateLimitVariables } from "./middleware/hono";
export { rateLimit } from "./middleware/hono";
export type { IttyRateLimit, IttyRateLimitOptions } from "./middleware/itty";
export { ittyRateLimit } from "./middleware/itty";
export { fixedPolicy, PolicyDocumentError } from "./middleware/policy";
export { default } from "./worker";
