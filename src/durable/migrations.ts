/**
 * Applies the schema migrations a Durable Object has not yet seen, in order,
 * each in its own transaction with its bookkeeping row, so a migration is
 * either wholly applied and recorded or not at all.
 * @module
 */
import type { Migration } from "../../migrations";

export const MIGRATIONS_TABLE = "_sluice_migrations";

/** Returns the versions applied by this call. */
export function applyMigrations(storage: DurableObjectStorage, migrations: readonly Migration[]): number[] {
  const sql = storage.sql;
  // Every activation of an object comes here: one read when it is up to date.
  const current = appliedVersion(storage);
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

/** The highest migration applied; 0 for a new object (no bookkeeping table yet). */
function appliedVersion(storage: DurableObjectStorage): number {
  try {
    return storage.sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`).one().v ?? 0;
  } catch (e) {
    if (/no such table/i.test(String((e as Error).message))) return 0;
    throw e;
  }
}

export function schemaVersion(storage: DurableObjectStorage): number {
  return appliedVersion(storage);
}
