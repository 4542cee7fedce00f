/**
 * `npm run build`: the published package in dist/.
 *
 * 1. `tsc -p tsconfig.build.json` into a fresh directory next to dist/ (JS and .d.ts of src/, minus
 *    the CLI, and of migrations/), then `tsc -p tsconfig.cli.json` (the `sluice` bin, JS only);
 * 2. the .sql migrations copied next to migrations/index.js, which imports them (a user's wrangler
 *    bundles them by its default Text rule for `**\/*.sql`);
 * 3. every relative import given its file: `./engine/plan` → `./engine/plan.js`, `../../migrations` →
 *    `../../migrations/index.js`, in .js and .d.ts alike, so the output is valid ESM for any bundler
 *    and its types resolve under `moduleResolution` "bundler" and "nodenext";
 * 4. dist/ replaced by the new directory in one rename, so a reader never sees half a build;
 * 5. a stamp of the inputs' hash written, which lets the tests skip a build that is up to date
 *    (see test/support/build.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { BUILD_STAMP, buildInputsHash, listFiles, PROJECT_ROOT } from "./build-inputs";

const DIST = join(PROJECT_ROOT, "dist");

export async function build(): Promise<void> {
  const staging = join(PROJECT_ROOT, `.dist-staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const hash = await buildInputsHash();
    const tsc = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
    const run = spawnSync(
      process.execPath,
      [tsc, "-p", join(PROJECT_ROOT, "tsconfig.build.json"), "--outDir", staging],
      { cwd: PROJECT_ROOT, stdio: "inherit" },
    );
    if (run.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${run.status ?? run.signal})`);
    // The `sluice` bin (src/cli/) for Node, beside the library.
    const cli = spawnSync(process.execPath, [tsc, "-p", join(PROJECT_ROOT, "tsconfig.cli.json"), "--outDir", staging], {
      cwd: PROJECT_ROOT,
      stdio: "inherit",
    });
    if (cli.status !== 0) throw new Error(`tsc -p tsconfig.cli.json failed (exit ${cli.status ?? cli.signal})`);

    const migrations = join(PROJECT_ROOT, "migrations");
    for (const name of await readdir(migrations)) {
      if (name.endsWith(".sql")) await cp(join(migrations, name), join(staging, "migrations", name));
    }
    for (const file of await listFiles(staging)) {
      if (file.endsWith(".js") || file.endsWith(".d.ts"))
        await writeFile(file, withExplicitFiles(await readFile(file, "utf8"), file));
    }
    await rm(DIST, { recursive: true, force: true });
    await rename(staging, DIST);
    await mkdir(dirname(BUILD_STAMP), { recursive: true });
    await writeFile(BUILD_STAMP, `${hash}\n`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** `from "./x"` / `import("./x")` / `import "./x"` (or `"."`, which tsc writes for a folder's index) with a relative specifier that names no file gets one. */
export function withExplicitFiles(source: string, file: string): string {
  const resolve = (specifier: string): string => {
    const relativeSpecifier =
      specifier === "." || specifier === ".." || specifier.startsWith("./") || specifier.startsWith("../");
    if (!relativeSpecifier) return specifier;
    if (/\.(js|mjs|cjs|json|sql)$/.test(specifier)) return specifier;
    const base = join(dirname(file), specifier);
    if (existsSync(`${base}.js`) || existsSync(`${base}.d.ts`)) return `${specifier}.js`;
    if (existsSync(join(base, "index.js")) || existsSync(join(base, "index.d.ts"))) return `${specifier}/index.js`;
    throw new Error(`${relative(PROJECT_ROOT, file)}: cannot resolve the import "${specifier}"`);
  };
  return source
    .replace(
      /(\bfrom\s*|\bimport\s*)(["'])([^"']+)\2/g,
      (_m, lead: string, q: string, spec: string) => `${lead}${q}${resolve(spec)}${q}`,
    )
    .replace(
      /(\bimport\(\s*)(["'])([^"']+)\2(\s*\))/g,
      (_m, lead: string, q: string, spec: string, tail: string) => `${lead}${q}${resolve(spec)}${q}${tail}`,
    );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  build().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
