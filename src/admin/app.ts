/**
 * The admin API (README "Admin API"), mounted under `ADMIN_PREFIX`. Every
 * call needs `Authorization: Bearer <token>`: `ADMIN_TOKEN` or a named token
 * of `ADMIN_TOKENS` / `ADMIN_READ_TOKEN`, whose role (read or write) says what
 * it may call (./tokens.ts). With no token configured the whole API answers
 * 404, as if it were not there.
 * @module
 */
import { Hono } from "hono";
import { counterStoreOf, type SluiceLimiter } from "../adapters/workers/limiter";
import type { StoredPolicyState } from "../adapters/workers/stored-policy";
import type { PublishRequest, PublishResult } from "../durable/policy-writer";
import { countingKeyForValue, scoped } from "../engine/counting-key";
import { ruleCounterSpecs } from "../engine/plan";
import type { Env } from "../env";
import { sha256Hex } from "../hash";
import { etagOf } from "../http/etag";
import { HISTORY_PREFIX, POLICY_KEY, tenantKey } from "../kv/keys";
import { readHistoryEntry } from "../kv/policy-history";
import type { CounterSpec } from "../limiter/types";
import { logEvent } from "../log";
import { clientIpKey } from "../net/ip";
import type { CompiledPolicy } from "../policy/compile";
import type { PolicyOrigin } from "../policy/in-force";
import { activeOverride, checkOverrides } from "../policy/overrides";
import { unknownTier } from "../policy/policy-checks";
import { tenantProblems } from "../policy/tenant-checks";
import { parseTenant, type Tenant } from "../policy/tenant-record";
import { MAX_POLICY_BYTES, tooLarge, validatePolicyText } from "../policy/validate";
import { adminOffResponse } from "./admin-off";
import { registerCandidateRoutes } from "./candidate-routes";
import { addressKey, authenticate, unlockAddress } from "./lockout";
import { publishThroughWriter } from "./publish";
import { findTenantById, indexTenant, unindexTenant } from "./tenant-lookup";
import { type AdminRole, adminTokens, readOnlyCall } from "./tokens";

/** `actor`: the name of the token the call came with; `role`: what that token may do. */
export type AdminEnv = { Bindings: Env; Variables: { actor: string; role: AdminRole } };

export { etagOf };

/** Error body of the admin API: `{ error, message }` plus `errors: [{path, message}]` for a bad document. */
export function problem(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error, message, ...extra }, { status, headers: { "Cache-Control": "no-store" } });
}

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

  admin.get("/policy", async (c) => {
    // An operator asks what is in force now: read KV afresh rather than answer from the cache.
    const inForce = await limiter.policies.current(c.env);
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
    const inForce = await limiter.policies.current(c.env);
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

  // One version: its history entry as JSON (`{version, at, actor, how, text}`), the same facts in headers.
  admin.get("/policy/history/:version{[0-9]+}", async (c) => {
    const version = Number(c.req.param("version"));
    const entry = await readHistoryEntry(c.env.POLICIES, version);
    if (!entry) return problem(404, "not_found", `no policy version ${version} in history`);
    return c.json(entry, 200, {
      ETag: await etagOf(entry.text),
      "X-Sluice-Policy-Version": String(entry.version),
      "X-Sluice-Published-At": entry.at,
      "X-Sluice-Published-By": entry.actor,
      "X-Sluice-Published-How": entry.how,
      "Cache-Control": "no-store",
    });
  });

  admin.post("/policy/validate", async (c) => {
    const text = await boundedText(c.req.raw);
    if (text instanceof Response) return text;
    const result = validatePolicyText(text);
    if (!result.ok) return problem(400, "invalid_policy", "the policy document is invalid", { errors: result.errors });
    return c.json({ valid: true, rules: result.policy.rules.map((r) => r.id) });
  });

  admin.put("/policy", async (c) => {
    const text = await boundedText(c.req.raw);
    if (text instanceof Response) return text;
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(400, "invalid_policy", "the policy document is invalid; nothing was stored", {
        errors: result.errors,
      });
    const published = await publish(c.env, limiter, result.compiled, {
      text,
      actor: c.get("actor"),
      how: "put",
      ...(c.req.header("if-match") !== undefined ? { ifMatch: c.req.header("if-match") } : {}),
    });
    if (!published.ok)
      return problem(412, "precondition_failed", "the policy changed since you read it; GET it again and retry", {
        etag: published.etag,
      });
    return c.json({ stored: true, version: published.version, etag: published.etag }, 200, {
      ETag: published.etag,
    });
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
    const entry = await readHistoryEntry(c.env.POLICIES, version);
    if (entry === null) return problem(404, "not_found", `no policy version ${version} in history`);
    const { text } = entry;
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(409, "invalid_policy", `version ${version} no longer validates`, { errors: result.errors });
    const published = await publish(c.env, limiter, result.compiled, {
      text,
      actor: c.get("actor"),
      how: `rollback:${version}`,
    });
    if (!published.ok) return problem(500, "internal", "the rollback was not stored");
    return c.json({ stored: true, version: published.version, restored: version, etag: published.etag });
  });

  registerCandidateRoutes(admin, limiter, publish);

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
    const previousId = ((await c.env.POLICIES.get(tenantKey(hash), { type: "json" })) as { id?: unknown } | null)?.id;
    // The record in the metadata too, so that listing tenants needs no read per tenant.
    await c.env.POLICIES.put(tenantKey(hash), JSON.stringify(parsed.data), { metadata: parsed.data });
    await indexTenant(c.env.POLICIES, parsed.data.id, hash);
    // A record renamed: its old id no longer finds it.
    if (typeof previousId === "string" && previousId !== parsed.data.id)
      await unindexTenant(c.env.POLICIES, previousId, hash);
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
    const { now, results, penalties, shards } = await counterStoreOf(c.env).inspect(
      target.objectName,
      target.specs,
      target.penalties,
      target.shards,
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
    const removed = await counterStoreOf(c.env).reset(target.objectName, names, target.shards, target.shardsPerRegion);
    limiter.refusals.forgetObject(target.objectName);
    logEvent("counter.reset", { rule: target.rule, object: target.objectName, actor: c.get("actor") });
    return c.json({ reset: true, removed });
  });

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

/**
 * Publishes through the single writer (version, history entry, KV write, in that order, one publish
 * at a time) and puts the document in force in this isolate at once.
 */
export async function publish(
  env: Env,
  limiter: SluiceLimiter,
  compiled: CompiledPolicy,
  request: PublishRequest,
): Promise<PublishResult> {
  const result = await publishThroughWriter(env, request);
  if (!result.ok) return result;
  limiter.policies.install(compiled, request.text, Date.now(), result.version);
  logEvent("policy.published", {
    version: result.version,
    actor: request.actor,
    how: request.how,
    rules: compiled.rules.length,
  });
  return result;
}

async function counterTarget(
  ruleId: string | undefined,
  value: string | undefined,
  tier: string | undefined,
  sandbox: string | undefined,
  env: Env,
  limiter: SluiceLimiter,
  tenantId?: string,
): Promise<
  | Response
  | {
      rule: string;
      objectName: string;
      specs: CounterSpec[];
      penalties: string[];
      /** The rule's `shards`: its key's tree is read and reset with it. */
      shards?: number;
      /** The rule's `shardsPerRegion`: its regional shards forget their refusals on a reset. */
      shardsPerRegion?: number;
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
  const badTier = tier === undefined ? undefined : unknownTier(tier, policy.document);
  if (badTier) return problem(400, "bad_request", badTier);
  const t = tier ?? tenant?.tier ?? policy.defaultTier;
  const now = Date.now();
  const specs = ruleCounterSpecs(policy, rule, t, inSandbox, tenant?.overrides, now, tenant?.billing);
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
    ...(rule.shards ? { shards: rule.shards } : {}),
    ...(rule.shardsPerRegion ? { shardsPerRegion: rule.shardsPerRegion } : {}),
    tenant,
    tier: t,
    overrides,
  };
}

/** One sentence on what is in force and why, for `GET /policy/status`. */
export function statusMessage(
  source: PolicyOrigin,
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

/** The body as text, or a 413 when it is larger than a policy may be (before reading it all when the length is declared). */
async function boundedText(request: Request): Promise<string | Response> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  const tooBig = (size: number) =>
    problem(413, "too_large", "the policy document is too large; nothing was stored", { errors: [tooLarge(size)] });
  if (Number.isFinite(declared) && declared > MAX_POLICY_BYTES) return tooBig(declared);
  const text = await request.text();
  const size = new TextEncoder().encode(text).length;
  return size > MAX_POLICY_BYTES ? tooBig(size) : text;
}
