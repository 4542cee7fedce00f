/**
 * `npm run policy -- <command>`: validate, diff and push policy documents, manage tenants and
 * inspect or reset counters, through the admin API (`--url`) or through Workers KV with the
 * project's wrangler (`--local` / `--remote`). Run with `--help` for the commands and exit codes.
 * @module
 */
import { pathToFileURL } from "node:url";
import { CommanderError } from "commander";
import { CliError, EXIT_OK, EXIT_TROUBLE } from "./errors";
import { io } from "./io";
import { buildProgram } from "./program";

/** Runs one `policy` command line; the exit code to leave with. */
export async function main(argv: readonly string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT_TROUBLE;
    }
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_TROUBLE;
    if (e instanceof CliError) {
      io.err(`error: ${e.message}`);
      for (const line of e.details) io.err(line);
      return e.exitCode;
    }
    io.err(`error: ${(e as Error).stack ?? String(e)}`);
    return EXIT_TROUBLE;
  }
}

// Run when started as a program (`npm run policy`), not when imported by the `sluice` bin.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
