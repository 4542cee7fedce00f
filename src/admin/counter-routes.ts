/**
 * One counter of the policy in force: `GET|DELETE /keys` (the CLI's `key
 * show|reset`: limits, leases, tree and penalty) and `GET|DELETE /counters`
 * (the console's, from the top-keys list). Both resolve the counter through
 * ./counter-target.ts and accept both of its names, `key=` and `object=`.
 * @module
 */
import type { Context, Hono } from "hono";
import { counterStoreOf, type SluiceLimiter } from "../adapters/workers/limiter";
import { logEvent } from "../log";
import { counterTarget, isCounterProblem } from "./counter-target";
import { type AdminEnv, problem } from "./problem";
import { findTenantById, workersTenantKv } from "./tenant-store";

const NO_STORE = { "Cache-Control": "no-store" };

export function registerCounterRoutes(admin: Hono<AdminEnv>, limiter: SluiceLimiter): void {
  const resolve = async (c: Context<AdminEnv>, named: "key" | "object") => {
    const kv = workersTenantKv(c.env.POLICIES);
    const policy = (await limiter.policies.get(c.env)).compiled;
    const found = await counterTarget(c.req.query(), named, policy, (id) => findTenantById(kv, id), Date.now());
    return isCounterProblem(found) ? problem(found.status, found.error, found.message) : found;
  };

  admin.get("/keys", async (c) => {
    const target = await resolve(c, "key");
    if (target instanceof Response) return target;
    const { now, results, penalties, shards } = await counterStoreOf(c.env).inspect(
      target.objectName,
      target.specs,
      target.penalties,
      target.shards,
      target.shardsPerRegion,
    );
    const penalty = penalties?.[0];
    return c.json({
      rule: target.rule,
      object: target.objectName,
      ...(target.tenant ? { tenant: target.tenant.id, tier: target.tier } : {}),
      limits: results.map((r) => ({
        name: r.name,
        limit: r.limit,
        remaining: r.remaining,
        reset: Math.ceil(r.resetAt / 1000),
        resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
        leased: r.leased ?? 0,
        ...(target.overrides[r.name] ? { override: target.overrides[r.name] } : {}),
      })),
      // A sharded rule's tree: what its shards hold of their blocks and have sublet to isolates, in all and each.
      ...(shards
        ? {
            tree: {
              held: shards.reduce((sum, s) => sum + s.held, 0),
              sublet: shards.reduce((sum, s) => sum + s.sublet, 0),
              shards,
            },
          }
        : {}),
      ...(penalty
        ? {
            penalty: {
              until: Math.ceil(penalty.until / 1000),
              retryAfter: Math.max(1, Math.ceil((penalty.until - now) / 1000)),
            },
          }
        : {}),
    });
  });

  admin.delete("/keys", async (c) => {
    const target = await resolve(c, "key");
    if (target instanceof Response) return target;
    // Resetting a key also lifts its penalty.
    const names = [...target.specs.map((s) => s.name), ...target.penalties];
    const removed = await counterStoreOf(c.env).reset(target.objectName, names, target.shards, target.shardsPerRegion);
    limiter.refusals.forgetObject(target.objectName);
    logEvent("counter.reset", { rule: target.rule, object: target.objectName, actor: c.get("actor") });
    return c.json({ reset: true, removed });
  });

  admin.get("/counters", async (c) => {
    const target = await resolve(c, "object");
    if (target instanceof Response) return target;
    const { now, results } = await counterStoreOf(c.env).inspect(target.objectName, target.specs, [], target.shards);
    return c.json(
      {
        rule: target.rule,
        object: target.objectName,
        limits: results.map((r) => ({
          name: r.name,
          limit: r.limit,
          remaining: r.remaining,
          reset: Math.ceil(r.resetAt / 1000),
          resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
        })),
      },
      200,
      NO_STORE,
    );
  });

  admin.delete("/counters", async (c) => {
    const target = await resolve(c, "object");
    if (target instanceof Response) return target;
    const removed = await counterStoreOf(c.env).reset(
      target.objectName,
      target.specs.map((s) => s.name),
      target.shards,
    );
    limiter.refusals.forgetObject(target.objectName);
    logEvent("counter.reset", { rule: target.rule, object: target.objectName, actor: c.get("actor") ?? "admin-api" });
    return c.json({ reset: true, removed }, 200, NO_STORE);
  });
}
