/**
 * Load: autocannon (as a library) for throughput and latency, and a plain
 * node:http burst for the accuracy test. Latencies are taken from every
 * response (autocannon's own histogram keeps whole milliseconds and only
 * 2xx), so that a refused path has latencies too.
 */
import http from "node:http";
import type autocannonType from "autocannon";

type Autocannon = typeof autocannonType;
let autocannon: Autocannon | undefined;

/** autocannon lives in bench/node_modules, installed on the first run: load it late. */
export async function loadAutocannon(): Promise<void> {
  autocannon = ((await import("autocannon")) as { default: Autocannon }).default;
}

export const KEY_HEADER = "x-bench-key";

export interface LoadResult {
  /** Responses per second over the run. */
  rps: number;
  /** Latency of every response, in ms. */
  p50: number;
  p99: number;
  mean: number;
  responses: number;
  statuses: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  /** 2xx responses that carried a RateLimit-Limit or RateLimit header. */
  withRateLimitHeaders2xx: number;
  /** The first few responses that were neither 2xx nor 429: status and the start of the body. */
  unexpected: string[];
  seconds: number;
}

export interface LoadSpec {
  baseUrl: string;
  path: string;
  connections: number;
  /** Seconds; or `amount` requests. */
  duration?: number;
  amount?: number;
  /** A fixed key, or a function giving each request's key. */
  key: string | (() => string);
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export async function load(spec: LoadSpec): Promise<LoadResult> {
  if (!autocannon) throw new Error("loadAutocannon() first");
  const latencies: number[] = [];
  let withHeaders = 0;
  const unexpected: string[] = [];
  const keyOf = spec.key;
  const request: autocannonType.Request = {
    method: "GET",
    path: spec.path,
    headers: typeof keyOf === "string" ? { [KEY_HEADER]: keyOf } : {},
    onResponse: (status: number, body: string, _context: unknown, headers?: Record<string, string | string[]>) => {
      if ((status < 200 || status >= 300) && status !== 429 && unexpected.length < 3)
        unexpected.push(`${status} ${String(body ?? "").slice(0, 300)}`);
      if (
        status >= 200 &&
        status < 300 &&
        headers &&
        ("ratelimit-limit" in headers ||
          "ratelimit" in headers ||
          "RateLimit-Limit" in headers ||
          "RateLimit" in headers)
      )
        withHeaders++;
    },
  } as autocannonType.Request;
  if (typeof keyOf === "function") {
    (request as { setupRequest?: (r: autocannonType.Request) => autocannonType.Request }).setupRequest = (r) => ({
      ...r,
      headers: { ...(r.headers ?? {}), [KEY_HEADER]: keyOf() },
    });
  }
  const started = process.hrtime.bigint();
  // Without a callback autocannon returns its instance: an EventEmitter that is also a promise of the result.
  const instance = autocannon({
    url: spec.baseUrl,
    connections: spec.connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.duration ?? 5 }),
    timeout: 10,
    requests: [request],
  }) as unknown as Promise<autocannonType.Result> & { on(event: "response", fn: (...args: never[]) => void): void };
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const result = await instance;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = Float64Array.from(latencies).sort();
  const statuses: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {}))
    statuses[code] = Number((v as { count: number | string }).count);
  const responses = latencies.length;
  return {
    rps: responses / (result.duration > 0 ? result.duration : seconds),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: responses ? latencies.reduce((a, b) => a + b, 0) / responses : Number.NaN,
    responses,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    withRateLimitHeaders2xx: withHeaders,
    unexpected,
    seconds,
  };
}

export interface OneResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  baseUrl: string,
  path: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: http.Agent;
    timeoutMs?: number;
  } = {},
): Promise<OneResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(path, baseUrl),
      { method: init.method ?? "GET", headers: init.headers, agent: init.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(init.timeoutMs ?? 30_000, () =>
      req.destroy(new Error(`timeout after ${init.timeoutMs ?? 30_000} ms`)),
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

export interface BurstResult {
  admitted: number;
  refused: number;
  other: number;
  errors: number;
  /** Admitted responses without rate-limit headers (sluice: a counter-store call that failed open). */
  admittedWithoutHeaders: number;
  /** Wall time from firing to the last answer. */
  ms: number;
  otherStatuses: Record<string, number>;
  /** The first few responses that were neither 2xx nor 429: status and the start of the body. */
  unexpected: string[];
}

/** Fires `total` requests at once, each on its own connection, at one key. */
export async function burst(baseUrl: string, path: string, key: string, total: number): Promise<BurstResult> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const started = process.hrtime.bigint();
  const settled = await Promise.allSettled(
    Array.from({ length: total }, () =>
      request(baseUrl, path, { headers: { [KEY_HEADER]: key }, agent, timeoutMs: 60_000 }),
    ),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  agent.destroy();
  const out: BurstResult = {
    admitted: 0,
    refused: 0,
    other: 0,
    errors: 0,
    admittedWithoutHeaders: 0,
    ms,
    otherStatuses: {},
    unexpected: [],
  };
  for (const s of settled) {
    if (s.status === "rejected") {
      out.errors++;
      continue;
    }
    const { status, headers } = s.value;
    if (status >= 200 && status < 300) {
      out.admitted++;
      if (!("ratelimit-limit" in headers || "ratelimit" in headers)) out.admittedWithoutHeaders++;
    } else if (status === 429) out.refused++;
    else {
      out.other++;
      out.otherStatuses[status] = (out.otherStatuses[status] ?? 0) + 1;
      if (out.unexpected.length < 3) out.unexpected.push(`${status} ${s.value.body.slice(0, 300)}`);
    }
  }
  return out;
}
