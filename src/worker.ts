/**
 * The front door: a Worker in front of an API. Admin calls under
 * `ADMIN_PREFIX` go to the admin API; every other request passes the
 * rate-limit middleware and, when admitted, goes on to the origin.
 * @module
 */
import { Hono } from "hono";
import { reportAdminOff } from "./admin/admin-off";
import { createAdminApp, DEFAULT_ADMIN_PREFIX } from "./admin/app";
import { createLimiter } from "./core/limit";
import type { Env } from "./env";
import { jsonError } from "./http/refusal";
import { logEvent } from "./log";
import { type RateLimitVariables, rateLimit } from "./middleware/hono";
import { forward } from "./origin/forward";

/** One limiter per isolate: its policy cache, tenant cache and stats are shared by every request. */
export const frontDoorLimiter = createLimiter();
const admin = createAdminApp(frontDoorLimiter);

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

app.use("*", async (c, next) => {
  reportAdminOff(c.env);
  const prefix = (c.env.ADMIN_PREFIX || DEFAULT_ADMIN_PREFIX).replace(/\/+$/, "");
  const path = c.req.path;
  if (path === prefix || path.startsWith(`${prefix}/`)) {
    const url = new URL(c.req.url);
    url.pathname = path.slice(prefix.length) || "/";
    return admin.fetch(new Request(url.href, c.req.raw), c.env, c.executionCtx);
  }
  await next();
});

app.use("*", rateLimit({ limiter: frontDoorLimiter }));

app.all("*", async (c) => {
  try {
    return await forward(c.req.raw, c.env);
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
