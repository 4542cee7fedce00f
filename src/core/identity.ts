/**
 * Who a request is: its client IP (from `CF-Connecting-IP` only, IPv6 reduced
 * to its prefix), its tenant (from the API key, read from every place the
 * policy lists and looked up by hash), its tier
 * and whether it gets the sandbox multiplier.
 * @module
 */
import type { CompiledPolicy } from "../config/compile";
import type { Tenant, TenantCache } from "../config/tenants";
import type { Env } from "../env";
import { keysToCount, readCredentials } from "../http/credentials";
import { sha256Hex } from "../http/hash";
import { ipKeyOf, type ParsedIp, parseIp } from "../net/ip";

/** The counting key of requests whose client IP is missing or unreadable: they share one counter. */
export const UNKNOWN_IP = "unknown";

export interface Identity {
  /** `203.0.113.7`, `2001:db8:1::/64`, or {@link UNKNOWN_IP}. */
  ipKey: string;
  ip: ParsedIp | undefined;
  tenant: Tenant | null;
  tier: string;
  sandbox: boolean;
  /**
   * The other readings of a request that carries conflicting API keys, under
   * `onConflict: "strictest"`: its rules are counted on every one of them.
   */
  alsoCountedAs?: Identity[];
}

export function clientIp(headers: Headers, policy: CompiledPolicy): { ipKey: string; ip: ParsedIp | undefined } {
  const raw = headers.get("cf-connecting-ip");
  if (raw === null) return { ipKey: UNKNOWN_IP, ip: undefined };
  const ip = parseIp(raw.trim());
  return { ipKey: ip ? ipKeyOf(ip, policy.ipv6Prefix) : UNKNOWN_IP, ip };
}

export async function resolveIdentity(
  request: Request,
  host: string,
  policy: CompiledPolicy,
  env: Env,
  tenants: TenantCache,
  tenantTtlMs: number,
  ip: { ipKey: string; ip: ParsedIp | undefined },
): Promise<Identity> {
  // Every place the origin takes a key (credentials.ts); a conflict refuses (thrown) or gives several readings.
  const keys = policy.needsTenant
    ? keysToCount(
        readCredentials(request.headers, new URL(request.url), policy.credentials),
        policy.credentials.onConflict,
      )
    : [];
  const found = await Promise.all(
    keys.map(async (key) => tenants.lookup(env.POLICIES, await sha256Hex(key), tenantTtlMs)),
  );
  const identityOf = (tenant: Tenant | null): Identity => ({
    ...ip,
    tenant,
    tier: tenant?.tier ?? policy.defaultTier,
    sandbox: env.SANDBOX === "true" || tenant?.sandbox === true || policy.sandboxHosts.has(host),
  });
  const [first = null, ...others] = found;
  return { ...identityOf(first), ...(others.length > 0 ? { alsoCountedAs: others.map(identityOf) } : {}) };
}
