/**
 * Override resolution with an injected clock: in force before its expiry,
 * gone at it; a number replaces, a multiplier scales (rounded down, at least
 * 1); a bucket's burst follows; the check against a policy names the field.
 */
import { describe, expect, it } from "vitest";
import { collectOverride } from "../../src/cli/override-option";
import { compilePolicy } from "../../src/policy/compile";
import {
  activeOverride,
  checkOverrides,
  OverridesSchema,
  overridden,
  overriddenBurst,
} from "../../src/policy/overrides";
import { PolicySchema } from "../../src/policy/schema";

const EXPIRES = "2030-06-01T00:00:00Z";
const AT = Date.parse(EXPIRES);

describe("overrides", () => {
  it("are in force until their expiry, and not at it", () => {
    const o = { "api-1m": { limit: 50, expires: EXPIRES } };
    expect(activeOverride(o, "api-1m", AT - 1)).toEqual({ limit: 50, expires: EXPIRES });
    expect(activeOverride(o, "api-1m", AT)).toBeUndefined();
    expect(activeOverride(o, "api-1d", 0)).toBeUndefined();
    expect(activeOverride({ "api-1m": { multiplier: 2 } }, "api-1m", Number.MAX_SAFE_INTEGER)).toEqual({
      multiplier: 2,
    });
  });

  it("replace or multiply the number; a bucket's burst follows", () => {
    expect(overridden(10, undefined)).toBe(10);
    expect(overridden(10, { limit: 3 })).toBe(3);
    expect(overridden(10, { multiplier: 2.55 })).toBe(25);
    expect(overridden(1, { multiplier: 0.1 })).toBe(1);
    expect(overriddenBurst(40, 20, { limit: 30 })).toBe(60);
    expect(overriddenBurst(40, 20, { multiplier: 0.5 })).toBe(20);
  });

  it("must give a limit or a multiplier, name a limit, and carry a real date", () => {
    expect(OverridesSchema.safeParse({ "api-1m": { limit: 5 } }).success).toBe(true);
    expect(OverridesSchema.safeParse({ "api-conc": { multiplier: 2 } }).success).toBe(true);
    expect(OverridesSchema.safeParse({ "api-1m": {} }).success).toBe(false);
    expect(OverridesSchema.safeParse({ "api-1m": { limit: 5, multiplier: 2 } }).success).toBe(false);
    expect(OverridesSchema.safeParse({ api: { limit: 5 } }).success).toBe(false);
    expect(OverridesSchema.safeParse({ "api-1m": { limit: 5, expires: "tomorrow" } }).success).toBe(false);
    expect(OverridesSchema.safeParse({ "api-1m": { limit: 0 } }).success).toBe(false);
  });

  it("are checked against a policy: unknown limits and past expiries", () => {
    const policy = compilePolicy(
      PolicySchema.parse({
        version: 1,
        rules: [{ id: "api", limits: [{ limit: 10, window: "1m" }, { concurrency: 2 }] }],
      }),
    );
    expect(
      checkOverrides({ "api-1m": { limit: 5, expires: EXPIRES }, "api-conc": { limit: 4 } }, policy, AT - 1),
    ).toEqual([]);
    expect(checkOverrides({ "api-1h": { limit: 5 } }, policy, 0)).toEqual([
      { path: "overrides.api-1h", message: 'the policy in force has no limit "api-1h" (it has api-1m, api-conc)' },
    ]);
    expect(checkOverrides({ "api-1m": { limit: 5, expires: EXPIRES } }, policy, AT)).toEqual([
      { path: "overrides.api-1m.expires", message: "lies in the past" },
    ]);
  });
});

describe("tenant add --override", () => {
  it("reads a number, a multiplier and an expiry", () => {
    let all = collectOverride("api-1m=5000@2026-12-01T00:00:00Z", undefined);
    all = collectOverride("api-1d=x2.5", all);
    expect(all).toEqual({
      "api-1m": { limit: 5000, expires: "2026-12-01T00:00:00Z" },
      "api-1d": { multiplier: 2.5 },
    });
    expect(() => collectOverride("api-1m", undefined)).toThrow(/expected <limit>=<number>/);
  });
});
