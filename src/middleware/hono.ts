/**
 * Hono middleware over the core: the same policies, counters, headers and
 * refusals as the front door, inside your own Worker.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createLimiter, type Limiter, type LimiterOptions, type RateLimitResult } from "../core/limit";
import type { Env } from "../env";

export interface RateLimitOptions extends LimiterOptions {
  /** Share one limiter (its policy cache and tenant cache) between middlewares; made for you when absent. */
  limiter?: Limiter;
}

export type RateLimitVariables = { rateLimit: RateLimitResult };

/**
 * Limits every request that passes through it by the policy in force.
 *
 * @example
 * import { Hono } from "hono";
 * import { rateLimit, RateLimiter } from "sluice";
 * export { RateLimiter };
 * const app = new Hono();
 * app.use("/api/*", rateLimit());
 * app.get("/api/hello", (c) => c.json({ hello: c.get("rateLimit").remaining }));
 * export default app;
 */
export function rateLimit<E extends { Bindings: Env; Variables: RateLimitVariables }>(
  options: RateLimitOptions = {},
): MiddlewareHandler<E> {
  if (options.limiter && (options.policy || options.key || options.onRefuse)) {
    throw new TypeError("rateLimit(): pass either a limiter or limiter options (policy, key, onRefuse), not both");
  }
  const limiter = options.limiter ?? createLimiter(options);
  return async function rateLimit(c, next) {
    const outcome = await limiter.limit(c.req.raw, c.env, c.executionCtx as ExecutionContext);
    c.set("rateLimit", outcome.result);
    if (outcome.response) return outcome.response;
    if (outcome.request !== c.req.raw) c.req.raw = outcome.request;
    try {
      await next();
    } catch (e) {
      outcome.abandon();
      throw e;
    }
    const finished = outcome.finish(c.res);
    // finish() already carries every header of c.res. Clearing c.res first keeps Hono's setter from
    // re-creating the response and copying them again (which a 101 WebSocket response would not survive).
    c.res = undefined;
    c.res = finished;
  };
}
