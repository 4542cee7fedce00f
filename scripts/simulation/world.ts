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

import { settlementCharges } from "../../src/engine/settle";
import { type LeaseTransport, LeasingClient } from "../../src/lease/client";
import { DEFAULT_HOLDER_TERMS } from "../../src/lease/holder";
import { BLOCK_LEASE_TERMS, regionalShardName, shardName, shardOf } from "../../src/lease/shard";
import { DEFAULT_LEASE_TERMS, type LeaseTerms } from "../../src/lease/types";
import { chargesOf, resultsOf } from "../../src/limiter/answer";
import type { CounterAnswer, CounterSpec, DelaySpec } from "../../src/limiter/types";
import { type GeoOptions, GeoRecorder, type RegionFigures } from "./geo";
import { oneWayMs, type Region } from "./geography";
import { CallLoad, type Peak } from "./load";
import { SimObject } from "./object";
import { exponential, seeded } from "./random";
import { type JudgeEvent, judgeRun, type OverAdmission } from "./reference";
import { Scheduler } from "./scheduler";
import { SimShard } from "./shard";

export interface Arrival {
  /** ms after the scenario's start */
  t: number;
  key: number;
  /** With `geo`: the region the request comes from (served by an isolate there). */
  region?: Region;
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
  /** When a refund is applied after its response: a fixed delay, or uniform in a range (late refunds). */
  refundAfterMs?: number | { min: number; max: number };
  /** Every key is reset (`DELETE /keys`) at this offset (or these): its root, then each of its shards. */
  resetAt?: number | readonly number[];
  /** One-way network latency: a base plus exponential jitter. */
  latencyMs?: { base: number; jitterMean: number };
  /** This share of messages (either way) is lost: the caller gets an error `lostAfterMs` later. */
  loss?: number;
  lostAfterMs?: number;
  /** This share of messages arrives up to `maxMs` later than the latency says. */
  late?: { share: number; maxMs: number };
  /** Isolate and shard clocks run fast or slow by up to this many ms per second. */
  driftMsPerS?: number;
  /** Each isolate and shard clock steps this many times in the run, by up to `maxMs` (forward, or either way). */
  clockSteps?: { count: number; maxMs: number; backward?: boolean };
  /**
   * A staged rollout: from `at` (offset), over `spreadMs`, each isolate in turn
   * reads the new version of the policy, so both versions are live at once.
   */
  rollout?: { at: number; spreadMs: number; specsFor: (key: number) => CounterSpec[] };
  /** Key objects (roots) restart at this many random times (down `restartDownMs` each). */
  objectRestarts?: number;
  /** A random shard object restarts at this many random times (answers it owed are lost). */
  shardRestarts?: number;
  terms?: LeaseTerms;
  /** Lease each key through a tree of this many shard objects (see src/lease/shard.ts). */
  shards?: number;
  /** Run with this many isolates (instead of each count the runner loops over). */
  isolates?: number;
  /**
   * Isolates remember a refusal until its retry time and refuse the key's
   * requests themselves meanwhile, as the engine's refusal cache does for
   * rules that count every request (src/engine/refusal-cache.ts).
   */
  rememberRefusals?: boolean;
  /**
   * Every key's rule says `onLimit.delay`: each request is decided at the key's
   * object (never from a lease), and one admitted with a delay is used
   * (recorded for the judge) when the isolate has waited it out after the
   * answer arrived, as the engine waits. An isolate that dies meanwhile never
   * forwards it.
   */
  delay?: DelaySpec;
  /** Regions: isolates placed in them, objects placed where their first call came from (or by hint). */
  geo?: GeoOptions;
  /**
   * Every key's rule settles (`settle`): each request is decided at the key's object (never from a
   * lease, as the engine asks of a settling key), charged its spec's cost as the estimate, and
   * `afterMs` after its answer its real cost (`actual`, drawn per request) is settled there: the
   * difference given back or debited.
   */
  settle?: { actual: (random: () => number, estimate: number) => number; afterMs: { min: number; max: number } };
}

/** Known bugs injected at the simulation's seams, to prove the judge catches them (`--mutants`). */
export type Mutant = "lease-overrun" | "bucket-charged-at-grant" | "double-refund" | "stale-reset" | "settle-lost-debt";

export interface RunOptions {
  mutant?: Mutant;
}

export interface Outcome {
  scenario: string;
  seed: number;
  mutant?: Mutant;
  isolates: number;
  /** Shard objects per key (0: no tree, one object per key). */
  shards: number;
  /** Requests per second offered. */
  rate: number;
  demand: number;
  admitted: number;
  /** Admissions the independent reference has no room for. Must be 0. */
  overAdmissions: number;
  /** Refunds that gave nothing back in the reference (repeated, from before a reset). */
  refundsIgnored: number;
  /** Windows the demand saturated (of each key's first counter), the ideal's admissions in them, and what the run left unused there. */
  saturatedWindows: number;
  saturatedIdeal: number;
  saturatedUnused: number;
  /** The worst saturated window's unused share of its ideal (0-1). */
  worstWindowUnused: number;
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
  /** Held requests (`onLimit.delay`) an isolate forwarded before their slot. Must be 0. */
  early: number;
  /** With `geo`: per region, what a request waited and how it was decided. */
  regions?: RegionFigures[];
  /** With `geo`: the requests that waited more than 20 ms. */
  slow?: { t: number; region: Region; ms: number; far: boolean }[];
  firstOver: OverAdmission[];
  /** The judged log (to explain an over-admission). */
  log: JudgeEvent[];
}

class ObjectDown extends Error {}
class Lost extends Error {}

/** The lease's extra life under the `lease-overrun` mutant. */
const OVERRUN_MS = 300;

/** A clock off true time by a skew, a drift and steps (ms). */
function clockOf(
  random: () => number,
  scenario: Scenario,
  start: number,
): { skew: number; read: (trueNow: number) => number } {
  const skew = scenario.skewMs ? (random() * 2 - 1) * scenario.skewMs : 0;
  const drift = scenario.driftMsPerS ? ((random() * 2 - 1) * scenario.driftMsPerS) / 1_000 : 0;
  const steps: { at: number; by: number }[] = [];
  for (let i = 0; i < (scenario.clockSteps?.count ?? 0); i++) {
    const size = random() * scenario.clockSteps!.maxMs;
    const by = scenario.clockSteps!.backward && random() < 0.5 ? -size : size;
    steps.push({ at: start + random() * scenario.durationMs, by });
  }
  return {
    skew,
    read: (now) => {
      let t = now + skew + drift * (now - start);
      for (const step of steps) if (step.at <= now) t += step.by;
      return t;
    },
  };
}

export async function simulate(
  scenario: Scenario,
  isolates: number,
  seed = 1,
  options: RunOptions = {},
): Promise<Outcome> {
  const mutant = options.mutant;
  const random = seeded(seed);
  const arrivals = scenario.arrivals(seeded(seed + 7919)).sort((a, b) => a.t - b.t);
  const scheduler = new Scheduler(scenario.start);
  const terms = scenario.terms ?? DEFAULT_LEASE_TERMS;
  const latency = scenario.latencyMs ?? { base: 2, jitterMean: 3 };
  const geo = scenario.geo;
  /** Where each object is (with `geo`): its hint, or where its first call came from. */
  const placed = new Map<string, Region>();
  const regionOf = (object: string, from: Region): Region => {
    let region = placed.get(object);
    if (!region) {
      region = from;
      placed.set(object, region);
    }
    return region;
  };
  const oneWay = (from?: Region, object?: string) => {
    const late = scenario.late && random() < scenario.late.share ? random() * scenario.late.maxMs : 0;
    if (geo && from && object) return oneWayMs(from, regionOf(object, from), random) + late;
    return latency.base + exponential(random, latency.jitterMean) + late;
  };
  const lost = () => scenario.loss !== undefined && random() < scenario.loss;
  const lostAfter = scenario.lostAfterMs ?? 1_000;
  const shards = scenario.shards && scenario.shards > 1 ? scenario.shards : 0;
  const load = new CallLoad(scenario.start);
  const objects = new Map<number, SimObject>();
  const objectFor = (key: number) => {
    let object = objects.get(key);
    if (!object) {
      // The real object's clock is whole milliseconds (Date.now()), and so is the algorithms' arithmetic.
      object = new SimObject(() => Math.floor(scheduler.now), terms, mutant);
      objects.set(key, object);
    }
    return object;
  };
  let down = false;
  /** What happened, for the judge: admissions, refunds when applied, resets; `seq` is the order applied. */
  const log: JudgeEvent[] = [];
  /** The demand as a single object would see it: every request at its arrival, its refund, the resets. */
  const demand: JudgeEvent[] = [];
  let seq = 0;
  let nextId = 1;
  let calls = 0;
  let errors = 0;
  let early = 0;
  let fromLease = 0;
  let demandCount = 0;
  const now = () => Math.floor(scheduler.now);
  const noteAdmit = (key: string, specs: CounterSpec[]) => {
    const id = nextId++;
    log.push({ type: "admit", id, at: now(), seq: seq++, key, specs });
    return id;
  };
  const noteRefund = (key: string, id: number) => log.push({ type: "refund", id, at: now(), seq: seq++, key });
  const noteSettle = (key: string, id: number, actual: number) =>
    log.push({ type: "settle", id, at: now(), seq: seq++, key, actual });

  const isolateList = Array.from({ length: isolates }, (_, i) => {
    const clock = clockOf(random, scenario, scenario.start);
    const dies =
      i > 0 && scenario.deaths && random() < scenario.deaths
        ? scenario.start + random() * scenario.durationMs
        : Number.POSITIVE_INFINITY;
    const client = new LeasingClient({
      clock: () => clock.read(scheduler.now),
      holderTerms: DEFAULT_HOLDER_TERMS,
      minUnits: terms.minUnits,
      minRoom: terms.minRoom,
      maxShare: terms.maxShare,
      // The geography runs bound the waits behind another request's lease call (see DEFAULT_MAX_SHARED_WAITS).
      ...(geo ? { maxSharedWaits: 1 } : {}),
    });
    // The leasing store's per-isolate draw, from which its shard of each key follows.
    const draw = shards > 0 || geo?.regionalShards ? Math.floor(random() * 2 ** 31) : 0;
    const newVersionAt = scenario.rollout
      ? scenario.start + scenario.rollout.at + random() * scenario.rollout.spreadMs
      : Number.POSITIVE_INFINITY;
    const region = geo?.isolateRegions[i];
    return { client, dies, clock, draw, newVersionAt, region, refusedUntil: new Map<string, number>() };
  });
  const alive = (i: number) => scheduler.now < isolateList[i]!.dies;

  /**
   * A call: travels to `object`, runs there at its arrival (and, for a shard,
   * as long as it waits on its root), and its answer travels back unless its
   * caller is gone by then. Either message may be lost (the caller then gets
   * an error a while later) or late.
   */
  function call<T>(object: string, callerAlive: () => boolean, work: () => T | Promise<T>, from?: Region): Promise<T> {
    calls++;
    return new Promise<T>((resolve, reject) => {
      const sentAt = scheduler.now;
      if (lost()) {
        scheduler.at(sentAt + lostAfter, () => callerAlive() && reject(new Lost("request lost")));
        return;
      }
      scheduler.at(scheduler.now + oneWay(from, object), () => {
        load.note(object, scheduler.now);
        const answer = (settle: () => void) => {
          if (lost())
            scheduler.at(
              Math.max(scheduler.now, sentAt + lostAfter),
              () => callerAlive() && reject(new Lost("answer lost")),
            );
          else scheduler.at(scheduler.now + oneWay(from, object), () => callerAlive() && settle());
        };
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

  /**
   * The log id of each admission an object decided itself, by its answer's first charge (to note a
   * refund on it later): the charge travels unchanged through a shard and an isolate's lease client.
   */
  const idOf = new WeakMap<object, number>();
  const firstCharge = (answer: CounterAnswer) => chargesOf(answer)[0];
  function recordDecided(answer: CounterAnswer, key: number, specs: CounterSpec[]): void {
    if (!answer.allowed) return;
    const id = noteAdmit(String(key), specs);
    const charge = firstCharge(answer);
    if (charge) idOf.set(charge, id);
  }

  /** The calls to a key's root object (from an isolate, or from a shard with `toShard`'s larger blocks). */
  function rootTransport(key: number, callerAlive: () => boolean, toShard: boolean, from?: Region): LeaseTransport {
    const object = objectFor(key);
    const name = String(key);
    const lending = toShard ? BLOCK_LEASE_TERMS : terms;
    return {
      take: (specs, ask) =>
        call(
          name,
          callerAlive,
          () => {
            const answer = object.take(specs, ask, lending);
            recordDecided(answer, key, specs);
            return answer;
          },
          from,
        ),
      check: (specs) =>
        call(
          name,
          callerAlive,
          () => {
            const answer = object.check(specs);
            recordDecided(answer, key, specs);
            return answer;
          },
          from,
        ),
      lend: (specs, ask) => call(name, callerAlive, () => object.lend(specs, ask, lending), from),
      giveBack: (specs, id, unused) => call(name, callerAlive, () => object.giveBack(specs, id, unused), from),
      waitUntil: () => undefined,
    };
  }

  const shardObjects = new Map<string, SimShard>();
  function shardFor(key: number, name: string): SimShard {
    let object = shardObjects.get(name);
    if (!object) {
      const clock = clockOf(random, scenario, scenario.start);
      object = new SimShard(
        () => Math.floor(clock.read(scheduler.now)),
        (activationAlive) => rootTransport(key, activationAlive, true, placed.get(name)),
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
  /** An isolate's shard of a key: regional (one of its own region's, created there by hint), or hashed. */
  function shardNameOf(isolate: number, key: number): string {
    const { region, draw } = isolateList[isolate]!;
    const perRegion = geo?.regionalShards;
    return perRegion && region
      ? regionalShardName(String(key), region, shardOf(String(key), draw, perRegion))
      : shardName(String(key), shardOf(String(key), draw, shards));
  }

  function shardTransport(isolate: number, key: number): LeaseTransport {
    const region = isolateList[isolate]!.region;
    const name = shardNameOf(isolate, key);
    if (geo?.regionalShards && region && !placed.has(name)) placed.set(name, region);
    const object = shardFor(key, name);
    const callerAlive = () => alive(isolate);
    const take = async (specs: CounterSpec[], want: number, held: number) => {
      const answer = await object.take(String(key), specs, { want, held });
      // Passed on from the root (recorded there), or decided here from a block (no charge of its own).
      const charge = firstCharge(answer);
      if (answer.allowed && !(charge && idOf.has(charge))) recordDecided(answer, key, specs);
      return answer;
    };
    return {
      take: (specs, ask) => call(name, callerAlive, () => take(specs, ask.want, ask.held), region),
      check: (specs) => call(name, callerAlive, () => take(specs, 0, 0), region),
      lend: (specs, ask) => call(name, callerAlive, () => object.lend(String(key), specs, ask), region),
      giveBack: (_specs, id, unused) => call(name, callerAlive, () => object.giveBack(String(key), id, unused), region),
      waitUntil: () => undefined,
    };
  }

  /** The `lease-overrun` mutant: the isolate believes every lease lives 300 ms longer than granted. */
  const overrun = (transport: LeaseTransport): LeaseTransport => ({
    ...transport,
    take: async (specs, ask) => {
      const answer = await transport.take(specs, ask);
      return answer.grant
        ? { ...answer, grant: { ...answer.grant, lifetimeMs: answer.grant.lifetimeMs + OVERRUN_MS } }
        : answer;
    },
    lend: async (specs, ask) => {
      const grant = await transport.lend(specs, ask);
      return grant ? { ...grant, lifetimeMs: grant.lifetimeMs + OVERRUN_MS } : grant;
    },
  });

  const transportFor = (isolate: number, key: number) => {
    const transport =
      shards > 0 || geo?.regionalShards
        ? shardTransport(isolate, key)
        : rootTransport(key, () => alive(isolate), false, isolateList[isolate]!.region);
    return mutant === "lease-overrun" ? overrun(transport) : transport;
  };
  const refundDelay = () => {
    const r = scenario.refundAfterMs ?? 20;
    return typeof r === "number" ? r : r.min + random() * (r.max - r.min);
  };

  /**
   * A request of a delaying rule: the object decides it and reserves its slot, `delayMs` after its own
   * time. The judge counts it at that slot, as it counts a plain check at the object's decision (the
   * time the object accounts it at); the isolate waits the delay from the answer's arrival, so it
   * forwards no earlier (`early` counts any that would). An isolate that dies meanwhile never forwards
   * it: counted all the same, as a plain check whose answer is lost is.
   */
  function delayed(isolate: number, keyNumber: number, specs: CounterSpec[], delay: DelaySpec, refundAfter?: number) {
    const key = String(keyNumber);
    const object = objectFor(keyNumber);
    let id: number | undefined;
    let slot = 0;
    const decide = () => {
      const outcome = object.check(specs, delay);
      if (outcome.allowed) {
        slot = outcome.now + (outcome.delayMs ?? 0);
        if (slot === now()) id = noteAdmit(key, specs);
        else scheduler.at(slot, () => (id = noteAdmit(key, specs)));
      }
      return outcome;
    };
    call(key, () => alive(isolate), decide).then(
      (outcome) => {
        if (!outcome.allowed) return;
        scheduler.at(scheduler.now + (outcome.delayMs ?? 0), () => {
          if (!alive(isolate)) return; // never forwarded: its slot stays charged, unused
          if (now() < slot) early++;
          if (refundAfter === undefined) return;
          scheduler.at(scheduler.now + refundAfter, () => {
            if (!alive(isolate)) return;
            call(
              key,
              () => alive(isolate),
              () => {
                object.release(chargesOf(outcome));
                if (id !== undefined) noteRefund(key, id);
              },
            ).catch(() => undefined);
          });
        });
      },
      () => {
        errors++;
      },
    );
  }

  /**
   * A request of a settling rule: the object decides it (charging the estimate); when its response has
   * ended, the object applies the difference to what it charged. An isolate that dies meanwhile never
   * settles: the estimate stands.
   */
  function settled(isolate: number, keyNumber: number, specs: CounterSpec[], actual: number, afterMs: number) {
    const key = String(keyNumber);
    const object = objectFor(keyNumber);
    let id: number | undefined;
    const decide = () => {
      const outcome = object.check(specs);
      if (outcome.allowed) id = noteAdmit(key, specs);
      return outcome;
    };
    call(key, () => alive(isolate), decide).then(
      (outcome) => {
        if (!outcome.allowed) return;
        scheduler.at(scheduler.now + afterMs, () => {
          if (!alive(isolate)) return;
          call(
            key,
            () => alive(isolate),
            () => {
              const charges = settlementCharges(chargesOf(outcome), actual);
              // The mutant: a debit is dropped (the debt never reaches the object), a give-back still lands.
              object.release(mutant === "settle-lost-debt" ? charges.filter((c) => !c.debit) : charges);
              if (id !== undefined) noteSettle(key, id, actual);
            },
          ).catch(() => undefined);
        });
      },
      () => {
        errors++;
      },
    );
  }

  const keysSeen = new Set<number>();
  const allAlive = Array.from({ length: isolates }, (_, i) => i);
  const geoRecorder = geo ? new GeoRecorder(geo, scenario.start) : undefined;
  /** With `geo`, the isolates of each region (a request is served by one in its region). */
  const inRegion = new Map<Region, number[]>();
  if (geo)
    for (const i of allAlive)
      inRegion.set(geo.isolateRegions[i]!, [...(inRegion.get(geo.isolateRegions[i]!) ?? []), i]);
  for (const arrival of arrivals) {
    const at = scenario.start + arrival.t;
    scheduler.at(at, () => {
      const pool = geo && arrival.region ? (inRegion.get(arrival.region) ?? allAlive) : allAlive;
      const live = scenario.deaths ? pool.filter(alive) : pool;
      const isolate = live[Math.floor(random() * live.length)]!;
      const { client, clock, refusedUntil, newVersionAt } = isolateList[isolate]!;
      const specs =
        scenario.rollout && scheduler.now >= newVersionAt
          ? scenario.rollout.specsFor(arrival.key)
          : scenario.specsFor(arrival.key, arrival.t);
      // A request whose charge is given back after its response (a failures-only rule's success, a rollback).
      const refunded = scenario.refundShare !== undefined && random() < scenario.refundShare;
      const refundAfter = refunded ? refundDelay() : 0;
      keysSeen.add(arrival.key);
      demandCount++;
      const demandId = nextId++;
      const key = String(arrival.key);
      demand.push({ type: "admit", id: demandId, at: now(), seq: seq++, key, specs });
      if (refunded) {
        scheduler.at(scheduler.now + refundAfter, () => {
          demand.push({ type: "refund", id: demandId, at: now(), seq: seq++, key });
        });
      }
      if (scenario.delay) {
        delayed(isolate, arrival.key, specs, scenario.delay, refunded ? refundAfter : undefined);
        return;
      }
      if (scenario.settle) {
        const { min, max } = scenario.settle.afterMs;
        const afterMs = min + random() * (max - min);
        const actual = scenario.settle.actual(random, specs[0]!.cost);
        scheduler.at(scheduler.now + afterMs, () => {
          demand.push({ type: "settle", id: demandId, at: now(), seq: seq++, key, actual });
        });
        settled(isolate, arrival.key, specs, actual, afterMs);
        return;
      }
      // The engine's refusal cache: refused here, with no call, until the retry time it was told.
      const startedAt = clock.read(scheduler.now);
      const arrivedAt = scheduler.now;
      if (scenario.rememberRefusals && (refusedUntil.get(key) ?? Number.NEGATIVE_INFINITY) > startedAt) {
        geoRecorder?.decided(isolate, key, arrivedAt, 0, { local: true, budget: 0, fixed: 0 });
        return;
      }
      const budgets = geoRecorder?.budgets(isolate, key, arrivedAt);
      const transport = transportFor(isolate, arrival.key);
      client.admit(key, specs, transport).then(
        (decision) => {
          if (geoRecorder && budgets)
            geoRecorder.decided(isolate, key, arrivedAt, scheduler.now - arrivedAt, {
              local: decision.local === true,
              ...budgets,
            });
          if (!decision.allowed && scenario.rememberRefusals) {
            const retryAfter = Math.max(
              0,
              ...resultsOf(decision)
                .filter((r) => !r.allowed)
                .map((r) => r.retryAfterMs),
            );
            if (retryAfter > 0) refusedUntil.set(key, startedAt + retryAfter);
          }
          if (decision.local && decision.allowed) {
            // Taken from the lease at this instant (possibly after waiting for a shared call).
            fromLease++;
            const id = noteAdmit(key, specs);
            if (refunded) {
              scheduler.at(scheduler.now + refundAfter, () => {
                if (!alive(isolate)) return;
                // Back into its lease while the lease lives (still charged at the object); lapsed: nothing to record.
                const units = mutant === "double-refund" ? 2 : 1;
                if (client.returnUnits(key, firstCharge(decision)!.lease!, units)) noteRefund(key, id);
              });
            }
          } else if (decision.allowed && refunded && chargesOf(decision).length > 0) {
            // Charged at the root: given back there (a request a shard decided from a block has no charge
            // of its own to give back; its unit stays used, as in the real store).
            const charges = chargesOf(decision);
            const id = idOf.get(charges[0]!);
            scheduler.at(scheduler.now + refundAfter, () => {
              if (!alive(isolate)) return;
              call(
                key,
                () => alive(isolate),
                () => {
                  objectFor(arrival.key).release(charges);
                  if (id !== undefined) noteRefund(key, id);
                },
                isolateList[isolate]!.region,
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
  const restartObjects = (at: number) => {
    scheduler.at(at, () => {
      down = true;
      for (const object of objects.values()) object.restart();
      for (const shard of shardObjects.values()) shard.restart();
    });
    scheduler.at(at + (scenario.restartDownMs ?? 50), () => {
      down = false;
    });
  };
  if (scenario.restartAt !== undefined) restartObjects(scenario.start + scenario.restartAt);
  for (let i = 0; i < (scenario.objectRestarts ?? 0); i++)
    restartObjects(scenario.start + random() * scenario.durationMs);
  for (let i = 0; i < (scenario.shardRestarts ?? 0); i++) {
    scheduler.at(scenario.start + random() * scenario.durationMs, () => {
      const all = [...shardObjects.values()];
      if (all.length > 0) all[Math.floor(random() * all.length)]!.restart();
    });
  }
  const resetOffsets =
    scenario.resetAt === undefined ? [] : typeof scenario.resetAt === "number" ? [scenario.resetAt] : scenario.resetAt;
  for (const offset of resetOffsets) {
    scheduler.at(scenario.start + offset, () => {
      for (const key of keysSeen) {
        const object = objects.get(key);
        const at = now();
        log.push({ type: "reset", at, seq: seq++, key: String(key) });
        demand.push({ type: "reset", at, seq: seq++, key: String(key) });
        if (!object) continue;
        object.reset(scenario.specsFor(key, offset));
        for (let shard = 0; shard < shards; shard++)
          shardObjects.get(shardName(String(key), shard))?.reset(String(key));
      }
    });
  }
  await scheduler.run();

  const judged = judgeRun(log, demand);
  const isShard = (object: string) => object.startsWith("shard:");
  const seconds = scenario.durationMs / 1_000;
  return {
    scenario: scenario.name,
    seed,
    ...(mutant ? { mutant } : {}),
    isolates,
    shards,
    rate: Math.round(arrivals.length / seconds),
    demand: demandCount,
    admitted: judged.admitted,
    overAdmissions: judged.overAdmissions,
    refundsIgnored: judged.refundsIgnored,
    saturatedWindows: judged.saturatedWindows,
    saturatedIdeal: judged.saturatedIdeal,
    saturatedUnused: judged.saturatedUnused,
    worstWindowUnused: judged.worstWindowUnused,
    ideal: judged.ideal,
    underAdmission: judged.ideal - judged.admitted,
    fromLease,
    calls,
    busiest: load.peak(),
    rootPeak: load.peak((o) => !isShard(o)),
    busiestWarm: load.peak(() => true, 1),
    rootPeakWarm: load.peak((o) => !isShard(o), 1),
    rootCallsPerSecond: load.total((o) => !isShard(o)) / Math.max(1, objects.size) / seconds,
    shardCallsPerSecond: shards > 0 ? load.total(isShard) / (Math.max(1, objects.size) * shards) / seconds : 0,
    errors,
    early,
    ...(geoRecorder ? { regions: geoRecorder.figures(), slow: geoRecorder.slow } : {}),
    firstOver: judged.firstOver,
    log,
  };
}
