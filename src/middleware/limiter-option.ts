/**
 * The middlewares' options: limiter options, or a limiter to share, never both.
 * @module
 */
import { createLimiter, type Limiter } from "../adapters/workers/limiter";
import type { LimiterOptions } from "../engine/outcome";

export interface MiddlewareOptions extends LimiterOptions {
  /** Share one limiter (its policy cache and tenant cache) between middlewares; made for you when absent. */
  limiter?: Limiter;
}

/** The limiter a middleware runs on; `middleware` names it in the error for both at once. */
export function limiterOf(middleware: string, options: MiddlewareOptions): Limiter {
  if (options.limiter && (options.policy || options.key || options.onRefuse)) {
    throw new TypeError(`${middleware}(): pass either a limiter or limiter options (policy, key, onRefuse), not both`);
  }
  return options.limiter ?? createLimiter(options);
}
