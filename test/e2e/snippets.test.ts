/**
 * The README's "Use it in your own Worker" snippets are docs/snippets/*.ts, verbatim. They import
 * "sluice" by name, which resolves through package.json `exports` to the built dist/*.d.ts: this
 * type-checks them as a user's Worker would (Bundler resolution, the usual Workers options) and
 * under NodeNext.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";
import { run, TSC } from "../support/subprocess";
import { PROJECT_ROOT } from "../support/wrangler-dev";

const SNIPPETS = join(PROJECT_ROOT, "docs", "snippets");
/** Every snippet, each in the README: the two middlewares, the inline limit, a call by key, the admin mount. */
const SNIPPET_FILES = ["hono.ts", "itty.ts", "inline.ts", "queue.ts", "admin.ts", "client.ts"];

async function tsc(project: string): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await run(process.execPath, [TSC, "-p", project, "--noEmit"]);
  return { code, output: stdout + stderr };
}

beforeAll(() => ensureBuilt(), 120_000);

describe("README snippets (docs/snippets)", () => {
  it("stand in the README verbatim, each as a fenced ts block", async () => {
    const readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.trimEnd());
    for (const file of SNIPPET_FILES) {
      const source = (await readFile(join(SNIPPETS, file), "utf8")).trimEnd();
      expect(blocks, `${file} is not in README.md as written`).toContain(source);
    }
  });

  it("import the package by name, as a user would", async () => {
    const snippets = (await readdir(SNIPPETS)).filter((f) => f.endsWith(".ts"));
    expect(snippets.sort()).toEqual([...SNIPPET_FILES].sort());
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
