/**
 * A {@link PolicyTarget} in Workers KV through the project's wrangler (`--local` / `--remote`):
 * what the admin API would do, done here, writing the same keys (tenants through the admin API's
 * own ../admin/tenant-store.ts). wrangler writes past the Worker's single writer.
 * @module
 */

import { removeTenant, storeTenant, type TenantKv } from "../admin/tenant-store";
import { lockoutKey, readLockoutRecord, ttlSeconds, unlockKey, unlockMarker } from "../admin/unlock-key";
import { sha256Hex } from "../hash";
import { CANDIDATE_KEY, HISTORY_PREFIX, POLICY_KEY } from "../kv/keys";
import {
  type HistoryMetadata,
  historyKey,
  newestValidInHistory,
  parseHistoryEntry,
  versionInHistory,
} from "../kv/policy-history";
import { DEFAULT_POLICY } from "../policy/default-policy";
import type { Policy } from "../policy/schema";
import { tenantProblems } from "../policy/tenant-checks";
import type { Tenant } from "../policy/tenant-record";
import { validatePolicy, validatePolicyText } from "../policy/validate";
import { formatErrorLine } from "./admin-client";
import { CliError, EXIT_NO, EXIT_OK } from "./errors";
import { io, printDocument } from "./io";
import { historyKvOf, publishThroughKv } from "./kv-history";
import type { HistoryRow, InForce, PolicyTarget } from "./target";
import { type KvCalls, type KvTarget, wranglerKv } from "./wrangler";

function kvLabel(kv: KvTarget): string {
  return kv.mode === "local" ? `local KV${kv.persistTo ? ` (${kv.persistTo})` : ""}` : "remote KV";
}

export class KvPolicyTarget implements PolicyTarget {
  readonly checksIfMatch = false;
  readonly where: string;

  private readonly tenants: TenantKv;

  /** `kv`: the calls to make, wrangler's on `target` unless a test gives KV in memory. */
  constructor(
    private readonly target: KvTarget,
    private readonly kv: KvCalls = wranglerKv(target),
  ) {
    this.where = kvLabel(target);
    this.tenants = { get: kv.get, put: kv.bulkPut, delete: kv.delete };
  }

  /**
   * When KV holds an invalid document, the newest valid version (what an isolate falls back to),
   * and a note says so plainly.
   */
  async inForce(): Promise<InForce> {
    const stored = await this.kv.get(POLICY_KEY);
    if (stored === null)
      return { text: JSON.stringify(DEFAULT_POLICY), label: `built-in default (${this.where} has no "${POLICY_KEY}")` };
    const checked = validatePolicyText(stored);
    if (checked.ok) return { text: stored, label: `${this.where} "${POLICY_KEY}"` };
    const lastGood = await newestValidInHistory(historyKvOf(this.kv));
    io.err(
      `note: ${this.where} "${POLICY_KEY}" holds an INVALID document (${checked.errors.length} error${checked.errors.length === 1 ? "" : "s"}); it is not in force`,
    );
    if (lastGood === null) {
      io.err("note: history has no valid version: a Worker starting now enforces the built-in default");
      return { text: JSON.stringify(DEFAULT_POLICY), label: "built-in default (no valid version in history)" };
    }
    io.err(`note: in force: version ${lastGood.version}, the newest valid version in history`);
    return {
      text: lastGood.text,
      label: `version ${lastGood.version} in ${this.where} history (in force)`,
      fromHistory: true,
    };
  }

  async printInForce(): Promise<void> {
    const current = await this.inForce();
    // Which version that is: the stored document's place in history (a document written into KV by hand
    // and not yet seen by a Worker has none yet).
    const version = current.fromHistory ? undefined : await versionInHistory(historyKvOf(this.kv), current.text);
    const named = version === undefined ? "" : `version ${version}, `;
    io.err(`in force: ${named}${current.label}`);
    printDocument(current.text);
  }

  async historyRows(): Promise<HistoryRow[]> {
    const keys = (await this.kv.list(HISTORY_PREFIX)) as Array<{ name: string; metadata?: HistoryMetadata }>;
    return keys
      .map((k) => ({ version: Number(k.name.slice(HISTORY_PREFIX.length)), ...(k.metadata ?? {}) }))
      .filter((r) => Number.isInteger(r.version))
      .sort((a, b) => b.version - a.version);
  }

  async historyText(version: number): Promise<string> {
    const entry = parseHistoryEntry(await this.kv.get(historyKey(version)));
    if (!entry) throw new CliError(`no policy version ${version} in ${this.where} history`);
    return entry.text;
  }

  async push(file: string, text: string, rules: string, options: { actor?: string }) {
    // Exactly the text that was validated (even if the file changes meanwhile), with its history entry.
    const entry = await publishThroughKv(this.kv, {
      actor: options.actor ?? "cli",
      how: `cli-${this.target.mode}`,
      text,
    });
    io.out(`pushed ${file} (${rules}) to ${this.where} "${POLICY_KEY}": version ${entry.version}`);
    io.out("a running Worker puts it in force within POLICY_TTL_SECONDS (default 30 s)");
    return EXIT_OK;
  }

  async pushCandidate(file: string, text: string, rules: string) {
    await this.kv.put(CANDIDATE_KEY, text);
    io.out(`pushed ${file} (${rules}) to ${this.where} "${CANDIDATE_KEY}"`);
    io.out("a running Worker evaluates it in shadow within POLICY_TTL_SECONDS (default 30 s)");
    return EXIT_OK;
  }

  async dropCandidate(): Promise<boolean> {
    const existed = (await this.kv.get(CANDIDATE_KEY)) !== null;
    if (existed) await this.kv.delete(CANDIDATE_KEY);
    return existed;
  }

  async rollback(version: number, actor: string | undefined) {
    const text = await this.historyText(version);
    const result = validatePolicyText(text);
    if (!result.ok) {
      for (const e of result.errors) io.err(formatErrorLine(e.path, e.message));
      io.err(`version ${version} no longer validates; nothing was changed`);
      return EXIT_NO;
    }
    const entry = await publishThroughKv(this.kv, { actor: actor ?? "cli", how: `rollback:${version}`, text });
    io.out(`rolled back to version ${version} in ${this.where}: it is version ${entry.version} now`);
    return EXIT_OK;
  }

  async addTenant(apiKey: string, record: Tenant): Promise<void> {
    // The admin API checks this itself; through wrangler, check against the policy the Worker enforces.
    const problems = tenantProblems(record, await this.policyDocumentInForce());
    if (problems.length > 0)
      throw new CliError(`invalid tenant: ${problems.map((p) => `--${p.path}: ${p.message}`).join("; ")}`);
    await storeTenant(this.tenants, await sha256Hex(apiKey), record);
  }

  async removeTenant(apiKey: string): Promise<boolean> {
    return removeTenant(this.tenants, await sha256Hex(apiKey));
  }

  async unlock(_address: string, ipKey: string): Promise<void> {
    // The locked address may be the only one this operator has (locally every call is 127.0.0.1):
    // a marker in KV, written with wrangler's own credentials, lifts the lockout on its next call. It
    // names the lockout the Worker recorded, so it lifts that one, once, and expires with it: written
    // while nobody is locked out it would otherwise cancel the next lockout.
    const now = Date.now();
    const until = readLockoutRecord(await this.kv.get(lockoutKey(ipKey)));
    if (until === undefined || until <= now) {
      io.out(`${ipKey} is not locked out (no lockout recorded in ${this.where}): nothing written`);
      return;
    }
    await this.kv.put(unlockKey(ipKey), unlockMarker(until), ttlSeconds(until, now));
    io.out(
      `unlock marker for ${ipKey} written to ${this.where}: its next admin call lifts the lockout that ends at ${new Date(until).toISOString()} (once; the marker expires with it)`,
    );
  }

  /** The policy a Worker reading this KV enforces: the stored one, the newest valid in history, or the default. */
  private async policyDocumentInForce(): Promise<Policy> {
    const stored = await this.kv.get(POLICY_KEY);
    if (stored !== null) {
      const result = validatePolicyText(stored);
      if (result.ok) return result.policy;
      const lastGood = await newestValidInHistory(historyKvOf(this.kv));
      if (lastGood) return lastGood.compiled.document;
    }
    const builtin = validatePolicy(DEFAULT_POLICY);
    if (!builtin.ok) throw new CliError("the built-in policy is invalid");
    return builtin.policy;
  }
}
