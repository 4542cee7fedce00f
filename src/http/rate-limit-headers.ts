/**
 * The three header families of the contract (section 4), from the counters'
 * results. `legacy` and `x` describe one limit (the one that refused, or the
 * one with the least room); `ietf` lists them all as Structured Field Lists.
 * @module
 */

import type { Algorithm, CounterResult } from "../limiter/types";
import type { CompiledPolicy } from "../policy/compile";

/** One counter's result with what the headers need to describe it. */
export interface LimitReport {
  result: CounterResult;
  concurrency: boolean;
  /** Window in seconds; undefined for concurrency. */
  windowSeconds: number | undefined;
  windowWords: string;
  rule: string;
  /** The limit's algorithm (a fixed window's `Retry-After` is never before its end). */
  algorithm?: Algorithm;
  /** `pk`: the counting key's partition key, base64 (see {@link partitionKey}); sent only when the policy says. */
  partitionKey?: string;
}

/** How many bytes of the counting key's SHA-256 a `pk` carries: 128 bits tell partitions apart. */
export const PARTITION_KEY_BYTES = 16;

/**
 * The `pk` of a counting key: the first 16 bytes of SHA-256 of the key (`tenant:acme`, `ip:203.0.113.7`,
 * `header:x-user:<sha256 hex>`, with `sandbox:` in front for sandboxed counters), base64. A hash, so no
 * credential or raw request value is ever sent; the same key gives the same `pk`, so a client can tell
 * its partitions apart and compute one it expects (docs/policy.md, Headers).
 */
export async function partitionKey(countingKey: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(countingKey)));
  let binary = "";
  for (const b of digest.subarray(0, PARTITION_KEY_BYTES)) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** The report that `legacy` and `x` describe: the refusing one, else the one with least room left. */
export function headline(reports: readonly LimitReport[]): LimitReport | undefined {
  let best: LimitReport | undefined;
  for (const r of reports) {
    if (!r.result.allowed) return r;
    if (!best || r.result.remaining < best.result.remaining) best = r;
  }
  return best;
}

export function rateLimitHeaders(
  policy: CompiledPolicy,
  reports: readonly LimitReport[],
  now: number,
): [string, string][] {
  const out: [string, string][] = [];
  const head = headline(reports);
  if (!head) return out;
  const families = policy.headerFamilies;
  if (families.legacy) {
    const reset =
      policy.legacyReset === "delta" ? secondsUntil(head.result.resetAt, now) : Math.ceil(head.result.resetAt / 1000);
    out.push(
      ["RateLimit-Limit", String(head.result.limit)],
      ["RateLimit-Remaining", String(head.result.remaining)],
      ["RateLimit-Reset", String(reset)],
    );
  }
  if (families.x) {
    out.push(
      ["X-RateLimit-Limit", String(head.result.limit)],
      ["X-RateLimit-Remaining", String(head.result.remaining)],
      ["X-RateLimit-Reset", String(Math.ceil(head.result.resetAt / 1000))],
    );
  }
  if (families.ietf) {
    // `pk` (a Byte Sequence) only where the operator allows it (`partitionKey: true`).
    const pk = (r: LimitReport) =>
      policy.partitionKey && r.partitionKey !== undefined ? `;pk=:${r.partitionKey}:` : "";
    const policies = reports.map((r) =>
      r.concurrency
        ? `${sfString(r.result.name)};q=${r.result.limit};qu="concurrent-requests"${pk(r)}`
        : `${sfString(r.result.name)};q=${r.result.limit};w=${r.windowSeconds}${pk(r)}`,
    );
    const states = reports.map((r) =>
      r.concurrency
        ? `${sfString(r.result.name)};r=${r.result.remaining}${pk(r)}`
        : `${sfString(r.result.name)};r=${r.result.remaining};t=${secondsUntil(r.result.resetAt, now)}${pk(r)}`,
    );
    out.push(["RateLimit-Policy", policies.join(", ")], ["RateLimit", states.join(", ")]);
  }
  return out;
}

/** An sf-string; rule ids are `[a-z0-9_-]`, so no escaping is ever needed, but stay correct anyway. */
function sfString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
