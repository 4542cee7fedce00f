/**
 * The policy tool's output and the user's files: stdout for results, stderr for notes, and paths
 * relative to where the user ran the command.
 * @module
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { CliError } from "./errors";

type Out = { out: (line: string) => void; err: (line: string) => void };
export const io: Out = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Relative paths are the user's: under `npm run policy` that is npm's INIT_CWD, not the project root. */
export function userPath(path: string): string {
  if (isAbsolute(path)) return path;
  const base =
    process.env.npm_lifecycle_event === "policy" && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
  return resolve(base, path);
}

export async function readPolicyFile(file: string): Promise<string> {
  try {
    return await readFile(userPath(file), "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "no such file"
        : err.code === "EISDIR"
          ? "it is a directory"
          : err.code === "EACCES"
            ? "permission denied"
            : err.message;
    throw new CliError(`cannot read ${file}: ${why}`);
  }
}

/** A document's text as stdout shows it: ending in one newline. */
export function printDocument(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}
