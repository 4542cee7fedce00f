/**
 * Tenant records: KV `tenant:<sha256 hex of the API key>` →
 * `{ "id": "acme", "tier": "pro", "sandbox": false }`.
 *
 * Lookups are cached per isolate for the policy TTL, so a known key costs no
 * KV read on the hot path. Two bounded LRUs: tenants found (at most
 * {@link MAX_TENANTS}) and keys KV does not know (the negative cache, at most
 * {@link MAX_UNKNOWN}). A client inventing keys only fills the second: it
 * cannot grow the isolate's memory past both bounds, nor push real tenants
 * out (which would cost them a KV read each). Past a bound, the least
 * recently used entry of that map is forgotten.
 * @module
 */

import { tenantKey } from "../../kv/keys";
import { logEvent } from "../../log";
import { parseTenant, type Tenant } from "../../policy/tenant-record";

/** Tenants found, kept per isolate. */
export const MAX_TENANTS = 10_000;
/** API keys KV has no tenant for (the negative cache), kept per isolate. */
export const MAX_UNKNOWN = 10_000;

interface Cached {
  tenant: Tenant | null;
  until: number;
}

export class TenantCache {
  private known = new Map<string, Cached>();
  private unknown = new Map<string, Cached>();

  constructor(
    private readonly maxTenants = MAX_TENANTS,
    private readonly maxUnknown = MAX_UNKNOWN,
  ) {}

  async lookup(kv: KVNamespace, apiKeyHash: string, ttlMs: number, now = Date.now()): Promise<Tenant | null> {
    const hit = this.known.get(apiKeyHash) ?? this.unknown.get(apiKeyHash);
    if (hit && hit.until > now) {
      // Refresh its place in the LRU order.
      const map = hit.tenant ? this.known : this.unknown;
      map.delete(apiKeyHash);
      map.set(apiKeyHash, hit);
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
    this.known.delete(apiKeyHash);
    this.unknown.delete(apiKeyHash);
  }

  /** Entries cached: tenants found and keys without one. */
  get size(): number {
    return this.known.size + this.unknown.size;
  }

  /** Keys cached as having no tenant (at most `maxUnknown`). */
  get unknownSize(): number {
    return this.unknown.size;
  }

  private remember(hash: string, tenant: Tenant | null, until: number): void {
    this.forget(hash);
    const [map, max] = tenant ? [this.known, this.maxTenants] : [this.unknown, this.maxUnknown];
    map.set(hash, { tenant, until });
    while (map.size > max) map.delete(map.keys().next().value as string);
  }
}
