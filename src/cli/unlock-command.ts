/**
 * `unlock <address>`: let an address locked out by wrong admin tokens in again.
 * @module
 */
import type { Command } from "commander";
import { addressKey } from "../admin/unlock-key";
import type { Run } from "./command-run";
import { CliError, EXIT_OK } from "./errors";
import { addTargetOptions, resolveTarget, type TargetOptions } from "./target";

export function registerUnlockCommand(program: Command, run: Run): void {
  addTargetOptions(
    program
      .command("unlock")
      .description("let an address locked out by wrong admin tokens in again")
      .argument("<address>", "the client address (IPv4 or IPv6) that is locked out"),
  ).action(
    run(async (address: string, opts: TargetOptions, cmd: Command) => {
      const ipKey = addressKey(address);
      if (ipKey === undefined) throw new CliError(`not an IP address: ${address}`);
      await resolveTarget(opts, cmd).unlock(address, ipKey);
      return EXIT_OK;
    }),
  );
}
