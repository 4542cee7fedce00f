/**
 * The admin API (contract section 7), mounted under `ADMIN_PREFIX`. Every
 * call needs `Authorization: Bearer <ADMIN_TOKEN>`; with no token configured
 * the whole API answers 404, as if it were not there.
 * @module
 */
import { Hono } from "hono";
import { HISTORY_PREFIX, POLICY_KEY, tenantKey, VERSION_KEY } from "../adapters/workers/kv-keys";
import { counterStoreOf, type Limiter } from "../adapters/workers/limiter";
import { countingKeyForValue, ipCountingKey, scoped } from "../engine/counting-key";
import { UNKNOWN_IP } from "../engine/identity";
import { ruleCounterSpecs } from "../engine/plan";
import type { Env } from "../env";
import { sha256Hex } from "../hash";
import type { CounterSpec } from "../limiter/types";
import { logEvent } from "../log";
import { clientIpKey } from "../net/ip";
import type { CompiledPolicy } from "../policy/compile";
import { activeOverride, checkOverrides } from "../policy/overrides";
import { parseTenant, type Tenant } from "../policy/tenant-record";
import { validatePolicyText } from "../policy/validate";
import { registerCandidateRoutes } from "./candidate-routes";
import { constantTimeEqual } from "./constant-time";
import { findTenantById, indexTenant, unindexTenant } from "./tenant-lookup";

export type AdminEnv = { Bindings: Env; Variables: { actor: string } };

/** Wrong admin tokens one client IP may send per 15 minutes. The name cannot clash with a rule's counter (ids have no `:`). */
export const ADMIN_FAILURES: CounterSpec = {
  name: "admin:auth-failures-15m",
  algorithm: "fixed",
  limit: 10,
  windowMs: 15 * 60_000,
  cost: 1,
};

function tooManyFailures(resetAt: number): Response {
  const retryAfter = Math.max(1, Math.ceil((resetAt - Date.now()) / 1000));
  logEvent("admin.locked_out", { retryAfter }, "warn");
  return Response.json(
    { error: "too_many_failures", message: "too many wrong admin tokens from this address; try again later" },
    { status: 429, headers: { "Retry-After": String(retryAfter), "Cache-Control": "no-store" } },
  );
}

export async function etagOf(text: string): Promise<string> {
  return `"${(await sha256Hex(text)).slice(0, 32)}"`;
}

/** Error body of the admin API: `{ error, message }` plus `errors: [{path, message}]` for a bad document. */
export function problem(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error, message, ...extra }, { status, headers: { "Cache-Control": "no-store" } });
}

export function createAdminApp(limiter: Limiter): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();

  admin.use("*", async (c, next) => {
    const token = c.env.ADMIN_TOKEN;
    if (!token) return c.notFound();
    // Failed attempts are counted per client IP in that IP's counter object, so the token cannot be
    // guessed at the edge's speed: past the limit, the IP is refused before its token is even compared.
    const store = counterStoreOf(c.env);
    const client = ipCountingKey(clientIpKey(c.req.header("cf-connecting-ip") ?? "", 64) ?? UNKNOWN_IP);
    const { results } = await store.inspect(client, [ADMIN_FAILURES]);
    if (results[0]!.remaining === 0) return tooManyFailures(results[0]!.resetAt);
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ ]+(.+)$/i.exec(header);
    if (!match || !constantTimeEqual(match[1]!.trim(), token)) {
      logEvent("admin.unauthorized", { method: c.req.method, path: c.req.path }, "warn");
      await store.check(client, { counters: [ADMIN_FAILURES] }, c.executionCtx);
      return problem(401, "unauthorized", "missing or wrong admin token", {});
    }
    c.set("actor", c.req.header("x-sluice-actor") ?? "admin-api");
    await next();
  });

  admin.get("/policy", async (c) => {
    const inForce = await limiter.policies.get(c.env);
    return new Response(inForce.text, {
      headers: {
        "Content-Type": "application/json",
        ETag: await etagOf(inForce.text),
        "X-Sluice-Policy-Source": inForce.source,
        "Cache-Control": "no-store",
      },
    });
  });

  admin.post("/policy/validate", async (c) => {
    const result = validatePolicyText(await c.req.text());
    if (!result.ok) return problem(400, "invalid_policy", "the policy document is invalid", { errors: result.errors });
    return c.json({ valid: true, rules: result.policy.rules.map((r) => r.id) });
  });

  admin.put("/policy", async (c) => {
    const text = await c.req.text();
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(400, "invalid_policy", "the policy document is invalid; nothing was stored", {
        errors: result.errors,
      });
    const ifMatch = c.req.header("if-match");
    if (ifMatch !== undefined) {
      const current = await currentStoredText(c.env, limiter);
      if (ifMatch.trim() !== "*" && ifMatch.trim() !== (await etagOf(current))) {
        return problem(412, "precondition_failed", "the policy changed since you read it; GET it again and retry", {
          etag: await etagOf(current),
        });
      }
    }
    const version = await publish(c.env, limiter, result.compiled, text, c.get("actor"), "put");
    return c.json({ stored: true, version, etag: await etagOf(text) }, 200, { ETag: await etagOf(text) });
  });

  admin.get("/policy/history", async (c) => {
    const list = await c.env.POLICIES.list({ prefix: HISTORY_PREFIX });
    const versions = list.keys
      .map((k) => ({ version: Number(k.name.slice(HISTORY_PREFIX.length)), ...(k.metadata as object | undefined) }))
      .sort((a, b) => b.version - a.version);
    return c.json({ versions });
  });

  admin.post("/policy/rollback", async (c) => {
    const body = await c.req.json<{ version?: unknown }>().catch(() => ({}) as { version?: unknown });
    const version = body.version;
    if (typeof version !== "number" || !Number.isInteger(version) || version < 1)
      return problem(400, "bad_request", 'body must be { "version": <positive integer> }');
    const stored = await c.env.POLICIES.get(`${HISTORY_PREFIX}${version}`);
    if (stored === null) return problem(404, "not_found", `no policy version ${version} in history`);
    const { text } = JSON.parse(stored) as { text: string };
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(409, "invalid_policy", `version ${version} no longer validates`, { errors: result.errors });
    const newVersion = await publish(c.env, limiter, result.compiled, text, c.get("actor"), `rollback:${version}`);
    return c.json({ stored: true, version: newVersion, restored: version, etag: await etagOf(text) });
  });

  registerCandidateRoutes(admin, limiter, publish);

  admin.put("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    if (!body || typeof body.apiKey !== "string" || body.apiKey.length === 0)
      return problem(400, "bad_request", "apiKey (a non-empty string) is required");
    const { apiKey, ...record } = body;
    const parsed = parseTenant(record);
    if (!parsed.success) {
      return problem(400, "invalid_tenant", "the tenant record is invalid", {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    // Overrides are checked against the policy in force, as a document's tiers are.
    const overrideErrors = checkOverrides(
      parsed.data.overrides,
      (await limiter.policies.get(c.env)).compiled,
      Date.now(),
    );
    if (overrideErrors.length > 0)
      return problem(400, "invalid_tenant", "the tenant's overrides do not fit the policy in force", {
        errors: overrideErrors,
      });
    const hash = await sha256Hex(apiKey);
    await c.env.POLICIES.put(tenantKey(hash), JSON.stringify(parsed.data));
    await indexTenant(c.env.POLICIES, parsed.data.id, hash);
    limiter.tenants.forget(hash);
    logEvent("tenant.stored", { id: parsed.data.id, tier: parsed.data.tier, actor: c.get("actor") });
    return c.json({ stored: true, tenant: parsed.data, key: tenantKey(hash) });
  });

  admin.delete("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    if (!body || typeof body.apiKey !== "string" || body.apiKey.length === 0)
      return problem(400, "bad_request", "apiKey (a non-empty string) is required");
    const hash = await sha256Hex(body.apiKey);
    const stored = await c.env.POLICIES.get(tenantKey(hash), { type: "json" });
    const existed = stored !== null;
    await c.env.POLICIES.delete(tenantKey(hash));
    const storedId = (stored as { id?: unknown } | null)?.id;
    if (typeof storedId === "string") await unindexTenant(c.env.POLICIES, storedId, hash);
    limiter.tenants.forget(hash);
    logEvent("tenant.deleted", { key: `${tenantKey(hash).slice(0, 19)}…`, actor: c.get("actor") });
    return c.json({ deleted: existed });
  });

  admin.get("/keys", async (c) => {
    const target = await counterTarget(
      c.req.query("rule"),
      c.req.query("key"),
      c.req.query("tier"),
      c.req.query("sandbox"),
      c.env,
      limiter,
      c.req.query("tenant"),
    );
    if (target instanceof Response) return target;
    const { now, results, penalties } = await counterStoreOf(c.env).inspect(
      target.objectName,
      target.specs,
      target.penalties,
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
    const target = await counterTarget(
      c.req.query("rule"),
      c.req.query("key"),
      c.req.query("tier"),
      c.req.query("sandbox"),
      c.env,
      limiter,
    );
    if (target instanceof Response) return target;
    // Resetting a key also lifts its penalty.
    const names = [...target.specs.map((s) => s.name), ...target.penalties];
    const removed = await counterStoreOf(c.env).reset(target.objectName, names);
    limiter.refusals.forgetObject(target.objectName);
    logEvent("counter.reset", { rule: target.rule, object: target.objectName, actor: c.get("actor") });
    return c.json({ reset: true, removed });
  });

  admin.get("/stats", (c) => {
    const candidate = limiter.candidates.snapshot();
    return c.json({ minutes: limiter.stats.snapshot(), ...(candidate ? { candidate } : {}) });
  });

  admin.notFound(() => problem(404, "not_found", "no such admin call"));
  return admin;
}

/** The text in KV now (not the isolate's cached copy): what `If-Match` is checked against. */
async function currentStoredText(env: Env, limiter: Limiter): Promise<string> {
  const stored = await env.POLICIES.get(POLICY_KEY);
  if (stored !== null) return stored;
  return (await limiter.policies.get(env)).source === "builtin" ? (await limiter.policies.get(env)).text : "";
}

export async function publish(
  env: Env,
  limiter: Limiter,
  compiled: CompiledPolicy,
  text: string,
  actor: string,
  how: string,
): Promise<number> {
  const version = Number((await env.POLICIES.get(VERSION_KEY)) ?? "0") + 1;
  const at = new Date().toISOString();
  await env.POLICIES.put(`${HISTORY_PREFIX}${version}`, JSON.stringify({ version, at, actor, how, text }), {
    metadata: { at, actor, how },
  });
  await env.POLICIES.put(VERSION_KEY, String(version));
  await env.POLICIES.put(POLICY_KEY, text);
  limiter.policies.install(compiled, text);
  logEvent("policy.published", { version, actor, how, rules: compiled.rules.map((r) => r.id) });
  return version;
}

async function counterTarget(
  ruleId: string | undefined,
  value: string | undefined,
  tier: string | undefined,
  sandbox: string | undefined,
  env: Env,
  limiter: Limiter,
  tenantId?: string,
): Promise<
  | Response
  | {
      rule: string;
      objectName: string;
      specs: CounterSpec[];
      penalties: string[];
      tenant: Tenant | null;
      tier: string;
      overrides: Record<string, unknown>;
    }
> {
  if (!ruleId || !value) return problem(400, "bad_request", "rule= and key= are required");
  const policy = (await limiter.policies.get(env)).compiled;
  const rule = policy.rules.find((r) => r.id === ruleId);
  if (!rule) return problem(404, "not_found", `no rule "${ruleId}" in the policy in force`);
  if (rule.limits.length === 0) return problem(400, "bad_request", `rule "${ruleId}" has no limits`);
  // For ip and tenant rules an IP names that client (anonymous clients of a tenant rule are counted by IP).
  const ipKey =
    rule.key.kind === "ip" || rule.key.kind === "tenant" ? clientIpKey(value, policy.ipv6Prefix) : undefined;
  const isIp = ipKey !== undefined;
  const ipValue = ipKey ?? value;
  // A tenant's own record sizes its limits: its tier (unless tier= says otherwise) and its overrides.
  const lookupId = tenantId ?? (rule.key.kind === "tenant" && !isIp ? value : undefined);
  const tenant = lookupId !== undefined ? await findTenantById(env.POLICIES, lookupId) : null;
  const inSandbox = sandbox === "true" || tenant?.sandbox === true;
  const objectName = scoped(await countingKeyForValue(rule.key, ipValue, isIp), inSandbox);
  const t = tier ?? tenant?.tier ?? policy.defaultTier;
  const now = Date.now();
  const specs = ruleCounterSpecs(policy, rule, t, inSandbox, tenant?.overrides, now);
  const overrides: Record<string, unknown> = {};
  for (const l of rule.limits) {
    const override = activeOverride(tenant?.overrides, l.name, now);
    if (override) overrides[l.name] = override;
  }
  return {
    rule: rule.id,
    objectName,
    specs,
    penalties: rule.penalty ? [rule.penalty.name] : [],
    tenant,
    tier: t,
    overrides,
  };
}
