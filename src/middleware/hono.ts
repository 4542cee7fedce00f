/**
 * Hono middleware over the engine: the same policies, counters, headers and
 * refusals as the front door, inside your own Worker.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { RateLimitResult } from "../engine/outcome";
import type { Env } from "../env";
import { limiterOf, type MiddlewareOptions } from "./limiter-option";

export type RateLimitOptions = MiddlewareOptions;

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
  const limiter = limiterOf("rateLimit", options);
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
