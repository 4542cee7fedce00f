/**
 * itty-router v5 middleware over the engine: the same policies, counters,
 * headers and refusals as the front door and the Hono middleware, as a pair
 * of handlers for the router's two stages.
 *
 * - `before` decides the request. A refusal (429, the block rule's 403, a 400
 *   for a page size, a 503 when the counter store is down and the rule says
 *   `onError: "closed"`) is returned, which ends the `before` stage: no route
 *   runs. An admitted request goes on, its outcome kept in a `WeakMap` keyed
 *   by the request object the router hands to its handlers.
 * - `finally` finishes the outcome with the route's response: the rate-limit
 *   headers are added, a concurrency slot is given back once the body has
 *   been sent, a failures-only charge is refunded when the status is below
 *   400. A refusal passes through `finally` unchanged.
 *
 * Wiring notes:
 * - With `AutoRouter`, your `finally` handlers run after its `format` (JSON)
 *   stage, so they see a `Response`. With the plain `Router`, put
 *   `limit.finally` after whatever turns a route's return value into a
 *   `Response`. A value that is not a `Response` (nothing matched and no
 *   `missing` handler) gets no headers and gives its concurrency slots back.
 * - A route that throws reaches `finally` only through the router's `catch`
 *   (`AutoRouter` has one). A `Router` without `catch` rethrows past
 *   `finally`; a concurrency slot of such a request is held until its 60 s
 *   lease runs out.
 * - The router must be called with the Worker's `(request, env, ctx)`:
 *   `export default router` does that.
 * - Page size (`"mode": "clamp"`) rewrites the URL: `request.query` is updated
 *   in place, and {@link IttyRateLimit.request} gives the rewritten `Request`
 *   for a route that forwards it.
 *
 * itty-router itself is not imported: the handlers are plain functions of
 * `(request, env, ctx)` and `(response, request)`.
 * @module
 */
import type { SluiceLimiter } from "../adapters/workers/limiter";
import type { LimitOutcome, RateLimitResult } from "../engine/outcome";
import type { Env } from "../env";
import { expectFunction, limiterOf, type MiddlewareOptions } from "./limiter-option";

/**
 * The policy in force (KV `policy`, or `policy: fixedPolicy(...)`), a shared `limiter`, or one
 * limit inline (`{ limit: 100, window: "1m", key: "ip" }`); and `skip`.
 */
export type IttyRateLimitOptions = MiddlewareOptions & {
  /** Requests for which it returns (or resolves to) `true` pass untouched: not counted, no headers. */
  skip?: (request: Request, env: Env) => boolean | Promise<boolean>;
};

/** What `ittyRateLimit()` returns: the two stage handlers and two accessors for routes. */
export interface IttyRateLimit {
  /**
   * For `before: [...]` of `Router`/`AutoRouter` (or as the first handler of
   * a route). Resolves to the refusal `Response`, or to `undefined` to let
   * the request go on. A second call for a request admitted and not yet
   * finished (the router's `before` and a route's own) decides nothing; once
   * `finally` has run, the same request object is decided afresh.
   */
  before(request: Request, env: Env, ctx: ExecutionContext): Promise<Response | undefined>;
  /** For `finally: [...]`: adds the headers and arranges the slot release and refunds. */
  finally<T>(response: T, request: Request): T | Response;
  /** The decision for a request that passed `before`: limit, remaining, reset, reason, rules. */
  result(request: Request): RateLimitResult | undefined;
  /** The request to forward: the original, or the one with its page size rewritten. */
  request(request: Request): Request;
  /** The limiter behind the handlers (its policy store, stats). */
  readonly limiter: SluiceLimiter;
}

interface Decided {
  outcome: LimitOutcome;
  /** `finish` or `abandon` has been called, or there is nothing to finish (a refusal). */
  settled: boolean;
}

/**
 * Limits every request that passes `before` by the policy in force (KV
 * `policy`, or the `policy` option).
 *
 * @example
 * import { AutoRouter } from "itty-router";
 * import { ittyRateLimit, RateLimiter } from "sluice/itty";
 * export { RateLimiter };
 * const limit = ittyRateLimit();
 * const router = AutoRouter({ before: [limit.before], finally: [limit.finally] });
 * router.get("/api/hello", (request) => ({ remaining: limit.result(request)?.remaining }));
 * export default router;
 */
export function ittyRateLimit(options: IttyRateLimitOptions = {}): IttyRateLimit {
  const { skip, ...rest } = options;
  expectFunction("ittyRateLimit", "skip", skip);
  const limiter = limiterOf("ittyRateLimit", rest as MiddlewareOptions, ["skip"]);
  const decided = new WeakMap<object, Decided>();

  return {
    limiter,
    async before(request, env, ctx) {
      // Already admitted in this pass (the router's `before` and a route's own): count it once.
      if (decided.get(request)?.settled === false) return undefined;
      if (!ctx || typeof ctx.waitUntil !== "function") {
        throw new TypeError(
          "ittyRateLimit(): the router was called without the Worker's ctx; call router.fetch(request, env, ctx)",
        );
      }
      // Skipped: nothing decided, so finally() leaves its response as it is.
      if (skip && (await skip(request, env))) return undefined;
      const outcome = await limiter.limit(request, env, ctx);
      decided.set(request, { outcome, settled: outcome.response !== undefined });
      if (outcome.response) return outcome.response;
      if (outcome.request !== request) updateQuery(request, outcome.request.url);
      return undefined;
    },
    finally(response, request) {
      const entry = decided.get(request);
      if (!entry || entry.settled) return response;
      entry.settled = true;
      if (response instanceof Response) return entry.outcome.finish(response);
      entry.outcome.abandon();
      return response;
    },
    result(request) {
      return decided.get(request)?.outcome.result;
    },
    request(request) {
      return decided.get(request)?.outcome.request ?? request;
    },
  };
}

/** Re-parses `request.query` (itty's parsed query string) from the rewritten URL, the way itty does. */
function updateQuery(request: Request, url: string): void {
  const target = request as Request & { query?: unknown };
  if (target.query === undefined) return;
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URL(url).searchParams) {
    const seen = query[k];
    query[k] = seen === undefined ? v : ([] as string[]).concat(seen, v);
  }
  target.query = query;
}
