/**
 * What a key's object costs, by part: wall time per new-object activation and
 * per warm call, printed as tables (run with `--silent=false` to see them):
 *
 *   npx vitest run --project workers test/workers/activation-cost.test.ts --silent=false
 *
 * No timing is asserted (speed targets live in the bench). workerd's clocks
 * tick in whole milliseconds: every figure is a sum over many runs divided by
 * the runs (a part of d ms crosses a tick d times per run on average, so the
 * mean is unbiased). There is no CPU clock in workerd: the in-object parts are
 * synchronous (SQLite calls, no I/O), so their wall time is CPU time on an
 * idle core; the caller's figures add the RPC framing and the output gate.
 *
 * Parts on a new object are timed on fresh objects of the `PolicyWriter`
 * class, whose constructor touches no storage, so each starts from an empty
 * database: the same statements as a `RateLimiter` runs, one part at a time.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { COUNTERS_SCHEMA } from "../../migrations";
import { schemaVersion } from "../../src/durable/migrations";
import type { CheckRequest } from "../../src/engine/ports";
import { countWrites } from "../support/count-writes";
import { makeV1Object, upsertRow, v1MigrationCheck, v1Schema } from "../support/v1-schema";

const RUNS = 150;
/** 150 runs of several variants take minutes on a loaded machine. */
const TIMEOUT_MS = 300_000;
const SPEC = { name: "cost-1m", algorithm: "fixed", limit: 1_000_000, windowMs: 60_000, cost: 1 } as const;
const REQUEST: CheckRequest = { counters: [{ ...SPEC }] };
const STATE = JSON.stringify({ algorithm: "fixed", windowStart: 0, count: 1 });

let serial = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${serial++}`;

type Parts = Record<string, number>;

function timed<T>(parts: Parts, part: string, run: () => T): T {
  const start = performance.now();
  const result = run();
  parts[part] = (parts[part] ?? 0) + performance.now() - start;
  return result;
}

function table(title: string, parts: Parts, runs: number): string {
  const rows = Object.entries(parts).map(([part, ms]) => `| ${part} | ${((ms / runs) * 1000).toFixed(0)} |`);
  return [`\n${title} (mean of ${runs} runs)`, "| part | µs |", "| --- | ---: |", ...rows].join("\n");
}

/** A sequence of storage steps run on an empty database, in one call (as one request's path would). */
type Sequence = (storage: DurableObjectStorage, parts: Parts) => Promise<void> | undefined;

/** The path before schema 2: bookkeeping read (throws), bookkeeping and schema, upsert, alarm. */
const v1Path =
  (alarm: boolean): Sequence =>
  (storage, parts) => {
    timed(parts, "migration check (bookkeeping read, throws)", () => v1MigrationCheck(storage));
    timed(parts, "schema (bookkeeping table, counters, index, bookkeeping row)", () => v1Schema(storage));
    timed(parts, "upsert", () => upsertRow(storage, SPEC.name, STATE, Date.now() + 60_000));
    if (!alarm) return undefined;
    return timed(parts, "alarm (setAlarm, synchronous part)", () => storage.setAlarm(Date.now() + 60_000));
  };

/** The path since schema markers: one read of sqlite_master; the table and the row in one statement; no alarm. */
const freshPath: Sequence = (storage, parts) => {
  timed(parts, "migration check (sqlite_master read)", () => schemaVersion(storage));
  timed(parts, "schema and upsert (one statement)", () =>
    storage.sql.exec(
      `${COUNTERS_SCHEMA.sql}; INSERT INTO counters (name, state, expires_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`,
      SPEC.name,
      STATE,
      Date.now() + 60_000,
    ),
  );
  return undefined;
};

/** The caller's wall time of each variant, `RUNS` times, the variants interleaved so that drift hits them alike. */
async function interleaved(variants: Record<string, () => Promise<unknown>>): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, run] of Object.entries(variants)) {
      const start = performance.now();
      await run();
      times[name]!.push(performance.now() - start);
    }
  }
  return times;
}

function wallTable(title: string, times: Record<string, number[]>): string {
  const rows = Object.entries(times).map(([name, t]) => {
    const sorted = [...t].sort((a, b) => a - b);
    const mean = t.reduce((a, b) => a + b, 0) / t.length;
    return `| ${name} | ${mean.toFixed(2)} | ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} |`;
  });
  return [
    `\n${title} (${RUNS} runs each, interleaved)`,
    "| call | mean ms | median ms |",
    "| --- | ---: | ---: |",
    ...rows,
  ].join("\n");
}

/** Runs `sequence` on a new empty object, in one call. */
const onNewObject = (sequence: Sequence | undefined, parts: Parts) => () =>
  runInDurableObject(env.POLICY_WRITER!.getByName(fresh("cost")), (_o, state) =>
    sequence ? sequence(state.storage, parts) : undefined,
  );

it(
  "times a new object's path, by part, in the object and from the caller",
  async () => {
    const v1: Parts = {};
    const v1NoAlarm: Parts = {};
    const now: Parts = {};
    const times = await interleaved({
      "empty object, nothing done": onNewObject(undefined, {}),
      "schema 1 path (check, schema, upsert, alarm)": onNewObject(v1Path(true), v1),
      "schema 1 path without the alarm": onNewObject(v1Path(false), v1NoAlarm),
      "current path (check; table and row in one statement)": onNewObject(freshPath, now),
    });
    console.log(table("before: schema 1 path on a new object, synchronous parts in the object", v1, RUNS));
    console.log(table("after: the current path on a new object, synchronous parts in the object", now, RUNS));
    console.log(wallTable("new objects, caller's wall time per runInDurableObject", times));
    expect(Object.keys(v1)).toHaveLength(4);
    expect(Object.keys(now)).toHaveLength(2);
  },
  TIMEOUT_MS,
);

it(
  "counts the rows SQLite reports written on a new object's path, before and after",
  async () => {
    const count = (sequence: (storage: DurableObjectStorage) => void) =>
      runInDurableObject(env.POLICY_WRITER!.getByName(fresh("rows")), (_o, state) => {
        const writes = countWrites(state.storage);
        try {
          sequence(state.storage);
        } finally {
          writes.stop();
        }
        return { statements: writes.seen.statements.length, rowsWritten: writes.seen.rowsWritten };
      });
    const v1 = await count((storage) => {
      v1Schema(storage);
      upsertRow(storage, SPEC.name, STATE, 1);
    });
    const current = await count((storage) => freshPath(storage, {}));
    const apart = await count((storage) => {
      storage.sql.exec(COUNTERS_SCHEMA.sql);
      upsertRow(storage, SPEC.name, STATE, 1);
    });
    console.log(
      [
        "\nrows written on a new object's path (cursor.rowsWritten summed over write statements):",
        `  schema 1 path: ${v1.statements} write statements, ${v1.rowsWritten} rows, and the alarm (billed as a row)`,
        `  current path: ${current.statements} statement, ${current.rowsWritten} rows as its cursor reports them`,
        `  current path's table and row as two statements: ${apart.rowsWritten} rows (the CREATE's own rows in sqlite_master included)`,
      ].join("\n"),
    );
    expect(current.statements).toBe(1);
  },
  TIMEOUT_MS,
);

it(
  "times an existing object's activation, by part: migration check and read",
  async () => {
    const v1Object = env.POLICY_WRITER!.getByName(fresh("cost-v1"));
    const currentObject = env.POLICY_WRITER!.getByName(fresh("cost-current"));
    const row = { name: SPEC.name, state: STATE, expiresAt: Date.now() + 60_000 };
    await runInDurableObject(v1Object, (_o, state) => makeV1Object(state.storage, [row]));
    await runInDurableObject(currentObject, (_o, state) => freshPath(state.storage, {}));
    const v1: Parts = {};
    const current: Parts = {};
    const read = (storage: DurableObjectStorage) =>
      storage.sql.exec("SELECT name, state, expires_at FROM counters").toArray();
    await interleaved({
      v1: () =>
        runInDurableObject(v1Object, (_o, state) => {
          timed(v1, "migration check (bookkeeping read)", () => v1MigrationCheck(state.storage));
          timed(v1, "read (one counter)", () => read(state.storage));
        }),
      current: () =>
        runInDurableObject(currentObject, (_o, state) => {
          timed(current, "migration check (sqlite_master read, then the bookkeeping table if any)", () =>
            schemaVersion(state.storage),
          );
          timed(current, "read (one counter)", () => read(state.storage));
        }),
    });
    console.log(table("existing schema 1 object, activation parts in the object", v1, RUNS));
    console.log(table("existing object made by the current path, activation parts in the object", current, RUNS));
    expect(Object.keys(current)).toHaveLength(2);
  },
  TIMEOUT_MS,
);

it(
  "times RateLimiter calls from the caller: new object, warm object, bare RPC",
  async () => {
    const warm = env.LIMITER.getByName(fresh("cost-warm"));
    await warm.check(REQUEST);
    const times = await interleaved({
      "new object: check": () => env.LIMITER.getByName(fresh("cost-new")).check(REQUEST),
      "new object: size() (activation, no write by the call)": () => env.LIMITER.getByName(fresh("cost-size")).size(),
      "warm object: check": () => warm.check(REQUEST),
      "warm object: size() (RPC framing and dispatch)": () => warm.size(),
    });
    console.log(wallTable("RateLimiter, caller's wall time per call", times));
    expect(await warm.size()).toBe(1);
  },
  TIMEOUT_MS,
);
