/**
 * Finding a tenant's record by its id, for the admin calls that are given an
 * id rather than an API key (`GET /keys?rule=…&key=<tenant id>`). Records are
 * stored under the hash of the API key, so `PUT /tenants` also writes
 * `tenant-id:<id>` → that hash. With several API keys for one id, the record
 * last stored is the one found.
 * @module
 */
import { tenantIdKey, tenantKey } from "../kv/keys";
import { parseTenant, type Tenant } from "../policy/tenant-record";

export async function findTenantById(kv: KVNamespace, id: string): Promise<Tenant | null> {
  const hash = await kv.get(tenantIdKey(id));
  if (hash === null) return null;
  const raw = await kv.get(tenantKey(hash), { type: "json" });
  const parsed = parseTenant(raw);
  return parsed.success && parsed.data.id === id ? parsed.data : null;
}

export async function indexTenant(kv: KVNamespace, id: string, apiKeyHash: string): Promise<void> {
  await kv.put(tenantIdKey(id), apiKeyHash);
}

/** Removes the index entry of a deleted record, unless it now points to another API key of that id. */
export async function unindexTenant(kv: KVNamespace, id: string, apiKeyHash: string): Promise<void> {
  if ((await kv.get(tenantIdKey(id))) === apiKeyHash) await kv.delete(tenantIdKey(id));
}
