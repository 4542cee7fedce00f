/**
 * Hono middleware over the engine: the same policies, counters, headers and
 * refusals as the front door, inside your own Worker.
 * @module
 */
import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import type { RateLimitResult } from "../engine/outcome";
import type { Env } from "../env";
import { expectFunction, type InlineLimitOptions, limiterOf, type PolicyLimitOptions } from "./limiter-option";

/** What the middleware adds to either form of its options. */
export interface SkipOption<E extends HonoEnv = HonoEnv> {
  /**
   * Requests for which it returns (or resolves to) `true` pass untouched: not counted, no
   * rate-limit headers, no `rateLimit` variable. Called before anything else, on every request.
   */
  skip?: (c: Context<E>) => boolean | Promise<boolean>;
}

/**
 * `rateLimit()`'s options: the policy in force (KV `policy`, or `policy: fixedPolicy(...)`), a
 * shared `limiter`, or one limit inline (`{ limit: 100, window: "1m", key: "ip" }`); and `skip`.
 */
export type RateLimitOptions<E extends HonoEnv = HonoEnv> = (PolicyLimitOptions | InlineLimitOptions) & SkipOption<E>;

export type RateLimitVariables = { rateLimit: RateLimitResult };

/**
 * Limits every request that passes through it: by the policy in force, or by
 * the one limit given inline. Options are checked here, once: a wrong name,
 * type or limit throws a `TypeError` naming the option.
 *
 * @example
 * import { Hono } from "hono";
 * import { rateLimit, RateLimiter } from "sluice";
 * export { RateLimiter };
 * const app = new Hono();
 * app.use("/api/*", rateLimit());
 * app.get("/api/hello", (c) => c.json({ hello: c.get("rateLimit").remaining }));
 * export default app;
 *
 * @example
 * // One limit, no policy document: 100 a minute per client IP; health checks not counted.
 * app.use("*", rateLimit({ limit: 100, window: "1m", key: "ip", skip: (c) => c.req.path === "/health" }));
 */
export function rateLimit<E extends { Bindings: Env; Variables: RateLimitVariables }>(
  options: RateLimitOptions<E> = {},
): MiddlewareHandler<E> {
  const { skip, ...rest } = options;
  expectFunction("rateLimit", "skip", skip);
  const limiter = limiterOf("rateLimit", rest as PolicyLimitOptions | InlineLimitOptions, ["skip"]);
  return async function rateLimit(c, next) {
    if (skip && (await skip(c))) return next();
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
