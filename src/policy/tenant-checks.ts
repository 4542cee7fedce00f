/**
 * A tenant record checked against the policy it will be counted under, before it is stored: its id
 * names counters (so a fixed alphabet), and its tier must be one the policy defines, or the tenant
 * would silently get the default tier's numbers.
 * @module
 */
import { TENANT_ID, unknownTier } from "./policy-checks";
import type { Policy } from "./schema";
import type { Tenant } from "./tenant-record";
import type { PolicyError } from "./validate";

export function tenantProblems(tenant: Tenant, policy: Pick<Policy, "defaultTier" | "rules">): PolicyError[] {
  const errors: PolicyError[] = [];
  if (!TENANT_ID.test(tenant.id))
    errors.push({
      path: "id",
      message: `"${tenant.id}" must match [A-Za-z0-9_.-]{1,64} (it names the tenant's counters)`,
    });
  if (tenant.tier !== undefined) {
    const message = unknownTier(tenant.tier, policy);
    if (message) errors.push({ path: "tier", message });
  }
  return errors;
}
