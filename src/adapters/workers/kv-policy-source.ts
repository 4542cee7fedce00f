/**
 * The policy in force in this isolate.
 *
 * KV `policy` is read at most every `POLICY_TTL_SECONDS`; a document that
 * fails to parse or validate never replaces the one in force, and its errors
 * are logged once per distinct stored text. Last good, always: with an invalid
 * document in KV the isolate enforces the newest valid version it can find (a
 * newer one from history, else its own memory), never the built-in default
 * while history holds a valid one. While KV has no document, the built-in
 * default is in force.
 * @module
 */
import { type Env, numberVar } from "../../env";
import { POLICY_KEY } from "../../kv/keys";
import { newestValidInHistory } from "../../kv/policy-history";
import { logEvent } from "../../log";
import type { CompiledPolicy } from "../../policy/compile";
import { DEFAULT_POLICY } from "../../policy/default-policy";
import type { PolicyInForce } from "../../policy/in-force";
import { validatePolicy, validatePolicyText } from "../../policy/validate";
import { type StoredPolicyState, seenInKv } from "./stored-policy";

export { POLICY_KEY };

const DEFAULT_TTL_SECONDS = 30;
/** KV's own edge cache: its minimum is 60 s. */
const KV_CACHE_TTL_SECONDS = 60;

/** `POLICY_TTL_SECONDS` in ms: how long an isolate keeps what it read from KV (the policy, tenant records). */
export function policyTtlMs(env: Env): number {
  return numberVar(env.POLICY_TTL_SECONDS, DEFAULT_TTL_SECONDS) * 1000;
}

function builtin(): PolicyInForce {
  const result = validatePolicy(DEFAULT_POLICY);
  if (!result.ok) throw new Error(`built-in policy is invalid: ${JSON.stringify(result.errors)}`);
  return { compiled: result.compiled, text: JSON.stringify(DEFAULT_POLICY, null, 2), source: "builtin" };
}

export class PolicyStore {
  private inForce: PolicyInForce = builtin();
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** The last stored text we looked at, valid or not: a bad one is reported once. */
  private lastSeenText: string | null | undefined = undefined;
  private lastKvError: string | undefined;
  /** Texts this isolate has already had recorded in history: each is recorded once, not at every switch back to it. */
  private readonly recorded = new Set<string>();

  private remember(text: string): void {
    // Bounded: the oldest is forgotten first (a Set iterates in insertion order).
    if (this.recorded.size >= 16) this.recorded.delete(this.recorded.values().next().value as string);
    this.recorded.add(text);
  }

  /** What KV's `policy` held at the last read: valid, invalid (with its errors), absent or unreadable. */
  private stored: StoredPolicyState = { state: "unread" };

  /** What KV held at the last read; `invalid` means the policy in force is not the stored one. */
  storedState(): StoredPolicyState {
    return this.stored;
  }

  /**
   * The policy in force, re-read from KV when the TTL has run out.
   *
   * A read is never shared between requests: workerd does not let one request
   * wait on I/O that another request started (it fails with "Cannot perform
   * I/O on behalf of a different request", or hangs when that request has
   * ended). So until a document has been read once, every request reads KV
   * itself (none may run on the built-in default by mistake); after that, the
   * first request past the TTL reads, and requests meanwhile go on with the
   * document in force.
   */
  async get(env: Env, now = Date.now(), ctx?: Pick<ExecutionContext, "waitUntil">): Promise<PolicyInForce> {
    const ttlMs = policyTtlMs(env);
    // A clock that went backwards (or a TTL of 0) reads again.
    if (now >= this.checkedAt && now - this.checkedAt < ttlMs) return this.inForce;
    if (this.checkedAt !== Number.NEGATIVE_INFINITY && ttlMs > 0) this.checkedAt = now; // the others go on meanwhile
    await this.refresh(env, now, ctx);
    return this.inForce;
  }

  /**
   * What an operator asks for: KV read afresh, and the version of a valid document looked up (or
   * recorded, when it reached KV by hand) before answering, so a status right after a restart names
   * its version rather than "no version yet".
   */
  async current(env: Env, now = Date.now()): Promise<PolicyInForce> {
    this.invalidate();
    const inForce = await this.get(env, now);
    if (inForce.source === "kv" && inForce.version === undefined) await this.recordInForce(env, inForce);
    return this.inForce;
  }

  /** Puts a validated document in force at once (the admin API's PUT). */
  install(compiled: CompiledPolicy, text: string, now = Date.now(), version?: number): void {
    this.inForce = { compiled, text, source: "pushed", ...(version !== undefined ? { version } : {}) };
    this.lastSeenText = text;
    this.stored = { state: "valid" };
    this.checkedAt = now;
  }

  /** Forget what was read, so that the next `get` reads KV (tests, admin rollback). */
  invalidate(): void {
    this.checkedAt = Number.NEGATIVE_INFINITY;
  }

  private async refresh(env: Env, now: number, ctx?: Pick<ExecutionContext, "waitUntil">): Promise<void> {
    let text: string | null;
    try {
      text = await env.POLICIES.get(POLICY_KEY, { cacheTtl: KV_CACHE_TTL_SECONDS });
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      if (message !== this.lastKvError)
        logEvent("policy.load_failed", { message, keeping: this.inForce.source }, "error");
      this.lastKvError = message;
      this.stored = { state: "unreadable", message };
      // Try again after a TTL, not on every request, while KV is in trouble.
      this.checkedAt = now;
      return;
    }
    this.lastKvError = undefined;
    this.checkedAt = now;
    if (text === this.lastSeenText) return;
    this.lastSeenText = text;
    if (text === null) {
      if (this.inForce.source !== "builtin") logEvent("policy.changed", { source: "builtin" });
      this.inForce = builtin();
      this.stored = { state: "absent" };
      return;
    }
    const result = validatePolicyText(text);
    if (!result.ok) {
      this.stored = { state: "invalid", errors: result.errors };
      await this.fallBack(env, result.errors);
      return;
    }
    this.stored = { state: "valid" };
    this.inForce = { compiled: result.compiled, text, source: "kv" };
    logEvent("policy.changed", { source: "kv", rules: result.policy.rules.length });
    // The first isolate to enforce a document nobody published through sluice (a raw `wrangler kv
    // key put`) records it in history, so that after a restart with an invalid document in KV the
    // fallback finds it rather than the built-in default. After the response (`waitUntil`), once per
    // distinct text per isolate; a document already in history costs two KV reads, not a writer call.
    if (ctx && !this.recorded.has(text)) ctx.waitUntil(this.recordInForce(env, this.inForce));
  }

  /** Finds (or records) the history version of a document this isolate adopted from KV. */
  private async recordInForce(env: Env, adopted: PolicyInForce): Promise<void> {
    this.remember(adopted.text);
    const version = await seenInKv(env, adopted.text);
    if (version !== undefined && this.inForce === adopted) this.inForce = { ...adopted, version };
  }

  /**
   * KV holds an invalid document: enforce the newest valid version there is. History first (all
   * isolates then agree on one version), unless this isolate already enforces that version or a
   * newer one; the built-in default only when nothing valid was ever published.
   */
  private async fallBack(env: Env, errors: readonly { path: string; message: string }[]): Promise<void> {
    let fromHistory: Awaited<ReturnType<typeof newestValidInHistory>> = null;
    try {
      fromHistory = await newestValidInHistory(env.POLICIES);
    } catch (e) {
      logEvent("policy.history_unreadable", { message: (e as Error).message ?? String(e) }, "error");
    }
    let memory = this.inForce;
    // The document this isolate enforces may have been written into KV by hand and never recorded:
    // record it now, before anything else replaces it, so that an isolate starting later finds it.
    if (memory.source === "kv" && memory.version === undefined) {
      const version = await seenInKv(env, memory.text);
      if (version !== undefined) {
        memory = { ...memory, version };
        this.inForce = memory;
      }
    }
    // Memory is a document this isolate saw valid in KV or was handed; history wins only when it is
    // known to be newer (or memory is just the built-in default).
    const useHistory =
      fromHistory !== null &&
      fromHistory.text !== memory.text &&
      (memory.source === "builtin" || (memory.version !== undefined && fromHistory.version > memory.version));
    if (useHistory && fromHistory) {
      this.inForce = {
        compiled: fromHistory.compiled,
        text: fromHistory.text,
        source: "history",
        version: fromHistory.version,
      };
    } else if (fromHistory && fromHistory.text === memory.text && memory.version === undefined) {
      this.inForce = { ...memory, version: fromHistory.version };
    }
    const kept = this.inForce;
    logEvent(
      "policy.invalid",
      {
        key: POLICY_KEY,
        errors: errors.slice(0, 20),
        errorCount: errors.length,
        keeping: kept.source === "builtin" ? "builtin" : kept.source === "history" ? "history" : "memory",
        ...(kept.version !== undefined ? { version: kept.version } : {}),
      },
      "error",
    );
  }
}
