/**
 * Makes sure dist/ (what `import ... from "sluice"` resolves to, through the package's `exports`)
 * is built from the current sources, building it when not. Used as the `globalSetup` of the
 * example projects and by the package tests, which may run at the same time: a lock directory
 * lets one build at a time, and a stamp of the inputs' hash (written by scripts/build.ts) lets the
 * others see the build is already up to date.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BUILD_STAMP, buildInputsHash, PROJECT_ROOT } from "../../scripts/build-inputs";

/** The project's node_modules/.bin first on PATH: npm scripts then run under the project's Node 22. */
const BUILD_ENV = { ...process.env, PATH: `${join(PROJECT_ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}` };
const LOCK = join(dirname(BUILD_STAMP), "build.lock");
/** A lock older than this was left by a run that died. */
const STALE_LOCK_MS = 180_000;

async function upToDate(): Promise<boolean> {
  if (!existsSync(join(PROJECT_ROOT, "dist", "src", "index.js"))) return false;
  try {
    return (await readFile(BUILD_STAMP, "utf8")).trim() === (await buildInputsHash());
  } catch {
    return false;
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 2 * STALE_LOCK_MS;
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = Date.now() - (await stat(LOCK).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > STALE_LOCK_MS) await rm(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${LOCK}`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

/** Builds dist/ unless it is up to date; returns whether it built. */
export async function ensureBuilt(): Promise<boolean> {
  if (await upToDate()) return false;
  return withLock(async () => {
    if (await upToDate()) return false;
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const child = spawn("npm", ["run", "build", "--silent"], {
        cwd: PROJECT_ROOT,
        env: BUILD_ENV,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`npm run build failed (exit ${code}):\n${output}`)),
      );
    });
    return true;
  });
}

/** As a vitest `globalSetup`: the example apps import the built package. */
export default async function setup(): Promise<void> {
  await ensureBuilt();
}
