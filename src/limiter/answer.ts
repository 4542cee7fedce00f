/**
 * The counter store's one answer ({@link CounterAnswer}), made from the pure
 * decision and read back. `decide` works on enforced and shadow counters
 * apart (all or nothing, then each on its own); this is the one place their
 * results and charges become one entry per counter, in the order asked.
 * @module
 */
import type { Decision } from "./decide";
import type { AskedCounter, Charge, CounterAnswer, CounterEntry, CounterResult } from "./types";

/**
 * The answer to `asked`, from the decision on its enforced counters and its
 * shadow counters (both in the order asked). `standIn`: a shadow counter's
 * result when it was kept out of the decision (a corrupt row: would refuse,
 * not charged).
 */
export function answerOf(
  asked: readonly AskedCounter[],
  decision: Pick<Decision, "outcome" | "shadowResults">,
  now: number,
  standIn?: (spec: AskedCounter) => CounterResult | undefined,
): CounterAnswer {
  const { outcome, shadowResults } = decision;
  // `decide` charges in the order it checks: every enforced counter when admitted, then each shadow
  // counter that had room.
  let enforced = 0;
  let shadow = 0;
  let shadowCharged = asked.filter((c) => !c.shadow).length;
  const counters = asked.map((spec): CounterEntry => {
    if (!spec.shadow) {
      const i = enforced++;
      return entry(outcome.results[i]!, outcome.allowed ? outcome.charges[i] : undefined);
    }
    const stood = standIn?.(spec);
    if (stood) return { result: stood, shadow: true };
    const result = shadowResults[shadow++]!;
    const charge = outcome.allowed && result.allowed ? outcome.charges[shadowCharged++] : undefined;
    return { ...entry(result, charge), shadow: true };
  });
  return {
    now,
    allowed: outcome.allowed,
    ...(outcome.delayMs !== undefined ? { delayMs: outcome.delayMs } : {}),
    counters,
  };
}

function entry(result: CounterResult, charge: Charge | undefined): CounterEntry {
  return charge ? { result, charge } : { result };
}

/** Every counter's result that was looked at, in the order asked. */
export function resultsOf(answer: Pick<CounterAnswer, "counters">): CounterResult[] {
  return answer.counters.flatMap((e) => (e ? [e.result] : []));
}

/** Everything the answer charged: what undoing the request gives back. */
export function chargesOf(answer: Pick<CounterAnswer, "counters">): Charge[] {
  return answer.counters.flatMap((e) => (e?.charge ? [e.charge] : []));
}
