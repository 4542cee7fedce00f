/**
 * Tenant records: `tenant add`, `tenant remove` (admin API or KV), `tenant list`, `tenant show` (admin API).
 * @module
 */
import type { Command } from "commander";
import { sha256Hex } from "../hash";
import { tenantKey } from "../kv/keys";
import type { Overrides } from "../policy/overrides";
import { parseTenant } from "../policy/tenant-record";
import { adminCall, answerJson } from "./admin-client";
import type { Run } from "./command-run";
import { CliError, EXIT_OK } from "./errors";
import { io } from "./io";
import { collectOverride } from "./override-option";
import { addApiOptions, addTargetOptions, apiTarget, resolveTarget, type TargetOptions } from "./target";

type TenantAddOptions = TargetOptions & {
  apiKey: string;
  id: string;
  tier: string;
  sandbox?: boolean;
  override?: Overrides;
};

export function registerTenantCommands(program: Command, run: Run): void {
  const tenant = program.command("tenant").description("tenant records: KV tenant:<sha256 of the API key>");
  addTargetOptions(
    tenant
      .command("add")
      .description("store (or replace) the tenant record of an API key")
      .requiredOption("--api-key <key>", "the tenant's API key (only its SHA-256 is stored)")
      .requiredOption("--id <id>", "tenant id (names its counters)")
      .requiredOption("--tier <tier>", "tier (a key of the policy's tiered limits)")
      .option("--sandbox", "give this tenant the sandbox multiplier")
      .option(
        "--override <limit=value>",
        "this tenant's number for one limit, in place of its tier's: api-1m=5000, api-1d=x2 (a multiplier), " +
          "optionally until an expiry: api-1m=5000@2026-12-01T00:00:00Z (repeatable)",
        collectOverride,
      ),
  ).action(run((opts: TenantAddOptions, cmd: Command) => tenantAddCommand(opts, cmd)));
  addTargetOptions(
    tenant
      .command("remove")
      .description("delete the tenant record of an API key")
      .requiredOption("--api-key <key>", "the tenant's API key"),
  ).action(run((opts: TargetOptions & { apiKey: string }, cmd: Command) => tenantRemoveCommand(opts, cmd)));
  addApiOptions(
    tenant
      .command("list")
      .description("every tenant record: id, tier, sandbox (through the admin API, --url)")
      .option("--json", "print the admin API's JSON answer"),
  ).action(run((opts: TargetOptions & { json?: boolean }) => tenantListCommand(opts)));
  addApiOptions(
    tenant
      .command("show")
      .description("the tenant record(s) with this id (through the admin API, --url)")
      .argument("<id>")
      .option("--json", "print the admin API's JSON answer"),
  ).action(run((id: string, opts: TargetOptions & { json?: boolean }) => tenantListCommand(opts, id)));
}

async function tenantAddCommand(opts: TenantAddOptions, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (opts.apiKey.length === 0) throw new CliError("--api-key must not be empty");
  const parsed = parseTenant({
    id: opts.id,
    tier: opts.tier,
    sandbox: opts.sandbox === true,
    ...(opts.override ? { overrides: opts.override } : {}),
  });
  if (!parsed.success)
    throw new CliError(
      `invalid tenant: ${parsed.error.issues
        .map((i) =>
          i.path[0] === "overrides"
            ? `--override ${i.path.slice(1).map(String).join(".")}: ${i.message}`
            : `--${String(i.path[0])}: ${i.message}`,
        )
        .join("; ")}`,
    );
  const record = parsed.data;
  await target.addTenant(opts.apiKey, record);
  const key = tenantKey(await sha256Hex(opts.apiKey));
  io.out(
    `stored tenant ${record.id} (tier ${record.tier}${record.sandbox ? ", sandbox" : ""}) as ${key} in ${target.where}`,
  );
  return EXIT_OK;
}

async function tenantRemoveCommand(opts: TargetOptions & { apiKey: string }, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (opts.apiKey.length === 0) throw new CliError("--api-key must not be empty");
  const key = tenantKey(await sha256Hex(opts.apiKey));
  const existed = await target.removeTenant(opts.apiKey);
  io.out(existed ? `removed ${key}` : `no tenant has this API key (${key}); nothing to remove`);
  return EXIT_OK;
}

async function tenantListCommand(opts: TargetOptions & { json?: boolean }, id?: string): Promise<number> {
  const res = await adminCall(apiTarget(opts), "GET", "/tenants", { query: id !== undefined ? { id } : {} });
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const { tenants } = answerJson<{ tenants: Array<{ key: string; id: string; tier?: string; sandbox?: boolean }> }>(
    res,
  );
  if (tenants.length === 0) io.out("no tenants");
  for (const t of tenants) io.out(`${t.id}  tier ${t.tier ?? "(default)"}${t.sandbox ? "  sandbox" : ""}  ${t.key}`);
  return EXIT_OK;
}
