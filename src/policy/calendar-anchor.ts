/**
 * A limit's calendar window resolved for one request: the policy's `anchor`
 * with its defaults, and the tenant's `billing` over it, field by field.
 * @module
 */
import type { CalendarAnchor } from "../limiter/calendar";
import type { CalendarWindow, LimitEntry } from "./schema";
import { WEEKDAYS } from "./schema";
import type { Billing } from "./tenant-record";

/** `"HH:MM"` → minutes after midnight. */
function minutesOf(time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));
}

/** The policy's anchor of a calendar window, defaults filled in: day 1, Monday, January, 00:00, UTC. */
export function policyAnchor(period: CalendarWindow, anchor: LimitEntry["anchor"]): CalendarAnchor {
  const day = period === "week" ? WEEKDAYS.indexOf(anchor?.weekday ?? "monday") + 1 : (anchor?.day ?? 1);
  return {
    period,
    day,
    ...(period === "year" ? { month: anchor?.month ?? 1 } : {}),
    minute: minutesOf(anchor?.time ?? "00:00"),
    timeZone: anchor?.timeZone ?? "UTC",
  };
}

/**
 * The anchor with a tenant's billing over it: `timeZone` and `time` move every
 * calendar window, `day` a `month` window only (a week has no day of the
 * month; a year's day goes with its month).
 */
export function withBilling(anchor: CalendarAnchor, billing: Billing | undefined): CalendarAnchor {
  if (!billing) return anchor;
  return {
    ...anchor,
    ...(billing.day !== undefined && anchor.period === "month" ? { day: billing.day } : {}),
    ...(billing.time !== undefined ? { minute: minutesOf(billing.time) } : {}),
    ...(billing.timeZone !== undefined ? { timeZone: billing.timeZone } : {}),
  };
}
