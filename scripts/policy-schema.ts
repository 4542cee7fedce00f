/**
 * `npm run schema`: the JSON Schema of the policy document, generated from the zod schema that
 * validates it (src/config/schema.ts), into schema/policy.schema.json (shipped in the package, for
 * editors: `"$schema": "./node_modules/sluice/schema/policy.schema.json"`). Checks that the schema
 * cannot express (burst against its limit, unreachable rules, tiers) are the validator's alone.
 * `--check` exits 1 when the file (as JSON; Biome formats it) is not what the schema generates.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { toJSONSchema } from "zod/v4/core";
import { PolicySchema } from "../src/policy/schema";

export const SCHEMA_FILE = join(fileURLToPath(new URL("../", import.meta.url)), "schema", "policy.schema.json");

export function policyJsonSchema(): string {
  const generated = toJSONSchema(PolicySchema as unknown as Parameters<typeof toJSONSchema>[0], {
    io: "input",
    unrepresentable: "any",
    target: "draft-2020-12",
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const schema = {
    $schema,
    title: "sluice policy document",
    description:
      "What sluice limits and how (KV key `policy`). Generated from the validator's schema; `npm run policy -- validate` checks the rest.",
    ...rest,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = policyJsonSchema();
  if (process.argv.includes("--check")) {
    const current = await readFile(SCHEMA_FILE, "utf8").catch(() => "");
    const same = (() => {
      try {
        return JSON.stringify(JSON.parse(current)) === JSON.stringify(JSON.parse(text));
      } catch {
        return false;
      }
    })();
    if (!same) {
      console.error(`${SCHEMA_FILE} is out of date: run npm run schema`);
      process.exitCode = 1;
    }
  } else {
    await writeFile(SCHEMA_FILE, text);
    console.log(`wrote ${SCHEMA_FILE} (npm run format lays it out as the repository does)`);
  }
}
