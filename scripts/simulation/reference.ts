/**
 * The simulation's side of the judge: the log it records and what it makes
 * of it. The judge itself (`./judge/`) is an independent reference written
 * from docs/policy.md; this file imports nothing from the deciding code
 * either. It judges the admissions (over-admissions), the same rules applied
 * to the whole demand (what a single object seeing every request at once
 * would admit), and the room left unused in each window the demand saturated.
 */
import { type Admit, type JudgeEvent, judge, type OverAdmission } from "./judge/judge";

export type { JudgeEvent, OverAdmission };

export interface Judged {
  /** Admissions in the log. */
  admitted: number;
  /** Admissions the reference has no room for. Must be 0. */
  overAdmissions: number;
  firstOver: OverAdmission[];
  /** Refunds that gave nothing back (repeated, of a charge from before a reset, of an over-admission). */
  refundsIgnored: number;
  /** Admissions of the whole demand that a single object seeing every request at once would make. */
  ideal: number;
  /** Windows (of each key's first counter) in which that single object refused some of the demand. */
  saturatedWindows: number;
  /** Over those windows: what the single object admitted, and what the run admitted short of it. */
  saturatedIdeal: number;
  saturatedUnused: number;
  /** The worst of them: the share of its ideal left unused (0-1). */
  worstWindowUnused: number;
}

/**
 * Judges a run: `log` holds what was admitted (and refunded, and reset),
 * `demand` every request as if a single object had seen it at its arrival
 * (with its refund, and the same resets).
 */
export function judgeRun(log: readonly JudgeEvent[], demand: readonly JudgeEvent[]): Judged {
  const actual = judge(log);
  const ideal = judge(demand);
  // Per key and window of its first counter: admitted by the run, admitted and refused by the ideal.
  type Window = { actual: number; ideal: number; refused: number };
  const windows = new Map<string, Window>();
  const windowOf = (e: Admit) => {
    const spec = e.specs[0];
    const w = spec && spec.windowMs > 0 ? spec.windowMs : 1_000;
    const id = `${e.key}\u0000${Math.floor(e.at / w)}`;
    let window = windows.get(id);
    if (!window) {
      window = { actual: 0, ideal: 0, refused: 0 };
      windows.set(id, window);
    }
    return window;
  };
  for (const e of log) if (e.type === "admit") windowOf(e).actual++;
  for (const e of demand) {
    if (e.type !== "admit") continue;
    if (ideal.overIds.has(e.id)) windowOf(e).refused++;
    else windowOf(e).ideal++;
  }
  let saturatedWindows = 0;
  let saturatedIdeal = 0;
  let saturatedUnused = 0;
  let worstWindowUnused = 0;
  for (const w of windows.values()) {
    if (w.refused === 0 || w.ideal === 0) continue;
    saturatedWindows++;
    saturatedIdeal += w.ideal;
    const unused = Math.max(0, w.ideal - w.actual);
    saturatedUnused += unused;
    worstWindowUnused = Math.max(worstWindowUnused, unused / w.ideal);
  }
  return {
    admitted: actual.admitted,
    overAdmissions: actual.over,
    firstOver: actual.firstOver,
    refundsIgnored: actual.refundsIgnored,
    ideal: ideal.admitted - ideal.over,
    saturatedWindows,
    saturatedIdeal,
    saturatedUnused,
    worstWindowUnused,
  };
}
