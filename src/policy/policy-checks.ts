/**
 * Checks a document that parses can still fail: mistakes that are legal JSON and legal fields but
 * would not do what the operator meant. Each returns `{path, message}` errors in the schema's style
 * (lower case, no full stop, what to write instead).
 *
 * - `burst` below the limit it belongs to (for every tier): the bucket could never hold one
 *   window's worth of tokens;
 * - an HTTP method outside RFC 9110's set (plus PATCH), with "did you mean";
 * - `"rules": []`, which turns limiting off for everyone, unless `"allowEmptyRules": true`;
 * - a rule no request can reach because an earlier rule (without `continue`) matches everything it
 *   matches, unless `"allowUnreachableRules": true`;
 * - tiers: the names a tenant record may use (see {@link policyTiers}).
 * @module
 */
import { didYouMean } from "./did-you-mean";
import type { Policy, Rule } from "./schema";
import type { PolicyError } from "./validate";

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

export function checkPolicy(policy: Policy): PolicyError[] {
  const errors: PolicyError[] = [];
  policy.rules.forEach((rule, i) => {
    rule.match.methods?.forEach((m, k) => {
      if (HTTP_METHODS.includes(m.toUpperCase())) return;
      const hint = didYouMean(m.toUpperCase(), HTTP_METHODS);
      errors.push({
        path: `rules[${i}].match.methods[${k}]`,
        message: `"${m}" is not an HTTP method (one of ${HTTP_METHODS.join(", ")})${hint}`,
      });
    });
    rule.limits.forEach((l, j) => {
      if (l.burst === undefined || l.limit === undefined) return;
      const limits = typeof l.limit === "number" ? { "": l.limit } : l.limit;
      for (const [tier, limit] of Object.entries(limits)) {
        if (l.burst >= limit) continue;
        errors.push({
          path: `rules[${i}].limits[${j}].burst`,
          message: `must be at least the limit it belongs to (${limit}${tier ? ` for tier "${tier}"` : ""}); a bucket smaller than one window's tokens refuses a client that keeps to the limit`,
        });
        break;
      }
    });
  });
  if (policy.rules.length === 0 && policy.allowEmptyRules !== true) {
    errors.push({
      path: "rules",
      message:
        'is empty: no request would be limited; add a rule, or set "allowEmptyRules": true if that is what you want',
    });
  }
  if (policy.allowUnreachableRules !== true) {
    policy.rules.forEach((later, j) => {
      for (let i = 0; i < j; i++) {
        const earlier = policy.rules[i]!;
        if (earlier.continue || !covers(earlier, later)) continue;
        errors.push({
          path: `rules[${j}]`,
          message: `rule "${later.id}" can never apply: rules[${i}] ("${earlier.id}") matches every request it matches and stops there; move it above, narrow rules[${i}], or set "allowUnreachableRules": true`,
        });
        break;
      }
    });
  }
  return errors;
}

/**
 * Whether every request `b` matches is also matched by `a`. Conservative: only conditions it can
 * compare exactly (absent, or the same values) count, so it never calls a reachable rule unreachable.
 */
function covers(a: Rule, b: Rule): boolean {
  const m = a.match;
  const n = b.match;
  const subset = (outer: readonly string[] | undefined, inner: readonly string[] | undefined, fold = false) => {
    if (outer === undefined) return true;
    if (inner === undefined) return false;
    const norm = (s: string) => (fold ? s.toLowerCase() : s);
    const set = new Set(outer.map(norm));
    return inner.every((v) => set.has(norm(v)));
  };
  const methodsCovered =
    m.methods === undefined ||
    n.methods?.every((x) => {
      const upper = x.toUpperCase();
      // A rule for GET also matches HEAD.
      return m.methods!.some((y) => y.toUpperCase() === upper || (y.toUpperCase() === "GET" && upper === "HEAD"));
    }) === true;
  // A rule matching overrides also matches a POST overridden to its methods: covered only by a rule that does too, or takes POST.
  const overridesCovered =
    n.methodOverride !== true ||
    m.methodOverride === true ||
    m.methods === undefined ||
    m.methods.some((y) => y.toUpperCase() === "POST");
  const headersCovered =
    m.headers === undefined ||
    (n.headers !== undefined &&
      Object.entries(m.headers).every(([k, v]) =>
        Object.entries(n.headers!).some(
          ([k2, v2]) => k2.toLowerCase() === k.toLowerCase() && v2.toLowerCase() === v.toLowerCase(),
        ),
      ));
  return (
    methodsCovered &&
    overridesCovered &&
    subset(m.paths, n.paths, true) &&
    subset(m.hosts, n.hosts, true) &&
    subset(m.ips, n.ips) &&
    headersCovered
  );
}

/** The tier names a policy defines: `defaultTier` and every key of a tiered `limit`. */
export function policyTiers(policy: Pick<Policy, "defaultTier" | "rules">): string[] {
  const tiers = new Set<string>([policy.defaultTier]);
  for (const rule of policy.rules)
    for (const l of rule.limits) if (typeof l.limit === "object") for (const t of Object.keys(l.limit)) tiers.add(t);
  return [...tiers];
}

/** An error message when `tier` is not one of the policy's, else `undefined`. */
export function unknownTier(tier: string, policy: Pick<Policy, "defaultTier" | "rules">): string | undefined {
  const tiers = policyTiers(policy);
  if (tiers.includes(tier)) return undefined;
  return `tier "${tier}" is not defined by the policy in force (its tiers: ${tiers.join(", ")})${didYouMean(tier, tiers)}`;
}

/** Tenant ids name counters and appear in logs: letters, digits, `_`, `-`, `.`, at most 64. */
export const TENANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;
