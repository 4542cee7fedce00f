/**
 * What `GET /policy/status` says in words: which document is in force and why.
 * @module
 */

import type { StoredPolicyState } from "../adapters/workers/stored-policy";
import { POLICY_KEY } from "../kv/keys";
import type { PolicyOrigin } from "../policy/in-force";

/** One sentence on what is in force and why (the CLI's `get` prints it from `GET /policy/status`). */
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
