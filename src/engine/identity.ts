/**
 * Who a request is: its client IP (from `CF-Connecting-IP` only, IPv6 reduced
 * to its prefix), its tenant (from the API key, read from every place the
 * policy lists and looked up by hash), its tier
 * and whether it gets the sandbox multiplier.
 * @module
 */
import { sha256Hex } from "../hash";
import { keysToCount, readCredentials } from "../http/credentials";
import { ipKeyOf, type ParsedIp, parseIp } from "../net/ip";
import type { CompiledPolicy } from "../policy/compile";
import type { Tenant } from "../policy/tenant-record";
import type { RequestContext } from "./context";
import type { TenantLookup } from "./ports";

/**
 * The counting key of requests without a `CF-Connecting-IP` (never the case behind Cloudflare's edge):
 * they share one counter. A header that is present but not one IP address is refused, never counted here.
 */
export const UNKNOWN_IP = "unknown";

export interface ClientIp {
  /** `203.0.113.7`, `2001:db8:1::/64`, or {@link UNKNOWN_IP}. */
  ipKey: string;
  ip: ParsedIp | undefined;
  /**
   * Set when `CF-Connecting-IP` is present but is not one IP address (a `:port`, two values, a
   * leading-zero octet, garbage): the engine refuses the request with 400 `INVALID_CLIENT_IP`. The
   * value, cut to 64 characters, for the log line.
   */
  malformed?: string;
}

export interface Identity extends ClientIp {
  tenant: Tenant | null;
  tier: string;
  sandbox: boolean;
  /**
   * The other readings of a request that carries conflicting API keys, under
   * `onConflict: "strictest"`: its rules are counted on every one of them.
   */
  alsoCountedAs?: Identity[];
}

export function clientIp(headers: Headers, policy: CompiledPolicy): ClientIp {
  const raw = headers.get("cf-connecting-ip");
  if (raw === null) return { ipKey: UNKNOWN_IP, ip: undefined };
  const ip = parseIp(raw.trim());
  if (!ip) return { ipKey: UNKNOWN_IP, ip: undefined, malformed: raw.slice(0, 64) };
  return { ipKey: ipKeyOf(ip, policy.ipv6Prefix), ip };
}

/**
 * The request's identity; the tenant is looked up only when a limited rule of
 * the policy needs it, by every key the request presents in a place the
 * policy lists. A conflict refuses (a thrown `KeyRefusal`) or, under
 * `"strictest"`, gives one reading per key.
 */
export async function resolveIdentity(ctx: RequestContext, host: string): Promise<Identity> {
  return identityOf(
    {
      policy: ctx.policy,
      headers: ctx.request.headers,
      url: ctx.url,
      client: ctx.client,
      tenants: ctx.ports.tenants,
      sandbox: ctx.settings.sandbox,
    },
    host,
  );
}

/** What an identity is read from: a request being decided, or one being explained (./explain.ts). */
export interface IdentitySources {
  policy: CompiledPolicy;
  headers: Headers;
  url: URL;
  client: ClientIp;
  tenants: TenantLookup;
  /** The whole deployment gets the sandbox multiplier. */
  sandbox: boolean;
}

export async function identityOf(sources: IdentitySources, host: string): Promise<Identity> {
  const { policy } = sources;
  const keys = policy.needsTenant
    ? keysToCount(readCredentials(sources.headers, sources.url, policy.credentials), policy.credentials.onConflict)
    : [];
  const found = await Promise.all(keys.map(async (key) => sources.tenants.lookup(await sha256Hex(key))));
  const identityOf = (tenant: Tenant | null): Identity => ({
    ...sources.client,
    tenant,
    tier: tenant?.tier ?? policy.defaultTier,
    sandbox: sources.sandbox || tenant?.sandbox === true || policy.sandboxHosts.has(host),
  });
  const [first = null, ...others] = found;
  return { ...identityOf(first), ...(others.length > 0 ? { alsoCountedAs: others.map(identityOf) } : {}) };
}
