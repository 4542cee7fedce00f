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

/** A candidate document, evaluated in shadow beside the one in force (`PUT <admin>/policy/candidate`). */
export const CANDIDATE_KEY = "policy:candidate";

/** A tenant record's key: `tenant:<sha256 hex of the API key>`. */
export function tenantKey(apiKeyHash: string): string {
  return `tenant:${apiKeyHash}`;
}

/** Which API key's record a tenant id was last stored with: `tenant-id:<id>` → sha256 hex (admin `GET /keys`). */
export function tenantIdKey(id: string): string {
  return `tenant-id:${id}`;
}
