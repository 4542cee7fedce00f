/**
 * A publish: through the single writer object when the Worker has one (`POLICY_WRITER`), else the
 * same steps here (a library user's Worker without the binding: not serialised, documented).
 * @module
 */

import { POLICY_WRITER_NAME } from "../adapters/workers/stored-policy";
import type { PublishRequest, PublishResult } from "../durable/policy-writer";
import type { Env } from "../env";
import { etagOf, ifMatchTags } from "../http/etag";
import { POLICY_KEY } from "../kv/keys";
import { appendHistory } from "../kv/policy-history";
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
