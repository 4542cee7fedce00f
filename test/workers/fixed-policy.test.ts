/** fixedPolicy(): a policy document compiled into a Worker, checked once when it is made (in workerd, where Workers compile it). */
import { describe, expect, it } from "vitest";
import sharedPolicy from "../../examples/shared-policy.json";
import { fixedPolicy, PolicyDocumentError } from "../../src/policy/fixed-policy";

describe("fixedPolicy()", () => {
  it("compiles a valid document (object, JSON import or text) once, and hands the same one out", () => {
    for (const document of [sharedPolicy, JSON.stringify(sharedPolicy)]) {
      const policy = fixedPolicy(document);
      const first = policy();
      expect(policy()).toBe(first);
      expect(first.compiled.rules.map((r) => r.id)).toEqual(["health", "login", "export", "per-user", "api"]);
      expect(JSON.parse(first.text)).toEqual(sharedPolicy);
    }
  });

  it("throws every fault of an invalid document at once", () => {
    let error: unknown;
    try {
      fixedPolicy({
        version: 1,
        rules: [{ id: "x", key: "ip", limits: [{ limit: 10, window: "10 minutes" }], extra: true }],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyDocumentError);
    const paths = (error as PolicyDocumentError).errors.map((e) => e.path);
    expect(paths).toContain("rules[0].extra");
    expect(paths.some((p) => p.startsWith("rules[0].limits[0]"))).toBe(true);
    expect((error as Error).message).toMatch(/^invalid policy document: /);
  });

  it("throws for text that is not JSON", () => {
    expect(() => fixedPolicy("{ version: 1")).toThrow(PolicyDocumentError);
  });
});
