/**
 * The name of a limit's counter, which is also its `ietf` item name and its
 * key inside the counting key's object: `<rule>-<window>` (`api-15m`, and for
 * a calendar window `api-week`, `api-month`, `api-year`), or `<rule>-conc`
 * for a concurrency limit. The schema checks names are unique with it; the
 * compiler names the counters with it.
 * @module
 */
export function counterName(
  ruleId: string,
  limit: { concurrency?: number | undefined; window?: string | undefined },
): string {
  return limit.concurrency !== undefined ? `${ruleId}-conc` : `${ruleId}-${limit.window}`;
}
