/**
 * The KV keys sluice reads and writes, in one Workers-free module so the
 * Worker, the admin API and the CLI spell them the same way.
 * @module
 */

/** The policy document in force. */
export const POLICY_KEY = "policy";
/** Every document published through the admin API: `policy:history:<version>`. */
export const HISTORY_PREFIX = "policy:history:";
/** The latest published version number. */
export const VERSION_KEY = "policy:version";

/** A tenant record's key: `tenant:<sha256 hex of the API key>`. */
export function tenantKey(apiKeyHash: string): string {
  return `tenant:${apiKeyHash}`;
}
