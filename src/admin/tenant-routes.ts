/**
 * Tenant records: `PUT /tenants` (checked against the policy in force),
 * `GET /tenants` (all, `?id=` one id, `?search=` ids containing it) and
 * `DELETE /tenants`. Written through ./tenant-store.ts, as the CLI's KV path is.
 * @module
 */
import type { Hono } from "hono";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import { sha256Hex } from "../hash";
import { tenantKey } from "../kv/keys";
import { logEvent } from "../log";
import { checkOverrides } from "../policy/overrides";
import { tenantProblems } from "../policy/tenant-checks";
import { parseTenant } from "../policy/tenant-record";
import { type AdminEnv, problem } from "./problem";
import { removeTenant, storeTenant, workersTenantKv } from "./tenant-store";

export function registerTenantRoutes(admin: Hono<AdminEnv>, limiter: SluiceLimiter): void {
  admin.put("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    // A new tenant is named by its API key; an existing one may instead be named by the record's KV key
    // as GET /tenants lists it (`tenant:<sha256>`), so an operator can edit it without the API key.
    const byRecord = body && body.apiKey === undefined && typeof body.key === "string" ? body.key : undefined;
    if (!body || (byRecord === undefined && (typeof body.apiKey !== "string" || body.apiKey.length === 0)))
      return problem(
        400,
        "bad_request",
        "apiKey (a non-empty string) is required, or key (tenant:<sha256>) of an existing tenant",
      );
    if (byRecord !== undefined && !/^tenant:[0-9a-f]{64}$/.test(byRecord))
      return problem(400, "bad_request", "key must be tenant:<64 hex digits>, as GET /tenants lists it");
    if (byRecord !== undefined && (await c.env.POLICIES.get(byRecord)) === null)
      return problem(404, "not_found", `no tenant record ${byRecord}; a new tenant needs its apiKey`);
    const { apiKey, key: _key, ...record } = body;
    const parsed = parseTenant(record);
    if (!parsed.success) {
      return problem(400, "invalid_tenant", "the tenant record is invalid", {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    const inForce = await limiter.policies.get(c.env);
    const refused = tenantProblems(parsed.data, inForce.compiled.document);
    if (refused.length > 0)
      return problem(400, "invalid_tenant", refused.map((e) => `${e.path}: ${e.message}`).join("; "), {
        errors: refused,
      });
    // Overrides are checked against the policy in force, as a document's tiers are.
    const overrideErrors = checkOverrides(parsed.data.overrides, inForce.compiled, Date.now());
    if (overrideErrors.length > 0)
      return problem(400, "invalid_tenant", "the tenant's overrides do not fit the policy in force", {
        errors: overrideErrors,
      });
    const hash = byRecord !== undefined ? byRecord.slice("tenant:".length) : await sha256Hex(apiKey as string);
    await storeTenant(workersTenantKv(c.env.POLICIES), hash, parsed.data);
    limiter.tenants.forget(hash);
    logEvent("tenant.stored", { id: parsed.data.id, tier: parsed.data.tier, actor: c.get("actor") });
    return c.json({ stored: true, tenant: parsed.data, key: tenantKey(hash) });
  });

  // Every tenant record (`?id=` one id exactly, 404 when none; `?search=` ids containing it, any case).
  // The key shown is the hash of the API key, never the key itself.
  admin.get("/tenants", async (c) => {
    const wanted = c.req.query("id");
    const search = (c.req.query("search") ?? "").toLowerCase();
    const tenants: Array<Record<string, unknown>> = [];
    let cursor: string | undefined = c.req.query("cursor") || undefined;
    do {
      const page = await c.env.POLICIES.list<Record<string, unknown>>({
        prefix: "tenant:",
        ...(cursor ? { cursor } : {}),
      });
      for (const k of page.keys) {
        // Records stored before the metadata was written are read one by one.
        const stored = k.metadata ?? (await c.env.POLICIES.get(k.name, "json").catch(() => null));
        const parsed = parseTenant(stored);
        if (!parsed.success) continue;
        const { id } = parsed.data;
        if (wanted !== undefined && id !== wanted) continue;
        if (search && !id.toLowerCase().includes(search)) continue;
        tenants.push({ key: k.name, ...parsed.data });
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    if (wanted !== undefined && tenants.length === 0) return problem(404, "not_found", `no tenant with id "${wanted}"`);
    return c.json({ tenants, cursor: null }, 200, { "Cache-Control": "no-store" });
  });

  admin.delete("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    if (!body || typeof body.apiKey !== "string" || body.apiKey.length === 0)
      return problem(400, "bad_request", "apiKey (a non-empty string) is required");
    const hash = await sha256Hex(body.apiKey);
    const existed = await removeTenant(workersTenantKv(c.env.POLICIES), hash);
    limiter.tenants.forget(hash);
    logEvent("tenant.deleted", { key: `${tenantKey(hash).slice(0, 19)}…`, actor: c.get("actor") });
    return c.json({ deleted: existed });
  });
}
