/**
 * The candidate policy's admin calls: `GET|PUT|DELETE /policy/candidate` and
 * `POST /policy/promote`. A candidate is validated like any policy; promoting
 * it publishes it as the newest version (the document it replaces stays in
 * history) and removes the candidate.
 * @module
 */
import type { Hono } from "hono";
import { candidateId } from "../adapters/workers/kv-candidate-source";
import type { SluiceLimiter } from "../adapters/workers/limiter";
import type { PublishRequest, PublishResult } from "../durable/policy-writer";
import type { Env } from "../env";
import { CANDIDATE_KEY } from "../kv/keys";
import { logEvent } from "../log";
import type { CompiledPolicy } from "../policy/compile";
import { validatePolicyText } from "../policy/validate";
import { type AdminEnv, etagOf, problem } from "./app";

type Publish = (
  env: Env,
  limiter: SluiceLimiter,
  compiled: CompiledPolicy,
  request: PublishRequest,
) => Promise<PublishResult>;

export function registerCandidateRoutes(admin: Hono<AdminEnv>, limiter: SluiceLimiter, publish: Publish): void {
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
    // The publish goes through the single writer, which records a hand-written live document in history
    // before replacing it, so the document the candidate replaces can be rolled back to.
    const published = await publish(c.env, limiter, result.compiled, { text, actor, how: "promote" });
    if (!published.ok) return problem(500, "internal", "the candidate was not published");
    await c.env.POLICIES.delete(CANDIDATE_KEY);
    limiter.candidates.source.install(null);
    return c.json({ promoted: true, version: published.version, etag: published.etag });
  });
}
