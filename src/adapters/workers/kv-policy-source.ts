/**
 * The policy in force in this isolate.
 *
 * KV `policy` is read at most every `POLICY_TTL_SECONDS`; a document that
 * fails to parse or validate never replaces the one in force, and its errors
 * are logged once per distinct stored text. While KV has no document, the
 * built-in default is in force.
 * @module
 */
import { type Env, numberVar } from "../../env";
import { logEvent } from "../../log";
import type { CompiledPolicy } from "../../policy/compile";
import { DEFAULT_POLICY } from "../../policy/default-policy";
import type { PolicyInForce } from "../../policy/in-force";
import { validatePolicy, validatePolicyText } from "../../policy/validate";
import { POLICY_KEY } from "./kv-keys";

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
  async get(env: Env, now = Date.now()): Promise<PolicyInForce> {
    const ttlMs = policyTtlMs(env);
    // A clock that went backwards (or a TTL of 0) reads again.
    if (now >= this.checkedAt && now - this.checkedAt < ttlMs) return this.inForce;
    if (this.checkedAt !== Number.NEGATIVE_INFINITY && ttlMs > 0) this.checkedAt = now; // the others go on meanwhile
    await this.refresh(env, now);
    return this.inForce;
  }

  /** Puts a validated document in force at once (the admin API's PUT). */
  install(compiled: CompiledPolicy, text: string, now = Date.now()): void {
    this.inForce = { compiled, text, source: "pushed" };
    this.lastSeenText = text;
    this.checkedAt = now;
  }

  private async refresh(env: Env, now: number): Promise<void> {
    let text: string | null;
    try {
      text = await env.POLICIES.get(POLICY_KEY, { cacheTtl: KV_CACHE_TTL_SECONDS });
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      if (message !== this.lastKvError)
        logEvent("policy.load_failed", { message, keeping: this.inForce.source }, "error");
      this.lastKvError = message;
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
      return;
    }
    const result = validatePolicyText(text);
    if (!result.ok) {
      logEvent("policy.invalid", { key: POLICY_KEY, errors: result.errors, keeping: this.inForce.source }, "error");
      return;
    }
    this.inForce = { compiled: result.compiled, text, source: "kv" };
    logEvent("policy.changed", { source: "kv", rules: result.policy.rules.length });
  }
}
