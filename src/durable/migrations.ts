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
  sql.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const row = sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`).one();
  const current = row.v ?? 0;
  const applied: number[] = [];
  const pending = [...migrations].sort((a, b) => a.version - b.version).filter((m) => m.version > current);
  for (const m of pending) {
    storage.transactionSync(() => {
      sql.exec(m.sql);
      sql.exec(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`, m.version, m.name, Date.now());
    });
    applied.push(m.version);
  }
  return applied;
}

export function schemaVersion(storage: DurableObjectStorage): number {
  return storage.sql.exec<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`).one().v ?? 0;
}
