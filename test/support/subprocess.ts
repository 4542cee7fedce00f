/**
 * The project's command-line tools run as subprocesses by the end-to-end tests: the policy CLI as
 * `npm run policy` runs it, wrangler, npm, tsc. Output is collected whole and a non-zero exit is
 * not an error: the tests assert on the code.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { BIN_DIR, childEnv, PROJECT_ROOT } from "./wrangler-dev";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Defaults to the project folder. */
  cwd?: string;
  /** Set on top of the child environment (after the SLUICE_* settings are cleared). */
  env?: Record<string, string>;
}

/** The CLI's settings from the environment: cleared, so each test says where the CLI acts. */
const CLI_SETTINGS = ["SLUICE_URL", "SLUICE_ADMIN_TOKEN", "SLUICE_ADMIN_PREFIX", "SLUICE_ACTOR"];

export const TSX = join(BIN_DIR, "tsx");
export const POLICY_CLI = join(PROJECT_ROOT, "src", "cli", "policy.ts");
export const TSC = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const env = childEnv();
  for (const name of CLI_SETTINGS) delete env[name];
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The policy CLI as `npm run policy` runs it: the project's tsx on src/cli/policy.ts. */
export function policyCli(...args: string[]): Promise<RunResult> {
  return run(TSX, [POLICY_CLI, ...args]);
}

/** `--url <base> --token <token>`: the CLI against a running Worker's admin API. */
export function adminApiArgs(url: string, token: string): string[] {
  return ["--url", url, "--token", token];
}
