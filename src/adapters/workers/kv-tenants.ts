/**
 * Tenant records: KV `tenant:<sha256 hex of the API key>` →
 * `{ "id": "acme", "tier": "pro", "sandbox": false }`.
 *
 * Lookups are cached per isolate in a bounded LRU (misses too), so a known
 * key costs no KV read on the hot path and a client inventing keys cannot
 * grow the isolate's memory.
 * @module
 */
import { logEvent } from "../../log";
import { parseTenant, type Tenant } from "../../policy/tenant-record";
import { tenantKey } from "./kv-keys";

const MAX_CACHED = 10_000;

export class TenantCache {
  private entries = new Map<string, { tenant: Tenant | null; until: number }>();

  constructor(private readonly maxEntries = MAX_CACHED) {}

  async lookup(kv: KVNamespace, apiKeyHash: string, ttlMs: number, now = Date.now()): Promise<Tenant | null> {
    const hit = this.entries.get(apiKeyHash);
    if (hit && hit.until > now) {
      // Refresh its place in the LRU order.
      this.entries.delete(apiKeyHash);
      this.entries.set(apiKeyHash, hit);
      return hit.tenant;
    }
    let tenant: Tenant | null = null;
    try {
      const raw = await kv.get(tenantKey(apiKeyHash), { type: "json", cacheTtl: 60 });
      if (raw !== null) {
        const parsed = parseTenant(raw);
        if (parsed.success) tenant = parsed.data;
        else
          logEvent(
            "tenant.invalid",
            { key: `tenant:${apiKeyHash.slice(0, 12)}…`, errors: parsed.error.issues.map((i) => i.message) },
            "warn",
          );
      }
    } catch (e) {
      // KV trouble: keep a stale record if we have one, else count the client by IP.
      logEvent("tenant.load_failed", { message: (e as Error).message }, "warn");
      return hit?.tenant ?? null;
    }
    this.remember(apiKeyHash, tenant, now + ttlMs);
    return tenant;
  }

  /** The admin API's writes show at once in this isolate. */
  forget(apiKeyHash: string): void {
    this.entries.delete(apiKeyHash);
  }

  get size(): number {
    return this.entries.size;
  }

  private remember(hash: string, tenant: Tenant | null, until: number): void {
    this.entries.delete(hash);
    this.entries.set(hash, { tenant, until });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
