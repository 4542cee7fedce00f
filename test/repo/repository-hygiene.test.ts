/**
 * The repository and the package stand alone, and install the way the README says: no reference to
 * files outside it; Hono a peer dependency with a range; runtime dependencies as ranges; no Node 22
 * requirement on library users; a `sluice` bin; a dev script that takes `--port`.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (/\.(ts|md|toml|json|jsonc)$/.test(entry.name)) out.push(path);
  }
  return out;
}

describe("the repository stands alone", () => {
  it("no file refers to shared/spec, a file outside the repository", async () => {
    const files = [
      ...(await filesUnder(join(ROOT, "src"))),
      ...(await filesUnder(join(ROOT, "docs"))),
      ...(await filesUnder(join(ROOT, "test"))),
      ...(await filesUnder(join(ROOT, "examples"))),
      join(ROOT, "README.md"),
      join(ROOT, "wrangler.toml"),
      join(ROOT, "package.json"),
    ];
    const offenders: string[] = [];
    for (const f of files) {
      if (f.endsWith("repository-hygiene.test.ts")) continue;
      if ((await readFile(f, "utf8")).includes("shared/spec")) offenders.push(relative(ROOT, f));
    }
    expect(offenders).toEqual([]);
    const policyDoc = await readFile(join(ROOT, "docs", "policy.md"), "utf8");
    expect(policyDoc).not.toMatch(/the contract/i);
    expect(await readFile(join(ROOT, "wrangler.toml"), "utf8")).not.toMatch(/contract/i);
    expect(await readFile(join(ROOT, "src", "cli", "policy.ts"), "utf8")).not.toMatch(/against the contract/);
  });
});

describe("package.json", () => {
  it("makes Hono a peer with a range, uses ranges at run time, binds no library user to Node 22, ships a sluice bin", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      engines?: { node?: string };
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.dependencies.hono).toBeUndefined();
    expect(pkg.peerDependencies.hono).toMatch(/^\^4\./);
    expect(pkg.devDependencies.hono).toBeDefined();
    for (const [name, range] of Object.entries(pkg.dependencies)) expect(range, name).toMatch(/^\^/);
    expect(pkg.engines?.node ?? "").not.toContain("22");
    // The repository itself still runs wrangler on the Node 22 it installs.
    expect(pkg.devDependencies.node).toMatch(/^22\./);
    expect(pkg.bin.sluice).toBe("./dist/src/cli/sluice.js");
    expect(pkg.scripts.dev).not.toContain("--port");
  });
});
