/**
 * A {@link PolicyTarget} through the admin API of a running Worker (`--url`): the Worker checks,
 * publishes through its single writer and records the token's name as the actor.
 * @module
 */
import { POLICY_KEY } from "../kv/keys";
import type { Tenant } from "../policy/tenant-record";
import { type AdminTarget, adminCall, answerJson } from "./admin-client";
import { EXIT_OK } from "./errors";
import { io, printDocument } from "./io";
import type { HistoryRow, InForce, PolicyTarget } from "./target";

/** Through the admin API the actor is the token's name: say so when --actor was given, rather than drop it silently. */
function noteActorIgnored(actor: string | undefined): void {
  if (actor !== undefined)
    io.err(`note: --actor "${actor}" is not sent: the admin API records the name of the token (--token) as the actor`);
}

export class ApiPolicyTarget implements PolicyTarget {
  readonly checksIfMatch = true;
  readonly where: string;

  constructor(private readonly api: AdminTarget) {
    this.where = api.url;
  }

  async inForce(): Promise<InForce> {
    const res = await adminCall(this.api, "GET", "/policy");
    const source = res.headers.get("x-sluice-policy-source");
    const version = res.headers.get("x-sluice-policy-version");
    if (res.headers.get("x-sluice-stored-policy") === "invalid") {
      io.err(
        `note: KV "${POLICY_KEY}" at ${this.api.url} holds an INVALID document (${res.headers.get("x-sluice-stored-policy-errors") ?? "?"} errors; see: policy get); it is not in force`,
      );
    }
    if (version) io.err(`note: in force at ${this.api.url}: version ${version} (${source})`);
    return {
      text: res.text,
      label: `in force at ${this.api.url}${source ? ` (${source === "builtin" ? "built-in default" : source})` : ""}`,
    };
  }

  async printInForce(): Promise<void> {
    const status = answerJson<{ message: string }>(await adminCall(this.api, "GET", "/policy/status"));
    const doc = await adminCall(this.api, "GET", "/policy");
    io.err(status.message);
    io.err(`ETag ${doc.headers.get("etag") ?? "?"}`);
    printDocument(doc.text);
  }

  async historyRows(): Promise<HistoryRow[]> {
    return answerJson<{ versions: HistoryRow[] }>(await adminCall(this.api, "GET", "/policy/history")).versions;
  }

  async historyText(version: number): Promise<string> {
    return answerJson<{ text: string }>(await adminCall(this.api, "GET", `/policy/history/${version}`)).text;
  }

  async push(file: string, text: string, rules: string, options: { ifMatch?: string; actor?: string }) {
    noteActorIgnored(options.actor);
    const res = await adminCall(this.api, "PUT", "/policy", {
      body: text,
      headers: options.ifMatch !== undefined ? { "if-match": options.ifMatch } : {},
    });
    const answer = answerJson<{ version?: number; etag?: string }>(res);
    io.out(
      `pushed ${file} (${rules}) to ${this.api.url}: version ${answer.version ?? "?"}, ETag ${answer.etag ?? res.headers.get("etag") ?? "?"}`,
    );
    io.out("in force at once in the isolate that answered; in the others within POLICY_TTL_SECONDS");
    return EXIT_OK;
  }

  async pushCandidate(file: string, text: string, rules: string) {
    const answer = answerJson<{ candidate?: string }>(
      await adminCall(this.api, "PUT", "/policy/candidate", { body: text }),
    );
    io.out(`pushed ${file} (${rules}) to ${this.api.url} as the candidate ${answer.candidate ?? ""}`.trimEnd());
    io.out("it is evaluated in shadow beside the policy in force; see GET /stats, then: policy promote");
    return EXIT_OK;
  }

  async dropCandidate(): Promise<boolean> {
    return answerJson<{ deleted?: boolean }>(await adminCall(this.api, "DELETE", "/policy/candidate")).deleted === true;
  }

  async rollback(version: number, actor: string | undefined) {
    noteActorIgnored(actor);
    const res = await adminCall(this.api, "POST", "/policy/rollback", { body: JSON.stringify({ version }) });
    const answer = answerJson<{ version: number; restored: number }>(res);
    io.out(`rolled back to version ${answer.restored}: it is in force again as version ${answer.version}`);
    return EXIT_OK;
  }

  async addTenant(apiKey: string, record: Tenant): Promise<void> {
    // The admin API checks the record (tier, overrides) against the policy in force itself.
    await adminCall(this.api, "PUT", "/tenants", { body: JSON.stringify({ apiKey, ...record }) });
  }

  async removeTenant(apiKey: string): Promise<boolean> {
    const res = await adminCall(this.api, "DELETE", "/tenants", { body: JSON.stringify({ apiKey }) });
    return answerJson<{ deleted?: boolean }>(res).deleted === true;
  }

  async unlock(address: string): Promise<void> {
    const res = await adminCall(this.api, "POST", "/unlock", { body: JSON.stringify({ address }) });
    const answer = answerJson<{ unlocked: string; cleared: boolean }>(res);
    io.out(
      answer.cleared
        ? `unlocked ${answer.unlocked}: its wrong-token count is cleared`
        : `${answer.unlocked} was not locked out (no wrong tokens counted)`,
    );
  }
}
