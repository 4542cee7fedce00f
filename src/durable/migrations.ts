/**
 * Applies the schema migrations a Durable Object has not yet seen, in order,
 * each in its own transaction with its bookkeeping row, so a migration is
 * either wholly applied and recorded or not at all.
 *
 * Where an object stands is read in one statement that cannot throw (SQLite's
 * `PRAGMA user_version` is not authorised in Durable Objects): `sqlite_master`
 * names the bookkeeping table, when there is one, and any table created whole
 * at a version (`FreshSchema`), whose text carries `sluice:schema=<version>`.
 * A new object has neither and is at version 0.
 * @module
 */
import type { Migration } from "../../migrations";

export const MIGRATIONS_TABLE = "_sluice_migrations";
const MARKER = /sluice:schema=(\d+)/;

/** Returns the versions applied by this call; `current` is the object's version when the caller has read it. */
export function applyMigrations(
  storage: DurableObjectStorage,
  migrations: readonly Migration[],
  current = schemaVersion(storage),
): number[] {
  const sql = storage.sql;
  const applied: number[] = [];
  const pending = [...migrations].sort((a, b) => a.version - b.version).filter((m) => m.version > current);
  if (pending.length > 0) {
    sql.exec(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    );
  }
  for (const m of pending) {
    storage.transactionSync(() => {
      sql.exec(m.sql);
      sql.exec(
        `INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`,
        m.version,
        m.name,
        Date.now(),
      );
    });
    applied.push(m.version);
  }
  return applied;
}

/**
 * The object's schema version: the highest migration recorded, or else the
 * version marked in a table created whole; 0 for a new object. One read of
 * `sqlite_master` (and one of the bookkeeping table when it exists).
 */
export function schemaVersion(storage: DurableObjectStorage): number {
  let marked = 0;
  let bookkeeping = false;
  for (const row of storage.sql.exec<{ name: string; sql: string | null }>(
    `SELECT name, sql FROM sqlite_master WHERE type = 'table' AND (name = ? OR sql LIKE '%sluice:schema=%')`,
    MIGRATIONS_TABLE,
  )) {
    if (row.name === MIGRATIONS_TABLE) bookkeeping = true;
    else marked = Math.max(marked, Number(MARKER.exec(row.sql ?? "")?.[1] ?? 0));
  }
  if (!bookkeeping) return marked;
  const recorded =
    storage.sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`).one().v ?? 0;
  return Math.max(recorded, marked);
}
