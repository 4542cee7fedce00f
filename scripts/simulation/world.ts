/**
 * One simulated run: isolates running the real leasing client against one
 * object per key, over a network with latency, in virtual time, with the
 * faults a scenario asks for. Every admission is recorded for the judge.
 */
import { type LeaseTransport, LeasingClient } from "../../src/limiter/lease/client";
import { DEFAULT_HOLDER_TERMS } from "../../src/limiter/lease/holder";
import { DEFAULT_LEASE_TERMS, type LeaseTerms } from "../../src/limiter/lease/types";
import type { CounterSpec } from "../../src/limiter/types";
import { SimObject } from "./object";
import { exponential, seeded } from "./random";
import { type Admission, replay } from "./reference";
import { Scheduler } from "./scheduler";

export interface Arrival {
  /** ms after the scenario's start */
  t: number;
  key: number;
}

export interface Scenario {
  name: string;
  /** Epoch ms the run starts at (choose it to cross window boundaries). */
  start: number;
  durationMs: number;
  /** The counters of a key at a time (a policy change returns other ones from then on). */
  specsFor: (key: number, at: number) => CounterSpec[];
  arrivals: (random: () => number) => Arrival[];
  /** Isolate clocks are off by up to this much either way. */
  skewMs?: number;
  /** This share of the isolates dies at a random time, holding whatever it holds. */
  deaths?: number;
  /** Every object restarts at this offset (down for `restartDownMs`). */
  restartAt?: number;
  restartDownMs?: number;
  /** This share of requests gives its charge back after its response (failures-only successes, rollbacks). */
  refundShare?: number;
  refundAfterMs?: number;
  /** Every key is reset (`DELETE /keys`) at this offset. */
  resetAt?: number;
  /** One-way network latency: a base plus exponential jitter. */
  latencyMs?: { base: number; jitterMean: number };
  terms?: LeaseTerms;
}

export interface Outcome {
  scenario: string;
  isolates: number;
  demand: number;
  admitted: number;
  /** Admissions the single-object reference refuses. Must be 0. */
  overAdmissions: number;
  /** What a single object seeing every request at once admits. */
  ideal: number;
  /** ideal - admitted: room left unused while the demand was there. */
  underAdmission: number;
  /** Requests admitted from a lease, with no call. */
  fromLease: number;
  calls: number;
  errors: number;
  firstOver: Admission[];
  /** Every admission (to explain an over-admission). */
  admissions: Admission[];
}

class ObjectDown extends Error {}

export async function simulate(scenario: Scenario, isolates: number, seed = 1): Promise<Outcome> {
  const random = seeded(seed);
  const arrivals = scenario.arrivals(seeded(seed + 7919)).sort((a, b) => a.t - b.t);
  const scheduler = new Scheduler(scenario.start);
  const terms = scenario.terms ?? DEFAULT_LEASE_TERMS;
  const latency = scenario.latencyMs ?? { base: 2, jitterMean: 3 };
  const oneWay = () => latency.base + exponential(random, latency.jitterMean);
  const objects = new Map<number, SimObject>();
  const objectFor = (key: number) => {
    let object = objects.get(key);
    if (!object) {
      // The real object's clock is whole milliseconds (Date.now()), and so is the algorithms' arithmetic.
      object = new SimObject(() => Math.floor(scheduler.now), terms);
      objects.set(key, object);
    }
    return object;
  };
  let down = false;
  const admissions: Admission[] = [];
  const demand: Admission[] = [];
  let seq = 0;
  let calls = 0;
  let errors = 0;
  let fromLease = 0;

  const isolateList = Array.from({ length: isolates }, (_, i) => {
    const skew = scenario.skewMs ? (random() * 2 - 1) * scenario.skewMs : 0;
    const dies =
      i > 0 && scenario.deaths && random() < scenario.deaths
        ? scenario.start + random() * scenario.durationMs
        : Number.POSITIVE_INFINITY;
    const client = new LeasingClient({
      clock: () => scheduler.now + skew,
      holderTerms: DEFAULT_HOLDER_TERMS,
      minUnits: terms.minUnits,
      minRoom: terms.minRoom,
      maxShare: terms.maxShare,
    });
    return { client, dies };
  });
  const alive = (i: number) => scheduler.now < isolateList[i]!.dies;

  /** A call: travels, runs at the object at its arrival, and its answer travels back (unless its isolate died). */
  function call<T>(isolate: number, work: () => T): Promise<T> {
    calls++;
    return new Promise<T>((resolve, reject) => {
      scheduler.at(scheduler.now + oneWay(), () => {
        let value: T;
        try {
          if (down) throw new ObjectDown("object restarting");
          value = work();
        } catch (e) {
          scheduler.at(scheduler.now + oneWay(), () => alive(isolate) && reject(e));
          return;
        }
        scheduler.at(scheduler.now + oneWay(), () => alive(isolate) && resolve(value));
      });
    });
  }

  /** The record of each admission the object decided itself, by its answer (to note a refund on it later). */
  const recordOf = new WeakMap<object, Admission>();

  function transportFor(isolate: number, key: number): LeaseTransport {
    const object = objectFor(key);
    return {
      take: (specs, ask) =>
        call(isolate, () => {
          const answer = object.take(specs, ask);
          if (answer.outcome.allowed) {
            const record: Admission = { at: answer.now, seq: seq++, key: String(key), specs };
            admissions.push(record);
            recordOf.set(answer.outcome, record);
          }
          return answer;
        }),
      check: (specs) =>
        call(isolate, () => {
          const outcome = object.check(specs);
          if (outcome.allowed) {
            const record: Admission = { at: outcome.now, seq: seq++, key: String(key), specs };
            admissions.push(record);
            recordOf.set(outcome, record);
          }
          return outcome;
        }),
      lend: (specs, ask) => call(isolate, () => object.lend(specs, ask)),
      giveBack: (specs, id, unused) => call(isolate, () => object.giveBack(specs, id, unused)),
      waitUntil: () => undefined,
    };
  }

  for (const arrival of arrivals) {
    const at = scenario.start + arrival.t;
    scheduler.at(at, () => {
      const specs = scenario.specsFor(arrival.key, arrival.t);
      // A request whose charge is given back after its response (a failures-only rule's success, a rollback).
      const refunded = scenario.refundShare !== undefined && random() < scenario.refundShare;
      const refundAfter = scenario.refundAfterMs ?? 20;
      demand.push({
        at,
        seq: seq++,
        key: String(arrival.key),
        specs,
        refundAt: refunded ? at + refundAfter : undefined,
      });
      const live = isolateList.map((_, i) => i).filter(alive);
      const isolate = live[Math.floor(random() * live.length)]!;
      const client = isolateList[isolate]!.client;
      const key = String(arrival.key);
      client.admit(key, specs, transportFor(isolate, arrival.key)).then(
        (decision) => {
          if (decision.fromLease && decision.allowed) {
            // Taken from the lease at this instant (possibly after waiting for a shared call).
            fromLease++;
            const record: Admission = {
              at: Math.floor(scheduler.now),
              seq: seq++,
              key,
              specs,
              leaseId: decision.leaseId,
            };
            admissions.push(record);
            if (refunded) {
              scheduler.at(scheduler.now + refundAfter, () => {
                if (!alive(isolate)) return;
                record.refundAt = Math.floor(scheduler.now);
                record.refundSeq = seq++;
                client.returnUnit(key, decision.leaseId!);
              });
            }
          } else if (decision.allowed && refunded && decision.outcome) {
            const record = recordOf.get(decision.outcome);
            const charges = decision.outcome.charges;
            scheduler.at(scheduler.now + refundAfter, () => {
              if (!alive(isolate)) return;
              call(isolate, () => {
                objectFor(arrival.key).release(charges);
                if (record) {
                  record.refundAt = Math.floor(scheduler.now);
                  record.refundSeq = seq++;
                }
              }).catch(() => undefined);
            });
          }
        },
        () => {
          errors++;
        },
      );
    });
  }
  const resets: number[] = [];
  if (scenario.restartAt !== undefined) {
    scheduler.at(scenario.start + scenario.restartAt, () => {
      down = true;
      for (const object of objects.values()) object.restart();
    });
    scheduler.at(scenario.start + scenario.restartAt + (scenario.restartDownMs ?? 50), () => {
      down = false;
    });
  }
  if (scenario.resetAt !== undefined) {
    const at = scenario.start + scenario.resetAt;
    resets.push(at);
    scheduler.at(at, () => {
      for (const [key, object] of objects) object.reset(scenario.specsFor(key, scenario.resetAt!));
    });
  }
  await scheduler.run();

  const judged = replayByKey(admissions, resets);
  const ideal = replayByKey(demand, resets);
  return {
    scenario: scenario.name,
    isolates,
    demand: demand.length,
    admitted: admissions.length,
    overAdmissions: judged.refused,
    ideal: ideal.admitted,
    underAdmission: ideal.admitted - admissions.length,
    fromLease,
    calls,
    errors,
    firstOver: judged.firstRefused,
    admissions,
  };
}

/** Keys are independent objects: replay each on its own. */
function replayByKey(events: Admission[], resets: number[]) {
  const byKey = new Map<string, Admission[]>();
  for (const e of events) {
    const list = byKey.get(e.key) ?? [];
    list.push(e);
    byKey.set(e.key, list);
  }
  let admitted = 0;
  let refused = 0;
  const firstRefused: Admission[] = [];
  for (const list of byKey.values()) {
    const r = replay(list, resets);
    admitted += r.admitted;
    refused += r.refused;
    firstRefused.push(...r.firstRefused.slice(0, 5 - firstRefused.length));
  }
  return { admitted, refused, firstRefused };
}
