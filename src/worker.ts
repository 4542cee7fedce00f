/**
 * The front door: a Worker in front of an API, and wrangler's `main`. Admin
 * calls under `ADMIN_PREFIX` go to the admin API; every other request passes
 * the rate-limit middleware and, when admitted, goes on to the origin. The
 * library entries (`sluice`, `sluice/itty`) do not import this module.
 * @module
 */
import { Hono } from "hono";
import { createLimiter } from "./adapters/workers/limiter";
import { reportAdminOff } from "./admin/admin-off";
import { createAdminApp } from "./admin/app";
import { mountConsoleSupport } from "./admin/console-support-routes";
import { mountObservability } from "./admin/observability-routes";
import { DEFAULT_ADMIN_PREFIX } from "./admin/prefix";
import { adminApiOn } from "./admin/tokens";
import { serveConsole } from "./console/serve";
import type { Env } from "./env";
import { jsonError } from "./http/refusal";
import { logEvent } from "./log";
import { type RateLimitVariables, rateLimit } from "./middleware/hono";
import { forward } from "./origin/forward";
import { originFor } from "./origin/sandbox-origin";

export { PolicyWriter } from "./durable/policy-writer";
export { RateLimiter } from "./durable/rate-limiter";
export { StatsStore } from "./durable/stats-store";

/** One limiter per isolate: its policy cache, tenant cache and stats are shared by every request. */
const frontDoorLimiter = createLimiter();
const admin = createAdminApp(frontDoorLimiter);
mountObservability(admin, frontDoorLimiter);
mountConsoleSupport(admin, frontDoorLimiter);

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

app.use("*", async (c, next) => {
  reportAdminOff(c.env);
  const prefix = (c.env.ADMIN_PREFIX || DEFAULT_ADMIN_PREFIX).replace(/\/+$/, "");
  const path = c.req.path;
  if (path === prefix || path.startsWith(`${prefix}/`)) {
    const sub = path.slice(prefix.length) || "/";
    // The console's page and files load without the token (the page asks for it); like the API, not at all without one.
    if (adminApiOn(c.env) && (c.req.method === "GET" || c.req.method === "HEAD")) {
      const page = serveConsole(sub, prefix);
      if (page) return page;
    }
    const url = new URL(c.req.url);
    url.pathname = sub;
    return admin.fetch(new Request(url.href, c.req.raw), c.env, c.executionCtx);
  }
  await next();
});

app.use("*", rateLimit({ limiter: frontDoorLimiter }));

app.all("*", async (c) => {
  const host = new URL(c.req.url).hostname.toLowerCase();
  const sandboxHost = (await frontDoorLimiter.policies.get(c.env)).compiled.sandboxHosts.has(host);
  const origin = originFor(c.env, sandboxHost);
  if (origin === undefined) {
    logEvent("origin.sandbox_unconfigured", { host }, "error");
    return jsonError(503, "Service Unavailable", "This sandbox host has no sandbox origin configured.", {
      code: "SANDBOX_ORIGIN_NOT_CONFIGURED",
    });
  }
  try {
    return await forward(c.req.raw, c.env, origin);
  } catch (e) {
    logEvent("origin.unreachable", { message: (e as Error).message }, "error");
    return jsonError(502, "Bad Gateway", "The origin could not be reached.", { code: "ORIGIN_UNREACHABLE" });
  }
});

app.onError((e) => {
  logEvent("worker.error", { message: e.message }, "error");
  return jsonError(500, "Internal Server Error", "The rate limiter failed on this request.", {
    code: "INTERNAL_ERROR",
  });
});

export default app;
