/**
 * A `fetch` that paces itself by the server's rate-limit headers, so that a client with more work
 * than its quota spreads it over the window instead of running into the wall, and that waits out a
 * 429 (`Retry-After`, with jitter) and retries idempotent requests a bounded number of times.
 *
 * Pacing, per partition of requests (by default the URL's origin): after each response the client
 * knows the tightest limit's room `r` and the seconds `t` until it comes back; it then sends the
 * next requests `t / r` apart (less what is already in flight), so the room lasts until the window
 * turns. With no room left it waits `t / q` (one unit of a quota that refills evenly; a fixed window
 * answers that early request with a 429 whose `Retry-After` is exact, and the retry then waits for
 * it). A server that sends no headers is not paced at all.
 *
 * It runs wherever `fetch`, `Request` and `Headers` exist (Workers, Node 18+, Deno, Bun, browsers)
 * and has no dependency.
 * @module
 */
import { type RateLimitInfo, type ReportedLimit, readRateLimit } from "./headers";

/** A 429 the client did not (or could not) retry: the violated policy and when to come back. */
export class RateLimitedError extends Error {
  override readonly name = "RateLimitedError";
  /** The refused response (its body unread). */
  readonly response: Response;
  /** The name of the policy that refused (the IETF item name, or the body's `policy`), when known. */
  readonly policy: string | undefined;
  /** Seconds until the server would admit the request again (`Retry-After`), when it said. */
  readonly retryAfterSeconds: number | undefined;
  /** Every limit the refusal reported. */
  readonly limits: ReportedLimit[];

  constructor(response: Response, info: RateLimitInfo, why: string) {
    const refused = info.limits.find((l) => l.remaining === 0) ?? info.limits[0];
    super(
      `rate limited by ${refused?.name ? `"${refused.name}"` : "the server"} (${response.status}): ${why}${
        info.retryAfterSeconds !== undefined ? `; retry after ${info.retryAfterSeconds} s` : ""
      }`,
    );
    this.response = response;
    this.policy = refused?.name || undefined;
    this.retryAfterSeconds = info.retryAfterSeconds;
    this.limits = info.limits;
  }
}

/** Time as the client sees it: injected in tests, the real clock otherwise. */
export interface ClientClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface PacedFetchOptions {
  /** The fetch to wrap. Default: the global `fetch`. */
  fetch?: (request: Request) => Promise<Response>;
  /** Retries of an idempotent request refused with 429 (or 503 with `Retry-After`). Default 3. */
  maxRetries?: number;
  /** The longest one wait may be (pacing or `Retry-After`); past it the 429 is thrown. Default 60 s. */
  maxWaitSeconds?: number;
  /** Up to this share is added at random to each `Retry-After` wait, so retries do not arrive together. Default 0.1. */
  jitter?: number;
  /** Pace requests by the headers (default true); `false` only waits out refusals. */
  pace?: boolean;
  /** Which requests share one budget. Default: the URL's origin. */
  partition?: (request: Request) => string;
  /** Statuses that are refusals to wait out. Default [429]; add 503 for servers that shed load with `Retry-After`. */
  retryStatuses?: number[];
  clock?: ClientClock;
  random?: () => number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** Whether a request may be sent twice: an idempotent method, or one carrying an `Idempotency-Key`. */
export function mayRetry(request: Request): boolean {
  return IDEMPOTENT.has(request.method.toUpperCase()) || request.headers.has("Idempotency-Key");
}

/** What the client knows of one partition's room. */
interface Budget {
  /** Room left as of the last response that said, less the requests sent since. */
  available: number | undefined;
  /** When that room comes back (ms). */
  resetAt: number;
  /** The quota of the tightest limit, when known. */
  quota: number | undefined;
  /** Its long-run pace, `w / q` in ms (one unit of the quota per this long), when the server says `w`. */
  unitMs: number | undefined;
  /**
   * The limit gives room back before its reset (a sliding window, a bucket): seen when a refusal's
   * `Retry-After` came before the reset its `RateLimit` item stated. A fixed window's does not.
   */
  refills: boolean;
  /** The earliest the next request may go. */
  nextSlot: number;
  /** No request before this (a refusal's `Retry-After`). */
  blockedUntil: number;
  inFlight: number;
}

const realClock: ClientClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * A `fetch` that paces itself and waits out refusals.
 *
 * @example
 * ```ts
 * import { pacedFetch, RateLimitedError } from "sluice/client";
 *
 * const api = pacedFetch();
 * try {
 *   const res = await api("https://api.example.com/v1/orders");
 * } catch (e) {
 *   if (e instanceof RateLimitedError) console.log(e.policy, e.retryAfterSeconds);
 * }
 * ```
 */
export function pacedFetch(
  options: PacedFetchOptions = {},
): (input: Request | string | URL, init?: RequestInit) => Promise<Response> {
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const maxRetries = options.maxRetries ?? 3;
  const maxWaitMs = (options.maxWaitSeconds ?? 60) * 1000;
  const jitter = options.jitter ?? 0.1;
  const pace = options.pace ?? true;
  const partitionOf = options.partition ?? ((request: Request) => new URL(request.url).origin);
  const retryStatuses = new Set(options.retryStatuses ?? [429]);
  const clock = options.clock ?? realClock;
  const random = options.random ?? Math.random;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new TypeError("maxRetries must be an integer ≥ 0");
  if (!(maxWaitMs >= 0)) throw new TypeError("maxWaitSeconds must be ≥ 0");
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError("jitter must be between 0 and 1");
  const budgets = new Map<string, Budget>();

  const budgetOf = (name: string): Budget => {
    let b = budgets.get(name);
    if (!b) {
      b = {
        available: undefined,
        resetAt: 0,
        quota: undefined,
        unitMs: undefined,
        refills: false,
        nextSlot: 0,
        blockedUntil: 0,
        inFlight: 0,
      };
      budgets.set(name, b);
    }
    return b;
  };

  /** Reserves this request's moment to go and returns it. */
  const slotFor = (b: Budget): number => {
    const now = clock.now();
    let slot = Math.max(now, b.blockedUntil, pace ? b.nextSlot : 0);
    if (!pace || b.available === undefined || slot >= b.resetAt) {
      if (slot >= b.resetAt) b.available = undefined; // the window has turned: nothing known any more
      b.nextSlot = slot;
      return slot;
    }
    if (b.available <= 0) {
      // No room as far as we know: one unit of the quota (its own pace `w / q` for a limit seen to refill;
      // else of the time left), and never past the reset.
      const unit =
        b.refills && b.unitMs !== undefined ? b.unitMs : b.quota ? (b.resetAt - slot) / b.quota : b.resetAt - slot;
      slot = Math.min(b.resetAt, slot + unit);
      b.nextSlot = slot;
      return slot;
    }
    // Spread the room left over the time left, but never slower than the quota's own pace (`w / q`): a
    // sliding window or a bucket gives room back as it goes, so a little room with a long `t` (a sliding
    // window just after it turned) is not all there will be. A fixed window's room then runs out a little
    // before its end, and the one early request that finds it so is answered with an exact `Retry-After`.
    // A limit seen to refill gets both: the room it holds spread over the time left, on top of its pace
    // (room saved up while a `Retry-After` was waited out is used, not left behind).
    const spread = (b.resetAt - slot) / b.available;
    const unit = b.unitMs;
    b.nextSlot =
      slot + (unit === undefined ? spread : b.refills ? (spread * unit) / (spread + unit) : Math.min(spread, unit));
    b.available -= 1;
    return slot;
  };

  const learn = (b: Budget, info: RateLimitInfo, at: number): void => {
    const tightest = info.limits.find((l) => !l.concurrent && l.remaining !== undefined);
    if (!tightest || tightest.remaining === undefined) return;
    // Requests already sent will take from what this response reports.
    b.available = tightest.remaining - (b.inFlight > 0 ? b.inFlight - 1 : 0);
    b.resetAt = at + (tightest.resetSeconds ?? 0) * 1000;
    b.quota = tightest.limit;
    b.unitMs =
      tightest.windowSeconds !== undefined && tightest.limit
        ? (tightest.windowSeconds * 1000) / tightest.limit
        : undefined;
    if (b.nextSlot > b.resetAt) b.nextSlot = b.resetAt;
  };

  return async function paced(input: Request | string | URL, init?: RequestInit): Promise<Response> {
    const original = new Request(input, init);
    const budget = budgetOf(partitionOf(original));
    const retryable = mayRetry(original);
    // A body can be sent once per Request: keep a copy for retries.
    const template = retryable ? original.clone() : original;
    for (let attempt = 0; ; attempt++) {
      const slot = slotFor(budget);
      const wait = slot - clock.now();
      if (wait > maxWaitMs)
        throw new RateLimitedError(
          new Response(null, { status: 429, headers: { "Retry-After": String(Math.ceil(wait / 1000)) } }),
          { limits: [], retryAfterSeconds: Math.ceil(wait / 1000) },
          `pacing would wait ${Math.ceil(wait / 1000)} s, more than maxWaitSeconds`,
        );
      if (wait > 0) {
        await clock.sleep(wait);
        // A refusal that arrived meanwhile (another request's) moves this one behind its Retry-After.
        if (budget.blockedUntil > clock.now()) {
          attempt--;
          continue;
        }
      }
      budget.inFlight++;
      let response: Response;
      try {
        response = await send(attempt === 0 && !retryable ? original : template.clone());
      } finally {
        budget.inFlight--;
      }
      const at = clock.now();
      const info = readRateLimit(response.headers, at);
      learn(budget, info, at);
      if (!retryStatuses.has(response.status)) return response;
      const refused = info.limits.find((l) => !l.concurrent && l.remaining === 0);
      if (
        info.retryAfterSeconds !== undefined &&
        refused?.resetSeconds !== undefined &&
        info.retryAfterSeconds < refused.resetSeconds
      )
        budget.refills = true;
      const retryAfterMs = (info.retryAfterSeconds ?? 1) * 1000;
      budget.blockedUntil = Math.max(budget.blockedUntil, at + retryAfterMs);
      if (!retryable) throw new RateLimitedError(response, info, `${original.method} is not idempotent`);
      if (attempt >= maxRetries) throw new RateLimitedError(response, info, `gave up after ${maxRetries} retries`);
      if (retryAfterMs > maxWaitMs) throw new RateLimitedError(response, info, "Retry-After is past maxWaitSeconds");
      // Drain the refusal so its connection is free, then wait it out (with jitter) before the retry.
      await response.body?.cancel().catch(() => {});
      const waitMs = retryAfterMs * (1 + random() * jitter);
      budget.blockedUntil = Math.max(budget.blockedUntil, at + waitMs);
    }
  };
}
