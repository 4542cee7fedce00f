/**
 * The policy in force and its history: `GET /policy`, `GET /policy/status`,
 * `GET /policy/history[/<version>]`, `POST /policy/validate`, `PUT /policy`
 * and `POST /policy/rollback`. Every publish goes through the single writer
 * (./publish.ts).
 * @module
 */
import type { Hono } from "hono";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import { etagOf } from "../http/etag";
import { HISTORY_PREFIX } from "../kv/keys";
import { readHistoryEntry } from "../kv/policy-history";
import { MAX_POLICY_BYTES, tooLarge, validatePolicyText } from "../policy/validate";
import { type AdminEnv, problem } from "./problem";
import { publish } from "./publish";
import { statusMessage } from "./status-message";

export function registerPolicyRoutes(admin: Hono<AdminEnv>, limiter: SluiceLimiter): void {
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
