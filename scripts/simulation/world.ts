/**
 * One simulated run: isolates running the real leasing client against one
 * object per key, over a network with latency, in virtual time, with the
 * faults a scenario asks for. Every admission is recorded for the judge.
 *
 * With `shards`, a key is leased through its tree: each isolate talks to one
 * shard object of the key (picked as the leasing store picks it), which runs
 * the real `ShardLender` and takes blocks from the key's root object over the
 * same network.
 */
import { type LeaseTransport, LeasingClient } from "../../src/limiter/lease/client";
import { DEFAULT_HOLDER_TERMS } from "../../src/limiter/lease/holder";
import { BLOCK_LEASE_TERMS, shardName, shardOf } from "../../src/limiter/lease/shard";
import { DEFAULT_LEASE_TERMS, type LeaseTerms } from "../../src/limiter/lease/types";
import type { CheckOutcome, CounterSpec } from "../../src/limiter/types";
import { CallLoad, type Peak } from "./load";
import { SimObject } from "./object";
import { exponential, seeded } from "./random";
import { type Admission, replay } from "./reference";
import { Scheduler } from "./scheduler";
import { SimShard } from "./shard";

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
  /** Isolate clocks are off by up to this much either way (shard objects' clocks too). */
  skewMs?: number;
  /** This share of the isolates dies at a random time, holding whatever it holds. */
  deaths?: number;
  /** Every object (roots and shards) restarts at this offset (down for `restartDownMs`). */
  restartAt?: number;
  restartDownMs?: number;
  /** This share of requests gives its charge back after its response (failures-only successes, rollbacks). */
  refundShare?: number;
  refundAfterMs?: number;
  /** Every key is reset (`DELETE /keys`) at this offset: its root, then each of its shards. */
  resetAt?: number;
  /** One-way network latency: a base plus exponential jitter. */
  latencyMs?: { base: number; jitterMean: number };
  terms?: LeaseTerms;
  /** Lease each key through a tree of this many shard objects (see src/limiter/lease/shard.ts). */
  shards?: number;
  /** Run with this many isolates (instead of each count the runner loops over). */
  isolates?: number;
  /**
   * Isolates remember a refusal until its retry time and refuse the key's
   * requests themselves meanwhile, as the engine's refusal cache does for
   * rules that count every request (src/engine/refusal-cache.ts).
   */
  rememberRefusals?: boolean;
}

export interface Outcome {
  scenario: string;
  isolates: number;
  /** Shard objects per key (0: no tree, one object per key). */
  shards: number;
  /** Requests per second offered. */
  rate: number;
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
  /** Calls to any object (isolates to objects or shards, shards to roots). */
  calls: number;
  /** The busiest object (root, shard or a flat key's object) by its peak calls in one second. */
  busiest: Peak;
  /** The busiest root (without shards, a key's one object) by its peak calls in one second. */
  rootPeak: Peak;
  /** The same two after the run's first second (the cold start: every isolate meets the key at once). */
  busiestWarm: Peak;
  rootPeakWarm: Peak;
  /** Mean calls per second reaching a key's root, and one of its shards (averaged over shards). */
  rootCallsPerSecond: number;
  shardCallsPerSecond: number;
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
  const shards = scenario.shards && scenario.shards > 1 ? scenario.shards : 0;
  const load = new CallLoad(scenario.start);
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
    // The leasing store's per-isolate draw, from which its shard of each key follows.
    const draw = shards > 0 ? Math.floor(random() * 2 ** 31) : 0;
    return { client, dies, skew, draw, refusedUntil: new Map<string, number>() };
  });
  const alive = (i: number) => scheduler.now < isolateList[i]!.dies;

  /**
   * A call: travels to `object`, runs there at its arrival (and, for a shard,
   * as long as it waits on its root), and its answer travels back unless its
   * caller is gone by then.
   */
  function call<T>(object: string, callerAlive: () => boolean, work: () => T | Promise<T>): Promise<T> {
    calls++;
    return new Promise<T>((resolve, reject) => {
      scheduler.at(scheduler.now + oneWay(), () => {
        load.note(object, scheduler.now);
        const answer = (settle: () => void) => scheduler.at(scheduler.now + oneWay(), () => callerAlive() && settle());
        let value: T | Promise<T>;
        try {
          if (down) throw new ObjectDown("object restarting");
          value = work();
        } catch (e) {
          answer(() => reject(e));
          return;
        }
        if (value instanceof Promise) {
          value.then(
            (v) => answer(() => resolve(v)),
            (e) => answer(() => reject(e)),
          );
        } else {
          const v = value;
          answer(() => resolve(v));
        }
      });
    });
  }

  /** The record of each admission an object decided itself, by its answer (to note a refund on it later). */
  const recordOf = new WeakMap<object, Admission>();
  function recordDecided(outcome: CheckOutcome, at: number, key: number, specs: CounterSpec[]): void {
    if (!outcome.allowed) return;
    const record: Admission = { at, seq: seq++, key: String(key), specs };
    admissions.push(record);
    recordOf.set(outcome, record);
  }

  /** The calls to a key's root object (from an isolate, or from a shard with `toShard`'s larger blocks). */
  function rootTransport(key: number, callerAlive: () => boolean, toShard: boolean): LeaseTransport {
    const object = objectFor(key);
    const name = String(key);
    const lending = toShard ? BLOCK_LEASE_TERMS : terms;
    return {
      take: (specs, ask) =>
        call(name, callerAlive, () => {
          const answer = object.take(specs, ask, lending);
          recordDecided(answer.outcome, answer.now, key, specs);
          return answer;
        }),
      check: (specs) =>
        call(name, callerAlive, () => {
          const outcome = object.check(specs);
          recordDecided(outcome, outcome.now, key, specs);
          return outcome;
        }),
      lend: (specs, ask) => call(name, callerAlive, () => object.lend(specs, ask, lending)),
      giveBack: (specs, id, unused) => call(name, callerAlive, () => object.giveBack(specs, id, unused)),
      waitUntil: () => undefined,
    };
  }

  const shardObjects = new Map<string, SimShard>();
  function shardFor(key: number, shard: number): SimShard {
    const name = shardName(String(key), shard);
    let object = shardObjects.get(name);
    if (!object) {
      const skew = scenario.skewMs ? (random() * 2 - 1) * scenario.skewMs : 0;
      object = new SimShard(
        () => Math.floor(scheduler.now + skew),
        (activationAlive) => rootTransport(key, activationAlive, true),
        () => Math.floor(random() * 2 ** 40) * 1_024,
      );
      shardObjects.set(name, object);
    }
    return object;
  }

  /**
   * The calls to an isolate's shard of a key, as the leasing store makes them
   * (a plain check is a take that wants nothing). A request the shard decides
   * from a block is recorded there, when it decides it; one it passes to the
   * root is recorded by the root.
   */
  function shardTransport(isolate: number, key: number): LeaseTransport {
    const shard = shardOf(String(key), isolateList[isolate]!.draw, shards);
    const name = shardName(String(key), shard);
    const object = shardFor(key, shard);
    const callerAlive = () => alive(isolate);
    const take = async (specs: CounterSpec[], want: number, held: number) => {
      const answer = await object.take(String(key), specs, { want, held });
      if (answer.outcome.allowed && !recordOf.has(answer.outcome)) {
        recordDecided(answer.outcome, Math.floor(scheduler.now), key, specs);
      }
      return answer;
    };
    return {
      take: (specs, ask) => call(name, callerAlive, () => take(specs, ask.want, ask.held)),
      check: (specs) =>
        call(name, callerAlive, async () => {
          const { outcome, now } = await take(specs, 0, 0);
          return { ...outcome, now };
        }),
      lend: (specs, ask) => call(name, callerAlive, () => object.lend(String(key), specs, ask)),
      giveBack: (_specs, id, unused) => call(name, callerAlive, () => object.giveBack(String(key), id, unused)),
      waitUntil: () => undefined,
    };
  }

  const transportFor = (isolate: number, key: number) =>
    shards > 0 ? shardTransport(isolate, key) : rootTransport(key, () => alive(isolate), false);

  const allAlive = Array.from({ length: isolates }, (_, i) => i);
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
      const live = scenario.deaths ? allAlive.filter(alive) : allAlive;
      const isolate = live[Math.floor(random() * live.length)]!;
      const { client, skew, refusedUntil } = isolateList[isolate]!;
      const key = String(arrival.key);
      // The engine's refusal cache: refused here, with no call, until the retry time it was told.
      const startedAt = scheduler.now + skew;
      if (scenario.rememberRefusals && (refusedUntil.get(key) ?? Number.NEGATIVE_INFINITY) > startedAt) return;
      client.admit(key, specs, transportFor(isolate, arrival.key)).then(
        (decision) => {
          if (!decision.allowed && scenario.rememberRefusals) {
            const retryAfter = Math.max(0, ...decision.results.filter((r) => !r.allowed).map((r) => r.retryAfterMs));
            if (retryAfter > 0) refusedUntil.set(key, startedAt + retryAfter);
          }
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
          } else if (decision.allowed && refunded && decision.outcome && decision.outcome.charges.length > 0) {
            // Charged at the root: given back there (a request a shard decided from a block has no charge
            // of its own to give back; its unit stays used, as in the real store).
            const record = recordOf.get(decision.outcome);
            const charges = decision.outcome.charges;
            scheduler.at(scheduler.now + refundAfter, () => {
              if (!alive(isolate)) return;
              call(
                key,
                () => alive(isolate),
                () => {
                  objectFor(arrival.key).release(charges);
                  if (record) {
                    record.refundAt = Math.floor(scheduler.now);
                    record.refundSeq = seq++;
                  }
                },
              ).catch(() => undefined);
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
      for (const shard of shardObjects.values()) shard.restart();
    });
    scheduler.at(scenario.start + scenario.restartAt + (scenario.restartDownMs ?? 50), () => {
      down = false;
    });
  }
  if (scenario.resetAt !== undefined) {
    const at = scenario.start + scenario.resetAt;
    resets.push(at);
    scheduler.at(at, () => {
      for (const [key, object] of objects) {
        object.reset(scenario.specsFor(key, scenario.resetAt!));
        for (let shard = 0; shard < shards; shard++)
          shardObjects.get(shardName(String(key), shard))?.reset(String(key));
      }
    });
  }
  await scheduler.run();

  const judged = replayByKey(admissions, resets);
  const ideal = replayByKey(demand, resets);
  const isShard = (object: string) => object.startsWith("shard:");
  const seconds = scenario.durationMs / 1_000;
  return {
    scenario: scenario.name,
    isolates,
    shards,
    rate: Math.round(arrivals.length / seconds),
    demand: demand.length,
    admitted: admissions.length,
    overAdmissions: judged.refused,
    ideal: ideal.admitted,
    underAdmission: ideal.admitted - admissions.length,
    fromLease,
    calls,
    busiest: load.peak(),
    rootPeak: load.peak((o) => !isShard(o)),
    busiestWarm: load.peak(() => true, 1),
    rootPeakWarm: load.peak((o) => !isShard(o), 1),
    rootCallsPerSecond: load.total((o) => !isShard(o)) / Math.max(1, objects.size) / seconds,
    shardCallsPerSecond: shards > 0 ? load.total(isShard) / (Math.max(1, objects.size) * shards) / seconds : 0,
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
