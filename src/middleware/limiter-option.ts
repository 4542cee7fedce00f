/**
 * The middlewares' options, checked once, when the middleware is made: limiter
 * options (a policy, hooks), a limiter to share, or one limit written inline
 * (`{ limit: 100, window: "1m", key: "ip" }`), which becomes a fixed policy of
 * one rule. Unknown names, wrong types and an invalid limit throw a
 * `TypeError` naming the middleware and the option, never on a request.
 * @module
 */
import { createLimiter, type SluiceLimiter } from "../adapters/workers/limiter";
import type { EngineHooks, LimiterOptions } from "../engine/outcome";
import { didYouMean } from "../policy/did-you-mean";
import { fixedPolicy, PolicyDocumentError } from "../policy/fixed-policy";
import type { PolicyInput } from "../policy/schema";

/** Limiter options, or a limiter to share: the policy in force (KV `policy`, or `policy`) decides. */
export interface PolicyLimitOptions extends LimiterOptions {
  /** Share one limiter (its policy cache and tenant cache) between middlewares; made for you when absent. */
  limiter?: SluiceLimiter;
  limit?: never;
  window?: never;
}

/** A rule's key as the policy spells it: `"ip"`, `"tenant"`, `"header:<name>"`, `"query:<name>"`, `"body:<json field>"`. */
export type RuleKey = "ip" | "tenant" | `header:${string}` | `query:${string}` | `body:${string}`;

/**
 * One limit for every request through the middleware, with no policy document:
 * `{ limit: 100, window: "1m" }` is a fixed policy of one rule (id `inline`)
 * counting by client IP.
 */
export interface InlineLimitOptions extends Pick<EngineHooks, "onRefuse"> {
  /** Requests (units) per window: a whole number of at least 1. */
  limit: number;
  /** The window, as the policy writes it: `"30s"`, `"1m"`, `"1h"`, `"1d"`. */
  window: string;
  /**
   * What a client is counted by: a rule key (default `"ip"`), or a function of the request giving
   * a value your app trusts (a user id); `undefined` from it counts the request by its IP.
   */
  key?: RuleKey | ((request: Request) => string | undefined | Promise<string | undefined>);
  /** Default `"fixed"`. */
  algorithm?: "fixed" | "sliding" | "token-bucket";
  /** A token bucket's capacity; default `limit`. */
  burst?: number;
  /** The rule's id, seen in the headers' policy name (`"inline-1m"`) and in stats; default `"inline"`. */
  id?: string;
  /** Header families to send; default `["legacy", "ietf"]`. */
  headers?: Array<"legacy" | "ietf" | "x">;
  limiter?: never;
  policy?: never;
}

export type MiddlewareOptions = PolicyLimitOptions | InlineLimitOptions;

const POLICY_OPTIONS = ["policy", "key", "onRefuse", "limiter"];
const INLINE_OPTIONS = ["limit", "window", "key", "algorithm", "burst", "id", "headers", "onRefuse"];

/**
 * The limiter a middleware runs on. `middleware` names it in errors; `extra`
 * are the middleware's own option names (`skip`), checked by the middleware.
 */
export function limiterOf(
  middleware: string,
  options: MiddlewareOptions,
  extra: readonly string[] = [],
): SluiceLimiter {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${middleware}(): options must be an object, not ${options === null ? "null" : typeof options}`,
    );
  }
  const inline = "limit" in options || "window" in options;
  const known = [...(inline ? INLINE_OPTIONS : POLICY_OPTIONS), ...extra];
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const misplaced = inline ? POLICY_OPTIONS.includes(name) : INLINE_OPTIONS.includes(name);
    throw new TypeError(
      misplaced
        ? `${middleware}(): "${name}" cannot be given with ${inline ? "an inline limit (limit, window)" : `"${Object.keys(options).find((n) => POLICY_OPTIONS.includes(n))}"`}`
        : `${middleware}(): unknown option "${name}"${didYouMean(name, known)}`,
    );
  }
  expectFunction(middleware, "onRefuse", options.onRefuse);
  if (inline) return createLimiter(inlineLimiterOptions(middleware, options as InlineLimitOptions));
  const { limiter, ...limiterOptions } = options as PolicyLimitOptions;
  expectFunction(middleware, "key", limiterOptions.key);
  expectFunction(middleware, "policy", limiterOptions.policy, " (wrap a document in fixedPolicy(document))");
  if (limiter !== undefined) {
    if (Object.keys(limiterOptions).length > 0) {
      throw new TypeError(
        `${middleware}(): pass either a limiter or limiter options (policy, key, onRefuse), not both`,
      );
    }
    if (typeof limiter?.limit !== "function") throw new TypeError(`${middleware}(): limiter must be a createLimiter()`);
    return limiter;
  }
  return createLimiter(limiterOptions);
}

/** Throws unless `value` is absent or a function. */
export function expectFunction(middleware: string, name: string, value: unknown, hint = ""): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${middleware}(): ${name} must be a function, not ${typeof value}${hint}`);
  }
}

/** The fixed policy of one rule an inline limit stands for, validated here; a fault names the option. */
function inlineLimiterOptions(middleware: string, options: InlineLimitOptions): LimiterOptions {
  const { limit, window, key = "ip", algorithm, burst, id = "inline", headers, onRefuse } = options;
  if (limit === undefined || window === undefined) {
    throw new TypeError(
      `${middleware}(): an inline limit needs both limit and window, e.g. { limit: 100, window: "1m" }`,
    );
  }
  const hook = typeof key === "function" ? key : undefined;
  const document: PolicyInput = {
    version: 1,
    ...(headers !== undefined ? { headers } : {}),
    rules: [
      {
        id,
        // A key function counts by its value, and by IP when it gives none.
        key: hook ? "ip" : (key as string),
        limits: [
          {
            limit,
            window,
            ...(algorithm !== undefined ? { algorithm } : {}),
            ...(burst !== undefined ? { burst } : {}),
          },
        ],
      },
    ],
  };
  let policy: LimiterOptions["policy"];
  try {
    policy = fixedPolicy(document);
  } catch (e) {
    if (!(e instanceof PolicyDocumentError)) throw e;
    const faults = e.errors.map((f) => `${optionAt(f.path)}: ${f.message}`).join("; ");
    throw new TypeError(`${middleware}(): ${faults}`);
  }
  return { policy, ...(hook ? { key: (request) => hook(request) } : {}), ...(onRefuse ? { onRefuse } : {}) };
}

/** The option a path of the one-rule document stands for: `rules[0].limits[0].window` is `window`. */
function optionAt(path: string): string {
  return path.replace(/^rules\[0\]\.limits\[0\]\.?/, "").replace(/^rules\[0\]\.?/, "") || "options";
}
