/**
 * The verdicts counted fleet-wide, one per rule that a decision concerned,
 * and how a limiter outcome maps onto them. Workers-free, so it is tested in
 * plain Node.
 * @module
 */

export const FLEET_VERDICTS = [
  "admitted",
  "refused",
  "cached_refusal",
  "shadow_refused",
  "bypass",
  "blocked",
  "error_open",
  "error_closed",
  "late_open",
  "late_closed",
] as const;

export type FleetVerdict = (typeof FLEET_VERDICTS)[number];

export function isFleetVerdict(value: unknown): value is FleetVerdict {
  return typeof value === "string" && (FLEET_VERDICTS as readonly string[]).includes(value);
}

/** What the core says about one decision (a subset of its outcome, so this module does not import the core). */
export interface DecisionFacts {
  /** The core's reason: "allowed", "limit", "cached", "bypass", ... */
  reason: string;
  /** The rules that applied. */
  rules: readonly string[];
  /** The core's per-rule verdicts ("admitted", "refused", "shadow_refused", "blocked", "error_open", "error_closed"). */
  verdicts: ReadonlyArray<readonly [string, string]>;
  /** The counting key of a refusal, as the logs show it (hashed values; never a raw API key). */
  refusedKey?: string;
  /** That key's display label (`header:x-user-id:u1`; a credential's shows only `[credential <hash>]`). */
  refusedLabel?: string;
  /** Rules whose `error_open` / `error_closed` was the time budget running out, not an error. */
  lateRules?: readonly string[];
  /** The tenant counted for (usage ledger); absent: none. */
  tenant?: string;
  /** Units per request of each applying rule (its `cost`). */
  costs?: Readonly<Record<string, number>>;
}

const LATE: Record<string, FleetVerdict> = { error_open: "late_open", error_closed: "late_closed" };

/**
 * One counted figure per rule: the core's verdicts, with cached refusals and bypasses told apart, and
 * store failures that were only the time budget running out (`late_open`, `late_closed`) told from errors.
 */
export function fleetVerdicts(d: DecisionFacts): Array<[rule: string, verdict: FleetVerdict]> {
  if (d.reason === "bypass") return d.rules.map((r) => [r, "bypass"]);
  const out: Array<[string, FleetVerdict]> = [];
  for (const [rule, verdict] of d.verdicts) {
    const late = d.lateRules?.includes(rule) ? LATE[verdict] : undefined;
    const v = late ?? (d.reason === "cached" && verdict === "refused" ? "cached_refusal" : verdict);
    if (isFleetVerdict(v)) out.push([rule, v]);
  }
  return out;
}

/** The verdicts of a decision made without the counter store because it failed or was late. */
export const STORE_FAILURE_VERDICTS: readonly FleetVerdict[] = [
  "error_open",
  "error_closed",
  "late_open",
  "late_closed",
];
