/**
 * A publish: through the single writer object when the Worker has one (`POLICY_WRITER`), else the
 * same steps here (a library user's Worker without the binding: not serialised, documented).
 * @module
 */

import type { SluiceLimiter } from "../adapters/workers/limiter";
import { POLICY_WRITER_NAME } from "../adapters/workers/stored-policy";
import type { PublishRequest, PublishResult } from "../durable/policy-writer";
import type { Env } from "../env";
import { etagOf, ifMatchTags } from "../http/etag";
import { POLICY_KEY } from "../kv/keys";
import { appendHistory } from "../kv/policy-history";
import { logEvent } from "../log";
import type { CompiledPolicy } from "../policy/compile";
import { DEFAULT_POLICY } from "../policy/default-policy";

export async function publishThroughWriter(env: Env, request: PublishRequest): Promise<PublishResult> {
  if (env.POLICY_WRITER) return env.POLICY_WRITER.getByName(POLICY_WRITER_NAME).publish(request);
  if (request.ifMatch !== undefined) {
    const stored = await env.POLICIES.get(POLICY_KEY);
    const current = await etagOf(stored ?? JSON.stringify(DEFAULT_POLICY, null, 2));
    const tags = ifMatchTags(request.ifMatch);
    if (!tags.includes("*") && !tags.includes(current))
      return { ok: false, reason: "precondition_failed", etag: current };
  }
  const entry = await appendHistory(env.POLICIES, { actor: request.actor, how: request.how, text: request.text });
  await env.POLICIES.put(POLICY_KEY, request.text);
  return { ok: true, version: entry.version, etag: await etagOf(request.text) };
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
