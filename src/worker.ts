/**
 * The front door: a Worker in front of an API, and wrangler's `main`. Admin
 * calls under `ADMIN_PREFIX` go to the admin API; every other request passes
 * the rate-limit middleware and, when admitted, goes on to the origin. The
 * library entries (`sluice`, `sluice/itty`) do not import this module.
 * @module
 */
import { Hono } from "hono";
import { createLimiter } from "./adapters/workers/limiter";
import { sluiceAdmin } from "./admin/mount";
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

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

// The admin API, console and /metrics under ADMIN_PREFIX: the same middleware a library user mounts.
app.use("*", sluiceAdmin({ limiter: frontDoorLimiter }));

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
