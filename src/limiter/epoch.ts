/**
 * A counter's epoch (see `Epoched` in `types.ts`): a reset starts a new one,
 * and a charge made in another epoch gives nothing back. Windows and buckets
 * carry it; slots (released by their own id) and penalties need none.
 * @module
 */
import type { CounterState } from "./types";

export function epochOf(state: CounterState | undefined): number {
  if (!state || state.algorithm === "concurrency" || state.algorithm === "penalty" || state.algorithm === "waiting")
    return 0;
  return state.epoch ?? 0;
}

/** `state` in `epoch` (0 is left unwritten, as in every state stored before epochs existed). */
export function withEpoch<S extends CounterState>(state: S, epoch: number): S {
  if (state.algorithm === "concurrency" || state.algorithm === "penalty" || state.algorithm === "waiting") return state;
  const { epoch: _previous, ...rest } = state as S & { epoch?: number };
  return (epoch === 0 ? rest : { ...rest, epoch }) as S;
}
