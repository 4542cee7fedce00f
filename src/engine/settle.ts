/**
 * Reserve, then settle (a rule's `settle`): the estimate a request is charged
 * at admission, the real cost its response reports, and the signed difference
 * as charges for the key's object to apply: a give-back of what was not used,
 * or a debit (`Charge.debit`) of what was used beyond the estimate. Pure:
 * headers, statuses and bodies come in, numbers and charges go out.
 * @module
 */
import { type BodyRead, bodyKeyValue } from "../http/body-key";
import type { Charge } from "../limiter/types";
import type { CompiledSettle } from "../policy/compile";
import { DEFAULT_BODY_MAX_BYTES, MAX_HEADER_INTEGER } from "../policy/schema";
import type { KeyPlan } from "./plan";

/** A cost as a response or a request states it: a whole number of at least 0 (a fraction rounds up). */
export function parseCost(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) return undefined;
  return Math.min(MAX_HEADER_INTEGER, Math.ceil(n));
}

/** The cost `settle.status` gives a status: an exact status first, then its class; `undefined`: none. */
export function statusCost(settle: CompiledSettle, status: number): number | undefined {
  const exact = String(status);
  const cls = `${exact[0]}xx`;
  return settle.status.find((s) => s.pattern === exact || s.pattern === cls)?.cost;
}

/**
 * The real cost as known from the response's head: `status` when it maps the status, the header with
 * `from: "header"`; `"body"` when it must be read from the body; `undefined` when the response does
 * not say (the estimate stands).
 */
export function costFromHead(settle: CompiledSettle, status: number, headers: Headers): number | "body" | undefined {
  const byStatus = statusCost(settle, status);
  if (byStatus !== undefined) return byStatus;
  if (settle.from === "header") return parseCost(headers.get(settle.header!));
  if (settle.from === "json") return "body";
  return undefined;
}

/**
 * What settling each charge at `actual` asks of the object: the part of the estimate not used given
 * back, or the part used beyond it debited. A charge settled at its estimate asks nothing.
 */
export function settlementCharges(charges: readonly Charge[], actual: number): Charge[] {
  const out: Charge[] = [];
  for (const charge of charges) {
    if (charge.algorithm === "concurrency") continue;
    const delta = actual - charge.cost;
    if (delta < 0) out.push({ ...charge, cost: -delta });
    else if (delta > 0) out.push({ ...charge, cost: delta, debit: true });
  }
  return out;
}

/**
 * A request's estimate under `settle.estimate`: its header's or body field's number, at most `max`;
 * `undefined` (the rule's `cost` stands) when it gives none.
 */
export async function readEstimate(
  estimate: NonNullable<CompiledSettle["estimate"]>,
  headers: Headers,
  body: (maxBytes: number) => Promise<BodyRead>,
): Promise<number | undefined> {
  let stated: number | undefined;
  if (estimate.header !== undefined) stated = parseCost(headers.get(estimate.header));
  else {
    const found = bodyKeyValue(await body(DEFAULT_BODY_MAX_BYTES), estimate.body!);
    stated = found.kind === "value" ? parseCost(found.value) : undefined;
  }
  return stated === undefined ? undefined : Math.min(estimate.max, Math.max(1, stated));
}

/** Charges each settling rule's counters its request's estimate, read once per rule. */
export async function applyEstimates(
  plans: readonly KeyPlan[],
  headers: Headers,
  body: (maxBytes: number) => Promise<BodyRead>,
): Promise<void> {
  const byRule = new Map<string, number | undefined>();
  for (const plan of plans) {
    for (const planned of plan.limits) {
      const estimate = planned.rule.settle?.estimate;
      if (!estimate) continue;
      if (!byRule.has(planned.rule.id)) byRule.set(planned.rule.id, await readEstimate(estimate, headers, body));
      const cost = byRule.get(planned.rule.id);
      if (cost !== undefined) planned.spec = { ...planned.spec, cost };
    }
  }
}
