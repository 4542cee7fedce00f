/** Counting a Durable Object's writes from inside it (`runInDurableObject`), by wrapping its storage calls. */

/** Counts what is written through `storage` until `stop()`: write statements, rows SQLite reports, alarms, puts. */
export function countWrites(storage: DurableObjectStorage) {
  const sql = storage.sql;
  const exec = sql.exec;
  const setAlarm = storage.setAlarm;
  const put = storage.put;
  const seen = { statements: [] as string[], rowsWritten: 0, alarms: 0, puts: 0 };
  sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
    const cursor = exec.call(sql, query, ...bindings);
    if (/\b(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE)\b/i.test(query)) {
      seen.statements.push(query);
      cursor.toArray();
      seen.rowsWritten += cursor.rowsWritten;
    }
    return cursor;
  }) as typeof sql.exec;
  storage.setAlarm = ((...args: Parameters<typeof setAlarm>) => {
    seen.alarms++;
    return setAlarm.apply(storage, args);
  }) as typeof storage.setAlarm;
  storage.put = ((...args: unknown[]) => {
    seen.puts++;
    return (put as (...a: unknown[]) => Promise<void>).apply(storage, args);
  }) as typeof storage.put;
  return {
    seen,
    stop() {
      sql.exec = exec;
      storage.setAlarm = setAlarm;
      storage.put = put;
    },
  };
}
