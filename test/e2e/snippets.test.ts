/**
 * The README's "Use it in your own Worker" snippets are docs/snippets/*.ts, verbatim. They import
 * "sluice" by name, which resolves through package.json `exports` to the built dist/*.d.ts: this
 * type-checks them as a user's Worker would (Bundler resolution, the usual Workers options) and
 * under NodeNext.
 */
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/build-inputs";
import { ensureBuilt } from "../support/build";

const SNIPPETS = join(PROJECT_ROOT, "docs", "snippets");
const TSC = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");

function tsc(project: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, "-p", project, "--noEmit"], {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

beforeAll(() => ensureBuilt(), 120_000);

describe("README snippets (docs/snippets)", () => {
  it("stand in the README verbatim, each as a fenced ts block", async () => {
    const readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.trimEnd());
    for (const file of ["hono.ts", "itty.ts"]) {
      const source = (await readFile(join(SNIPPETS, file), "utf8")).trimEnd();
      expect(blocks, `${file} is not in README.md as written`).toContain(source);
    }
  });

  it("import the package by name, as a user would", async () => {
    const snippets = (await readdir(SNIPPETS)).filter((f) => f.endsWith(".ts"));
    expect(snippets.sort()).toEqual(["hono.ts", "itty.ts"]);
    for (const file of snippets) {
      const source = await readFile(join(SNIPPETS, file), "utf8");
      const imports = [...source.matchAll(/\bfrom\s*"([^"]+)"/g)].map((m) => m[1]!);
      expect(imports.filter((s) => s.startsWith("."))).toEqual([]);
      expect(imports.some((s) => s === "sluice" || s.startsWith("sluice/"))).toBe(true);
    }
  });

  it.each(["tsconfig.json", "tsconfig.nodenext.json"])("type-check with docs/snippets/%s", async (config) => {
    const result = await tsc(join(SNIPPETS, config));
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  });
});
