/**
 * A new key's object: it answers after exactly one write (its counters table
 * and its row, in one statement; no bookkeeping, no alarm before the answer),
 * and objects made by the schema 1 code, with their bookkeeping table, rowid
 * table and expiry index, keep their counters and stay on their schema.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { MIGRATIONS } from "../../migrations";
import { MIGRATIONS_TABLE, schemaVersion } from "../../src/durable/migrations";
import type { RateLimiter } from "../../src/durable/rate-limiter";
import { fixedWindowStart } from "../../src/limiter/algorithms/fixed-window";
import type { CounterSpec } from "../../src/limiter/types";
import { countWrites } from "../support/count-writes";
import { makeV1Object } from "../support/v1-schema";

const DAY = 86_400_000;
const SPEC: CounterSpec = { name: "new-1d", algorithm: "fixed", limit: 5, windowMs: DAY, cost: 1 };

let serial = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${serial++}`;

it("answers a new key after exactly one write: its table and its row in one statement, the alarm after the answer", async () => {
  const stub = env.LIMITER.getByName(fresh("one-write"));
  await runInDurableObject(stub, async (instance: RateLimiter, state) => {
    // Activation has run (the constructor): it read, and wrote nothing.
    expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM sqlite_master").one().n).toBe(0);
    const writes = countWrites(state.storage);
    try {
      const answer = instance.check({ counters: [SPEC] });
      expect(answer.allowed).toBe(true);
      expect(answer.counters[0]!.result.remaining).toBe(4);
      expect(writes.seen.statements).toHaveLength(1);
      expect(writes.seen.alarms).toBe(0);
      expect(writes.seen.puts).toBe(0);
      const rows = state.storage.sql.exec("SELECT name FROM counters").toArray();
      expect(rows).toEqual([{ name: SPEC.name }]);
      // No bookkeeping table: the schema's version is marked in the table's own definition.
      const tables = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()
        .map((t) => t.name);
      expect(tables).toEqual(["counters"]);
      expect(schemaVersion(state.storage)).toBe(MIGRATIONS.at(-1)!.version);
      // The cleanup alarm is set in a later turn, once.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(writes.seen.alarms).toBe(1);
      expect(await state.storage.getAlarm()).not.toBeNull();
      console.log(
        `new object's first check: ${writes.seen.statements.length} write statement, rowsWritten ${writes.seen.rowsWritten}, database ${state.storage.sql.databaseSize} bytes`,
      );
      // A warm call writes its row again, one statement.
      instance.check({ counters: [SPEC] });
      expect(writes.seen.statements).toHaveLength(2);
      expect(writes.seen.alarms).toBe(1);
    } finally {
      writes.stop();
    }
  });
  // Across a restart: read back from the table created in the one statement.
  await evictDurableObject(stub);
  const after = await stub.check({ counters: [SPEC] });
  expect(after.counters[0]!.result.remaining).toBe(2);
});

it("writes nothing for a new key that is only inspected or reset", async () => {
  const stub = env.LIMITER.getByName(fresh("read-only"));
  expect((await stub.inspect([SPEC])).results[0]!.remaining).toBe(5);
  expect(await stub.reset([SPEC.name])).toBe(0);
  expect(await stub.reset()).toBe(0);
  const objects = await runInDurableObject(stub, (_o, state) =>
    state.storage.sql.exec("SELECT COUNT(*) AS n FROM sqlite_master").one(),
  );
  expect(objects.n).toBe(0);
});

it("keeps the counters of an object made by the schema 1 code, on its own schema, with no migration re-applied", async () => {
  const stub = env.LIMITER.getByName(fresh("v1-object"));
  const windowStart = fixedWindowStart(Date.now(), DAY);
  await runInDurableObject(stub, (_o, state) =>
    makeV1Object(state.storage, [
      {
        name: SPEC.name,
        state: JSON.stringify({ algorithm: "fixed", windowStart, count: 3 }),
        expiresAt: windowStart + DAY,
      },
    ]),
  );
  await evictDurableObject(stub);
  const first = await stub.check({ counters: [SPEC] });
  expect(first.allowed).toBe(true);
  expect(first.counters[0]!.result.remaining).toBe(1);
  expect((await stub.check({ counters: [SPEC] })).counters[0]!.result.remaining).toBe(0);
  expect((await stub.check({ counters: [SPEC] })).allowed).toBe(false);
  await runInDurableObject(stub, (_o, state) => {
    expect(schemaVersion(state.storage)).toBe(1);
    const recorded = state.storage.sql.exec(`SELECT version FROM ${MIGRATIONS_TABLE}`).toArray();
    expect(recorded).toEqual([{ version: 1 }]);
    const index = state.storage.sql
      .exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'counters_by_expiry'")
      .toArray();
    expect(index).toHaveLength(1);
  });
  // And after another restart, the count stands.
  await evictDurableObject(stub);
  expect((await stub.check({ counters: [SPEC] })).allowed).toBe(false);
});
