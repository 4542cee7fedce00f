/**
 * The Durable Object's schema, as numbered SQL files applied in order, each
 * once. A migration that has shipped is never edited: add the next number.
 * @module
 */
import createCounters from "./0001_create_counters.sql";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [{ version: 1, name: "0001_create_counters", sql: createCounters }];
