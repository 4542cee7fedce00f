/**
 * The sequences of issue 26, played against the simulation's object (the
 * real decision and lease code, `SimObject`) step by step, every admission
 * and refund logged for the judge as it happens. A fixed object admits
 * nothing past the limit in any of them; the code of issue 26 did (the first
 * two are the issue's own numbers: 218 against a burst of 200, 101 against
 * 100).
 */

import { DEFAULT_LEASE_TERMS } from "../../src/lease/types";
import { chargesOf } from "../../src/limiter/answer";
import type { Charge, CounterSpec } from "../../src/limiter/types";
import { SimObject } from "./object";
import { type JudgeEvent, judgeRun } from "./reference";
import type { Mutant, Outcome } from "./world";

const T0 = 20_000 * 86_400_000 + 1_000;

interface Script {
  name: string;
  /** Plays the sequence; returns the log. */
  play(object: SimObject, clock: { now: number }, log: Logger): void;
}

class Logger {
  readonly events: JudgeEvent[] = [];
  private seq = 0;
  private id = 0;
  constructor(private readonly clock: { now: number }) {}
  admit(specs: CounterSpec[]): number {
    this.id++;
    this.events.push({ type: "admit", id: this.id, at: this.clock.now, seq: this.seq++, key: "k", specs });
    return this.id;
  }
  refund(id: number): void {
    this.events.push({ type: "refund", id, at: this.clock.now, seq: this.seq++, key: "k" });
  }
  reset(): void {
    this.events.push({ type: "reset", at: this.clock.now, seq: this.seq++, key: "k" });
  }
}

/** Plain checks until one is refused (or `max` admitted); their ids and charges. */
function checkUntilRefused(object: SimObject, specs: CounterSpec[], log: Logger, max = 100_000) {
  const admitted: { id: number; charges: Charge[] }[] = [];
  for (let i = 0; i < max; i++) {
    const outcome = object.check(specs);
    if (!outcome.allowed) break;
    admitted.push({ id: log.admit(specs), charges: chargesOf(outcome) });
  }
  return admitted;
}

const bucket: CounterSpec = { name: "b", algorithm: "token-bucket", limit: 10, windowMs: 1_000, burst: 200, cost: 1 };
const fixed100: CounterSpec = { name: "f", algorithm: "fixed", limit: 100, windowMs: 10_000, cost: 1 };

export const SEQUENCES: Script[] = [
  {
    name: "issue 26: bucket, plain charges refunded after a lease (218 vs 200)",
    play(object, clock, log) {
      const plain = checkUntilRefused(object, [bucket], log, 19);
      clock.now += 1;
      const grant = object.lend([bucket], { want: 22, held: 0 });
      if (!grant) return;
      clock.now += 1;
      for (const p of plain) {
        object.release(p.charges);
        log.refund(p.id);
      }
      // The lease's last moment (its lifetime, less the isolate's 25 ms margin): every unit, then the object.
      clock.now += grant.lifetimeMs - 25 - 2;
      for (let i = 0; i < grant.units; i++) log.admit([bucket]);
      checkUntilRefused(object, [bucket], log);
    },
  },
  {
    name: "issue 26: a lease, DELETE /keys, then an old refund (101 vs 100)",
    play(object, clock, log) {
      const [old] = checkUntilRefused(object, [fixed100], log, 1);
      clock.now += 1;
      const grant = object.lend([fixed100], { want: 12, held: 0 });
      if (!grant || !old) return;
      clock.now += 1;
      object.reset([fixed100]);
      log.reset();
      clock.now += 1;
      object.release(old.charges);
      log.refund(old.id);
      clock.now += 1;
      for (let i = 0; i < grant.units; i++) log.admit([fixed100]);
      checkUntilRefused(object, [fixed100], log);
    },
  },
  {
    name: "issue 26: DELETE /keys, the window refilled, then old refunds (no lease)",
    play(object, clock, log) {
      const before = checkUntilRefused(object, [fixed100], log);
      clock.now += 1;
      object.reset([fixed100]);
      log.reset();
      clock.now += 1;
      checkUntilRefused(object, [fixed100], log);
      clock.now += 1;
      for (const b of before.slice(0, 10)) {
        object.release(b.charges);
        log.refund(b.id);
      }
      checkUntilRefused(object, [fixed100], log);
    },
  },
];

/** Plays each sequence against a fresh object; one outcome (a table row) each. */
export function playSequences(mutant?: Mutant): Outcome[] {
  return SEQUENCES.map((script) => {
    const clock = { now: T0 };
    const object = new SimObject(() => clock.now, DEFAULT_LEASE_TERMS, mutant);
    const log = new Logger(clock);
    script.play(object, clock, log);
    const judged = judgeRun(log.events, log.events);
    const none = { object: "-", callsPerSecond: 0, second: 0 };
    return {
      scenario: script.name,
      seed: 0,
      ...(mutant ? { mutant } : {}),
      isolates: 1,
      shards: 0,
      rate: 0,
      demand: judged.admitted,
      admitted: judged.admitted,
      overAdmissions: judged.overAdmissions,
      refundsIgnored: judged.refundsIgnored,
      saturatedWindows: 0,
      saturatedIdeal: 0,
      saturatedUnused: 0,
      worstWindowUnused: 0,
      ideal: judged.admitted - judged.overAdmissions,
      underAdmission: 0,
      fromLease: 0,
      calls: 0,
      busiest: none,
      rootPeak: none,
      busiestWarm: none,
      rootPeakWarm: none,
      rootCallsPerSecond: 0,
      shardCallsPerSecond: 0,
      errors: 0,
      early: 0,
      firstOver: judged.firstOver,
      log: log.events,
    };
  });
}
