/**
 * `policy usage`: the usage ledger of a tenant (units admitted and refused
 * per UTC day and rule), read through the admin API's `GET /usage`. The
 * ledger lives in the statistics store, which only the Worker reaches: there
 * is no --local/--remote form.
 * @module
 */
import type { Command } from "commander";
import { adminCall, answerJson } from "./admin-client";
import type { Run } from "./command-run";
import { CliError, EXIT_OK } from "./errors";
import { io } from "./io";
import { addApiOptions, apiTarget, type TargetOptions } from "./target";

const DAY = /^\d{4}-\d{2}-\d{2}$/;

interface UsageRow {
  day: string;
  rule: string;
  admitted: number;
  refused: number;
}

interface UsageOptions {
  tenant: string;
  from: string;
  to?: string;
  json?: boolean;
}

export function registerUsageCommand(program: Command, run: Run): void {
  addApiOptions(
    program
      .command("usage")
      .description("a tenant's usage ledger: units admitted and refused per UTC day and rule (admin API, --url)")
      .requiredOption("--tenant <id>", "the tenant record's id")
      .requiredOption("--from <YYYY-MM-DD>", "first UTC day")
      .option("--to <YYYY-MM-DD>", "last UTC day (default: today)")
      .option("--json", "print the admin API's JSON answer"),
  ).action(run((opts: TargetOptions & UsageOptions) => usageCommand(opts)));
}

async function usageCommand(opts: TargetOptions & UsageOptions): Promise<number> {
  for (const [name, value] of [
    ["--from", opts.from],
    ["--to", opts.to],
  ] as const)
    if (value !== undefined && !DAY.test(value)) throw new CliError(`${name} must be a day, YYYY-MM-DD, not ${value}`);
  const query: Record<string, string> = { tenant: opts.tenant, from: opts.from, ...(opts.to ? { to: opts.to } : {}) };
  const res = await adminCall(apiTarget(opts), "GET", "/usage", { query });
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const { rows } = answerJson<{ rows: UsageRow[] }>(res);
  if (rows.length === 0) {
    io.out(`no usage for tenant ${opts.tenant} from ${opts.from}${opts.to ? ` to ${opts.to}` : ""}`);
    return EXIT_OK;
  }
  const width = Math.max(4, ...rows.map((r) => r.rule.length));
  io.out(`${"day".padEnd(10)}  ${"rule".padEnd(width)}  ${"admitted".padStart(10)}  ${"refused".padStart(10)}`);
  for (const r of rows)
    io.out(`${r.day}  ${r.rule.padEnd(width)}  ${String(r.admitted).padStart(10)}  ${String(r.refused).padStart(10)}`);
  return EXIT_OK;
}
