/**
 * The policy history (see `src/kv/policy-history.ts`) in Workers KV through wrangler, for
 * `--local`/`--remote`: a push appends its entry and writes the document in one bulk write.
 * @module
 */
import { POLICY_KEY, VERSION_KEY } from "../kv/keys";
import {
  type HistoryEntry,
  type HistoryKv,
  type HistoryMetadata,
  historyKey,
  latestVersion,
} from "../kv/policy-history";
import type { KvCalls } from "./wrangler";

export function historyKvOf(kv: KvCalls): HistoryKv {
  return {
    get: (key) => kv.get(key),
    list: async ({ prefix }) => ({ keys: await kv.list(prefix) }),
  };
}

/**
 * Publishes `text` as the next version: its history entry, `policy:version` and `policy`. wrangler
 * writes KV directly, past the Worker's single writer: two pushes at the same moment (or one beside
 * an admin API publish) may take the same number. The admin API (`--url`) has no such race.
 */
export async function publishThroughKv(
  kv: KvCalls,
  record: Omit<HistoryEntry, "version" | "at">,
): Promise<HistoryEntry> {
  const version = (await latestVersion(historyKvOf(kv))) + 1;
  const entry: HistoryEntry = { version, at: new Date().toISOString(), ...record };
  const metadata: HistoryMetadata = { at: entry.at, actor: entry.actor, how: entry.how };
  await kv.bulkPut([
    { key: historyKey(version), value: JSON.stringify(entry), metadata },
    { key: VERSION_KEY, value: String(version) },
    { key: POLICY_KEY, value: record.text },
  ]);
  return entry;
}
