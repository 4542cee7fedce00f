/**
 * `npm run policy -- <command>`: validate, diff and push policy documents, manage tenants and
 * inspect or reset counters, through the admin API (`--url`) or through Workers KV with the
 * project's wrangler (`--local` / `--remote`). Run with `--help` for the commands and exit codes.
 * @module
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { addressKey, lockoutKey, readLockoutRecord, ttlSeconds, unlockKey, unlockMarker } from "../admin/unlock-key";
import { sha256Hex } from "../hash";
import { CANDIDATE_KEY, HISTORY_PREFIX, POLICY_KEY, tenantIdKey, tenantKey } from "../kv/keys";
import {
  type HistoryMetadata,
  historyKey,
  newestValidInHistory,
  parseHistoryEntry,
  versionInHistory,
} from "../kv/policy-history";
import { DEFAULT_POLICY } from "../policy/default-policy";
import type { Overrides } from "../policy/overrides";
import type { Policy } from "../policy/schema";
import { tenantProblems } from "../policy/tenant-checks";
import { parseTenant } from "../policy/tenant-record";
import { validatePolicy, validatePolicyText } from "../policy/validate";
import { type AdminTarget, adminCall, answerJson, DEFAULT_ADMIN_PREFIX, formatErrorLine } from "./admin-client";
import { CliError, EXIT_NO, EXIT_OK, EXIT_TROUBLE } from "./errors";
import { explainRequest } from "./explain";
import { idList } from "./id-list";
import { publishThroughKv, wranglerHistoryKv } from "./kv-history";
import { collectOverride } from "./override-option";
import { policyDiff } from "./policy-diff";
import { type KvTarget, kvBulkPut, kvDelete, kvGet, kvList, kvPut } from "./wrangler";

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

type Out = { out: (line: string) => void; err: (line: string) => void };
const io: Out = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Relative paths are the user's: under `npm run policy` that is npm's INIT_CWD, not the project root. */
function userPath(path: string): string {
  if (isAbsolute(path)) return path;
  const base =
    process.env.npm_lifecycle_event === "policy" && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
  return resolve(base, path);
}

async function readPolicyFile(file: string): Promise<string> {
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

// ---- where a command acts ---------------------------------------------------------------

interface TargetOptions {
  url?: string;
  token?: string;
  adminPrefix: string;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  config?: string;
}

type Target = { kind: "api"; api: AdminTarget } | { kind: "kv"; kv: KvTarget };

function addApiOptions(cmd: Command): Command {
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

/** Who is publishing: recorded in the history entry by --local/--remote; the admin API records the token's name. */
function actorOption(): Option {
  return new Option(
    "--actor <name>",
    "who publishes, recorded in the policy history with --local/--remote (through --url the Worker records the token's name)",
  ).env("SLUICE_ACTOR");
}

/** Through the admin API the actor is the token's name: say so when --actor was given, rather than drop it silently. */
function noteActorIgnored(actor: string | undefined): void {
  if (actor !== undefined)
    io.err(`note: --actor "${actor}" is not sent: the admin API records the name of the token (--token) as the actor`);
}

function apiTarget(opts: TargetOptions): AdminTarget {
  if (!opts.url) throw new CliError("no Worker URL: give --url <base> or set SLUICE_URL");
  if (!opts.token) throw new CliError("no admin token: give --token <token> or set SLUICE_ADMIN_TOKEN");
  return { url: opts.url, token: opts.token, prefix: opts.adminPrefix };
}

function resolveTarget(opts: TargetOptions, cmd: Command): Target {
  const kv = Boolean(opts.local || opts.remote);
  if (opts.local && opts.remote) throw new CliError("choose one of --local and --remote");
  if (opts.persistTo !== undefined && !opts.local) throw new CliError("--persist-to only applies with --local");
  if (opts.config !== undefined && !kv) throw new CliError("--config only applies with --local or --remote");
  if (kv) {
    if (cmd.getOptionValueSource("url") === "cli")
      throw new CliError("give either --url (the admin API) or --local/--remote (wrangler KV), not both");
    return {
      kind: "kv",
      kv: {
        mode: opts.local ? "local" : "remote",
        ...(opts.persistTo !== undefined ? { persistTo: userPath(opts.persistTo) } : {}),
        ...(opts.config !== undefined ? { config: userPath(opts.config) } : {}),
      },
    };
  }
  if (!opts.url) {
    throw new CliError(
      "where to? give --url <base> (or SLUICE_URL) for the admin API, or --local/--remote for Workers KV through wrangler",
    );
  }
  return { kind: "api", api: apiTarget(opts) };
}

function kvLabel(kv: KvTarget): string {
  return kv.mode === "local" ? `local KV${kv.persistTo ? ` (${kv.persistTo})` : ""}` : "remote KV";
}

// ---- validate ---------------------------------------------------------------------------

async function validateCommand(file: string): Promise<number> {
  const text = await readPolicyFile(file);
  const result = validatePolicyText(text);
  if (result.ok) {
    const ids = result.policy.rules.map((r) => r.id);
    io.out(
      `${file}: valid policy, ${ids.length} rule${ids.length === 1 ? "" : "s"}${ids.length > 0 ? `: ${idList(ids)}` : ""}`,
    );
    return EXIT_OK;
  }
  for (const e of result.errors) io.out(formatErrorLine(e.path, e.message));
  io.err(`${file}: invalid policy (${result.errors.length} error${result.errors.length === 1 ? "" : "s"})`);
  return EXIT_NO;
}

// ---- diff -------------------------------------------------------------------------------

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The document the Worker enforces. When KV holds an invalid document that is the newest valid
 * version (what an isolate falls back to), and a note says so plainly.
 */
async function policyInForce(target: Target): Promise<{ text: string; label: string; fromHistory?: true }> {
  if (target.kind === "api") {
    const res = await adminCall(target.api, "GET", "/policy");
    const source = res.headers.get("x-sluice-policy-source");
    const version = res.headers.get("x-sluice-policy-version");
    if (res.headers.get("x-sluice-stored-policy") === "invalid") {
      io.err(
        `note: KV "${POLICY_KEY}" at ${target.api.url} holds an INVALID document (${res.headers.get("x-sluice-stored-policy-errors") ?? "?"} errors; see: policy get); it is not in force`,
      );
    }
    if (version) io.err(`note: in force at ${target.api.url}: version ${version} (${source})`);
    return {
      text: res.text,
      label: `in force at ${target.api.url}${source ? ` (${source === "builtin" ? "built-in default" : source})` : ""}`,
    };
  }
  const stored = await kvGet(POLICY_KEY, target.kv);
  if (stored === null)
    return {
      text: JSON.stringify(DEFAULT_POLICY),
      label: `built-in default (${kvLabel(target.kv)} has no "${POLICY_KEY}")`,
    };
  const checked = validatePolicyText(stored);
  if (checked.ok) return { text: stored, label: `${kvLabel(target.kv)} "${POLICY_KEY}"` };
  const lastGood = await newestValidInHistory(wranglerHistoryKv(target.kv));
  io.err(
    `note: ${kvLabel(target.kv)} "${POLICY_KEY}" holds an INVALID document (${checked.errors.length} error${checked.errors.length === 1 ? "" : "s"}); it is not in force`,
  );
  if (lastGood === null) {
    io.err("note: history has no valid version: a Worker starting now enforces the built-in default");
    return { text: JSON.stringify(DEFAULT_POLICY), label: "built-in default (no valid version in history)" };
  }
  io.err(`note: in force: version ${lastGood.version}, the newest valid version in history`);
  return {
    text: lastGood.text,
    label: `version ${lastGood.version} in ${kvLabel(target.kv)} history (in force)`,
    fromHistory: true,
  };
}

/** A version number (all digits, and no file of that name) or a file: its text and a label. */
async function documentAt(arg: string, target: () => Target): Promise<{ text: string; label: string }> {
  if (/^\d+$/.test(arg) && !existsSync(userPath(arg))) {
    const version = Number(arg);
    return { text: await historyText(target(), version), label: `version ${version}` };
  }
  return { text: await readPolicyFile(arg), label: arg };
}

async function diffCommand(
  file: string,
  other: string | undefined,
  opts: TargetOptions,
  cmd: Command,
): Promise<number> {
  const target = () => resolveTarget(opts, cmd);
  const after = await documentAt(other ?? file, target);
  let parsed: unknown;
  try {
    parsed = JSON.parse(after.text);
  } catch (e) {
    throw new CliError(`${after.label} is not JSON: ${(e as Error).message}`);
  }
  if (!validatePolicyText(after.text).ok)
    io.err(`note: ${after.label} is not a valid policy (see: policy validate); push would refuse it`);
  const before =
    other === undefined
      ? await policyInForce(target())
      : await documentAt(file, target).then((d) => ({ ...d, label: d.label }));
  const diff = policyDiff(parseOr(before.text), parsed, before.label, after.label);
  if (diff === "") {
    io.out(
      other === undefined
        ? `no changes: ${after.label} is the policy ${before.label}`
        : `no changes: ${before.label} and ${after.label} are the same policy`,
    );
    return EXIT_OK;
  }
  process.stdout.write(diff);
  return EXIT_NO;
}

// ---- push -------------------------------------------------------------------------------

async function pushCommand(
  file: string,
  opts: TargetOptions & { ifMatch?: string; actor?: string; candidate?: boolean },
  cmd: Command,
): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (opts.ifMatch !== undefined && target.kind !== "api")
    throw new CliError("--if-match needs --url: only the admin API checks it");
  if (opts.candidate && opts.ifMatch !== undefined) throw new CliError("--if-match does not apply to --candidate");
  const text = await readPolicyFile(file);
  const result = validatePolicyText(text);
  if (!result.ok) {
    for (const e of result.errors) io.err(formatErrorLine(e.path, e.message));
    io.err(
      `${file}: invalid policy (${result.errors.length} error${result.errors.length === 1 ? "" : "s"}); nothing was pushed`,
    );
    return EXIT_NO;
  }
  const rules = idList(result.policy.rules.map((r) => r.id)) || "no rules";
  if (opts.candidate) return pushCandidate(file, text, rules, target);
  if (target.kind === "api") {
    noteActorIgnored(opts.actor);
    const res = await adminCall(target.api, "PUT", "/policy", {
      body: text,
      headers: opts.ifMatch !== undefined ? { "if-match": opts.ifMatch } : {},
    });
    const answer = answerJson<{ version?: number; etag?: string }>(res);
    io.out(
      `pushed ${file} (${rules}) to ${target.api.url}: version ${answer.version ?? "?"}, ETag ${answer.etag ?? res.headers.get("etag") ?? "?"}`,
    );
    io.out("in force at once in the isolate that answered; in the others within POLICY_TTL_SECONDS");
    return EXIT_OK;
  }
  // Exactly the text that was validated (even if the file changes meanwhile), with its history entry.
  const entry = await publishThroughKv(target.kv, {
    actor: opts.actor ?? "cli",
    how: `cli-${target.kv.mode}`,
    text,
  });
  io.out(`pushed ${file} (${rules}) to ${kvLabel(target.kv)} "${POLICY_KEY}": version ${entry.version}`);
  io.out("a running Worker puts it in force within POLICY_TTL_SECONDS (default 30 s)");
  return EXIT_OK;
}

// ---- candidate --------------------------------------------------------------------------

async function pushCandidate(file: string, text: string, rules: string, target: Target): Promise<number> {
  if (target.kind === "api") {
    const answer = answerJson<{ candidate?: string }>(
      await adminCall(target.api, "PUT", "/policy/candidate", { body: text }),
    );
    io.out(`pushed ${file} (${rules}) to ${target.api.url} as the candidate ${answer.candidate ?? ""}`.trimEnd());
    io.out("it is evaluated in shadow beside the policy in force; see GET /stats, then: policy promote");
    return EXIT_OK;
  }
  await kvPut(CANDIDATE_KEY, text, target.kv);
  io.out(`pushed ${file} (${rules}) to ${kvLabel(target.kv)} "${CANDIDATE_KEY}"`);
  io.out("a running Worker evaluates it in shadow within POLICY_TTL_SECONDS (default 30 s)");
  return EXIT_OK;
}

async function promoteCommand(opts: TargetOptions): Promise<number> {
  const api = apiTarget(opts);
  const answer = answerJson<{ version?: number; etag?: string }>(await adminCall(api, "POST", "/policy/promote"));
  io.out(`promoted the candidate at ${api.url}: version ${answer.version ?? "?"}, ETag ${answer.etag ?? "?"}`);
  return EXIT_OK;
}

async function candidateDropCommand(opts: TargetOptions, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  let existed: boolean;
  if (target.kind === "api") {
    existed =
      answerJson<{ deleted?: boolean }>(await adminCall(target.api, "DELETE", "/policy/candidate")).deleted === true;
  } else {
    existed = (await kvGet(CANDIDATE_KEY, target.kv)) !== null;
    if (existed) await kvDelete(CANDIDATE_KEY, target.kv);
  }
  io.out(existed ? "dropped the candidate policy" : "there was no candidate policy; nothing to drop");
  return EXIT_OK;
}

// ---- tenants ----------------------------------------------------------------------------

type TenantAddOptions = TargetOptions & {
  apiKey: string;
  id: string;
  tier: string;
  sandbox?: boolean;
  override?: Overrides;
};

/** The policy a Worker reading this KV enforces: the stored one, the newest valid in history, or the default. */
async function policyInForceKv(kv: KvTarget): Promise<Policy> {
  const stored = await kvGet(POLICY_KEY, kv);
  if (stored !== null) {
    const result = validatePolicyText(stored);
    if (result.ok) return result.policy;
    const lastGood = await newestValidInHistory(wranglerHistoryKv(kv));
    if (lastGood) return lastGood.compiled.document;
  }
  const builtin = validatePolicy(DEFAULT_POLICY);
  if (!builtin.ok) throw new CliError("the built-in policy is invalid");
  return builtin.policy;
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
  if (target.kind === "kv") {
    // The admin API checks this itself; through wrangler, check against the policy the Worker enforces.
    const inForce = await policyInForceKv(target.kv);
    const problems = tenantProblems(record, inForce);
    if (problems.length > 0)
      throw new CliError(`invalid tenant: ${problems.map((p) => `--${p.path}: ${p.message}`).join("; ")}`);
  }
  const hash = await sha256Hex(opts.apiKey);
  const key = tenantKey(hash);
  if (target.kind === "api") {
    // The admin API checks the overrides against the policy in force.
    await adminCall(target.api, "PUT", "/tenants", { body: JSON.stringify({ apiKey: opts.apiKey, ...record }) });
  } else {
    await kvBulkPut(
      [
        { key, value: JSON.stringify(record) },
        { key: tenantIdKey(record.id), value: hash },
      ],
      target.kv,
    );
  }
  const where = target.kind === "api" ? target.api.url : kvLabel(target.kv);
  io.out(`stored tenant ${record.id} (tier ${record.tier}${record.sandbox ? ", sandbox" : ""}) as ${key} in ${where}`);
  return EXIT_OK;
}

async function tenantRemoveCommand(opts: TargetOptions & { apiKey: string }, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (opts.apiKey.length === 0) throw new CliError("--api-key must not be empty");
  const key = tenantKey(await sha256Hex(opts.apiKey));
  let existed: boolean;
  if (target.kind === "api") {
    const res = await adminCall(target.api, "DELETE", "/tenants", { body: JSON.stringify({ apiKey: opts.apiKey }) });
    existed = answerJson<{ deleted?: boolean }>(res).deleted === true;
  } else {
    existed = (await kvGet(key, target.kv)) !== null;
    if (existed) await kvDelete(key, target.kv);
  }
  io.out(existed ? `removed ${key}` : `no tenant has this API key (${key}); nothing to remove`);
  return EXIT_OK;
}

// ---- counters ---------------------------------------------------------------------------

interface KeyOptions extends TargetOptions {
  rule: string;
  key: string;
  tier?: string;
  sandbox?: boolean;
  json?: boolean;
}

function keyQuery(opts: KeyOptions): Record<string, string> {
  return {
    rule: opts.rule,
    key: opts.key,
    ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
    ...(opts.sandbox ? { sandbox: "true" } : {}),
  };
}

async function keyShowCommand(opts: KeyOptions): Promise<number> {
  const res = await adminCall(apiTarget(opts), "GET", "/keys", { query: keyQuery(opts) });
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const state = answerJson<{
    rule: string;
    object: string;
    limits: Array<{ name: string; limit: number; remaining: number; reset: number; resetInSeconds: number }>;
  }>(res);
  io.out(`rule ${state.rule}, key ${opts.key} (counter object ${state.object})`);
  for (const l of state.limits) {
    io.out(
      `  ${l.name}: ${l.remaining} of ${l.limit} left, resets ${new Date(l.reset * 1000).toISOString()} (in ${l.resetInSeconds} s)`,
    );
  }
  return EXIT_OK;
}

async function keyResetCommand(opts: KeyOptions): Promise<number> {
  const res = await adminCall(apiTarget(opts), "DELETE", "/keys", { query: keyQuery(opts) });
  const answer = answerJson<{ removed?: number }>(res);
  io.out(
    `reset rule ${opts.rule} for key ${opts.key}: ${answer.removed ?? 0} counter${answer.removed === 1 ? "" : "s"} removed`,
  );
  return EXIT_OK;
}

// ---- history, show, rollback, get, stats ---------------------------------------------------

interface HistoryRow {
  version: number;
  at?: string;
  actor?: string;
  how?: string;
}

/** One version's document, from the admin API or from KV. */
async function historyText(target: Target, version: number): Promise<string> {
  if (target.kind === "api")
    return answerJson<{ text: string }>(await adminCall(target.api, "GET", `/policy/history/${version}`)).text;
  const entry = parseHistoryEntry(await kvGet(historyKey(version), target.kv));
  if (!entry) throw new CliError(`no policy version ${version} in ${kvLabel(target.kv)} history`);
  return entry.text;
}

async function historyRows(target: Target): Promise<HistoryRow[]> {
  if (target.kind === "api")
    return answerJson<{ versions: HistoryRow[] }>(await adminCall(target.api, "GET", "/policy/history")).versions;
  const keys = (await kvList(HISTORY_PREFIX, target.kv)) as Array<{ name: string; metadata?: HistoryMetadata }>;
  return keys
    .map((k) => ({ version: Number(k.name.slice(HISTORY_PREFIX.length)), ...(k.metadata ?? {}) }))
    .filter((r) => Number.isInteger(r.version))
    .sort((a, b) => b.version - a.version);
}

async function historyCommand(opts: TargetOptions & { json?: boolean }, cmd: Command): Promise<number> {
  const rows = await historyRows(resolveTarget(opts, cmd));
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

async function showCommand(version: string, opts: TargetOptions, cmd: Command): Promise<number> {
  if (!/^\d+$/.test(version)) throw new CliError(`not a version number: ${version}`);
  const text = await historyText(resolveTarget(opts, cmd), Number(version));
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  return EXIT_OK;
}

async function rollbackCommand(
  version: string,
  opts: TargetOptions & { actor?: string },
  cmd: Command,
): Promise<number> {
  if (!/^\d+$/.test(version)) throw new CliError(`not a version number: ${version}`);
  const target = resolveTarget(opts, cmd);
  if (target.kind === "api") {
    noteActorIgnored(opts.actor);
    const res = await adminCall(target.api, "POST", "/policy/rollback", {
      body: JSON.stringify({ version: Number(version) }),
    });
    const answer = answerJson<{ version: number; restored: number }>(res);
    io.out(`rolled back to version ${answer.restored}: it is in force again as version ${answer.version}`);
    return EXIT_OK;
  }
  const text = await historyText(target, Number(version));
  const result = validatePolicyText(text);
  if (!result.ok) {
    for (const e of result.errors) io.err(formatErrorLine(e.path, e.message));
    io.err(`version ${version} no longer validates; nothing was changed`);
    return EXIT_NO;
  }
  const entry = await publishThroughKv(target.kv, { actor: opts.actor ?? "cli", how: `rollback:${version}`, text });
  io.out(`rolled back to version ${version} in ${kvLabel(target.kv)}: it is version ${entry.version} now`);
  return EXIT_OK;
}

async function getCommand(opts: TargetOptions, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (target.kind === "api") {
    const status = answerJson<{ message: string }>(await adminCall(target.api, "GET", "/policy/status"));
    const doc = await adminCall(target.api, "GET", "/policy");
    io.err(status.message);
    io.err(`ETag ${doc.headers.get("etag") ?? "?"}`);
    process.stdout.write(doc.text.endsWith("\n") ? doc.text : `${doc.text}\n`);
    return EXIT_OK;
  }
  const current = await policyInForce(target);
  // Which version that is: the stored document's place in history (a document written into KV by hand
  // and not yet seen by a Worker has none yet).
  const version = current.fromHistory ? undefined : await versionInHistory(wranglerHistoryKv(target.kv), current.text);
  const named = version === undefined ? "" : `version ${version}, `;
  io.err(`in force: ${named}${current.label}`);
  process.stdout.write(current.text.endsWith("\n") ? current.text : `${current.text}\n`);
  return EXIT_OK;
}

type Counts = Record<string, number>;

async function statsCommand(opts: TargetOptions & { json?: boolean }): Promise<number> {
  const res = await adminCall(apiTarget(opts), "GET", "/stats");
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const { minutes } = answerJson<{ minutes: Array<{ minute: string; rules: Record<string, Counts> }> }>(res);
  const totals = new Map<string, Counts>();
  for (const m of minutes)
    for (const [rule, counts] of Object.entries(m.rules)) {
      const t = totals.get(rule) ?? {};
      for (const [k, v] of Object.entries(counts)) t[k] = (t[k] ?? 0) + v;
      totals.set(rule, t);
    }
  io.out(
    `last ${minutes.length} minute${minutes.length === 1 ? "" : "s"} with traffic, as seen by the isolate that answered:`,
  );
  if (totals.size === 0) io.out("  no decisions yet");
  for (const [rule, t] of totals)
    io.out(
      `  ${rule}: ${t.admitted ?? 0} admitted, ${t.refused ?? 0} refused, ${t.shadow_refused ?? 0} shadow-refused, ${t.blocked ?? 0} blocked, ${(t.error_open ?? 0) + (t.error_closed ?? 0)} errors`,
    );
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

// ---- explain ------------------------------------------------------------------------------

async function explainCommand(
  method: string,
  url: string,
  opts: TargetOptions & { header?: string[]; ip?: string; tier?: string; file?: string },
  cmd: Command,
): Promise<number> {
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new CliError(`not a URL: ${url} (give the whole URL, e.g. https://api.example.com/api/v1/transfers)`);
  }
  const text =
    opts.file !== undefined ? await readPolicyFile(opts.file) : (await policyInForce(resolveTarget(opts, cmd))).text;
  const result = validatePolicyText(text);
  if (!result.ok) throw new CliError("the policy is not valid (see: policy validate)");
  const headers = new Headers();
  for (const h of opts.header ?? []) {
    const at = h.indexOf(":");
    if (at <= 0) throw new CliError(`--header wants name:value, not ${h}`);
    headers.append(h.slice(0, at).trim(), h.slice(at + 1).trim());
  }
  for (const line of explainRequest(result.compiled, method, parsedUrl, headers, opts.ip ?? "203.0.113.7", opts.tier))
    io.out(line);
  return EXIT_OK;
}

// ---- unlock -----------------------------------------------------------------------------

async function unlockCommand(address: string, opts: TargetOptions, cmd: Command): Promise<number> {
  const ipKey = addressKey(address);
  if (ipKey === undefined) throw new CliError(`not an IP address: ${address}`);
  const target = resolveTarget(opts, cmd);
  if (target.kind === "api") {
    const res = await adminCall(target.api, "POST", "/unlock", { body: JSON.stringify({ address }) });
    const answer = answerJson<{ unlocked: string; cleared: boolean }>(res);
    io.out(
      answer.cleared
        ? `unlocked ${answer.unlocked}: its wrong-token count is cleared`
        : `${answer.unlocked} was not locked out (no wrong tokens counted)`,
    );
    return EXIT_OK;
  }
  // The locked address may be the only one this operator has (locally every call is 127.0.0.1):
  // a marker in KV, written with wrangler's own credentials, lifts the lockout on its next call. It
  // names the lockout the Worker recorded, so it lifts that one, once, and expires with it: written
  // while nobody is locked out it would otherwise cancel the next lockout.
  const now = Date.now();
  const until = readLockoutRecord(await kvGet(lockoutKey(ipKey), target.kv));
  if (until === undefined || until <= now) {
    io.out(`${ipKey} is not locked out (no lockout recorded in ${kvLabel(target.kv)}): nothing written`);
    return EXIT_OK;
  }
  await kvPut(unlockKey(ipKey), unlockMarker(until), target.kv, ttlSeconds(until, now));
  io.out(
    `unlock marker for ${ipKey} written to ${kvLabel(target.kv)}: its next admin call lifts the lockout that ends at ${new Date(until).toISOString()} (once; the marker expires with it)`,
  );
  return EXIT_OK;
}

// ---- the program ------------------------------------------------------------------------

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("policy")
    .description(
      "sluice policy tool: validate, diff and push policy documents; manage tenants; inspect and reset counters",
    )
    .usage("<command> [options]   (npx sluice policy <command> [options], or npm run policy -- <command> [options])")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES);
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      setExit(await fn(...args));
    };

  program
    .command("validate")
    .description("check a policy document (see docs/policy.md); prints `path: message` for each error")
    .argument("<file>", "policy document (JSON)")
    .action(run((file: string) => validateCommand(file)));

  addKvOptions(
    addApiOptions(
      program
        .command("diff")
        .description(
          "show what pushing <file> would change in the policy in force; with two arguments, what changes from the first to the second (exit 0: no changes, 1: changes)",
        )
        .argument("<file>", "policy document (JSON), or a version number from the history")
        .argument("[other]", "a second file or version: diff <file> against it instead of the policy in force"),
    ),
  ).action(
    run((file: string, other: string | undefined, opts: TargetOptions, cmd: Command) =>
      diffCommand(file, other, opts, cmd),
    ),
  );

  addKvOptions(
    addApiOptions(
      program
        .command("push")
        .description("validate <file> and, when valid, store it as KV `policy` (through the admin API or wrangler)")
        .argument("<file>", "policy document (JSON)")
        .option("--if-match <etag>", "with --url: store only while the policy in force still has this ETag")
        .option(
          "--candidate",
          "store it as the candidate (KV policy:candidate), evaluated in shadow beside the policy in force",
        )
        .addOption(actorOption()),
    ),
  ).action(
    run((file: string, opts: TargetOptions & { ifMatch?: string; actor?: string; candidate?: boolean }, cmd: Command) =>
      pushCommand(file, opts, cmd),
    ),
  );

  addApiOptions(
    program
      .command("promote")
      .description(
        "put the candidate in force through the admin API (--url): it becomes the newest version, the document it replaces stays in history",
      ),
  ).action(run((opts: TargetOptions) => promoteCommand(opts)));

  const candidate = program.command("candidate").description("the candidate policy (KV policy:candidate)");
  addKvOptions(addApiOptions(candidate.command("drop").description("remove the candidate policy"))).action(
    run((opts: TargetOptions, cmd: Command) => candidateDropCommand(opts, cmd)),
  );

  const tenant = program.command("tenant").description("tenant records: KV tenant:<sha256 of the API key>");
  addKvOptions(
    addApiOptions(
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
    ),
  ).action(run((opts: TenantAddOptions, cmd: Command) => tenantAddCommand(opts, cmd)));
  addKvOptions(
    addApiOptions(
      tenant
        .command("remove")
        .description("delete the tenant record of an API key")
        .requiredOption("--api-key <key>", "the tenant's API key"),
    ),
  ).action(run((opts: TargetOptions & { apiKey: string }, cmd: Command) => tenantRemoveCommand(opts, cmd)));

  for (const [name, description, fn] of [
    ["history", "the published versions, newest first: when, by whom, how", historyCommand],
  ] as const) {
    addKvOptions(addApiOptions(program.command(name).description(description).option("--json", "print JSON"))).action(
      run((opts: TargetOptions & { json?: boolean }, cmd: Command) => fn(opts, cmd)),
    );
  }
  addKvOptions(
    addApiOptions(program.command("show").description("print one version's whole document").argument("<version>")),
  ).action(run((version: string, opts: TargetOptions, cmd: Command) => showCommand(version, opts, cmd)));
  addKvOptions(
    addApiOptions(
      program
        .command("rollback")
        .description("put an earlier version in force again (it becomes the newest version)")
        .argument("<version>")
        .addOption(actorOption()),
    ),
  ).action(
    run((version: string, opts: TargetOptions & { actor?: string }, cmd: Command) =>
      rollbackCommand(version, opts, cmd),
    ),
  );
  addKvOptions(
    addApiOptions(
      program
        .command("get")
        .description("print the document in force (stdout) and which version it is and why (stderr)"),
    ),
  ).action(run((opts: TargetOptions, cmd: Command) => getCommand(opts, cmd)));
  addApiOptions(
    program
      .command("stats")
      .description("admitted, refused, blocked and error counts per rule over the last 15 minutes (one isolate's view)")
      .option("--json", "print the admin API's JSON answer"),
  ).action(run((opts: TargetOptions & { json?: boolean }) => statsCommand(opts)));
  addKvOptions(
    addApiOptions(
      program
        .command("explain")
        .description("which rules a request matches, what each counts it by, and what each limit allows")
        .argument("<method>", "GET, POST, ...")
        .argument("<url>", "the whole URL, e.g. https://api.example.com/api/v1/transfers")
        .option("--header <name:value>", "a request header (repeat for more)", (v: string, all: string[] = []) => [
          ...all,
          v,
        ])
        .option("--ip <address>", "the client address (default 203.0.113.7)")
        .option("--tier <tier>", "the tenant's tier (default: the policy's defaultTier)")
        .option("--file <policy>", "explain against this document instead of the policy in force"),
    ),
  ).action(
    run(
      (
        method: string,
        url: string,
        opts: TargetOptions & { header?: string[]; ip?: string; tier?: string; file?: string },
        cmd: Command,
      ) => explainCommand(method, url, opts, cmd),
    ),
  );

  addKvOptions(
    addApiOptions(
      program
        .command("unlock")
        .description("let an address locked out by wrong admin tokens in again")
        .argument("<address>", "the client address (IPv4 or IPv6) that is locked out"),
    ),
  ).action(run((address: string, opts: TargetOptions, cmd: Command) => unlockCommand(address, opts, cmd)));

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

  const key = program.command("key").description("one counter of the policy in force, through the admin API (--url)");
  for (const [name, description, fn] of [
    ["show", "show a counter: each limit with limit, remaining and reset", keyShowCommand],
    ["reset", "reset a counter (its next request starts afresh)", keyResetCommand],
  ] as const) {
    const sub = addApiOptions(
      key
        .command(name)
        .description(description)
        .requiredOption("--rule <id>", "rule id")
        .requiredOption(
          "--key <value>",
          "the value a request would give: an IP, a tenant id, a header/query/body value",
        )
        .option(
          "--tier <tier>",
          "tier to size the limits for; give a tenant's own tier (default: the policy's defaultTier)",
        )
        .option("--sandbox", "the sandbox counter (with the sandbox multiplier)"),
    );
    if (name === "show") sub.option("--json", "print the admin API's JSON answer");
    sub.action(run((opts: KeyOptions) => fn(opts)));
  }
  // Every command's --help ends with where it acts and what its exit code means.
  const leaves = (cmd: Command): Command[] => (cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves));
  for (const leaf of program.commands.flatMap(leaves)) leaf.addHelpText("after", EXIT_CODES);
  return program;
}

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
