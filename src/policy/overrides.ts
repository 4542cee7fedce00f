/**
 * Per-tenant overrides: in a tenant record, per counter (`<rule>-<window>`,
 * `<rule>-month` and the other calendar windows, `<rule>-conc`: a rule and one of its limits), a number that replaces the
 * tier's, or a multiplier of it, each with an optional expiry:
 *
 * `"overrides": { "api-1m": { "limit": 5000, "expires": "2026-12-01T00:00:00Z" }, "api-1d": { "multiplier": 2 } }`
 *
 * Resolution is pure and takes the time, so a lapsed override is simply not
 * there: the tenant is back on its tier's numbers the moment it expires,
 * whatever any cache holds.
 * @module
 */
import * as z from "zod/mini";
import type { CompiledLimit, CompiledPolicy } from "./compile";
import type { PolicyError } from "./validate";

const COUNTER_NAME = /^[a-z0-9_-]{1,64}-([1-9][0-9]{0,8}[smhd]|week|month|year|conc)$/;

export const LimitOverrideSchema = z
  .strictObject({
    limit: z.optional(z.int().check(z.gte(1))),
    multiplier: z.optional(z.number().check(z.positive())),
    expires: z.optional(
      z
        .string()
        .check(
          z.refine(
            (s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)),
            'must be an ISO 8601 date and time, e.g. "2026-12-01T00:00:00Z"',
          ),
        ),
    ),
  })
  .check(z.refine((o) => (o.limit === undefined) !== (o.multiplier === undefined), "give either limit or multiplier"));

export const OverridesSchema = z.record(
  z.string().check(z.regex(COUNTER_NAME, 'must name a rule\'s limit: "<rule id>-<window>" or "<rule id>-conc"')),
  LimitOverrideSchema,
);

export type LimitOverride = z.output<typeof LimitOverrideSchema>;
export type Overrides = z.output<typeof OverridesSchema>;

/** The override of this counter in force at `now`, if any. */
export function activeOverride(overrides: Overrides | undefined, name: string, now: number): LimitOverride | undefined {
  const o = overrides?.[name];
  if (!o) return undefined;
  if (o.expires !== undefined && now >= Date.parse(o.expires)) return undefined;
  return o;
}

/** A number with the override applied: replaced, or multiplied (rounded down, at least 1). */
export function overridden(base: number, override: LimitOverride | undefined): number {
  if (!override) return base;
  if (override.limit !== undefined) return override.limit;
  return Math.max(1, Math.floor(base * override.multiplier!));
}

/**
 * A token bucket's burst follows its rate: a multiplier scales it, a number
 * scales it by the same ratio as the limit.
 */
export function overriddenBurst(burst: number, base: number, override: LimitOverride | undefined): number {
  if (!override) return burst;
  if (override.multiplier !== undefined) return Math.max(1, Math.floor(burst * override.multiplier));
  return Math.max(1, Math.floor((burst * override.limit!) / base));
}

/**
 * Checks a record's overrides against a policy, as tiers are: each must name
 * a limit of a rule of the policy, and an expiry must lie ahead.
 */
export function checkOverrides(overrides: Overrides | undefined, policy: CompiledPolicy, now: number): PolicyError[] {
  if (!overrides) return [];
  const limits = new Map<string, CompiledLimit>();
  for (const r of policy.rules) for (const l of r.limits) limits.set(l.name, l);
  const errors: PolicyError[] = [];
  for (const [name, o] of Object.entries(overrides)) {
    if (!limits.has(name)) {
      const known = [...limits.keys()];
      errors.push({
        path: `overrides.${name}`,
        message: `the policy in force has no limit "${name}"${known.length > 0 ? ` (it has ${known.join(", ")})` : ""}`,
      });
      continue;
    }
    if (o.expires !== undefined && Date.parse(o.expires) <= now)
      errors.push({ path: `overrides.${name}.expires`, message: "lies in the past" });
  }
  return errors;
}
