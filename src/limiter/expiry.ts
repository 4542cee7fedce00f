/**
 * When a counter's state stops mattering: past this time a fresh state would
 * decide every request the same way, so the row can be deleted.
 * @module
 */
import { type CalendarAnchor, calendarWindow } from "./calendar";
import type { CounterState } from "./types";

/** `calendar`: the counter's calendar window, when it has one (its period's end, not a fixed length, ends it). */
export function stateExpiresAt(state: CounterState, windowMs: number, calendar?: CalendarAnchor): number {
  switch (state.algorithm) {
    case "fixed": {
      // Units reserved in the next window (delayed requests) keep it for that window too.
      const end = calendar ? calendarWindow(state.windowStart, calendar).end : state.windowStart + windowMs;
      if (!state.next) return end;
      return calendar ? calendarWindow(end, calendar).end : end + windowMs;
    }
    case "sliding":
      // The count weighs in for one more window after its own.
      return state.windowStart + 2 * windowMs;
    case "token-bucket":
      return Math.ceil(state.tat);
    case "concurrency":
      return state.leases.reduce((max, l) => Math.max(max, l.expiresAt), 0);
    case "penalty":
      return state.forgetAt;
    case "waiting":
      return state.until.reduce((max, at) => Math.max(max, at), 0);
  }
}
