/**
 * The candidate policy in shadow: for every request, once the live policy's
 * outcome is known, the same engine decides the request again under the
 * candidate document, in `ctx.waitUntil`, so the live path waits for none of it.
 *
 * The candidate's engine runs on ports of its own: its counters are the same
 * store's under keys prefixed `candidate:<candidate id>:` (it never charges a
 * live counter, and each candidate document starts afresh), its refusal cache
 * is its own, and its observer counts per rule what it decided, exactly as the
 * live observer does, for `GET /stats`. Its outcome never reaches the client.
 *
 * Where it must differ from being live: a concurrency slot is given back as
 * soon as it is taken (the candidate learns of the request when it is over);
 * failures-only charges are given back when the live response was under 400,
 * or when the live policy refused the request (the origin's answer is then
 * unknown); when the origin could not be reached they are kept.
 * @module
 */
import type { EnginePorts, EngineSettings } from "../../engine/context";
import { createEngine, type Engine } from "../../engine/engine";
import type { EngineHooks, LimitOutcome } from "../../engine/outcome";
import type { CheckRequest, CounterStore } from "../../engine/ports";
import type { Env } from "../../env";
import type { Charge } from "../../limiter/types";
import { logEvent } from "../../log";
import { type MinuteStats, Stats } from "../../observability/stats";
import type { CompiledPolicy } from "../../policy/compile";
import { DEFAULT_BODY_MAX_BYTES } from "../../policy/schema";
import { type Candidate, CandidateSource } from "./kv-candidate-source";

/** A candidate's calls run after the response: they may wait longer than the live budget. */
const CANDIDATE_BUDGET_MS = 1000;

/** How the live request ended: the origin's status, refused by the live policy, or the origin unreachable. */
type LiveEnd = number | "refused" | "abandoned";

export interface CandidateStats {
  /** The candidate these counts are of. */
  id: string;
  minutes: MinuteStats[];
}

/** The counting keys of a candidate: the live store's objects, under a prefix of the candidate's own. */
export function candidateKey(candidate: Candidate, key: string): string {
  return `candidate:${candidate.id}:${key}`;
}

function prefixed(store: CounterStore, candidate: Candidate): CounterStore {
  return {
    check: (key: string, request: CheckRequest, background) =>
      store.check(candidateKey(candidate, key), request, background),
    release: (key: string, charges: Charge[], background) =>
      store.release(candidateKey(candidate, key), charges, background),
    inspect: (key, ...rest) => store.inspect(candidateKey(candidate, key), ...rest),
    reset: (key, ...rest) => store.reset(candidateKey(candidate, key), ...rest),
  };
}

export class CandidateShadow {
  readonly source = new CandidateSource();
  private engine: Engine | undefined;
  private stats = new Stats();
  private of: string | null = null;

  constructor(private readonly hooks: EngineHooks) {}

  /** Per-rule counts of the current candidate in this isolate; undefined when none has been evaluated. */
  snapshot(): CandidateStats | undefined {
    return this.of === null ? undefined : { id: this.of, minutes: this.stats.snapshot() };
  }

  /**
   * Arranges the candidate's decision on this request once the live outcome is
   * known: at once for an answer of the live policy's own (a refusal), else
   * when `finish` or `abandon` is called. Returns the outcome to use in place of the live one.
   */
  attach(request: Request, env: Env, ports: EnginePorts, settings: EngineSettings, live: LimitOutcome): LimitOutcome {
    if (typeof ports.background?.waitUntil !== "function") return live;
    // The origin takes the body: a copy of what the candidate may read is made now, when it reads bodies.
    const known = this.source.peek()?.compiled;
    const bodyCopy = known?.readsBody ? withBodyPrefix(request, bodyBytesRead(known)) : undefined;
    const copy = () => bodyCopy ?? Promise.resolve(new Request(request.url, withoutBody(request)));
    let started = false;
    const start = (end: LiveEnd) => {
      if (started) return;
      started = true;
      ports.background.waitUntil(
        this.run(copy, env, ports, settings, end).catch((e) =>
          logEvent("candidate.failed", { message: e instanceof Error ? e.message : String(e) }, "warn"),
        ),
      );
    };
    if (live.response) {
      start("refused");
      return live;
    }
    return {
      ...live,
      finish(response) {
        const finished = live.finish(response);
        start(response.status);
        return finished;
      },
      abandon() {
        live.abandon();
        start("abandoned");
      },
    };
  }

  private async run(
    copy: () => Promise<Request>,
    env: Env,
    ports: EnginePorts,
    settings: EngineSettings,
    end: LiveEnd,
  ): Promise<void> {
    const candidate = await this.source.get(env);
    if (!candidate) return;
    if (this.of !== candidate.id || !this.engine) {
      this.engine = createEngine({ ...(this.hooks.key ? { key: this.hooks.key } : {}) });
      this.stats = new Stats();
      this.of = candidate.id;
    }
    const stats = this.stats;
    const candidatePorts: EnginePorts = {
      ...ports,
      policies: { current: () => ({ compiled: candidate.compiled, text: candidate.text, source: "pushed" }) },
      counters: prefixed(ports.counters, candidate),
      // A request the candidate would hold (onLimit.delay) has its slot reserved in the candidate's counters,
      // as the live policy would; nothing is forwarded for it, so it is not waited for in the background.
      clock: { now: () => ports.clock.now(), wait: () => Promise.resolve() },
      observer: {
        decided(record) {
          for (const { rule, verdict } of record.verdicts) {
            stats.record(rule, verdict);
            const label = `candidate:${rule}`;
            env.ANALYTICS?.writeDataPoint({ blobs: [label, verdict], doubles: [1], indexes: [label] });
          }
        },
      },
    };
    const outcome = await this.engine.decide(await copy(), candidatePorts, {
      ...settings,
      budgetMs: Math.max(settings.budgetMs, CANDIDATE_BUDGET_MS),
    });
    // The candidate's own answer (a refusal, a block, a 400, a 503) gives nothing back: its engine has settled it.
    if (outcome.response) return;
    if (end === "abandoned") outcome.abandon();
    else outcome.finish(new Response(null, { status: end === "refused" || end < 200 ? 200 : end }));
  }
}

function withoutBody(request: Request): RequestInit {
  return { method: request.method, headers: request.headers };
}

/** The most of a body any `body:` rule of the policy reads (and what a `_method` override is read from). */
function bodyBytesRead(policy: CompiledPolicy): number {
  return Math.max(
    policy.methodOverride ? DEFAULT_BODY_MAX_BYTES : 0,
    ...policy.rules.filter((r) => r.key.kind === "body").map((r) => r.bodyKey.maxBytes),
  );
}

/**
 * The request as a candidate that keys by body fields sees it: method, URL,
 * headers and the body's first bytes as sent (one more than its rules read,
 * so an oversized body is still one).
 */
async function withBodyPrefix(request: Request, maxBytes: number): Promise<Request> {
  const init = withoutBody(request);
  if (!request.body || request.method === "GET" || request.method === "HEAD") return new Request(request.url, init);
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = request.clone().body!.getReader();
  } catch {
    return new Request(request.url, init);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size <= maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return new Request(request.url, { ...init, body });
}
