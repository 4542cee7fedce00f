/**
 * The admin API (contract section 7), mounted under `ADMIN_PREFIX`. Every
 * call needs `Authorization: Bearer <ADMIN_TOKEN>`; with no token configured
 * the whole API answers 404, as if it were not there.
 * @module
 */
import { Hono } from "hono";
import type { CompiledPolicy } from "../config/compile";
import { HISTORY_PREFIX, POLICY_KEY, tenantKey } from "../config/kv-keys";
import { appendHistory, readHistoryEntry } from "../config/policy-history";
import type { PolicySource } from "../config/policy-store";
import type { StoredPolicyState } from "../config/stored-policy";
import { TenantSchema } from "../config/tenant-record";
import { validatePolicyText } from "../config/validate";
import { countingKeyForValue } from "../core/counting-key";
import { UNKNOWN_IP } from "../core/identity";
import type { Limiter } from "../core/limit";
import { counterSpec } from "../core/limit";
import type { Env } from "../env";
import { sha256Hex } from "../http/hash";
import type { CounterSpec } from "../limiter/types";
import { logEvent } from "../log";
import { clientIpKey } from "../net/ip";
import { constantTimeEqual } from "./constant-time";

export const DEFAULT_ADMIN_PREFIX = "/__ratelimit";
export { HISTORY_PREFIX };

type AdminEnv = { Bindings: Env; Variables: { actor: string } };

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
function problem(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error, message, ...extra }, { status, headers: { "Cache-Control": "no-store" } });
}

export function createAdminApp(limiter: Limiter): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();

  admin.use("*", async (c, next) => {
    const token = c.env.ADMIN_TOKEN;
    if (!token) return c.notFound();
    // Failed attempts are counted per client IP in that IP's counter object, so the token cannot be
    // guessed at the edge's speed: past the limit, the IP is refused before its token is even compared.
    const attempts = c.env.LIMITER.getByName(
      `ip:${clientIpKey(c.req.header("cf-connecting-ip") ?? "", 64) ?? UNKNOWN_IP}`,
    );
    const { results } = await attempts.inspect([ADMIN_FAILURES]);
    if (results[0]!.remaining === 0) return tooManyFailures(results[0]!.resetAt);
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ ]+(.+)$/i.exec(header);
    if (!match || !constantTimeEqual(match[1]!.trim(), token)) {
      logEvent("admin.unauthorized", { method: c.req.method, path: c.req.path }, "warn");
      await attempts.check({ counters: [ADMIN_FAILURES] });
      return problem(401, "unauthorized", "missing or wrong admin token", {});
    }
    c.set("actor", c.req.header("x-sluice-actor") ?? "admin-api");
    await next();
  });

  admin.get("/policy", async (c) => {
    // An operator asks what is in force now: read KV afresh rather than answer from the cache.
    limiter.policies.invalidate();
    const inForce = await limiter.policies.get(c.env, undefined, c.executionCtx);
    const stored = limiter.policies.storedState();
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      ETag: await etagOf(inForce.text),
      "X-Sluice-Policy-Source": inForce.source,
      "X-Sluice-Stored-Policy": stored.state,
      "Cache-Control": "no-store",
    };
    if (inForce.version !== undefined) headers["X-Sluice-Policy-Version"] = String(inForce.version);
    if (stored.state === "invalid") headers["X-Sluice-Stored-Policy-Errors"] = String(stored.errors.length);
    return new Response(inForce.text, { headers });
  });

  admin.get("/policy/status", async (c) => {
    limiter.policies.invalidate();
    const inForce = await limiter.policies.get(c.env, undefined, c.executionCtx);
    const stored = limiter.policies.storedState();
    return c.json({
      inForce: {
        source: inForce.source,
        version: inForce.version ?? null,
        etag: await etagOf(inForce.text),
        rules: inForce.compiled.rules.length,
      },
      stored,
      message: statusMessage(inForce.source, inForce.version, stored.state),
    });
  });

  admin.get("/policy/history/:version{[0-9]+}", async (c) => {
    const version = Number(c.req.param("version"));
    const entry = await readHistoryEntry(c.env.POLICIES, version);
    if (!entry) return problem(404, "not_found", `no policy version ${version} in history`);
    return new Response(entry.text, {
      headers: {
        "Content-Type": "application/json",
        ETag: await etagOf(entry.text),
        "X-Sluice-Policy-Version": String(entry.version),
        "X-Sluice-Published-At": entry.at,
        "X-Sluice-Published-By": entry.actor,
        "X-Sluice-Published-How": entry.how,
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

  admin.put("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    if (!body || typeof body.apiKey !== "string" || body.apiKey.length === 0)
      return problem(400, "bad_request", "apiKey (a non-empty string) is required");
    const { apiKey, ...record } = body;
    const parsed = TenantSchema.safeParse(record);
    if (!parsed.success) {
      return problem(400, "invalid_tenant", "the tenant record is invalid", {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    const hash = await sha256Hex(apiKey);
    await c.env.POLICIES.put(tenantKey(hash), JSON.stringify(parsed.data));
    limiter.tenants.forget(hash);
    logEvent("tenant.stored", { id: parsed.data.id, tier: parsed.data.tier, actor: c.get("actor") });
    return c.json({ stored: true, tenant: parsed.data, key: tenantKey(hash) });
  });

  admin.delete("/tenants", async (c) => {
    const body = await c.req.json<Record<string, unknown>>().catch(() => null);
    if (!body || typeof body.apiKey !== "string" || body.apiKey.length === 0)
      return problem(400, "bad_request", "apiKey (a non-empty string) is required");
    const hash = await sha256Hex(body.apiKey);
    const existed = (await c.env.POLICIES.get(tenantKey(hash))) !== null;
    await c.env.POLICIES.delete(tenantKey(hash));
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
    );
    if (target instanceof Response) return target;
    const { now, results } = await c.env.LIMITER.getByName(target.objectName).inspect(target.specs);
    return c.json({
      rule: target.rule,
      object: target.objectName,
      limits: results.map((r) => ({
        name: r.name,
        limit: r.limit,
        remaining: r.remaining,
        reset: Math.ceil(r.resetAt / 1000),
        resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
      })),
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
    const removed = await c.env.LIMITER.getByName(target.objectName).reset(target.specs.map((s) => s.name));
    limiter.refusals.forgetObject(target.objectName);
    logEvent("counter.reset", { rule: target.rule, object: target.objectName, actor: c.get("actor") });
    return c.json({ reset: true, removed });
  });

  admin.get("/stats", (c) => c.json({ minutes: limiter.stats.snapshot() }));

  admin.notFound(() => problem(404, "not_found", "no such admin call"));
  return admin;
}

/** The text in KV now (not the isolate's cached copy): what `If-Match` is checked against. */
async function currentStoredText(env: Env, limiter: Limiter): Promise<string> {
  const stored = await env.POLICIES.get(POLICY_KEY);
  if (stored !== null) return stored;
  return (await limiter.policies.get(env)).source === "builtin" ? (await limiter.policies.get(env)).text : "";
}

async function publish(
  env: Env,
  limiter: Limiter,
  compiled: CompiledPolicy,
  text: string,
  actor: string,
  how: string,
): Promise<number> {
  const { version } = await appendHistory(env.POLICIES, { actor, how, text });
  await env.POLICIES.put(POLICY_KEY, text);
  limiter.policies.install(compiled, text, Date.now(), version);
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
): Promise<Response | { rule: string; objectName: string; specs: CounterSpec[] }> {
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
  const inSandbox = sandbox === "true";
  const objectName = `${inSandbox ? "sandbox:" : ""}${await countingKeyForValue(rule.key, ipValue, isIp)}`;
  const t = tier ?? policy.defaultTier;
  const multiplier = inSandbox ? policy.sandboxMultiplier : 1;
  const specs = rule.limits.map((l) => counterSpec(l, rule.cost, t, multiplier));
  return { rule: rule.id, objectName, specs };
}

/** One sentence on what is in force and why, for `GET /policy/status` and the CLI. */
export function statusMessage(
  source: PolicySource,
  version: number | undefined,
  stored: StoredPolicyState["state"],
): string {
  const which =
    source === "builtin"
      ? "the built-in default"
      : version !== undefined
        ? `version ${version}`
        : "a document with no version yet";
  if (stored === "invalid")
    return `KV "${POLICY_KEY}" holds an INVALID document; it is not in force. In force: ${which}${source === "history" ? " (the newest valid version in history)" : ""}.`;
  if (stored === "unreadable") return `KV could not be read; in force: ${which} (the last one read).`;
  if (stored === "absent") return `KV has no "${POLICY_KEY}"; in force: the built-in default.`;
  return `In force: ${which}, as stored in KV "${POLICY_KEY}".`;
}
