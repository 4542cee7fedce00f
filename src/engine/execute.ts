/**
 * The plan executed against the counter store: one check per counting key,
 * all at once, each within the time budget; then what a failure means (each
 * rule's `onError`) and how charges are given back.
 * @module
 */
import type { Charge } from "../limiter/types";
import { logEvent } from "../log";
import { withTimeout } from "./budget";
import type { RequestContext } from "./context";
import { checkRequestOf, type KeyPlan } from "./plan";
import type { CheckResponse } from "./ports";

/** One key's check: its response, or the error it failed with. */
export type KeyResult =
  | { plan: KeyPlan; ok: true; response: CheckResponse }
  | { plan: KeyPlan; ok: false; error: unknown };

/** What executing a plan needs of a decision: its ports and settings (a request's context, or a call by key). */
export type ExecutionScope = Pick<RequestContext, "ports" | "settings">;

export function executePlan(plans: readonly KeyPlan[], ctx: ExecutionScope): Promise<KeyResult[]> {
  const { counters, background } = ctx.ports;
  return Promise.all(
    plans.map(async (plan): Promise<KeyResult> => {
      try {
        const check = counters.check(plan.key, checkRequestOf(plan), background);
        return { plan, ok: true, response: await withTimeout(check, ctx.settings.budgetMs) };
      } catch (error) {
        return { plan, ok: false, error };
      }
    }),
  );
}

/** The failed keys, each logged; returns whether any of their rules says `onError: "closed"`. */
export function failures(results: readonly KeyResult[]): { failed: KeyResult[]; closed: boolean } {
  const failed = results.filter((r) => !r.ok);
  let closed = false;
  for (const f of failed) {
    const failsClosed = f.plan.rules.some((r) => r.onError === "closed");
    closed ||= failsClosed;
    logEvent(
      "limiter.error",
      {
        object: f.plan.key,
        rules: f.plan.rules.map((r) => r.id),
        onError: failsClosed ? "closed" : "open",
        message: errorMessage(f.ok ? undefined : f.error),
      },
      "error",
    );
  }
  return { failed, closed };
}

/** Undoes every charge made for a request that is not admitted after all (a stacked key refused or failed closed). */
export function rollBack(results: readonly KeyResult[], ctx: Pick<RequestContext, "ports">): void {
  for (const r of results) {
    if (r.ok && r.response.allowed) releaseLater(ctx, r.plan.key, r.response.charges);
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
