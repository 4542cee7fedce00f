/**
 * The shapes of threshold notifications: what a rule's counter carries to
 * its key's object (`ThresholdSpec`), the webhook's body (`ThresholdEvent`)
 * and what the object reports of each delivery attempt to the statistics
 * store (`NotificationReport`). Plain data: they cross RPC and are stored as JSON.
 * @module
 */

/** A counter's thresholds and where their events go, resolved for one request. */
export interface ThresholdSpec {
  /** The rule's id (the counter's name is `<rule>-<window>`). */
  rule: string;
  /** Fractions of the limit, ascending, each in (0, 1]. */
  at: number[];
  /** The webhook's URL (the policy's `notify.url`). */
  url: string;
  /** The counting key as the logs show it (hashed values); part of the event's id. */
  key: string;
  /** What an operator reads for the key (`header:x-user-id:u1`); absent: the key is readable as it is. */
  label?: string;
  /** The tenant's id when the request had one. */
  tenant?: string;
}

/** The webhook's JSON body. */
export interface ThresholdEvent {
  /** Stable per counting key, counter, window and threshold: also the `idempotency-key` header. */
  id: string;
  type: "threshold.crossed";
  rule: string;
  counter: string;
  key: string;
  label?: string;
  tenant?: string;
  /** The fraction crossed, and the count it stands for (`ceil(threshold × limit)`). */
  threshold: number;
  /** The counter's count when it crossed (units charged in the window, leases included). */
  count: number;
  limit: number;
  /** The window's bounds, ISO 8601 UTC. */
  windowStart: string;
  windowEnd: string;
  /** When it crossed, ISO 8601 UTC. */
  crossedAt: string;
}

export type NotificationOutcome = "delivered" | "retrying" | "dropped";

/** One delivery attempt's outcome, as the key's object reports it to the statistics store. */
export interface NotificationReport {
  outcome: NotificationOutcome;
  /** Epoch ms of the attempt. */
  at: number;
  attempts: number;
  event: ThresholdEvent;
}
