/**
 * The single writer of the policy: every publish (admin API `PUT /policy`, rollback) and every
 * recording of a document seen in KV runs here, one at a time. Version number, history entry and
 * the KV write happen in that order inside one turn of this object, so `If-Match` is a real
 * compare-and-set and two publishes never take the same version (no history entry is lost).
 * One object for the whole deployment: `getByName(POLICY_WRITER_NAME)`.
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { etagOf, ifMatchTags } from "../http/etag";
import { POLICY_KEY } from "../kv/keys";
import { appendHistory, newestValidInHistory, recordIfNew } from "../kv/policy-history";
import { DEFAULT_POLICY } from "../policy/default-policy";
import { validatePolicyText } from "../policy/validate";

export interface PublishRequest {
  text: string;
  actor: string;
  how: string;
  /** `If-Match` as sent: publish only while the document in force has one of these tags. */
  ifMatch?: string;
}

export type PublishResult =
  | { ok: true; version: number; etag: string }
  | { ok: false; reason: "precondition_failed"; etag: string };

/** The bindings this object reads: the KV namespace of the policy and its history. */
export interface PolicyWriterEnv {
  POLICIES: KVNamespace;
}

/** The key in this object's storage of the newest version it gave out. */
const VERSION = "version";

export class PolicyWriter extends DurableObject<PolicyWriterEnv> {
  /** The tail of the queue of writes: each waits for the one before it. */
  private tail: Promise<unknown> = Promise.resolve();

  /** Publishes `text` as the next version (the caller has validated it). */
  publish(request: PublishRequest): Promise<PublishResult> {
    return this.oneAtATime(() => this.publishNow(request));
  }

  /** The version of a valid document read from KV, appended as `seen-in-kv` when history lacks it. */
  recordSeen(text: string): Promise<{ version: number; added: boolean }> {
    return this.oneAtATime(async () => {
      const result = await recordIfNew(this.env.POLICIES, text, await this.lastVersion());
      await this.ctx.storage.put(VERSION, Math.max(result.version, await this.lastVersion()));
      return result;
    });
  }

  /**
   * KV reads and writes let other calls in between (input gates only cover this object's own
   * storage), so writes are chained explicitly: each starts when the one before it has ended.
   */
  private oneAtATime<T>(write: () => Promise<T>): Promise<T> {
    const run = this.tail.then(write, write);
    this.tail = run.catch(() => {});
    return run;
  }

  private async lastVersion(): Promise<number> {
    return (await this.ctx.storage.get<number>(VERSION)) ?? 0;
  }

  private async publishNow({ text, actor, how, ifMatch }: PublishRequest): Promise<PublishResult> {
    const stored = await this.env.POLICIES.get(POLICY_KEY);
    if (ifMatch !== undefined) {
      const tags = ifMatchTags(ifMatch);
      const current = await this.currentTags(stored);
      if (!tags.includes("*") && !tags.some((t) => current.includes(t)))
        return { ok: false, reason: "precondition_failed", etag: current[0]! };
    }
    // A valid document written into KV by hand and never seen by an isolate: keep it in history
    // before it is overwritten.
    if (stored !== null && stored !== text && validatePolicyText(stored).ok) {
      const seen = await recordIfNew(this.env.POLICIES, stored, await this.lastVersion());
      await this.ctx.storage.put(VERSION, Math.max(seen.version, await this.lastVersion()));
    }
    const entry = await appendHistory(this.env.POLICIES, { actor, how, text }, new Date(), await this.lastVersion());
    await this.ctx.storage.put(VERSION, entry.version);
    await this.env.POLICIES.put(POLICY_KEY, text);
    return { ok: true, version: entry.version, etag: await etagOf(text) };
  }

  /**
   * The tags `If-Match` may name: the stored document's (the built-in default's when KV has none);
   * when the stored one is invalid, also the version in force instead of it (what `GET /policy`
   * shows).
   */
  private async currentTags(stored: string | null): Promise<string[]> {
    // The built-in default as the policy store serialises it.
    const text = stored ?? JSON.stringify(DEFAULT_POLICY, null, 2);
    const tags = [await etagOf(text)];
    if (stored !== null && !validatePolicyText(stored).ok) {
      const lastGood = await newestValidInHistory(this.env.POLICIES);
      tags.push(await etagOf(lastGood ? lastGood.text : JSON.stringify(DEFAULT_POLICY, null, 2)));
    }
    return tags;
  }
}
