/**
 * The candidate policy of this isolate: a document published beside the one
 * in force (KV `policy:candidate`), evaluated in shadow for every request.
 *
 * Read like the policy, at most every `POLICY_TTL_SECONDS` (and at most once
 * a second), and never on the request's own path: `get` is called from
 * `ctx.waitUntil`. A stored text that does not validate is no candidate (the
 * admin API never stores one).
 * @module
 */
import type { Env } from "../../env";
import { sha256Hex } from "../../hash";
import { CANDIDATE_KEY } from "../../kv/keys";
import { logEvent } from "../../log";
import type { CompiledPolicy } from "../../policy/compile";
import { validatePolicyText } from "../../policy/validate";
import { policyTtlMs } from "./kv-policy-source";

/**
 * However short `POLICY_TTL_SECONDS` is, the candidate is re-read at most once a second: every request
 * looks for it, and with no candidate that look must cost next to nothing. (The admin API installs
 * its changes in its own isolate at once.)
 */
const MIN_TTL_MS = 1000;

export interface Candidate {
  compiled: CompiledPolicy;
  text: string;
  /** A short digest of the text: it names the candidate's counters and its stats, so each document starts afresh. */
  id: string;
}

export async function candidateId(text: string): Promise<string> {
  return (await sha256Hex(text)).slice(0, 12);
}

export class CandidateSource {
  private current: Candidate | null = null;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private lastSeenText: string | null | undefined = undefined;

  /** The candidate as last read, without reading (null: none, or not read yet). */
  peek(): Candidate | null {
    return this.current;
  }

  async get(env: Env, now = Date.now()): Promise<Candidate | null> {
    const ttlMs = Math.max(MIN_TTL_MS, policyTtlMs(env));
    if (now >= this.checkedAt && now - this.checkedAt < ttlMs) return this.current;
    this.checkedAt = now;
    let text: string | null;
    try {
      text = await env.POLICIES.get(CANDIDATE_KEY, { cacheTtl: 60 });
    } catch (e) {
      logEvent("candidate.load_failed", { message: (e as Error).message }, "warn");
      return this.current;
    }
    if (text === this.lastSeenText) return this.current;
    this.lastSeenText = text;
    if (text === null) {
      this.current = null;
      return null;
    }
    const result = validatePolicyText(text);
    if (!result.ok) {
      logEvent("candidate.invalid", { key: CANDIDATE_KEY, errors: result.errors }, "error");
      this.current = null;
      return null;
    }
    this.current = { compiled: result.compiled, text, id: await candidateId(text) };
    return this.current;
  }

  /** The admin API's writes show at once in this isolate (null: dropped or promoted). */
  install(candidate: Candidate | null, now = Date.now()): void {
    this.current = candidate;
    this.lastSeenText = candidate?.text ?? null;
    this.checkedAt = now;
  }
}
