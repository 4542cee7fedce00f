/**
 * `policy usage`: the usage ledger of a tenant (units admitted and refused
 * per UTC day and rule), read through the admin API's `GET /usage`. The
 * ledger lives in the statistics store, which only the Worker reaches: there
 * is no --local/--remote form.
 * @module
 */
import type { Command } from "commander";
import { type AdminTarget, adminCall, answerJson } from "./admin-client";
import { CliError, EXIT_OK } from "./errors";

const DAY = /^\d{4}-\d{2}-\d{2}$/;

interface UsageRow {
  day: string;
  rule: string;
  admitted: number;
  refused: number;
}

export interface UsageOptions {
  tenant: string;
  from: string;
  to?: string;
  json?: boolean;
}

/** What the command needs of the program that registers it. */
export interface UsageCommandHost<O> {
  addApiOptions(cmd: Command): Command;
  apiTarget(opts: O): AdminTarget;
  run<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
  out(line: string): void;
}

export function registerUsageCommand<O>(program: Command, host: UsageCommandHost<O>): void {
  host
    .addApiOptions(
      program
        .command("usage")
        .description("a tenant's usage ledger: units admitted and refused per UTC day and rule (admin API, --url)")
        .requiredOption("--tenant <id>", "the tenant record's id")
        .requiredOption("--from <YYYY-MM-DD>", "first UTC day")
        .option("--to <YYYY-MM-DD>", "last UTC day (default: today)")
        .option("--json", "print the admin API's JSON answer"),
    )
    .action(host.run((opts: O & UsageOptions) => usageCommand(host, opts)));
}

async function usageCommand<O>(host: UsageCommandHost<O>, opts: O & UsageOptions): Promise<number> {
  for (const [name, value] of [
    ["--from", opts.from],
    ["--to", opts.to],
  ] as const)
    if (value !== undefined && !DAY.test(value)) throw new CliError(`${name} must be a day, YYYY-MM-DD, not ${value}`);
  const query: Record<string, string> = { tenant: opts.tenant, from: opts.from, ...(opts.to ? { to: opts.to } : {}) };
  const res = await adminCall(host.apiTarget(opts), "GET", "/usage", { query });
  if (opts.json) {
    host.out(res.text.trim());
    return EXIT_OK;
  }
  const { rows } = answerJson<{ rows: UsageRow[] }>(res);
  if (rows.length === 0) {
    host.out(`no usage for tenant ${opts.tenant} from ${opts.from}${opts.to ? ` to ${opts.to}` : ""}`);
    return EXIT_OK;
  }
  const width = Math.max(4, ...rows.map((r) => r.rule.length));
  host.out(`${"day".padEnd(10)}  ${"rule".padEnd(width)}  ${"admitted".padStart(10)}  ${"refused".padStart(10)}`);
  for (const r of rows)
    host.out(
      `${r.day}  ${r.rule.padEnd(width)}  ${String(r.admitted).padStart(10)}  ${String(r.refused).padStart(10)}`,
    );
  return EXIT_OK;
}
