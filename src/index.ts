/**
 * sluice: an exact rate limiter for Cloudflare Workers, as a library.
 *
 * Everything of `sluice/itty` (the framework-free limiter, the itty-router
 * middleware, `fixedPolicy`, `RateLimiter`), plus the Hono middlewares
 * `rateLimit` and `sluiceAdmin` (the admin API, console and `/metrics`).
 * Importing it builds nothing and changes nothing global. The front door
 * Worker is not part of the library: it is `src/worker.ts`, this project's
 * wrangler `main`, which mounts the same two middlewares.
 *
 * @example
 * // wrangler.toml: a LIMITER Durable Object binding (class RateLimiter) and a POLICIES KV binding.
 * export { RateLimiter } from "sluice";
 * @module
 */

export type { SluiceAdminOptions } from "./admin/mount";
export { sluiceAdmin } from "./admin/mount";
export * from "./itty";
export type { RateLimitOptions, RateLimitVariables, SkipOption } from "./middleware/hono";
export { rateLimit } from "./middleware/hono";
