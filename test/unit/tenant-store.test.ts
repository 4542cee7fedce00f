/**
 * One tenant store (src/admin/tenant-store.ts): a tenant added, renamed and removed through the
 * CLI's KV path (`tenant add|remove --local`, its wrangler calls given KV in memory) and through
 * the admin API's write leaves the same keys, values and metadata in KV.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findTenantById, removeTenant, storeTenant, workersTenantKv } from "../../src/admin/tenant-store";
import { KvPolicyTarget } from "../../src/cli/kv-target";
import type { BulkEntry, KvCalls } from "../../src/cli/wrangler";
import { sha256Hex } from "../../src/hash";
import { tenantIdKey, tenantKey } from "../../src/kv/keys";
import type { Tenant } from "../../src/policy/tenant-record";

const POLICY = readFileSync(new URL("../fixtures/cli/tiered.json", import.meta.url), "utf8");

/** Workers KV and wrangler's calls over one map: what each side leaves is compared as `state()`. */
function memoryKv() {
  const map = new Map<string, { value: string; metadata?: unknown }>();
  const set = (key: string, value: string, metadata?: unknown) =>
    map.set(key, { value, ...(metadata !== undefined ? { metadata } : {}) });
  const workers = {
    get: async (key: string) => map.get(key)?.value ?? null,
    put: async (key: string, value: string, options?: { metadata?: unknown }) => {
      set(key, value, options?.metadata);
    },
    delete: async (key: string) => {
      map.delete(key);
    },
  };
  const wrangler: KvCalls = {
    get: workers.get,
    put: async (key, value) => {
      set(key, value);
    },
    bulkPut: async (entries: readonly BulkEntry[]) => {
      for (const e of entries) set(e.key, e.value, e.metadata);
    },
    delete: workers.delete,
    list: async (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)).map((name) => ({ name })),
  };
  const state = () => Object.fromEntries([...map.entries()].filter(([k]) => k.startsWith("tenant")).sort());
  set("policy", POLICY);
  return { workers, wrangler, state };
}

const API_KEY = "sk_live_store_1";
const acme: Tenant = { id: "acme", tier: "pro", sandbox: false };
const renamed: Tenant = { id: "acme-eu", tier: "starter", sandbox: true };

describe("one tenant store for the admin API and the CLI's KV path", () => {
  it("add, rename and remove leave the same KV state either way", async () => {
    const viaApi = memoryKv();
    const viaCli = memoryKv();
    const api = workersTenantKv(viaApi.workers);
    const cli = new KvPolicyTarget({ mode: "local" }, viaCli.wrangler);
    const hash = await sha256Hex(API_KEY);

    await storeTenant(api, hash, acme);
    await cli.addTenant(API_KEY, acme);
    expect(viaCli.state()).toEqual(viaApi.state());
    // The record, with itself as metadata (listing needs no read per tenant), and the id's index.
    expect(viaCli.state()).toEqual({
      [tenantKey(hash)]: { value: JSON.stringify(acme), metadata: acme },
      [tenantIdKey("acme")]: { value: hash },
    });
    expect(await findTenantById(workersTenantKv(viaCli.workers), "acme")).toEqual(acme);

    // Renamed: its old id no longer finds it.
    await storeTenant(api, hash, renamed);
    await cli.addTenant(API_KEY, renamed);
    expect(viaCli.state()).toEqual(viaApi.state());
    expect(Object.keys(viaCli.state()).sort()).toEqual([tenantKey(hash), tenantIdKey("acme-eu")].sort());

    expect(await removeTenant(api, hash)).toBe(true);
    expect(await cli.removeTenant(API_KEY)).toBe(true);
    expect(viaCli.state()).toEqual(viaApi.state());
    expect(viaCli.state()).toEqual({});
    // Removing again finds nothing to remove.
    expect(await cli.removeTenant(API_KEY)).toBe(false);
  });

  it("a removed key leaves its id's index alone when the id was stored again with another key", async () => {
    const kv = memoryKv();
    const cli = new KvPolicyTarget({ mode: "local" }, kv.wrangler);
    await cli.addTenant(API_KEY, acme);
    await cli.addTenant("sk_live_store_2", acme);
    await cli.removeTenant(API_KEY);
    expect(kv.state()[tenantIdKey("acme")]).toEqual({ value: await sha256Hex("sk_live_store_2") });
    expect(await findTenantById(workersTenantKv(kv.workers), "acme")).toEqual(acme);
  });

  it("the CLI's KV path checks the tier against the policy in force, writing nothing when it is unknown", async () => {
    const kv = memoryKv();
    const cli = new KvPolicyTarget({ mode: "local" }, kv.wrangler);
    await expect(cli.addTenant(API_KEY, { ...acme, tier: "Pro" })).rejects.toThrow(/invalid tenant: --tier/);
    expect(kv.state()).toEqual({});
  });
});
