/**
 * The published versions: `history`, `show <version>`, `rollback <version>`, and `get` (the one in force).
 * @module
 */
import type { Command } from "commander";
import type { Run } from "./command-run";
import { CliError, EXIT_OK } from "./errors";
import { io, printDocument } from "./io";
import { actorOption, addTargetOptions, resolveTarget, type TargetOptions } from "./target";

export function registerHistoryCommands(program: Command, run: Run): void {
  addTargetOptions(
    program
      .command("history")
      .description("the published versions, newest first: when, by whom, how")
      .option("--json", "print JSON"),
  ).action(run((opts: TargetOptions & { json?: boolean }, cmd: Command) => historyCommand(opts, cmd)));
  addTargetOptions(
    program.command("show").description("print one version's whole document").argument("<version>"),
  ).action(
    run(async (version: string, opts: TargetOptions, cmd: Command) => {
      const text = await resolveTarget(opts, cmd).historyText(versionNumber(version));
      printDocument(text);
      return EXIT_OK;
    }),
  );
  addTargetOptions(
    program
      .command("rollback")
      .description("put an earlier version in force again (it becomes the newest version)")
      .argument("<version>")
      .addOption(actorOption()),
  ).action(
    run(async (version: string, opts: TargetOptions & { actor?: string }, cmd: Command) => {
      const number = versionNumber(version);
      return resolveTarget(opts, cmd).rollback(number, opts.actor);
    }),
  );
  addTargetOptions(
    program.command("get").description("print the document in force (stdout) and which version it is and why (stderr)"),
  ).action(
    run(async (opts: TargetOptions, cmd: Command) => {
      await resolveTarget(opts, cmd).printInForce();
      return EXIT_OK;
    }),
  );
}

function versionNumber(version: string): number {
  if (!/^\d+$/.test(version)) throw new CliError(`not a version number: ${version}`);
  return Number(version);
}

async function historyCommand(opts: TargetOptions & { json?: boolean }, cmd: Command): Promise<number> {
  const rows = await resolveTarget(opts, cmd).historyRows();
  if (opts.json) {
    io.out(JSON.stringify({ versions: rows }, null, 2));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    io.out("no published versions yet");
    return EXIT_OK;
  }
  io.out("version  published at               by              how");
  for (const r of rows)
    io.out(`${String(r.version).padEnd(8)} ${(r.at ?? "?").padEnd(24)} ${(r.actor ?? "?").padEnd(15)} ${r.how ?? "?"}`);
  return EXIT_OK;
}
