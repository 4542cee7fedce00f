/**
 * Page size (`pageSize` on a rule): the collection endpoint's page-size query
 * parameter is added when absent and clamped to `max` (or refused with 400 in
 * `reject` mode) before the request is forwarded.
 * @module
 */
import type { Rule } from "../policy/schema";

export type PageSizeOutcome =
  | { kind: "unchanged" }
  | { kind: "rewritten"; url: URL }
  | { kind: "rejected"; message: string };

export function applyPageSize(url: URL, pageSize: NonNullable<Rule["pageSize"]>): PageSizeOutcome {
  const values = url.searchParams.getAll(pageSize.param);
  const raw = values[0];
  let size: number | undefined;
  if (values.length === 1 && /^\s*[0-9]{1,9}\s*$/.test(raw!)) size = Number(raw);
  if (pageSize.mode === "reject") {
    if (values.length === 0) return withSize(url, pageSize.param, pageSize.default);
    if (size === undefined || size < 1 || size > pageSize.max) {
      return { kind: "rejected", message: `${pageSize.param} must be a whole number from 1 to ${pageSize.max}` };
    }
    return { kind: "unchanged" };
  }
  // clamp: absent or unreadable → default; above max → max; below 1 → 1.
  const wanted = size === undefined ? pageSize.default : Math.min(pageSize.max, Math.max(1, size));
  if (values.length === 1 && raw === String(wanted)) return { kind: "unchanged" };
  return withSize(url, pageSize.param, wanted);
}

function withSize(url: URL, param: string, size: number): PageSizeOutcome {
  const next = new URL(url);
  next.searchParams.set(param, String(size));
  return { kind: "rewritten", url: next };
}
