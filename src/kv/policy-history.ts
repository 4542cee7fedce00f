/**
 * The policy history in KV: every published document as `policy:history:<version>`, the newest
 * version number as `policy:version`. The admin API, the CLI and the Worker itself (a document
 * written into KV by hand, when the first isolate enforces it) all append
 * here, and an isolate that finds an invalid document in KV falls back to the newest entry that
 * still validates.
 * @module
 */
import type { CompiledPolicy } from "../policy/compile";
import { validatePolicyText } from "../policy/validate";
import { HISTORY_PREFIX, VERSION_KEY } from "./keys";

/** What `policy:history:<version>` holds. */
export interface HistoryEntry {
  version: number;
  /** ISO time of the publish. */
  at: string;
  /** Who published it: `--actor` / `X-Sluice-Actor`, or `admin-api`, `cli`, `kv` (seen in KV). */
  actor: string;
  /** `put`, `rollback:<version>`, `cli-local`, `cli-remote`, `seen-in-kv`. */
  how: string;
  text: string;
}

/** The metadata of a history key: the entry without its text, so a listing needs no reads. */
export type HistoryMetadata = Omit<HistoryEntry, "version" | "text">;

/** KV as far as history needs it: the admin API's binding, or the CLI's wrangler wrapper. */
export interface HistoryKv {
  get(key: string): Promise<string | null>;
  list?(options: { prefix: string }): Promise<{ keys: Array<{ name: string }> }>;
}

export function historyKey(version: number): string {
  return `${HISTORY_PREFIX}${version}`;
}

/** How many versions below the newest an isolate tries before it gives up looking for a valid one. */
const FALLBACK_DEPTH = 20;

export function parseHistoryEntry(stored: string | null): HistoryEntry | null {
  if (stored === null) return null;
  try {
    const entry = JSON.parse(stored) as Partial<HistoryEntry>;
    if (typeof entry.text !== "string" || typeof entry.version !== "number") return null;
    return {
      version: entry.version,
      at: String(entry.at ?? ""),
      actor: String(entry.actor ?? ""),
      how: String(entry.how ?? ""),
      text: entry.text,
    };
  } catch {
    return null;
  }
}

/** The newest version number: `policy:version`, or the highest history key when that is missing. */
export async function latestVersion(kv: HistoryKv): Promise<number> {
  const stored = Number((await kv.get(VERSION_KEY)) ?? "0");
  if (Number.isInteger(stored) && stored > 0) return stored;
  if (!kv.list) return 0;
  const { keys } = await kv.list({ prefix: HISTORY_PREFIX });
  let newest = 0;
  for (const k of keys) {
    const v = Number(k.name.slice(HISTORY_PREFIX.length));
    if (Number.isInteger(v) && v > newest) newest = v;
  }
  return newest;
}

export async function readHistoryEntry(kv: HistoryKv, version: number): Promise<HistoryEntry | null> {
  return parseHistoryEntry(await kv.get(historyKey(version)));
}

export interface LastGood {
  version: number;
  text: string;
  compiled: CompiledPolicy;
}

/** The newest history entry whose document still validates, or `null` when there is none. */
export async function newestValidInHistory(kv: HistoryKv): Promise<LastGood | null> {
  const newest = await latestVersion(kv);
  for (let v = newest; v >= 1 && v > newest - FALLBACK_DEPTH; v--) {
    const entry = await readHistoryEntry(kv, v);
    if (!entry) continue;
    const result = validatePolicyText(entry.text);
    if (result.ok) return { version: v, text: entry.text, compiled: result.compiled };
  }
  return null;
}

/** The version of `text` among the recent history entries (the newest match), if it is one of them. */
export async function versionInHistory(kv: HistoryKv, text: string, atLeast = 0): Promise<number | undefined> {
  const newest = Math.max(await latestVersion(kv), atLeast);
  for (let v = newest; v >= 1 && v > newest - FALLBACK_DEPTH; v--) {
    if ((await readHistoryEntry(kv, v))?.text === text) return v;
  }
  return undefined;
}

/** KV as far as appending needs it. */
export interface HistoryWriteKv extends HistoryKv {
  put(key: string, value: string, options?: { metadata?: unknown }): Promise<void>;
}

/**
 * Appends `text` as the next version: history entry, then `policy:version`. Not atomic on its own:
 * the admin API calls it inside its single writer, which is what keeps two publishes from taking
 * the same number.
 */
export async function appendHistory(
  kv: HistoryWriteKv,
  record: Omit<HistoryEntry, "version" | "at">,
  at = new Date(),
  /** The writer's own count: KV's `policy:version` may lag behind it (KV reads can be stale). */
  atLeast = 0,
): Promise<HistoryEntry> {
  const version = Math.max(await latestVersion(kv), atLeast) + 1;
  const entry: HistoryEntry = { version, at: at.toISOString(), ...record };
  const metadata: HistoryMetadata = { at: entry.at, actor: entry.actor, how: entry.how };
  await kv.put(historyKey(version), JSON.stringify(entry), { metadata });
  await kv.put(VERSION_KEY, String(version));
  return entry;
}

/**
 * The version of `text` when it is one of the recent history entries (a KV edge cache may still
 * serve an older one for a while: that is no new document); otherwise it is appended as
 * `seen-in-kv` (a document written into KV by hand) and its new version returned.
 */
export async function recordIfNew(
  kv: HistoryWriteKv,
  text: string,
  atLeast = 0,
): Promise<{ version: number; added: boolean }> {
  const known = await versionInHistory(kv, text, atLeast);
  if (known !== undefined) return { version: known, added: false };
  const entry = await appendHistory(kv, { actor: "kv", how: "seen-in-kv", text }, new Date(), atLeast);
  return { version: entry.version, added: true };
}
