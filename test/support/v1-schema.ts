/**
 * A key's object as the code before schema 2 left it: the `_sluice_migrations`
 * bookkeeping table (version 1 recorded), the rowid `counters` table and its
 * expiry index, each step as that code ran it. The migration tests build old
 * objects with it, and the activation cost test times its parts as "before".
 */
import { MIGRATIONS } from "../../migrations";

export const V1_MIGRATIONS_TABLE = "_sluice_migrations";

/** The v1 migration check: a read of the bookkeeping table, which throws "no such table" on a new object. */
export function v1MigrationCheck(storage: DurableObjectStorage): number {
  try {
    return storage.sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${V1_MIGRATIONS_TABLE}`).one().v ?? 0;
  } catch (e) {
    if (/no such table/i.test(String((e as Error).message))) return 0;
    throw e;
  }
}

/** The v1 schema: the bookkeeping table, then in a transaction the counters table, its index and the bookkeeping row. */
export function v1Schema(storage: DurableObjectStorage): void {
  storage.sql.exec(
    `CREATE TABLE IF NOT EXISTS ${V1_MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  );
  const first = MIGRATIONS.find((m) => m.version === 1)!;
  storage.transactionSync(() => {
    storage.sql.exec(first.sql);
    storage.sql.exec(
      `INSERT INTO ${V1_MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`,
      first.version,
      first.name,
      Date.now(),
    );
  });
}

/** The one-row upsert both versions run for a request's counter. */
export function upsertRow(storage: DurableObjectStorage, name: string, state: string, expiresAt: number): void {
  storage.sql.exec(
    "INSERT INTO counters (name, state, expires_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at",
    name,
    state,
    expiresAt,
  );
}

/** Turns an empty storage into a v1 object holding the given rows. */
export function makeV1Object(
  storage: DurableObjectStorage,
  rows: { name: string; state: string; expiresAt: number }[],
) {
  v1Schema(storage);
  for (const r of rows) upsertRow(storage, r.name, r.state, r.expiresAt);
}
