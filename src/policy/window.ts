/**
 * Window strings (`"15m"`, `"1d"`) and how they read to a person.
 * @module
 */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const UNIT_WORD = { s: "second", m: "minute", h: "hour", d: "day" } as const;

type Unit = keyof typeof UNIT_MS;

export interface ParsedWindow {
  n: number;
  unit: Unit;
  ms: number;
}

/** `"15m"` → `{ n: 15, unit: "m", ms: 900000 }`; anything else → `undefined`. */
export function parseWindow(text: string): ParsedWindow | undefined {
  const m = /^([1-9][0-9]{0,8})([smhd])$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] as Unit;
  const ms = n * UNIT_MS[unit];
  // A window longer than a year is a typo, and keeps counters far past any use.
  if (ms > 366 * UNIT_MS.d) return undefined;
  return { n, unit, ms };
}

/** `"15m"` → `"15 minutes"`, `"1m"` → `"1 minute"`. */
export function windowInWords(w: ParsedWindow): string {
  const word = UNIT_WORD[w.unit];
  return `${w.n} ${word}${w.n === 1 ? "" : "s"}`;
}
