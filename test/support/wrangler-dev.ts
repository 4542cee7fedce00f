/**
 * Starts and stops a real `wrangler dev` for the end-to-end tests (Node, not workerd).
 *
 * - wrangler is the project's own (`node_modules/.bin/wrangler`, found from this file, not from PATH),
 *   run with the project's `node_modules/.bin` first on PATH so it runs under the project's Node 22;
 * - each instance gets a free loopback port and its own `--persist-to` directory;
 * - it runs in its own process group, and `stop()` ends the whole group (wrangler, esbuild, workerd);
 * - start-ups are serialised across test files with a lock directory: several `wrangler dev` coming
 *   up at the same moment from one project folder can fail.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * An empty env file: wrangler reads it instead of the project's `.dev.vars`, so a developer's own
 * secrets (the README has them put an admin token there) never change what a test sees.
 */
export const NO_DEV_VARS = fileURLToPath(new URL("./no-dev-vars.env", import.meta.url));
export const BIN_DIR = join(PROJECT_ROOT, "node_modules", ".bin");
export const WRANGLER_BIN = join(BIN_DIR, "wrangler");

/** The environment for anything the tests spawn: the project's Node first on PATH, no telemetry. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${BIN_DIR}:${process.env.PATH ?? ""}`,
    WRANGLER_SEND_METRICS: "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
    ...extra,
  };
}

/** A port nothing listens on right now: bind port 0 on loopback, read it, let it go. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a loopback listener"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export async function freshDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

/** Runs `fn` with a fresh temp dir, removed afterwards whatever `fn` does. */
export async function withFreshDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await freshDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The `--var`s the end-to-end tests run the Worker with: an origin, an admin token, policies read
 * afresh at every request (a test writes one and expects the next request to see it), and a time
 * budget a cold object on a busy machine keeps to.
 */
export function sluiceVars(options: { origin: string; token?: string }): Record<string, string> {
  return {
    ORIGIN: options.origin,
    LIMITER_TIMEOUT_MS: "5000",
    POLICY_TTL_SECONDS: "0",
    ...(options.token === undefined ? {} : { ADMIN_TOKEN: options.token }),
  };
}

export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  persistTo: string;
  /** Everything wrangler wrote so far (stdout and stderr interleaved). */
  output(): string;
  /** Ends wrangler and every process it started; removes the persist dir if this module created it. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** `--var NAME:value` pairs. */
  vars?: Record<string, string>;
  /** `--name`: the Worker's name in place of wrangler.toml's (what another Worker's `script_name` binds to). */
  name?: string;
  /** `--config`: a wrangler.toml other than the project's. */
  config?: string;
  /**
   * The whole argument list after `wrangler` (e.g. the `dev` script of package.json with its port
   * replaced). When given, `vars`, `name` and `config` are ignored and the caller is responsible
   * for `--port`/`--persist-to`.
   */
  args?: string[];
  port?: number;
  /** The program to run instead of wrangler (e.g. `npm`), with `args` after it. */
  command?: string;
  /** Defaults to a fresh temp dir, removed on stop. */
  persistTo?: string;
  /** How long to wait for the first HTTP answer. */
  readyTimeoutMs?: number;
}

const MAX_OUTPUT = 256 * 1024;

export async function startWranglerDev(options: StartOptions = {}): Promise<WranglerDev> {
  const release = await acquireStartLock();
  try {
    return await start(options);
  } finally {
    await release();
  }
}

async function start(options: StartOptions): Promise<WranglerDev> {
  const port = options.port ?? (await freePort());
  const ownDir = options.persistTo === undefined;
  const persistTo = options.persistTo ?? (await freshDir("sluice-e2e-state"));
  const args = options.args ?? [
    "dev",
    ...(options.name === undefined ? [] : ["--name", options.name]),
    ...(options.config === undefined ? [] : ["--config", options.config]),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    persistTo,
    "--show-interactive-dev-session=false",
    "--env-file",
    NO_DEV_VARS,
    ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];

  let output = "";
  const child: ChildProcess = spawn(options.command ?? WRANGLER_BIN, args, {
    cwd: PROJECT_ROOT,
    env: childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that stop() reaches workerd and esbuild too.
    detached: true,
  });
  const collect = (chunk: Buffer) => {
    if (output.length < MAX_OUTPUT) output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once("error", (e) => {
    spawnError = e;
  });

  const pgid = child.pid;
  // Last resort if the test process dies without running afterAll.
  const onExit = () => {
    if (pgid !== undefined) killGroup(pgid, "SIGKILL");
  };
  process.once("exit", onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (pgid !== undefined) {
      killGroup(pgid, "SIGTERM");
      if (!(await groupGone(pgid, 5_000))) {
        killGroup(pgid, "SIGKILL");
        await groupGone(pgid, 5_000);
      }
    }
    await Promise.race([exitPromise, delay(1_000)]);
    process.removeListener("exit", onExit);
    if (ownDir) await rm(persistTo, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (spawnError) throw new Error(`could not start ${WRANGLER_BIN}: ${spawnError.message}`);
      if (exited)
        throw new Error(`wrangler dev exited (code ${exited.code}, signal ${exited.signal}) before it answered`);
      // Any HTTP answer means the Worker is up. The admin prefix is never rate limited, so
      // probing it does not use up any counter the tests then count exactly.
      const answered = await fetch(`${url}/__ratelimit/`, { signal: AbortSignal.timeout(2_000) })
        .then(async (res) => {
          await res.arrayBuffer();
          return true;
        })
        .catch(() => false);
      if (answered) break;
      if (Date.now() > deadline)
        throw new Error(`wrangler dev did not answer on ${url} within ${options.readyTimeoutMs ?? 60_000} ms`);
      await delay(150);
    }
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n--- wrangler ${args.join(" ")} ---\n${stripAnsi(output)}`);
  }
  return { url, port, persistTo, output: () => output, stop };
}

// Terminal colour codes (ESC [ ... m) in wrangler's output; built from the code point so the source holds no control character.
const ANSI_SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

function stripAnsi(text: string): string {
  return text.replace(ANSI_SGR, "");
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await delay(50);
  }
}

/**
 * `npm run dev -- --port N`, as a user runs it (the script's own vars, the built-in echo origin), on a
 * fresh state dir that `stop()` removes, and without the developer's `.dev.vars`.
 */
export async function startNpmRunDev(prefix: string): Promise<WranglerDev> {
  const port = await freePort();
  const persistTo = await freshDir(prefix);
  const dev = await startWranglerDev({
    command: "npm",
    args: ["run", "dev", "--", "--port", String(port), "--persist-to", persistTo, "--env-file", NO_DEV_VARS],
    port,
    persistTo,
  });
  return {
    ...dev,
    stop: async () => {
      await dev.stop();
      await rm(persistTo, { recursive: true, force: true });
    },
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * What wrangler has written once `seen` holds of it, or after about five seconds: wrangler passes
 * the Worker's log lines on with a delay. The caller asserts on what it returns.
 */
export async function untilOutput(dev: WranglerDev, seen: (output: string) => boolean): Promise<string> {
  for (let i = 0; i < 50 && !seen(dev.output()); i++) await delay(100);
  return dev.output();
}

/**
 * Fixed windows are aligned to multiples of their length: when fewer than `neededMs` are left
 * in the current window, wait for the next one, so that a run of requests is counted in one
 * window. (workerd runs on this machine's clock.)
 */
export async function roomInWindow(windowMs: number, neededMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < neededMs) await delay(left + 50);
}

const LOCK_DIR = join(tmpdir(), "sluice-e2e-wrangler-start.lock");
const STALE_LOCK_MS = 120_000;

/** One `wrangler dev` start-up at a time across test files (workers of one vitest run). */
async function acquireStartLock(): Promise<() => Promise<void>> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      return async () => {
        await rm(LOCK_DIR, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = await stat(LOCK_DIR).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rm(LOCK_DIR, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK_DIR}`);
      await delay(200);
    }
  }
}
