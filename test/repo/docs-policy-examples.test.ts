/**
 * The documents people copy: every JSON example in docs/policy.md and every example policy validates
 * as it is, and the shipped JSON Schema is the one the validator's schema generates.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { policyJsonSchema, SCHEMA_FILE } from "../../scripts/policy-schema";
import { validatePolicyText } from "../../src/policy/validate";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("examples people paste", () => {
  it("every ```json block of docs/policy.md is a valid policy as it stands, and there is no jsonc left", async () => {
    const text = await readFile(join(ROOT, "docs", "policy.md"), "utf8");
    expect(text).not.toContain("```jsonc");
    const blocks = [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) {
      const result = validatePolicyText(block);
      expect(result.ok ? [] : result.errors, block.slice(0, 80)).toEqual([]);
    }
  });

  it("every example policy names the shipped JSON Schema and validates", async () => {
    const dir = join(ROOT, "examples", "policies");
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".json"))) {
      const text = await readFile(join(dir, name), "utf8");
      expect((JSON.parse(text) as { $schema?: string }).$schema, name).toBe("../../schema/policy.schema.json");
      expect(validatePolicyText(text).ok, name).toBe(true);
    }
  });

  it("schema/policy.schema.json is what the validator's schema generates (npm run schema)", async () => {
    // Compared as JSON: Biome formats the committed file its own way.
    expect(JSON.parse(await readFile(SCHEMA_FILE, "utf8"))).toEqual(JSON.parse(policyJsonSchema()));
  });
});
