/**
 * The admin API, the operator console and `/metrics` as one Hono middleware:
 * what the front door mounts under `ADMIN_PREFIX`, and what a library user
 * mounts in their own app with `sluiceAdmin()`. One implementation for both.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import { serveConsole } from "../console/serve";
import type { Env } from "../env";
import { reportAdminOff } from "./admin-off";
import { createAdminApp } from "./app";
import { mountObjectCounts } from "./object-counts-route";
import { mountObservability } from "./observability-routes";
import { DEFAULT_ADMIN_PREFIX } from "./prefix";
import { adminApiOn } from "./tokens";
import { mountUsage } from "./usage-routes";

export interface SluiceAdminOptions {
  /**
   * The limiter your rate-limit middleware runs on (`createLimiter()`, given to `rateLimit({ limiter })`):
   * the admin API installs a published policy into its cache at once, and `/metrics` and the console
   * show its figures.
   */
  limiter: SluiceLimiter;
  /** Where the admin API lives, e.g. `"/__ratelimit"`; default the `ADMIN_PREFIX` var, else `/__ratelimit`. */
  prefix?: string;
}

/**
 * Answers the admin API, the console (`<prefix>/console`) and `<prefix>/metrics`
 * under the prefix, and passes every other request on. Every call needs
 * `Authorization: Bearer <ADMIN_TOKEN>` (the console's page and files load
 * without it and ask for it); with `ADMIN_TOKEN` unset it all answers 404. Put
 * it before the rate-limit middleware, so that admin calls are not counted.
 *
 * @example
 * import { Hono } from "hono";
 * import { createLimiter, rateLimit, sluiceAdmin } from "sluice";
 * const limiter = createLimiter();
 * const app = new Hono();
 * app.use("*", sluiceAdmin({ limiter }));
 * app.use("*", rateLimit({ limiter }));
 */
export function sluiceAdmin<E extends { Bindings: Env }>(options: SluiceAdminOptions): MiddlewareHandler<E> {
  if (options === null || typeof options !== "object" || typeof options.limiter?.limit !== "function") {
    throw new TypeError(
      "sluiceAdmin(): options.limiter is required: the createLimiter() your rateLimit({ limiter }) runs on",
    );
  }
  for (const name of Object.keys(options)) {
    if (name !== "limiter" && name !== "prefix") throw new TypeError(`sluiceAdmin(): unknown option "${name}"`);
  }
  const fixedPrefix = options.prefix === undefined ? undefined : checkedPrefix(options.prefix);
  const { limiter } = options;
  const admin = createAdminApp(limiter);
  mountObservability(admin, limiter);
  mountObjectCounts(admin);
  mountUsage(admin, limiter);

  return async function sluiceAdmin(c, next) {
    reportAdminOff(c.env);
    const prefix = fixedPrefix ?? (c.env.ADMIN_PREFIX || DEFAULT_ADMIN_PREFIX).replace(/\/+$/, "");
    const path = c.req.path;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next();
    const sub = path.slice(prefix.length) || "/";
    // The console's page and files load without the token (the page asks for it); like the API, not at all without one.
    if (adminApiOn(c.env) && (c.req.method === "GET" || c.req.method === "HEAD")) {
      const page = serveConsole(sub, prefix);
      if (page) return page;
    }
    const url = new URL(c.req.url);
    url.pathname = sub;
    return admin.fetch(new Request(url.href, c.req.raw), c.env, c.executionCtx);
  };
}

function checkedPrefix(prefix: string): string {
  const trimmed = typeof prefix === "string" ? prefix.replace(/\/+$/, "") : "";
  if (!trimmed.startsWith("/") || /[?#\s]/.test(trimmed)) {
    throw new TypeError(`sluiceAdmin(): prefix must be a path such as "/__ratelimit", not ${JSON.stringify(prefix)}`);
  }
  return trimmed;
}
