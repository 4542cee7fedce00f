/**
 * The `policy` program: its commands, a file per group (`*-command.ts`, `*-commands.ts`), each acting where
 * ./target.ts says.
 * @module
 */
import { Command } from "commander";
import type { Run } from "./command-run";
import { registerKeyCommands, registerStatsCommand } from "./counter-commands";
import { registerDocumentCommands } from "./document-commands";
import { registerExplainCommand } from "./explain-command";
import { registerHistoryCommands } from "./history-commands";
import { registerTenantCommands } from "./tenant-commands";
import { registerUnlockCommand } from "./unlock-command";
import { registerUsageCommand } from "./usage-command";

const EXIT_CODES = `
Where it acts:
  --url <base> (or SLUICE_URL)      the admin API of a running Worker, e.g. http://127.0.0.1:8787;
                                    needs --token (or SLUICE_ADMIN_TOKEN): the Worker's ADMIN_TOKEN, or a
                                    token of ADMIN_TOKENS / ADMIN_READ_TOKEN (a read token only reads)
  --local [--persist-to <dir>]      Workers KV of \`wrangler dev\` on this machine, through wrangler
  --remote                          Workers KV of the deployed Worker, through wrangler
  --local/--remote win over SLUICE_URL; giving both --url and --local/--remote is an error.

Exit codes:
  0  done; the document is valid; diff found no differences
  1  the document is invalid (nothing was pushed); diff found differences;
     the admin API refused the change (invalid document, If-Match no longer matches)
  2  could not do it: bad usage, unreadable file, network or HTTP error, wrangler failed`;

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("policy")
    .description(
      "sluice policy tool: validate, diff and push policy documents; manage tenants; inspect and reset counters",
    )
    .usage("<command> [options]   (npx sluice policy <command> [options], or npm run policy -- <command> [options])")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES);
  const run: Run =
    (fn) =>
    async (...args) => {
      setExit(await fn(...args));
    };
  // In this order: it is the order --help lists them in.
  registerDocumentCommands(program, run);
  registerTenantCommands(program, run);
  registerHistoryCommands(program, run);
  registerStatsCommand(program, run);
  registerExplainCommand(program, run);
  registerUnlockCommand(program, run);
  registerKeyCommands(program, run);
  registerUsageCommand(program, run);
  // Every command's --help ends with where it acts and what its exit code means.
  const leaves = (cmd: Command): Command[] => (cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves));
  for (const leaf of program.commands.flatMap(leaves)) leaf.addHelpText("after", EXIT_CODES);
  return program;
}
