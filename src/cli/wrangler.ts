/**
 * Workers KV through the project's own wrangler (`node_modules/.bin/wrangler`, never one from
 * PATH), run from the project root so that it reads the project's wrangler.toml unless `--config`
 * names another. The project is this repository when the tool runs from it (`npm run policy`);
 * for the `sluice` bin of an installed package, it is the nearest folder at or above the current
 * one that has a wrangler config, with its own wrangler.
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError } from "./errors";

const WRANGLER_CONFIGS = ["wrangler.toml", "wrangler.json", "wrangler.jsonc"];

function hasWranglerProject(dir: string): boolean {
  return (
    WRANGLER_CONFIGS.some((f) => existsSync(join(dir, f))) && existsSync(join(dir, "node_modules", ".bin", "wrangler"))
  );
}

/** This repository (src/cli/ → ../../), or the user's project found from the current folder. */
function findProjectRoot(): string {
  const own = fileURLToPath(new URL("../../", import.meta.url));
  if (hasWranglerProject(own)) return own;
  for (let dir = process.env.INIT_CWD ?? process.cwd(); ; dir = dirname(dir)) {
    if (hasWranglerProject(dir)) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

export const PROJECT_ROOT = findProjectRoot();
const BIN_DIR = join(PROJECT_ROOT, "node_modules", ".bin");
export const WRANGLER_BIN = join(BIN_DIR, "wrangler");

export interface KvTarget {
  mode: "local" | "remote";
  /** `--persist-to` of local mode (where `wrangler dev --persist-to` keeps its state). */
  persistTo?: string;
  /** A wrangler config other than the project's. */
  config?: string;
}

export interface WranglerResult {
  stdout: string;
  stderr: string;
}

/** What `wrangler kv key get` prints for a missing key (on stdout, exit code 0). */
const NOT_FOUND = "Value not found";

/** Local KV calls take a few seconds; wrangler can hang (an unwritable --persist-to, a stuck login). */
const WRANGLER_TIMEOUT_MS = Number(process.env.SLUICE_WRANGLER_TIMEOUT_MS) || 120_000;

/** Process groups of running wranglers: ended with this program, whatever way it ends. */
const running = new Set<number>();
function endAll(): void {
  for (const pgid of running) {
    try {
      process.kill(-pgid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
}
process.once("exit", endAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    endAll();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

export async function runWrangler(args: readonly string[]): Promise<WranglerResult> {
  if (!existsSync(WRANGLER_BIN))
    throw new CliError(
      `wrangler is not installed at ${WRANGLER_BIN}; run this from your Worker's project folder (with its wrangler.toml) after npm install (wrangler is a dev dependency of it)`,
    );
  return new Promise((resolve, reject) => {
    const child = spawn(WRANGLER_BIN, args, {
      cwd: PROJECT_ROOT,
      // The project's Node (node_modules/.bin/node) first: wrangler needs Node 22.
      env: {
        ...process.env,
        PATH: `${BIN_DIR}:${process.env.PATH ?? ""}`,
        WRANGLER_SEND_METRICS: "false",
        NO_COLOR: "1",
        FORCE_COLOR: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: wrangler runs its real work in a child, and a timeout must end both.
      detached: true,
    });
    const pgid = child.pid;
    if (pgid !== undefined) running.add(pgid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }, WRANGLER_TIMEOUT_MS);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.once("error", (e) => {
      clearTimeout(timer);
      if (pgid !== undefined) running.delete(pgid);
      reject(new CliError(`could not run ${WRANGLER_BIN}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (pgid !== undefined) running.delete(pgid);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const what = `wrangler ${args.slice(0, 3).join(" ")}`;
      const said = wranglerSaid(stderr, stdout);
      const details = said.length > 0 ? said : ["  (wrangler printed nothing)"];
      if (timedOut)
        reject(
          new CliError(`${what} did not finish within ${WRANGLER_TIMEOUT_MS / 1000} s and was stopped`, 2, details),
        );
      else reject(new CliError(`${what} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`, 2, details));
    });
  });
}

/** wrangler's own message, without its banner and blank lines. */
// Terminal colour codes (ESC [ ... m) in wrangler's output; built from the code point so the source holds no control character.
const ANSI_SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

function wranglerSaid(stderr: string, stdout: string): string[] {
  return `${stderr}\n${stdout}`
    .replace(ANSI_SGR, "")
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "" && !/^\s*⛅️ wrangler|^─+$|Unknown user config "nodedir"/.test(l))
    .map((l) => `  ${l}`);
}

function targetArgs(target: KvTarget): string[] {
  const args = ["--binding", "POLICIES", target.mode === "local" ? "--local" : "--remote"];
  if (target.persistTo !== undefined) args.push("--persist-to", target.persistTo);
  if (target.config !== undefined) args.push("--config", target.config);
  return args;
}

/** The value of a KV key, or `null` when there is none. */
export async function kvGet(key: string, target: KvTarget): Promise<string | null> {
  const { stdout } = await runWrangler(["kv", "key", "get", key, ...targetArgs(target)]);
  // A value is written as is (no newline added); a missing key is the line "Value not found".
  if (stdout === `${NOT_FOUND}\n` || stdout === NOT_FOUND) return null;
  return stdout;
}

/** Writes `value` as `key`; with `ttlSeconds` (at least 60, as KV requires) it expires after that long. */
export async function kvPut(key: string, value: string, target: KvTarget, ttlSeconds?: number): Promise<void> {
  const ttl = ttlSeconds !== undefined ? ["--ttl", String(ttlSeconds)] : [];
  await runWrangler(["kv", "key", "put", key, value, ...ttl, ...targetArgs(target)]);
}

export async function kvDelete(key: string, target: KvTarget): Promise<void> {
  await runWrangler(["kv", "key", "delete", key, ...targetArgs(target)]);
}

/** The names of the keys under `prefix`. */
export async function kvList(prefix: string, target: KvTarget): Promise<Array<{ name: string }>> {
  const { stdout } = await runWrangler(["kv", "key", "list", "--prefix", prefix, ...targetArgs(target)]);
  try {
    return JSON.parse(stdout) as Array<{ name: string }>;
  } catch {
    throw new CliError(`wrangler kv key list printed something that is not JSON: ${stdout.slice(0, 200)}`);
  }
}

export interface BulkEntry {
  key: string;
  value: string;
  metadata?: unknown;
}

/** Writes several keys in one wrangler run (`kv bulk put`): one start-up of wrangler instead of one per key. */
export async function kvBulkPut(entries: readonly BulkEntry[], target: KvTarget): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-kv-"));
  try {
    const file = join(dir, "entries.json");
    await writeFile(file, JSON.stringify(entries), "utf8");
    await runWrangler(["kv", "bulk", "put", file, ...targetArgs(target)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The KV calls the policy tool makes, as one object: wrangler's here, KV in memory in a test. */
export interface KvCalls {
  get(key: string): Promise<string | null>;
  put(key: string, value: string, ttlSeconds?: number): Promise<void>;
  bulkPut(entries: readonly BulkEntry[]): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<Array<{ name: string; metadata?: unknown }>>;
}

export function wranglerKv(target: KvTarget): KvCalls {
  return {
    get: (key) => kvGet(key, target),
    put: (key, value, ttlSeconds) => kvPut(key, value, target, ttlSeconds),
    bulkPut: (entries) => kvBulkPut(entries, target),
    delete: (key) => kvDelete(key, target),
    list: (prefix) => kvList(prefix, target),
  };
}
