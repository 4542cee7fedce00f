/**
 * The package as npm would publish it: `npm pack --dry-run --json` lists only what a user needs,
 * every `exports` target is in it, every relative import inside it resolves to a file in it, the
 * `sluice/itty` entry pulls in no Hono, and its .d.ts type-check on their own (no skipLibCheck)
 * under "bundler" and "nodenext" resolution.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";
import { run, TSC } from "../support/subprocess";
import { PROJECT_ROOT } from "../support/wrangler-dev";

/** The specifiers of one JS or .d.ts file's import and export statements and `import("…")` types (not of its comments). */
function specifiers(source: string): string[] {
  const patterns = [
    /^(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gms,
    /^import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1]!));
}

let files: string[] = [];
let manifest: { exports: Record<string, string | Record<string, string>>; types: string; files: string[] };

beforeAll(async () => {
  await ensureBuilt();
  // --ignore-scripts: `prepack` would rebuild dist/ under the feet of the example projects' tests.
  const pack = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"]);
  expect(pack.code, pack.stderr).toBe(0);
  const [result] = JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>;
  files = result!.files.map((f) => f.path).sort();
  manifest = JSON.parse(await readFile(join(PROJECT_ROOT, "package.json"), "utf8")) as typeof manifest;
}, 120_000);

describe("npm pack", () => {
  it("lists only the build, the migrations it imports, and the package's documents", () => {
    // schema/policy.schema.json: the JSON Schema editors load through "$schema".
    const allowedTopLevel = new Set([
      "package.json",
      "README.md",
      "CHANGELOG.md",
      "LICENSE",
      "schema/policy.schema.json",
    ]);
    const stray = files.filter((f) => !allowedTopLevel.has(f) && !f.startsWith("dist/"));
    expect(stray).toEqual([]);
    for (const f of files.filter((f) => f.startsWith("dist/"))) expect(f).toMatch(/\.(js|d\.ts|sql)$/);
    expect(files.filter((f) => /(^|\/)(test|tests|examples|bench|docs|scripts)\//.test(f))).toEqual([]);
    // The CLI ships only as the compiled `sluice` bin (dist/src/cli/*.js), never as TypeScript sources.
    expect(files.filter((f) => /(^|\/)cli\//.test(f) && !/^dist\/src\/cli\/[a-z-]+\.js$/.test(f))).toEqual([]);
    expect(files).toContain("dist/src/cli/sluice.js");
    expect(files).toContain("package.json");
    expect(files).toContain("CHANGELOG.md");
    expect(files).toContain("LICENSE");
    if (existsSync(join(PROJECT_ROOT, "README.md"))) expect(files).toContain("README.md");
    expect(files).toContain("dist/migrations/0001_create_counters.sql");
    expect(files).toContain("dist/src/durable/rate-limiter.js");
  });

  it("contains every target of package.json `exports` and `types`", () => {
    const targets = [manifest.types];
    for (const entry of Object.values(manifest.exports))
      targets.push(...(typeof entry === "string" ? [entry] : Object.values(entry)));
    expect(targets.length).toBeGreaterThan(4);
    for (const target of targets) expect(files, target).toContain(normalize(target));
  });

  it("resolves every relative import inside it to a file in it", async () => {
    const missing: string[] = [];
    for (const file of files.filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
      for (const spec of specifiers(await readFile(join(PROJECT_ROOT, file), "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = normalize(join(dirname(file), spec));
        if (!files.includes(target)) missing.push(`${file} → ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("keeps Hono out of the sluice/itty entry (an itty-router Worker need not bundle it)", async () => {
    const bare = new Set<string>();
    const seen = new Set<string>();
    const queue = ["dist/src/itty.js"];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of specifiers(await readFile(join(PROJECT_ROOT, file), "utf8"))) {
        if (spec.startsWith(".")) {
          if (spec.endsWith(".js")) queue.push(normalize(join(dirname(file), spec)));
        } else bare.add(spec);
      }
    }
    expect(seen.size).toBeGreaterThan(10);
    expect([...bare].sort()).toEqual(["cloudflare:workers", "zod/mini", "zod/v4/locales/en.js"]);
  });

  it.each(["bundler", "nodenext"])(
    "ships .d.ts that type-check on their own under %s resolution",
    async (resolution) => {
      const module = resolution === "bundler" ? "es2022" : "nodenext";
      const check = await run(process.execPath, [
        TSC,
        "--noEmit",
        "--strict",
        "--target",
        "es2022",
        "--lib",
        "es2022",
        "--module",
        module,
        "--moduleResolution",
        resolution,
        "--types",
        "@cloudflare/workers-types",
        "dist/src/index.d.ts",
        "dist/src/itty.d.ts",
      ]);
      expect(check.stdout + check.stderr).toBe("");
      expect(check.code).toBe(0);
    },
  );
});
