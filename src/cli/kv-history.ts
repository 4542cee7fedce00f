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
import { type KvTarget, kvBulkPut, kvGet, kvList } from "./wrangler";

export function wranglerHistoryKv(target: KvTarget): HistoryKv {
  return {
    get: (key) => kvGet(key, target),
    list: async ({ prefix }) => ({ keys: await kvList(prefix, target) }),
  };
}

/**
 * Publishes `text` as the next version: its history entry, `policy:version` and `policy`. wrangler
 * writes KV directly, past the Worker's single writer: two pushes at the same moment (or one beside
 * an admin API publish) may take the same number. The admin API (`--url`) has no such race.
 */
export async function publishThroughKv(
  target: KvTarget,
  record: Omit<HistoryEntry, "version" | "at">,
): Promise<HistoryEntry> {
  const version = (await latestVersion(wranglerHistoryKv(target))) + 1;
  const entry: HistoryEntry = { version, at: new Date().toISOString(), ...record };
  const metadata: HistoryMetadata = { at: entry.at, actor: entry.actor, how: entry.how };
  await kvBulkPut(
    [
      { key: historyKey(version), value: JSON.stringify(entry), metadata },
      { key: VERSION_KEY, value: String(version) },
      { key: POLICY_KEY, value: record.text },
    ],
    target,
  );
  return entry;
}
