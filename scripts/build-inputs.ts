/**
 * What `npm run build` is made from, and a hash of it: the build writes the hash to
 * {@link BUILD_STAMP}, and the tests compare it to decide whether dist/ is up to date.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Outside dist/, so it is never packed. */
export const BUILD_STAMP = join(PROJECT_ROOT, "node_modules", ".cache", "sluice", "build-stamp");

const INPUT_DIRS = ["src", "migrations"];
const INPUT_FILES = [
  "tsconfig.json",
  "tsconfig.build.json",
  "tsconfig.cli.json",
  "scripts/build.ts",
  "scripts/build-inputs.ts",
  "package.json",
];

export async function buildInputsHash(): Promise<string> {
  const files = [...INPUT_FILES.map((f) => join(PROJECT_ROOT, f))];
  for (const dir of INPUT_DIRS) files.push(...(await listFiles(join(PROJECT_ROOT, dir))));
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    hash.update(relative(PROJECT_ROOT, file));
    hash.update("\0");
    hash.update(await readFile(file));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** Every file under `dir`, recursively. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}
