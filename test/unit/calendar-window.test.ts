/**
 * Calendar windows, with an injected clock: `calendarWindow` over short
 * months, leap years, daylight-saving changes (a local time that does not
 * exist, one that happens twice), weeks and years; the fixed window counting
 * in one at its boundary; leases and expiry ending at its period's end.
 */
import { describe, expect, it } from "vitest";
import { advertisedWindow } from "../../src/engine/verdict";
import { leaseLifetime, lend } from "../../src/lease/ledger";
import { DEFAULT_LEASE_TERMS } from "../../src/lease/types";
import { checkFixed } from "../../src/limiter/algorithms/fixed-window";
import { type CalendarAnchor, calendarWindow, instantOfWall, isTimeZone } from "../../src/limiter/calendar";
import { decide, giveBack } from "../../src/limiter/decide";
import { stateExpiresAt } from "../../src/limiter/expiry";
import type { CounterSpec, CounterState, FixedState } from "../../src/limiter/types";

const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function month(timeZone: string, day = 31, time = 0): CalendarAnchor {
  return { period: "month", day, minute: time, timeZone };
}

/** The period containing `now`, as ISO strings. */
function period(now: string, anchor: CalendarAnchor): [string, string] {
  const { start, end } = calendarWindow(at(now), anchor);
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

/** Every period start from `from` for `n` periods, walking end to end. */
function starts(from: string, anchor: CalendarAnchor, n: number): string[] {
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const { start, end } = calendarWindow(t, anchor);
    out.push(new Date(start).toISOString());
    t = end;
  }
  return out;
}

describe("calendarWindow: a month anchored on the 31st", () => {
  it("Europe/Berlin: resets on the last day of shorter months, at local midnight, in 2027 and 2028", () => {
    // Local midnight: 23:00Z in winter (CET), 22:00Z in summer (CEST; from 28 Mar 2027 / 26 Mar 2028 to 31 Oct / 29 Oct).
    expect(starts("2027-01-15T00:00:00Z", month("Europe/Berlin"), 14)).toEqual([
      "2026-12-30T23:00:00.000Z", // 31 Dec 2026
      "2027-01-30T23:00:00.000Z", // 31 Jan
      "2027-02-27T23:00:00.000Z", // 28 Feb (2027 is not a leap year)
      "2027-03-30T22:00:00.000Z", // 31 Mar, in summer time
      "2027-04-29T22:00:00.000Z", // 30 Apr
      "2027-05-30T22:00:00.000Z",
      "2027-06-29T22:00:00.000Z", // 30 Jun
      "2027-07-30T22:00:00.000Z",
      "2027-08-30T22:00:00.000Z",
      "2027-09-29T22:00:00.000Z", // 30 Sep
      "2027-10-30T22:00:00.000Z", // 31 Oct: midnight is still summer time (the change is at 03:00)
      "2027-11-29T23:00:00.000Z", // 30 Nov, winter time again
      "2027-12-30T23:00:00.000Z",
      "2028-01-30T23:00:00.000Z",
    ]);
    expect(period("2028-02-15T12:00:00Z", month("Europe/Berlin"))).toEqual([
      "2028-01-30T23:00:00.000Z",
      "2028-02-28T23:00:00.000Z", // 29 Feb 2028, a leap year
    ]);
    expect(period("2028-03-01T00:00:00Z", month("Europe/Berlin"))).toEqual([
      "2028-02-28T23:00:00.000Z",
      "2028-03-30T22:00:00.000Z",
    ]);
  });

  it("America/New_York: the same across the March and November changes", () => {
    // Midnight is 05:00Z in EST, 04:00Z in EDT (from 14 Mar to 7 Nov 2027, 12 Mar to 5 Nov 2028).
    expect(starts("2027-02-10T00:00:00Z", month("America/New_York"), 11)).toEqual([
      "2027-01-31T05:00:00.000Z",
      "2027-02-28T05:00:00.000Z",
      "2027-03-31T04:00:00.000Z",
      "2027-04-30T04:00:00.000Z",
      "2027-05-31T04:00:00.000Z",
      "2027-06-30T04:00:00.000Z",
      "2027-07-31T04:00:00.000Z",
      "2027-08-31T04:00:00.000Z",
      "2027-09-30T04:00:00.000Z",
      "2027-10-31T04:00:00.000Z",
      "2027-11-30T05:00:00.000Z",
    ]);
    expect(period("2028-03-10T00:00:00Z", month("America/New_York"))).toEqual([
      "2028-02-29T05:00:00.000Z",
      "2028-03-31T04:00:00.000Z",
    ]);
  });

  it("a period is exactly [start, end): the last millisecond belongs to it, its end to the next", () => {
    const a = month("Europe/Berlin");
    const feb28 = at("2027-02-27T23:00:00Z");
    expect(calendarWindow(feb28 - 1, a).end).toBe(feb28);
    expect(calendarWindow(feb28, a).start).toBe(feb28);
    expect(calendarWindow(feb28 - 1, a).start).toBe(at("2027-01-30T23:00:00Z"));
  });

  it("a period's length is what the calendar and the clock change make it", () => {
    const len = (iso: string, a: CalendarAnchor) => {
      const { start, end } = calendarWindow(at(iso), a);
      return (end - start) / HOUR;
    };
    expect(len("2027-03-01T00:00:00Z", month("Europe/Berlin"))).toBe(31 * 24 - 1); // 28 Feb to 31 Mar, an hour lost
    expect(len("2027-04-10T00:00:00Z", month("Europe/Berlin"))).toBe(30 * 24); // 31 Mar to 30 Apr
    expect(len("2027-02-10T00:00:00Z", month("Europe/Berlin"))).toBe(28 * 24); // 31 Jan to 28 Feb
    expect(len("2027-11-10T00:00:00Z", month("Europe/Berlin"))).toBe(30 * 24 + 1); // 31 Oct to 30 Nov, an hour gained
  });
});

describe("calendarWindow: other anchors", () => {
  it("a month on the 1st, and on the 15th at 09:30", () => {
    expect(period("2027-03-01T00:00:00Z", month("UTC", 1))).toEqual([
      "2027-03-01T00:00:00.000Z",
      "2027-04-01T00:00:00.000Z",
    ]);
    expect(period("2027-03-15T09:29:59.999Z", month("UTC", 15, 9 * 60 + 30))).toEqual([
      "2027-02-15T09:30:00.000Z",
      "2027-03-15T09:30:00.000Z",
    ]);
    expect(period("2027-03-15T09:30:00Z", month("UTC", 15, 9 * 60 + 30))).toEqual([
      "2027-03-15T09:30:00.000Z",
      "2027-04-15T09:30:00.000Z",
    ]);
  });

  it("a month on the 29th: 28 Feb in 2027, 29 Feb in 2028", () => {
    expect(starts("2027-02-10T00:00:00Z", month("UTC", 29), 3)).toEqual([
      "2027-01-29T00:00:00.000Z",
      "2027-02-28T00:00:00.000Z",
      "2027-03-29T00:00:00.000Z",
    ]);
    expect(starts("2028-02-10T00:00:00Z", month("UTC", 29), 3)).toEqual([
      "2028-01-29T00:00:00.000Z",
      "2028-02-29T00:00:00.000Z",
      "2028-03-29T00:00:00.000Z",
    ]);
  });

  it("a week from Monday 00:00 in New York, across the November change (169 hours)", () => {
    const week: CalendarAnchor = { period: "week", day: 1, minute: 0, timeZone: "America/New_York" };
    expect(period("2027-11-07T12:00:00Z", week)).toEqual(["2027-11-01T04:00:00.000Z", "2027-11-08T05:00:00.000Z"]);
    // Sunday 23:59 local still belongs to the week; Monday 00:00 starts the next.
    expect(period("2027-11-15T04:59:59.999Z", week)).toEqual(["2027-11-08T05:00:00.000Z", "2027-11-15T05:00:00.000Z"]);
    expect(period("2027-11-15T05:00:00Z", week)[0]).toBe("2027-11-15T05:00:00.000Z");
  });

  it("a week from Friday 17:00 in Berlin, before and after the anchor time on a Friday", () => {
    const week: CalendarAnchor = { period: "week", day: 5, minute: 17 * 60, timeZone: "Europe/Berlin" };
    // Friday 5 Mar 2027, 16:59 CET: the week from Friday 26 Feb.
    expect(period("2027-03-05T15:59:00Z", week)).toEqual(["2027-02-26T16:00:00.000Z", "2027-03-05T16:00:00.000Z"]);
    // The week over the March change is an hour short.
    const { start, end } = calendarWindow(at("2027-03-27T00:00:00Z"), week);
    expect(new Date(start).toISOString()).toBe("2027-03-26T16:00:00.000Z");
    expect((end - start) / HOUR).toBe(7 * 24 - 1);
  });

  it("a year from 1 April, and from 29 February (28 Feb in other years)", () => {
    const april: CalendarAnchor = { period: "year", day: 1, month: 4, minute: 0, timeZone: "Europe/Berlin" };
    expect(period("2027-03-31T21:59:59.999Z", april)).toEqual(["2026-03-31T22:00:00.000Z", "2027-03-31T22:00:00.000Z"]);
    expect(period("2027-03-31T22:00:00Z", april)).toEqual(["2027-03-31T22:00:00.000Z", "2028-03-31T22:00:00.000Z"]);
    const leap: CalendarAnchor = { period: "year", day: 29, month: 2, minute: 0, timeZone: "UTC" };
    expect(starts("2027-06-01T00:00:00Z", leap, 3)).toEqual([
      "2027-02-28T00:00:00.000Z",
      "2028-02-29T00:00:00.000Z",
      "2029-02-28T00:00:00.000Z",
    ]);
  });
});

describe("calendarWindow: a local time that does not exist or happens twice", () => {
  it("skipped (New York, 14 Mar 2027, 02:00 to 03:00): the period starts at the jump, 03:00 EDT", () => {
    const a = month("America/New_York", 14, 2 * 60 + 30);
    expect(period("2027-03-20T00:00:00Z", a)).toEqual(["2027-03-14T07:00:00.000Z", "2027-04-14T06:30:00.000Z"]);
  });

  it("repeated (New York, 7 Nov 2027, 01:00 to 02:00 twice): the first occurrence, 01:30 EDT", () => {
    const a = month("America/New_York", 7, 90);
    expect(period("2027-11-20T00:00:00Z", a)).toEqual(["2027-11-07T05:30:00.000Z", "2027-12-07T06:30:00.000Z"]);
    // Between the two occurrences the new period has begun already.
    expect(calendarWindow(at("2027-11-07T06:00:00Z"), a).start).toBe(at("2027-11-07T05:30:00Z"));
  });

  it("a midnight that does not exist (Havana, 14 Mar 2027; Santiago, 5 Sep 2027): the period starts at 01:00", () => {
    expect(period("2027-03-20T00:00:00Z", month("America/Havana", 14))).toEqual([
      "2027-03-14T05:00:00.000Z", // 00:00 CST would be 05:00Z; the clocks jump from 23:59:59 to 01:00 CDT then
      "2027-04-14T04:00:00.000Z",
    ]);
    expect(calendarWindow(at("2027-09-05T03:59:59.999Z"), month("America/Santiago", 5)).end).toBe(
      at("2027-09-05T04:00:00Z"),
    );
  });

  it("a midnight that happens twice (Havana, 7 Nov 2027): the first one", () => {
    expect(period("2027-11-07T04:30:00Z", month("America/Havana", 7))).toEqual([
      "2027-11-07T04:00:00.000Z", // 00:00 CDT; 00:00 CST an hour later starts nothing
      "2027-12-07T05:00:00.000Z",
    ]);
    expect(calendarWindow(at("2027-11-07T05:00:00Z"), month("America/Havana", 7)).start).toBe(
      at("2027-11-07T04:00:00Z"),
    );
  });

  it("instantOfWall finds every wall time of a change day in New York, to the millisecond", () => {
    const day = Date.UTC(2027, 2, 14);
    for (let m = 0; m < 24 * 60; m += 15) {
      const t = instantOfWall(day + m * 60_000, "America/New_York");
      const expected =
        m < 120 ? day + m * 60_000 + 5 * HOUR : m < 180 ? at("2027-03-14T07:00:00Z") : day + m * 60_000 + 4 * HOUR;
      expect(t, `minute ${m}`).toBe(expected);
    }
  });
});

describe("calendarWindow: every day of two years", () => {
  it("start <= now < end, periods end to end, each start on the anchor's day or the month's last", () => {
    for (const timeZone of ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Havana"]) {
      const a = month(timeZone);
      const localDate = new Intl.DateTimeFormat("en-CA", {
        timeZone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
      });
      for (let now = at("2027-01-01T00:00:00Z"); now < at("2029-01-01T00:00:00Z"); now += DAY - 7 * HOUR) {
        const { start, end } = calendarWindow(now, a);
        expect(start <= now && now < end, `${timeZone} ${new Date(now).toISOString()}`).toBe(true);
        expect(calendarWindow(end, a).start).toBe(end);
        expect(calendarWindow(start - 1, a).end).toBe(start);
        const [y, m, d] = localDate.format(start).split("-").map(Number);
        expect(d).toBe(new Date(Date.UTC(y!, m!, 0)).getUTCDate());
      }
    }
  }, 60_000);
});

describe("isTimeZone", () => {
  it("knows IANA zones and refuses the rest", () => {
    expect(isTimeZone("UTC")).toBe(true);
    expect(isTimeZone("Europe/Berlin")).toBe(true);
    expect(isTimeZone("Europe/Berln")).toBe(false);
    expect(isTimeZone("")).toBe(false);
    expect(isTimeZone("+01:00x")).toBe(false);
  });
});

describe("a fixed window on the calendar", () => {
  const calendar = month("Europe/Berlin");
  const spec: CounterSpec = { name: "api-month", algorithm: "fixed", limit: 3, windowMs: 31 * DAY, calendar, cost: 1 };
  const feb28 = at("2027-02-27T23:00:00Z"); // 28 Feb 2027 00:00 in Berlin
  const mar31 = at("2027-03-30T22:00:00Z"); // 31 Mar 2027 00:00 in Berlin

  function run(state: FixedState | undefined, n: number, now: number) {
    const results = [];
    for (let i = 0; i < n; i++) {
      const { result, charged } = checkFixed(state, now, spec);
      results.push(result);
      state = charged;
    }
    return { state, results };
  }

  it("admits the limit-th request, refuses the next, admits the first of the next period", () => {
    const last = mar31 - 1;
    const { state, results } = run(undefined, 4, last);
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(state!.windowStart).toBe(feb28);
    expect(results[3]!.resetAt).toBe(mar31);
    expect(results[3]!.retryAfterMs).toBe(1);
    const next = run(state, 4, mar31);
    expect(next.results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(next.state!.windowStart).toBe(mar31);
    expect(next.results[0]!.resetAt).toBe(at("2027-04-29T22:00:00Z"));
  });

  it("counts the whole period as one window, from its first millisecond to its last", () => {
    const a = run(undefined, 2, feb28);
    const b = run(a.state, 2, mar31 - 1);
    expect(b.results.map((r) => r.allowed)).toEqual([true, false]);
    expect(b.results[1]!.retryAfterMs).toBe(1);
  });

  it("through decide: a refund goes back to its period only, and the charge carries the calendar", () => {
    const first = decide(new Map(), [spec], feb28 + HOUR, "l");
    const charge = first.outcome.charges[0]!;
    expect(charge.calendar).toEqual(calendar);
    expect(charge.windowStart).toBe(feb28);
    const states = new Map<string, CounterState>(first.updates);
    expect((giveBack(states, [charge], mar31 - 1).get("api-month") as FixedState).count).toBe(0);
    // In the next period the refund gives nothing back (the period it was charged to is over).
    expect((giveBack(states, [charge], mar31).get("api-month") as FixedState).count).toBe(0);
    expect((giveBack(states, [charge], mar31).get("api-month") as FixedState).windowStart).toBe(mar31);
  });

  it("a stored state expires at its period's end, not after a nominal length", () => {
    const state: FixedState = { algorithm: "fixed", windowStart: feb28, count: 3 };
    expect(stateExpiresAt(state, spec.windowMs, calendar)).toBe(mar31);
  });

  it("a lease never outlives the period: its lifetime ends at the period's end", () => {
    expect(leaseLifetime([spec], mar31 - 500, DEFAULT_LEASE_TERMS)).toBe(500);
    expect(leaseLifetime([spec], mar31 - 10 * DAY, DEFAULT_LEASE_TERMS)).toBe(DEFAULT_LEASE_TERMS.maxLifetimeMs);
    const big = { ...spec, limit: 100_000 };
    const lending = lend(new Map(), [big], mar31 - 50, { want: 100, held: 0 }, 1, DEFAULT_LEASE_TERMS);
    expect(lending.grant).toBeUndefined(); // 50 ms is less than a lease is worth
    const granted = lend(new Map(), [big], mar31 - 1_000, { want: 100, held: 0 }, 1, DEFAULT_LEASE_TERMS);
    expect(granted.grant!.lifetimeMs).toBe(1_000);
    expect(granted.grant!.results[0]!.resetAt).toBe(mar31);
  });

  it("advertises w as the current period's length in seconds", () => {
    expect(advertisedWindow(spec, { resetAt: mar31 })).toBe((31 * 24 - 1) * 3600); // 28 Feb to 31 Mar
    expect(advertisedWindow(spec, { resetAt: at("2027-04-29T22:00:00Z") })).toBe(30 * 24 * 3600);
  });
});
