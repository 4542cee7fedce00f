/**
 * Tenant records in KV, as the admin API (`PUT|DELETE /tenants`) and the CLI
 * through wrangler (`tenant add|remove --local|--remote`) both write them, so
 * either way leaves the same keys: `tenant:<sha256 of the API key>` → the
 * record, with the record as its metadata too (listing tenants then needs no
 * read per tenant), and `tenant-id:<id>` → that hash, so that calls given an
 * id rather than an API key (`GET /keys?rule=…&key=<tenant id>`) find the
 * record. With several API keys for one id, the record last stored is found.
 * @module
 */
import { tenantIdKey, tenantKey } from "../kv/keys";
import { parseTenant, type Tenant } from "../policy/tenant-record";

/** The few KV calls a tenant write needs: Workers KV in the Worker, wrangler's in the CLI. */
export interface TenantKv {
  get(key: string): Promise<string | null>;
  /** Writes the entries, in order (wrangler writes them in one run). */
  put(entries: ReadonlyArray<{ key: string; value: string; metadata?: unknown }>): Promise<void>;
  delete(key: string): Promise<void>;
}

/** What of a Workers `KVNamespace` a tenant write uses (named here so that the CLI's Node build needs no Workers types). */
interface WorkersKv {
  get(key: string): Promise<string | null>;
  put(key: string, value: string, options?: { metadata?: unknown }): Promise<void>;
  delete(key: string): Promise<void>;
}

export function workersTenantKv(kv: WorkersKv): TenantKv {
  return {
    get: (key) => kv.get(key),
    put: async (entries) => {
      for (const { key, value, metadata } of entries)
        await kv.put(key, value, metadata !== undefined ? { metadata } : {});
    },
    delete: (key) => kv.delete(key),
  };
}

function storedId(text: string | null): string | undefined {
  if (text === null) return undefined;
  try {
    const id = (JSON.parse(text) as { id?: unknown } | null)?.id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

export async function findTenantById(kv: TenantKv, id: string): Promise<Tenant | null> {
  const hash = await kv.get(tenantIdKey(id));
  if (hash === null) return null;
  const raw = await kv.get(tenantKey(hash));
  let parsed: ReturnType<typeof parseTenant>;
  try {
    parsed = parseTenant(raw === null ? null : JSON.parse(raw));
  } catch {
    return null;
  }
  return parsed.success && parsed.data.id === id ? parsed.data : null;
}

/** Stores (or replaces) the record of an API key's hash; a record renamed is no longer found by its old id. */
export async function storeTenant(kv: TenantKv, apiKeyHash: string, record: Tenant): Promise<void> {
  const previousId = storedId(await kv.get(tenantKey(apiKeyHash)));
  await kv.put([
    { key: tenantKey(apiKeyHash), value: JSON.stringify(record), metadata: record },
    { key: tenantIdKey(record.id), value: apiKeyHash },
  ]);
  if (previousId !== undefined && previousId !== record.id) await unindex(kv, previousId, apiKeyHash);
}

/** Deletes the record of an API key's hash and its id's index entry; whether there was a record. */
export async function removeTenant(kv: TenantKv, apiKeyHash: string): Promise<boolean> {
  const stored = await kv.get(tenantKey(apiKeyHash));
  await kv.delete(tenantKey(apiKeyHash));
  const id = storedId(stored);
  if (id !== undefined) await unindex(kv, id, apiKeyHash);
  return stored !== null;
}

/** Removes an id's index entry, unless it now points to another API key of that id. */
async function unindex(kv: TenantKv, id: string, apiKeyHash: string): Promise<void> {
  if ((await kv.get(tenantIdKey(id))) === apiKeyHash) await kv.delete(tenantIdKey(id));
}
