/**
 * The plan executed against the counter store: one check per counting key,
 * all at once, each within its time budget (`budget.ts`: the round trip seen
 * on that key, between a floor and a ceiling); then what a failure means (each
 * rule's `onError`) and how charges are given back, including those of a call
 * that answered after its budget (a late answer).
 * @module
 */
import { chargesOf } from "../limiter/answer";
import type { Charge, CounterAnswer } from "../limiter/types";
import { logEvent } from "../log";
import { CounterStoreTimeout, withTimeout } from "./budget";
import type { RequestContext } from "./context";
import { checkRequestOf, type KeyPlan, type PlannedLimit } from "./plan";

/**
 * One key's check: its response, or the error it failed with. A check that
 * ran out of budget keeps its call (`late`): the object still charges the
 * request when it lands, and what it charged is given back as the request's
 * end says (see {@link settleLate}).
 */
export type KeyResult =
  | { plan: KeyPlan; ok: true; response: CounterAnswer }
  | { plan: KeyPlan; ok: false; error: unknown; late?: Promise<CounterAnswer> };

/** How long a late answer is waited for in the background, to give back what it charged. */
export const LATE_ANSWER_WAIT_MS = 30_000;

/** What executing a plan needs of a decision: its ports, settings, round trips and refusal cache (a request's context, or a call by key). */
export type ExecutionScope = Pick<RequestContext, "ports" | "settings" | "roundTrips" | "refusals">;

/**
 * `delayable`: the rules' `onLimit.delay` may hold the request (the caller waits for the
 * answer's `delayMs`); only for a request counted under one key, since a slot reserved
 * at one key says nothing of when another key's charge, made now, is used.
 */
export function executePlan(plans: readonly KeyPlan[], ctx: ExecutionScope, delayable = false): Promise<KeyResult[]> {
  const { counters, background, clock } = ctx.ports;
  const terms = { floorMs: ctx.settings.budgetMs, ceilingMs: ctx.settings.ceilingMs ?? 0 };
  return Promise.all(
    plans.map(async (plan): Promise<KeyResult> => {
      let timed: Promise<CounterAnswer> | undefined;
      try {
        const sentAt = clock.now();
        const budget = ctx.roundTrips.budget(plan.key, terms, sentAt);
        // Every answer that lands teaches the budget its key's round trip, a late one too.
        timed = counters
          .check(plan.key, checkRequestOf(plan, delayable && plans.length === 1), background)
          .then((response) => {
            if (!response.local) ctx.roundTrips.observe(plan.key, clock.now() - sentAt, clock.now());
            return response;
          });
        return { plan, ok: true, response: await withTimeout(timed, budget) };
      } catch (error) {
        if (error instanceof CounterStoreTimeout && timed) return { plan, ok: false, error, late: timed };
        return { plan, ok: false, error };
      }
    }),
  );
}

/**
 * Gives back, when a late answer lands, what `back` makes of each limit's
 * charge (nothing when it refused): the charge itself, a part of it (a
 * settle), or nothing. The wait is kept alive with `background` and bounded
 * by {@link LATE_ANSWER_WAIT_MS}.
 */
export function settleLate(
  ctx: ExecutionScope,
  result: KeyResult,
  back: (planned: PlannedLimit, charge: Charge) => Charge[],
): void {
  if (result.ok || !result.late) return;
  const { key, limits } = result.plan;
  ctx.ports.background.waitUntil(
    withTimeout(result.late, LATE_ANSWER_WAIT_MS).then(
      (response) => {
        if (!response.allowed) return;
        const charges = limits.flatMap((planned, i) => {
          const charge = response.counters[i]?.charge;
          return charge ? back(planned, charge) : [];
        });
        releaseLater(ctx, key, charges);
      },
      () => {},
    ),
  );
}

/**
 * The failed keys, each logged; whether any of their rules says `onError: "closed"`; and the rules that
 * failed only by running out of budget (none of their keys threw).
 */
export function failures(results: readonly KeyResult[]): { failed: KeyResult[]; closed: boolean; lateRules: string[] } {
  const failed = results.filter((r) => !r.ok);
  let closed = false;
  const late = new Set<string>();
  const threw = new Set<string>();
  for (const f of failed) {
    const failsClosed = f.plan.rules.some((r) => r.onError === "closed");
    closed ||= failsClosed;
    const error = f.ok ? undefined : f.error;
    const cause = error instanceof CounterStoreTimeout ? "budget" : "error";
    for (const r of f.plan.rules) (cause === "budget" ? late : threw).add(r.id);
    logEvent(
      "limiter.error",
      {
        object: f.plan.key,
        rules: f.plan.rules.map((r) => r.id),
        onError: failsClosed ? "closed" : "open",
        cause,
        message: errorMessage(error),
      },
      "error",
    );
  }
  return { failed, closed, lateRules: [...late].filter((r) => !threw.has(r)) };
}

/**
 * Undoes every charge made for a request that is not admitted after all (a
 * stacked key refused or failed closed), a late answer's when it lands.
 */
export function rollBack(results: readonly KeyResult[], ctx: ExecutionScope): void {
  for (const r of results) {
    if (r.ok && r.response.allowed) releaseLater(ctx, r.plan.key, chargesOf(r.response));
    else settleLate(ctx, r, (_, charge) => [charge]);
  }
}

/** Gives charges back after the response, never failing the request. */
export function releaseLater(ctx: Pick<RequestContext, "ports">, key: string, charges: Charge[]): void {
  if (charges.length === 0) return;
  const { counters, background } = ctx.ports;
  const release = async () => {
    try {
      await counters.release(key, charges, background);
    } catch (e) {
      // A lost release costs at most a slot until its lease runs out (60 s).
      logEvent("limiter.release_failed", { object: key, message: errorMessage(e) }, "warn");
    }
  };
  background.waitUntil(release());
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
