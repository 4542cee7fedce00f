/**
 * The candidate policy's admin calls: `GET|PUT|DELETE /policy/candidate` and
 * `POST /policy/promote`. A candidate is validated like any policy; promoting
 * it publishes it as the newest version (the document it replaces stays in
 * history) and removes the candidate.
 * @module
 */
import type { Hono } from "hono";
import { candidateId } from "../adapters/workers/kv-candidate-source";
import { CANDIDATE_KEY, HISTORY_PREFIX, POLICY_KEY, VERSION_KEY } from "../adapters/workers/kv-keys";
import type { Limiter } from "../adapters/workers/limiter";
import type { Env } from "../env";
import { logEvent } from "../log";
import type { CompiledPolicy } from "../policy/compile";
import { validatePolicyText } from "../policy/validate";
import { type AdminEnv, etagOf, problem } from "./app";

type Publish = (
  env: Env,
  limiter: Limiter,
  compiled: CompiledPolicy,
  text: string,
  actor: string,
  how: string,
) => Promise<number>;

export function registerCandidateRoutes(admin: Hono<AdminEnv>, limiter: Limiter, publish: Publish): void {
  admin.get("/policy/candidate", async (c) => {
    const text = await c.env.POLICIES.get(CANDIDATE_KEY);
    if (text === null) return problem(404, "not_found", "there is no candidate policy");
    return new Response(text, {
      headers: { "Content-Type": "application/json", ETag: await etagOf(text), "Cache-Control": "no-store" },
    });
  });

  admin.put("/policy/candidate", async (c) => {
    const text = await c.req.text();
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(400, "invalid_policy", "the candidate document is invalid; nothing was stored", {
        errors: result.errors,
      });
    await c.env.POLICIES.put(CANDIDATE_KEY, text);
    const id = await candidateId(text);
    limiter.candidates.source.install({ compiled: result.compiled, text, id });
    logEvent("candidate.stored", { id, actor: c.get("actor"), rules: result.policy.rules.map((r) => r.id) });
    return c.json({ stored: true, candidate: id, etag: await etagOf(text) });
  });

  admin.delete("/policy/candidate", async (c) => {
    const existed = (await c.env.POLICIES.get(CANDIDATE_KEY)) !== null;
    await c.env.POLICIES.delete(CANDIDATE_KEY);
    limiter.candidates.source.install(null);
    logEvent("candidate.dropped", { actor: c.get("actor"), existed });
    return c.json({ deleted: existed });
  });

  admin.post("/policy/promote", async (c) => {
    const text = await c.env.POLICIES.get(CANDIDATE_KEY);
    if (text === null) return problem(404, "not_found", "there is no candidate policy to promote");
    const result = validatePolicyText(text);
    if (!result.ok)
      return problem(409, "invalid_policy", "the candidate no longer validates", { errors: result.errors });
    const actor = c.get("actor");
    // The document it replaces must be in history, to roll back to: one put straight into KV may not be.
    const live = await c.env.POLICIES.get(POLICY_KEY);
    if (live !== null && !(await newestInHistory(c.env, live))) {
      const archived = await archive(c.env, live, actor);
      logEvent("policy.archived", { version: archived, actor, how: "before-promote" });
    }
    const version = await publish(c.env, limiter, result.compiled, text, actor, "promote");
    await c.env.POLICIES.delete(CANDIDATE_KEY);
    limiter.candidates.source.install(null);
    return c.json({ promoted: true, version, etag: await etagOf(text) });
  });
}

async function newestInHistory(env: Env, text: string): Promise<boolean> {
  const version = await env.POLICIES.get(VERSION_KEY);
  if (version === null) return false;
  const stored = await env.POLICIES.get(`${HISTORY_PREFIX}${version}`);
  return stored !== null && (JSON.parse(stored) as { text?: string }).text === text;
}

async function archive(env: Env, text: string, actor: string): Promise<number> {
  const version = Number((await env.POLICIES.get(VERSION_KEY)) ?? "0") + 1;
  const at = new Date().toISOString();
  const how = "before-promote";
  await env.POLICIES.put(`${HISTORY_PREFIX}${version}`, JSON.stringify({ version, at, actor, how, text }), {
    metadata: { at, actor, how },
  });
  await env.POLICIES.put(VERSION_KEY, String(version));
  return version;
}
