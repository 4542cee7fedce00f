/**
 * sluice: an exact rate limiter for Cloudflare Workers, as a library.
 *
 * Everything of `sluice/itty` (the framework-free limiter, the itty-router
 * middleware, `fixedPolicy`, `RateLimiter`), plus the Hono middleware
 * `rateLimit`. Importing it builds nothing and changes nothing global. The
 * front door Worker is not part of the library: it is `src/worker.ts`, this
 * project's wrangler `main`.
 *
 * @example
 * // wrangler.toml: a LIMITER Durable Object binding (class RateLimiter) and a POLICIES KV binding.
 * export { RateLimiter } from "sluice";
 * @module
 */

export * from "./itty";
export type { RateLimitOptions, RateLimitVariables, SkipOption } from "./middleware/hono";
export { rateLimit } from "./middleware/hono";
