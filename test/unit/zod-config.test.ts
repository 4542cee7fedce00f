/**
 * The policy model leaves zod's global configuration alone (the package says
 * `"sideEffects": false`, and a host Worker may configure zod its own way),
 * yet its messages are English.
 */

import { describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { parseTenant } from "../../src/policy/tenant-record";
import { validatePolicy } from "../../src/policy/validate";

describe("zod's global configuration", () => {
  it("is not changed by the policy model, whose messages are still English", () => {
    const result = validatePolicy({ version: 1, rules: [{ id: "r", limits: [{ limit: "ten", window: "1m" }] }] });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors).toContainEqual({
        path: "rules[0].limits[0].limit",
        message: "must be a positive integer, or an object from tier name to positive integer",
      });
    const tenant = parseTenant({ id: "" });
    expect(tenant.success).toBe(false);
    expect(tenant.error?.issues[0]?.message).toBe("Too small: expected string to have >=1 characters");
    expect(z.config().localeError).toBeUndefined();
    expect(z.config().customError).toBeUndefined();
  });
});
