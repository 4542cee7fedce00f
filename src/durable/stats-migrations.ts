/**
 * The statistics store's schema, applied like the counters' (numbered, each
 * once, in a transaction). A shipped migration is never edited.
 * @module
 */
import type { Migration } from "../../migrations";

export const STATS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "stats_0001_buckets",
    sql: `
CREATE TABLE counts (minute INTEGER NOT NULL, rule TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (minute, rule, verdict));
CREATE TABLE refused_keys (minute INTEGER NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (minute, rule, key));
CREATE TABLE totals (rule TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (rule, verdict));
CREATE TABLE latency_totals (bucket INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE meta_totals (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
`,
  },
  {
    // A refused key's display label (src/engine/key-label.ts); NULL for a readable key and for rows stored before.
    version: 2,
    name: "stats_0002_refused_key_labels",
    sql: "ALTER TABLE refused_keys ADD COLUMN label TEXT;",
  },
  {
    // The usage ledger (units per tenant, rule and UTC day) and the threshold notifications' figures:
    // all-time totals per rule, threshold and outcome, and the latest events for the console.
    version: 3,
    name: "stats_0003_usage_and_thresholds",
    sql: `
CREATE TABLE usage (day TEXT NOT NULL, tenant TEXT NOT NULL, rule TEXT NOT NULL,
  admitted INTEGER NOT NULL, refused INTEGER NOT NULL, PRIMARY KEY (tenant, day, rule));
CREATE TABLE notification_totals (rule TEXT NOT NULL, threshold REAL NOT NULL, outcome TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (rule, threshold, outcome));
CREATE TABLE threshold_events (id TEXT NOT NULL, outcome TEXT NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (id, outcome));
CREATE INDEX threshold_events_at ON threshold_events (at);
`,
  },
];
