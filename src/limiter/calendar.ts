/**
 * Calendar windows: a week, a month or a year that starts at a given day and
 * wall-clock time in a time zone (a tenant's billing day at its local
 * midnight), rather than at a multiple of a fixed length since the epoch.
 *
 * Pure: time comes in as a number and nothing reads a clock. Local time is
 * read through `Intl.DateTimeFormat` (workerd and Node carry the time-zone
 * data). The rules at the edges:
 *
 * - A month anchored on a day the month lacks (the 29th to the 31st) starts
 *   on the month's last day: a month anchored on the 31st starts on 28 or 29
 *   February and on 30 April. A year anchored on 29 February starts on 28
 *   February in other years.
 * - A local time that does not exist on the day (the clocks jump over it) is
 *   taken as the first instant at which the local clock reads that time or
 *   later: the moment of the jump.
 * - A local time that happens twice (the clocks go back over it) is taken at
 *   its first occurrence.
 *
 * Both rules say the same thing: a period starts at the first instant whose
 * local date is the anchor's and whose local time is at or past the anchor's.
 * @module
 */

export type CalendarPeriod = "week" | "month" | "year";

/** A calendar window, resolved (plain data: it crosses the Durable Object's RPC boundary in a counter spec). */
export interface CalendarAnchor {
  period: CalendarPeriod;
  /** Month and year: the day of the month, 1–31. Week: the ISO weekday, 1 (Monday) to 7 (Sunday). */
  day: number;
  /** Year only: the month, 1–12. */
  month?: number;
  /** Minutes after local midnight, 0–1439. */
  minute: number;
  /** An IANA time zone, `"UTC"`, `"Europe/Berlin"`. */
  timeZone: string;
}

export interface WindowBounds {
  /** Epoch ms of the period's first instant (inclusive). */
  start: number;
  /** Epoch ms of the next period's first instant (exclusive). */
  end: number;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** The longest a period can be, in ms (a year of 366 days plus a daylight-saving hour, and some slack). */
export const NOMINAL_MS: Record<CalendarPeriod, number> = {
  week: 7 * DAY_MS,
  month: 31 * DAY_MS,
  year: 366 * DAY_MS,
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    if (formatters.size >= 64) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is one `Intl` knows. */
export function isTimeZone(timeZone: string): boolean {
  if (timeZone.length === 0 || timeZone.length > 64) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The local wall clock at `t`, as epoch ms of the same reading in UTC (so
 * that `wallAt(t) - t` is the zone's offset at `t`, to the second).
 */
function wallAt(t: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(t));
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const whole = Math.floor(t / 1000) * 1000;
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return wall + (t - whole);
}

function offsetAt(t: number, timeZone: string): number {
  return wallAt(t, timeZone) - t;
}

/**
 * The first instant whose local reading is `wall` (epoch ms of the reading as
 * if it were UTC) or later, on the day of `wall`: the earlier of two
 * occurrences, the moment of the jump when the clocks skip it.
 */
export function instantOfWall(wall: number, timeZone: string): number {
  // A zone's offset is the same a day either side unless a transition lies between: both candidates.
  const before = offsetAt(wall - DAY_MS, timeZone);
  const after = offsetAt(wall + DAY_MS, timeZone);
  const candidates = [wall - before, wall - after].filter((t) => wallAt(t, timeZone) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  // Skipped: the clocks jumped from before `wall` to after it. Find the jump, the first instant past it.
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  // Invariant: wallAt(lo) < wall, wallAt(hi) > wall.
  if (wallAt(lo, timeZone) >= wall) return lo;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallAt(mid, timeZone) < wall) lo = mid;
    else hi = mid;
  }
  return hi;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The start of the month period of local (year, month), month 1–12 (may run past 12 or below 1). */
function monthStart(year: number, month: number, a: CalendarAnchor): number {
  const y = year + Math.floor((month - 1) / 12);
  const m = ((((month - 1) % 12) + 12) % 12) + 1;
  const day = Math.min(a.day, daysInMonth(y, m));
  return instantOfWall(Date.UTC(y, m - 1, day) + a.minute * MINUTE_MS, a.timeZone);
}

function yearStart(year: number, a: CalendarAnchor): number {
  const m = a.month ?? 1;
  const day = Math.min(a.day, daysInMonth(year, m));
  return instantOfWall(Date.UTC(year, m - 1, day) + a.minute * MINUTE_MS, a.timeZone);
}

/** The start of the week period whose anchor day is the local date `date` (epoch ms of its UTC midnight). */
function weekStart(date: number, a: CalendarAnchor): number {
  return instantOfWall(date + a.minute * MINUTE_MS, a.timeZone);
}

function compute(now: number, a: CalendarAnchor): WindowBounds {
  const wall = wallAt(now, a.timeZone);
  const local = new Date(wall);
  const year = local.getUTCFullYear();
  switch (a.period) {
    case "month": {
      const month = local.getUTCMonth() + 1;
      const here = monthStart(year, month, a);
      return here <= now
        ? { start: here, end: monthStart(year, month + 1, a) }
        : { start: monthStart(year, month - 1, a), end: here };
    }
    case "year": {
      const here = yearStart(year, a);
      return here <= now ? { start: here, end: yearStart(year + 1, a) } : { start: yearStart(year - 1, a), end: here };
    }
    case "week": {
      const midnight = Date.UTC(year, local.getUTCMonth(), local.getUTCDate());
      const isoDay = ((local.getUTCDay() + 6) % 7) + 1;
      const anchorDate = midnight - ((isoDay - a.day + 7) % 7) * DAY_MS;
      const here = weekStart(anchorDate, a);
      return here <= now
        ? { start: here, end: weekStart(anchorDate + 7 * DAY_MS, a) }
        : { start: weekStart(anchorDate - 7 * DAY_MS, a), end: here };
    }
  }
}

/** The last window computed per anchor: requests of one period ask for the same bounds again and again. */
const recent = new Map<string, WindowBounds>();

function anchorKey(a: CalendarAnchor): string {
  return `${a.period}|${a.day}|${a.month ?? ""}|${a.minute}|${a.timeZone}`;
}

/**
 * The calendar period that contains `now`: `start <= now < end`. Pure (the
 * memo only saves recomputing the same answer).
 *
 * @example
 * calendarWindow(Date.parse("2027-03-15T12:00:00Z"), { period: "month", day: 31, minute: 0, timeZone: "UTC" })
 * // { start: Date.parse("2027-02-28T00:00:00Z"), end: Date.parse("2027-03-31T00:00:00Z") }
 */
export function calendarWindow(now: number, anchor: CalendarAnchor): WindowBounds {
  const key = anchorKey(anchor);
  const hit = recent.get(key);
  if (hit && hit.start <= now && now < hit.end) return hit;
  const bounds = compute(now, anchor);
  if (recent.size >= 4096) recent.clear();
  recent.set(key, bounds);
  return bounds;
}

/** A fixed window's bounds: its calendar period, or the multiple of its length since the epoch. */
export function windowBoundsOf(
  spec: { windowMs: number; calendar?: CalendarAnchor | undefined },
  now: number,
): WindowBounds {
  if (spec.calendar) return calendarWindow(now, spec.calendar);
  const start = Math.floor(now / spec.windowMs) * spec.windowMs;
  return { start, end: start + spec.windowMs };
}

/** A calendar anchor as a short string, for fingerprints of counter specs. */
export function calendarTag(anchor: CalendarAnchor | undefined): string {
  return anchor ? anchorKey(anchor) : "";
}
