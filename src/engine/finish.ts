/**
 * The admitted request's outcome: how to finish the origin's response (the
 * rate-limit headers, with the room a success leaves on a failures-only
 * limit) and what to give back once its status is known: every concurrency
 * slot, when its body has been sent; failures-only charges, when it succeeded;
 * and a settling rule's difference between its estimate and the real cost,
 * when the response has said it (its head, or its body's end).
 * @module
 */
import { type LimitReport, rateLimitHeaders } from "../http/rate-limit-headers";
import { Tail, usageIn } from "../http/response-usage";
import type { Charge } from "../limiter/types";
import type { CompiledRule } from "../policy/compile";
import { onBodyEnd } from "./body-end";
import type { RequestContext } from "./context";
import { type KeyResult, releaseLater, settleLate } from "./execute";
import type { LimitOutcome, RateLimitResult } from "./outcome";
import { costFromHead, parseCost, settlementCharges } from "./settle";
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
      settleLate(ctx, f, (planned, c) =>
        c.algorithm === "concurrency" || (succeeded && planned.rule.count === "failures") ? [c] : [],
      );
    }
  };
  const holdsSlot = t.counted.some((c) => c.charge?.algorithm === "concurrency");
  const settling = settlingRules(t, failed);
  return {
    result,
    request: ctx.request,
    // The origin never answered: the estimate stands.
    abandon: () => settle(undefined),
    finish: (response) =>
      finishResponse(ctx, t, response, holdsSlot, settle, {
        rules: settling,
        apply: (costs) => settleCosts(ctx, t, failed, costs),
      }),
  };
}

/** The rules with a `settle` that charged this request (or may have, through a late answer). */
function settlingRules(t: Tally, failed: readonly KeyResult[]): CompiledRule[] {
  const rules = new Map<string, CompiledRule>();
  for (const { planned, charge } of t.counted)
    if (planned.rule.settle && charge) rules.set(planned.rule.id, planned.rule);
  for (const f of failed) for (const r of f.plan.rules) if (r.settle) rules.set(r.id, r);
  return [...rules.values()];
}

/**
 * Settles each rule in `costs` at its real cost: every counter it charged gets the difference from its
 * estimate, as a give-back or a debit, through the key's object (after the response, in `waitUntil`).
 */
function settleCosts(ctx: RequestContext, t: Tally, failed: readonly KeyResult[], costs: Map<string, number>): void {
  if (costs.size === 0) return;
  const byKey = new Map<string, Charge[]>();
  for (const { key, planned, charge } of t.counted) {
    const actual = costs.get(planned.rule.id);
    if (!charge || actual === undefined) continue;
    byKey.set(key, [...(byKey.get(key) ?? []), ...settlementCharges([charge], actual)]);
  }
  for (const [key, charges] of byKey) releaseLater(ctx, key, charges);
  for (const f of failed) {
    settleLate(ctx, f, (planned, charge) => {
      const actual = costs.get(planned.rule.id);
      return actual === undefined ? [] : settlementCharges([charge], actual);
    });
  }
}

interface Settling {
  rules: CompiledRule[];
  apply: (costs: Map<string, number>) => void;
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
  settling: Settling,
): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of rateLimitHeaders(ctx.policy, shownReports(t, response.status < 400), t.now))
    headers.set(name, value);
  // What the head says now; the rules that read their cost from the body wait for its end.
  const costs = new Map<string, number>();
  const fromBody: CompiledRule[] = [];
  for (const rule of settling.rules) {
    const cost = costFromHead(rule.settle!, response.status, response.headers);
    if (cost === "body") fromBody.push(rule);
    else if (cost !== undefined) costs.set(rule.id, cost);
  }
  if (response.webSocket) {
    // An accepted WebSocket upgrade (101): its slot is not held for the socket's life.
    settle(response.status);
    settling.apply(costs);
    return new Response(null, { status: 101, headers, webSocket: response.webSocket } as ResponseInit);
  }
  const init = { status: response.status, statusText: response.statusText, headers };
  const readsBody = fromBody.length > 0 && response.body !== null;
  if (!readsBody) settling.apply(costs);
  if ((!holdsSlot && !readsBody) || !response.body) {
    settle(response.status);
    return new Response(response.body, init);
  }
  // Slots come back, and costs are read, when the body has been sent (or failed), not when fetch resolved.
  let release!: () => void;
  ctx.ports.background.waitUntil(
    new Promise<void>((resolve) => {
      release = resolve;
    }),
  );
  const tails = new Map<number, Tail>();
  if (readsBody) for (const rule of fromBody) tails.set(rule.settle!.maxBytes, new Tail(rule.settle!.maxBytes));
  const body = onBodyEnd(
    response.body,
    (complete) => {
      settle(response.status);
      if (readsBody) {
        // A body cut short (the client went away, the origin failed) reports nothing: the estimate stands.
        if (complete) {
          const contentType = response.headers.get("content-type");
          for (const rule of fromBody) {
            const cost = parseCost(usageIn(tails.get(rule.settle!.maxBytes)!, contentType, rule.settle!.path!));
            if (cost !== undefined) costs.set(rule.id, cost);
          }
        }
        settling.apply(costs);
      }
      release();
    },
    readsBody
      ? (chunk) => {
          for (const tail of tails.values()) tail.push(chunk);
        }
      : undefined,
  );
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
