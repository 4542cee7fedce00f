/**
 * Where a command acts: the admin API of a running Worker (`--url`, ./api-target.ts) or Workers
 * KV through the project's wrangler (`--local` / `--remote`, ./kv-target.ts). Both do the same
 * things behind one {@link PolicyTarget}; what each says it did is its own.
 * @module
 */
import { type Command, Option } from "commander";
import type { Tenant } from "../policy/tenant-record";
import { type AdminTarget, DEFAULT_ADMIN_PREFIX } from "./admin-client";
import { ApiPolicyTarget } from "./api-target";
import { CliError } from "./errors";
import { userPath } from "./io";
import { KvPolicyTarget } from "./kv-target";

export interface TargetOptions {
  url?: string;
  token?: string;
  adminPrefix: string;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  config?: string;
}

export interface HistoryRow {
  version: number;
  at?: string;
  actor?: string;
  how?: string;
}

/** The document the Worker enforces, with a label for diffs; `fromHistory`: an invalid stored one was passed over. */
export interface InForce {
  text: string;
  label: string;
  fromHistory?: true;
}

export interface PolicyTarget {
  /** Where, as messages name it: the Worker's URL, or `local KV (<dir>)` / `remote KV`. */
  readonly where: string;
  /** Whether a push may carry `--if-match` (only the admin API checks it). */
  readonly checksIfMatch: boolean;
  /** The document in force; notes on stderr say when it is not the stored one. */
  inForce(): Promise<InForce>;
  /** Prints the document in force (stdout) and which version it is and why (stderr). */
  printInForce(): Promise<void>;
  historyRows(): Promise<HistoryRow[]>;
  historyText(version: number): Promise<string>;
  /** Publishes a validated document; the exit code. */
  push(file: string, text: string, rules: string, options: { ifMatch?: string; actor?: string }): Promise<number>;
  pushCandidate(file: string, text: string, rules: string): Promise<number>;
  /** Whether there was a candidate. */
  dropCandidate(): Promise<boolean>;
  rollback(version: number, actor: string | undefined): Promise<number>;
  /** Stores (or replaces) a tenant's record, checked against the policy in force. */
  addTenant(apiKey: string, record: Tenant): Promise<void>;
  /** Whether there was a record. */
  removeTenant(apiKey: string): Promise<boolean>;
  unlock(address: string, ipKey: string): Promise<void>;
}

export function addApiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--url <base>", "base URL of the Worker (its admin API)").env("SLUICE_URL"))
    .addOption(new Option("--token <token>", "admin token (the Worker's ADMIN_TOKEN)").env("SLUICE_ADMIN_TOKEN"))
    .addOption(
      new Option("--admin-prefix <prefix>", "admin API prefix (the Worker's ADMIN_PREFIX)")
        .env("SLUICE_ADMIN_PREFIX")
        .default(DEFAULT_ADMIN_PREFIX),
    );
}

function addKvOptions(cmd: Command): Command {
  return cmd
    .option("--local", "Workers KV of wrangler dev on this machine (through wrangler)")
    .option("--remote", "Workers KV of the deployed Worker (through wrangler)")
    .option("--persist-to <dir>", "with --local: wrangler dev's --persist-to directory")
    .option("-c, --config <path>", "with --local/--remote: a wrangler config other than the project's wrangler.toml");
}

/** Both: the command acts through the admin API or through wrangler. */
export function addTargetOptions(cmd: Command): Command {
  return addKvOptions(addApiOptions(cmd));
}

/** Who is publishing: recorded in the history entry by --local/--remote; the admin API records the token's name. */
export function actorOption(): Option {
  return new Option(
    "--actor <name>",
    "who publishes, recorded in the policy history with --local/--remote (through --url the Worker records the token's name)",
  ).env("SLUICE_ACTOR");
}

export function apiTarget(opts: TargetOptions): AdminTarget {
  if (!opts.url) throw new CliError("no Worker URL: give --url <base> or set SLUICE_URL");
  if (!opts.token) throw new CliError("no admin token: give --token <token> or set SLUICE_ADMIN_TOKEN");
  return { url: opts.url, token: opts.token, prefix: opts.adminPrefix };
}

export function resolveTarget(opts: TargetOptions, cmd: Command): PolicyTarget {
  const kv = Boolean(opts.local || opts.remote);
  if (opts.local && opts.remote) throw new CliError("choose one of --local and --remote");
  if (opts.persistTo !== undefined && !opts.local) throw new CliError("--persist-to only applies with --local");
  if (opts.config !== undefined && !kv) throw new CliError("--config only applies with --local or --remote");
  if (kv) {
    if (cmd.getOptionValueSource("url") === "cli")
      throw new CliError("give either --url (the admin API) or --local/--remote (wrangler KV), not both");
    return new KvPolicyTarget({
      mode: opts.local ? "local" : "remote",
      ...(opts.persistTo !== undefined ? { persistTo: userPath(opts.persistTo) } : {}),
      ...(opts.config !== undefined ? { config: userPath(opts.config) } : {}),
    });
  }
  if (!opts.url) {
    throw new CliError(
      "where to? give --url <base> (or SLUICE_URL) for the admin API, or --local/--remote for Workers KV through wrangler",
    );
  }
  return new ApiPolicyTarget(apiTarget(opts));
}
