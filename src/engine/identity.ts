/**
 * Who a request is: its client IP (from `CF-Connecting-IP` only, IPv6 reduced
 * to its prefix), its tenant (from the API key, looked up by hash), its tier
 * and whether it gets the sandbox multiplier.
 * @module
 */
import { sha256Hex } from "../hash";
import { ipKeyOf, type ParsedIp, parseIp } from "../net/ip";
import type { CompiledPolicy } from "../policy/compile";
import type { Tenant } from "../policy/tenant-record";
import type { RequestContext } from "./context";

/** The counting key of requests whose client IP is missing or unreadable: they share one counter. */
export const UNKNOWN_IP = "unknown";

export interface ClientIp {
  /** `203.0.113.7`, `2001:db8:1::/64`, or {@link UNKNOWN_IP}. */
  ipKey: string;
  ip: ParsedIp | undefined;
}

export interface Identity extends ClientIp {
  tenant: Tenant | null;
  tier: string;
  sandbox: boolean;
}

/** The API key of a request, or undefined. With a scheme, only `<scheme> <key>` counts. */
function readApiKey(headers: Headers, header: string, scheme: string | undefined): string | undefined {
  const value = headers.get(header);
  if (value === null) return undefined;
  if (scheme === undefined) return value.trim() || undefined;
  const space = value.indexOf(" ");
  if (space === -1 || value.slice(0, space).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return value.slice(space + 1).trim() || undefined;
}

export function clientIp(headers: Headers, policy: CompiledPolicy): ClientIp {
  const raw = headers.get("cf-connecting-ip");
  if (raw === null) return { ipKey: UNKNOWN_IP, ip: undefined };
  const ip = parseIp(raw.trim());
  return { ipKey: ip ? ipKeyOf(ip, policy.ipv6Prefix) : UNKNOWN_IP, ip };
}

/** The request's identity; the tenant is looked up only when a limited rule of the policy needs it. */
export async function resolveIdentity(ctx: RequestContext, host: string): Promise<Identity> {
  const { policy } = ctx;
  let tenant: Tenant | null = null;
  if (policy.needsTenant) {
    const apiKey = readApiKey(ctx.request.headers, policy.apiKeyHeader, policy.apiKeyScheme);
    if (apiKey !== undefined) tenant = await ctx.ports.tenants.lookup(await sha256Hex(apiKey));
  }
  return {
    ...ctx.client,
    tenant,
    tier: tenant?.tier ?? policy.defaultTier,
    sandbox: ctx.settings.sandbox || tenant?.sandbox === true || policy.sandboxHosts.has(host),
  };
}
