/**
 * Structured logs: one JSON object per line, an `event` name first, so that
 * `wrangler tail` and Logpush output can be filtered without parsing prose.
 * @module
 */
export function logEvent(
  event: string,
  fields: Record<string, unknown> = {},
  level: "info" | "warn" | "error" = "info",
): void {
  const line = JSON.stringify({ event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
