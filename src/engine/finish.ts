/**
 * The admitted request's outcome: how to finish the origin's response (the
 * rate-limit headers, with the room a success leaves on a failures-only
 * limit) and what to give back once its status is known: every concurrency
 * slot, when its body has been sent; failures-only charges, when it succeeded.
 * @module
 */
import { type LimitReport, rateLimitHeaders } from "../http/rate-limit-headers";
import type { Charge } from "../limiter/types";
import { onBodyEnd } from "./body-end";
import type { RequestContext } from "./context";
import { type KeyResult, releaseLater, settleLate } from "./execute";
import type { LimitOutcome, RateLimitResult } from "./outcome";
import type { Tally } from "./verdict";

/**
 * `failed`: the keys that failed open; one that ran out of budget and answers
 * later gives back the same as a counted key, when both its answer and the
 * request's end are known (a slot taken by a late answer is not held until
 * its lease runs out).
 */
export function admittedOutcome(
  ctx: RequestContext,
  t: Tally,
  result: RateLimitResult,
  failed: readonly KeyResult[] = [],
): LimitOutcome {
  let settled = false;
  const settle = (status: number | undefined) => {
    if (settled) return;
    settled = true;
    const succeeded = status !== undefined && status < 400;
    for (const [key, charges] of chargesByKey(t)) {
      const back = charges.filter((c) => c.charge.algorithm === "concurrency" || (succeeded && c.failuresOnly));
      releaseLater(
        ctx,
        key,
        back.map((c) => c.charge),
      );
    }
    for (const f of failed) {
      settleLate(
        ctx,
        f,
        (planned, c) => c.algorithm === "concurrency" || (succeeded && planned.rule.count === "failures"),
      );
    }
  };
  const holdsSlot = t.counted.some((c) => c.charge?.algorithm === "concurrency");
  return {
    result,
    request: ctx.request,
    abandon: () => settle(undefined),
    finish: (response) => finishResponse(ctx, t, response, holdsSlot, settle),
  };
}

function chargesByKey(t: Tally): Map<string, Array<{ charge: Charge; failuresOnly: boolean }>> {
  const byKey = new Map<string, Array<{ charge: Charge; failuresOnly: boolean }>>();
  for (const { key, planned, charge } of t.counted) {
    if (!charge) continue;
    const list = byKey.get(key) ?? [];
    list.push({ charge, failuresOnly: planned.rule.count === "failures" });
    byKey.set(key, list);
  }
  return byKey;
}

/** Workers' `Response.webSocket` (an accepted upgrade), typed here: the engine takes no Workers types. */
type MaybeUpgrade = Response & { webSocket?: unknown };

function finishResponse(
  ctx: RequestContext,
  t: Tally,
  response: MaybeUpgrade,
  holdsSlot: boolean,
  settle: (status: number | undefined) => void,
): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of rateLimitHeaders(ctx.policy, shownReports(t, response.status < 400), t.now))
    headers.set(name, value);
  if (response.webSocket) {
    // An accepted WebSocket upgrade (101): its slot is not held for the socket's life.
    settle(response.status);
    return new Response(null, { status: 101, headers, webSocket: response.webSocket } as ResponseInit);
  }
  const init = { status: response.status, statusText: response.statusText, headers };
  if (!holdsSlot || !response.body) {
    settle(response.status);
    return new Response(response.body, init);
  }
  // Slots come back when the body has been sent (or failed), not when fetch resolved.
  let release!: () => void;
  ctx.ports.background.waitUntil(
    new Promise<void>((resolve) => {
      release = resolve;
    }),
  );
  const body = onBodyEnd(response.body, () => {
    settle(response.status);
    release();
  });
  return new Response(body, init);
}

/** A success does not use a failures-only limit up: show the room it leaves. */
function shownReports(t: Tally, succeeded: boolean): LimitReport[] {
  return t.counted.map(({ planned, report, charge }) => {
    if (!succeeded || planned.rule.count !== "failures") return report;
    const remaining = Math.min(report.result.limit, report.result.remaining + (charge?.cost ?? 0));
    return { ...report, result: { ...report.result, remaining } };
  });
}
