/**
 * Rule ids on one line of output: a document of 20,000 rules must not print 20,000 ids.
 * @module
 */

/** The first `shown` ids, then how many more. */
export function idList(ids: readonly string[], shown = 10): string {
  if (ids.length <= shown) return ids.join(", ");
  return `${ids.slice(0, shown).join(", ")} and ${(ids.length - shown).toLocaleString("en-US")} more`;
}
