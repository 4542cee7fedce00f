/**
 * The admin API (README "Admin API"), mounted under `ADMIN_PREFIX`. Every
 * call needs `Authorization: Bearer <token>`: `ADMIN_TOKEN` or a named token
 * of `ADMIN_TOKENS` / `ADMIN_READ_TOKEN`, whose role (read or write) says what
 * it may call (./tokens.ts). With no token configured the whole API answers
 * 404, as if it were not there. The routes live by resource beside this file:
 * policy, candidate, tenants, counters, explain (and, mounted by ./mount.ts,
 * observability).
 * @module
 */
import { Hono } from "hono";
import { counterStoreOf, type SluiceLimiter } from "../adapters/workers/limiter";
import { etagOf } from "../http/etag";
import { logEvent } from "../log";
import { adminOffResponse } from "./admin-off";
import { registerCandidateRoutes } from "./candidate-routes";
import { registerCounterRoutes } from "./counter-routes";
import { registerExplainRoute } from "./explain-route";
import { addressKey, authenticate, unlockAddress } from "./lockout";
import { registerPolicyRoutes } from "./policy-routes";
import { type AdminEnv, problem } from "./problem";
import { publish } from "./publish";
import { registerTenantRoutes } from "./tenant-routes";
import { adminTokens, readOnlyCall } from "./tokens";

export type { AdminEnv };
export { etagOf, problem };

export function createAdminApp(limiter: SluiceLimiter): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();

  admin.use("*", async (c, next) => {
    const configured = adminTokens(c.env);
    if (configured.state === "off") return adminOffResponse(c.req.raw);
    if (configured.state === "invalid") {
      logEvent("admin.tokens_invalid", { problems: configured.problems }, "error");
      return problem(
        500,
        "admin_tokens_invalid",
        "the admin tokens are misconfigured (ADMIN_TOKENS); the admin API is closed until they are fixed: see the Worker's log (admin.tokens_invalid)",
      );
    }
    const auth = await authenticate(c.req.raw, c.env, configured.tokens, {
      counters: counterStoreOf(c.env),
      background: c.executionCtx,
    });
    if (!auth.ok) return auth.response;
    const { name, role } = auth.token;
    if (role === "read" && !readOnlyCall(c.req.method, c.req.path)) {
      logEvent("admin.forbidden", { token: name, role, method: c.req.method, path: c.req.path }, "warn");
      return problem(
        403,
        "forbidden",
        `the token "${name}" may only read (GET, POST /policy/validate, POST /explain); ${c.req.method} ${c.req.path} needs a write token`,
      );
    }
    // The actor is the token's name, never what the caller says it is.
    c.set("actor", name);
    c.set("role", role);
    await next();
  });

  // Who the token is and what it may do: the console hides the buttons a read token may not use.
  admin.get("/whoami", (c) =>
    c.json({ name: c.get("actor"), role: c.get("role") }, 200, { "Cache-Control": "no-store" }),
  );

  registerPolicyRoutes(admin, limiter);
  registerCandidateRoutes(admin, limiter, publish);
  registerTenantRoutes(admin, limiter);
  registerCounterRoutes(admin, limiter);
  registerExplainRoute(admin, limiter);

  admin.get("/stats", (c) => {
    const candidate = limiter.candidates.snapshot();
    return c.json({ minutes: limiter.stats.snapshot(), ...(candidate ? { candidate } : {}) });
  });

  admin.post("/unlock", async (c) => {
    const body = await c.req.json<{ address?: unknown }>().catch(() => ({}) as { address?: unknown });
    if (typeof body.address !== "string" || addressKey(body.address) === undefined)
      return problem(400, "bad_request", 'body must be { "address": "<IPv4 or IPv6 address>" }');
    const { ipKey, cleared } = await unlockAddress(counterStoreOf(c.env), body.address, c.env.POLICIES);
    logEvent("admin.unlocked", { ip: ipKey, by: "admin-api", actor: c.get("actor"), cleared });
    return c.json({ unlocked: ipKey, cleared });
  });

  admin.notFound(() => problem(404, "not_found", "no such admin call"));
  return admin;
}
