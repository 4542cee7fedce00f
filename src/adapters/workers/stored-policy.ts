/**
 * What KV's `policy` key holds, as the policy store last read it, and the recording of documents
 * that reached KV without going through sluice (so that every document in force has a version).
 * @module
 */
import type { Env } from "../../env";
import { latestVersion, readHistoryEntry, recordIfNew } from "../../kv/policy-history";
import { logEvent } from "../../log";
import type { PolicyError } from "../../policy/validate";

/** The name of the one policy writer object (`env.POLICY_WRITER.getByName(...)`). */
export const POLICY_WRITER_NAME = "policy";

export type StoredPolicyState =
  | { state: "unread" }
  | { state: "valid" }
  | { state: "absent" }
  | { state: "invalid"; errors: PolicyError[] }
  | { state: "unreadable"; message: string };

/**
 * The history version of a valid document just read from KV, appending it as `seen-in-kv` when it
 * is not in history yet. Never throws: a failure is logged and the version stays unknown.
 */
export async function seenInKv(env: Env, text: string): Promise<number | undefined> {
  try {
    // The common case, a document published through sluice: it is the newest entry, and every isolate
    // that adopts it finds that out with two KV reads instead of a call to the one writer.
    const newest = await latestVersion(env.POLICIES);
    if (newest > 0 && (await readHistoryEntry(env.POLICIES, newest))?.text === text) return newest;
    // Through the single writer when there is one, so that two isolates seeing the same document
    // (or one beside a publish) never take the same version.
    const { version, added } = env.POLICY_WRITER
      ? await env.POLICY_WRITER.getByName(POLICY_WRITER_NAME).recordSeen(text)
      : await recordIfNew(env.POLICIES, text);
    if (added) logEvent("policy.recorded", { version, how: "seen-in-kv" });
    return version;
  } catch (e) {
    logEvent("policy.record_failed", { message: (e as Error).message ?? String(e) }, "warn");
    return undefined;
  }
}
