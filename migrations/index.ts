/**
 * The Durable Object's schema, as numbered SQL files applied in order, each
 * once. A migration that has shipped is never edited: add the next number.
 *
 * A new object does not replay them: its first write creates the schema at
 * the latest version in one statement (`COUNTERS_SCHEMA`, in the same call as
 * the counters' upsert), with no bookkeeping row; its version is marked in the
 * statement's own text, which SQLite keeps in `sqlite_master` (see
 * `src/durable/migrations.ts`). Keep it the migrations' result in columns and
 * constraints: a new migration bumps its marker and changes it to match.
 * @module
 */
import createCounters from "./0001_create_counters.sql";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [{ version: 1, name: "0001_create_counters", sql: createCounters }];

/** A table created whole at a version, in one statement (its text carries `sluice:schema=<version>`). */
export interface FreshSchema {
  version: number;
  sql: string;
}

/**
 * `counters` at schema 1, for a new object. `WITHOUT ROWID` and no expiry index: a new counter is one row
 * written (a rowid table with the expiry index writes three: the row, the primary key's index and the expiry
 * index; an update, two), and the alarm's sweep scans at most `MAX_COUNTERS_PER_OBJECT` rows. Objects made
 * by 0001 keep their rowid table and index: the statements that use the table work on both.
 */
export const COUNTERS_SCHEMA: FreshSchema = {
  version: 1,
  sql: "CREATE TABLE IF NOT EXISTS counters (/* sluice:schema=1 */ name TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID",
};
