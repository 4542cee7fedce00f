-- Counters of one counting key: one row per counter (`<rule>-<window>`, `<rule>-conc`).
-- `state` is the algorithm's state as JSON; `expires_at` (epoch ms) is when the
-- row holds nothing a new request would not start from, and the alarm may delete it.
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX counters_by_expiry ON counters (expires_at);
