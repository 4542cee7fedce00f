/**
 * Which counter an admin call names, for `GET|DELETE /keys` and
 * `GET|DELETE /counters`: one resolver for both. A counter is named by its
 * rule and either `key=` (the value a request would give: an IP, a tenant id,
 * a header, query or body value, turned into its counting key as the engine
 * does) or `object=` (the counting key itself, as the top-keys list shows it,
 * `sandbox:` scope included). Both names are accepted on both calls: clients
 * use each (the CLI `key=`, the console `object=`), so neither may go.
 * @module
 */
import { countingKeyForValue, regionalKey, scoped, UNKNOWN_REGION } from "../engine/counting-key";
import { ruleCounterSpecs } from "../engine/plan";
import { LOCATION_HINTS } from "../lease/region";
import type { CounterSpec } from "../limiter/types";
import { clientIpKey } from "../net/ip";
import type { CompiledPolicy } from "../policy/compile";
import { activeOverride } from "../policy/overrides";
import { unknownTier } from "../policy/policy-checks";
import type { Tenant } from "../policy/tenant-record";

export interface CounterQuery {
  rule?: string;
  /** A request's value, e.g. `203.0.113.7` or a tenant id. */
  key?: string;
  /** A counting key, e.g. `ip:203.0.113.7`, `sandbox:tenant:acme`. */
  object?: string;
  tier?: string;
  /** `"true"`: the sandbox counter of `key=` (an `object=` says it by its own `sandbox:` scope). */
  sandbox?: string;
  /** A tenant id whose record sizes the limits (its tier, its overrides). */
  tenant?: string;
  /** For a rule counted per region (`scope: "region"`): which region's counter of `key=`. */
  region?: string;
}

export interface CounterTarget {
  rule: string;
  objectName: string;
  specs: CounterSpec[];
  penalties: string[];
  /** The rule's `shards`: its key's tree is read and reset with it. */
  shards?: number;
  /** The rule's `shardsPerRegion`: its regional shards forget their refusals on a reset. */
  shardsPerRegion?: number;
  tenant: Tenant | null;
  tier: string;
  /** The tenant's overrides in force now, by limit name. */
  overrides: Record<string, unknown>;
}

/** Why a query names no counter: the status and message of the admin API's answer. */
export interface CounterProblem {
  status: 400 | 404;
  error: "bad_request" | "not_found";
  message: string;
}

/** What `region=` may name for a rule counted per region: a location hint, or the region of requests with none. */
const REGIONS: readonly string[] = [...LOCATION_HINTS, UNKNOWN_REGION];

/** A counting key is at most a prefix, a header name and a hash, or a tenant id of 256 characters. */
const MAX_OBJECT_NAME = 600;

/**
 * The counter `query` names under `policy`. `named`: the name the call documents (its message when
 * neither is given); `findTenant`: a tenant's record by id.
 */
export async function counterTarget(
  query: CounterQuery,
  named: "key" | "object",
  policy: CompiledPolicy,
  findTenant: (id: string) => Promise<Tenant | null>,
  now: number,
): Promise<CounterTarget | CounterProblem> {
  const bad = (message: string): CounterProblem => ({ status: 400, error: "bad_request", message });
  const { rule: ruleId, key: value, object } = query;
  const byObject = value === undefined && object !== undefined;
  if (!ruleId || !(byObject ? object : value)) return bad(`rule= and ${named}= are required`);
  if (byObject && object!.length > MAX_OBJECT_NAME) return bad("object= is too long");
  const rule = policy.rules.find((r) => r.id === ruleId);
  if (!rule)
    return {
      status: 404,
      error: "not_found",
      message: byObject ? "no such rule in the policy in force" : `no rule "${ruleId}" in the policy in force`,
    };
  if (rule.limits.length === 0) return bad(`rule "${ruleId}" has no limits`);
  let objectName: string;
  let inSandbox: boolean;
  let tenant: Tenant | null;
  if (byObject) {
    objectName = object!;
    inSandbox = objectName.startsWith("sandbox:");
    tenant = query.tenant !== undefined ? await findTenant(query.tenant) : null;
  } else {
    // For ip and tenant rules an IP names that client (anonymous clients of a tenant rule are counted by IP).
    const ipKey =
      rule.key.kind === "ip" || rule.key.kind === "tenant" ? clientIpKey(value!, policy.ipv6Prefix) : undefined;
    const isIp = ipKey !== undefined;
    // A tenant's own record sizes its limits: its tier (unless tier= says otherwise) and its overrides.
    const lookupId = query.tenant ?? (rule.key.kind === "tenant" && !isIp ? value : undefined);
    tenant = lookupId !== undefined ? await findTenant(lookupId) : null;
    inSandbox = query.sandbox === "true" || tenant?.sandbox === true;
    // A rule counted per region has one counter per region: region= names which.
    if (rule.perRegion && (query.region === undefined || !REGIONS.includes(query.region)))
      return bad(
        `rule "${ruleId}" counts each region on its own (scope "region"): add region= with one of ${REGIONS.join(", ")}`,
      );
    const counted = await countingKeyForValue(rule.key, ipKey ?? value!, isIp);
    objectName = scoped(rule.perRegion ? regionalKey(counted, query.region) : counted, inSandbox);
  }
  const badTier = query.tier === undefined ? undefined : unknownTier(query.tier, policy.document);
  if (badTier) return bad(badTier);
  const tier = query.tier ?? tenant?.tier ?? policy.defaultTier;
  const specs = ruleCounterSpecs(policy, rule, tier, inSandbox, tenant?.overrides, now, tenant?.billing);
  const overrides: Record<string, unknown> = {};
  for (const l of rule.limits) {
    const override = activeOverride(tenant?.overrides, l.name, now);
    if (override) overrides[l.name] = override;
  }
  return {
    rule: rule.id,
    objectName,
    specs,
    penalties: rule.penalty ? [rule.penalty.name] : [],
    ...(rule.shards ? { shards: rule.shards } : {}),
    ...(rule.shardsPerRegion ? { shardsPerRegion: rule.shardsPerRegion } : {}),
    tenant,
    tier,
    overrides,
  };
}

export function isCounterProblem(target: CounterTarget | CounterProblem): target is CounterProblem {
  return "status" in target;
}
