/**
 * The client scenario (`npm run bench -- --client`, issue 29's target): a client with five times its
 * quota's work, through `sluice/client`'s `pacedFetch` against sluice under wrangler dev, beside the same
 * work through plain `fetch`, for a fixed window, a sliding window and a token bucket. Measured: the 429s
 * the application saw, the 429s on the wire (wasted requests), and the share of the quota used in every
 * full window.
 */
import { pacedFetch, RateLimitedError, readRateLimit } from "../../src/client/index";

export const CLIENT_ALGORITHMS = ["fixed", "sliding", "token-bucket"] as const;
export type ClientAlgorithm = (typeof CLIENT_ALGORITHMS)[number];
export type ClientMode = "pacedFetch" | "plain fetch";

export interface ClientScenarioOptions {
  /** Quota per window, per algorithm (a token bucket: refill per window and burst). */
  quota: number;
  /** Window in seconds. */
  windowSeconds: number;
  /** The work, as a multiple of the quota. */
  workMultiple: number;
  /** Concurrent callers of the application. */
  callers: number;
}

export const CLIENT_DEFAULTS: ClientScenarioOptions = { quota: 50, windowSeconds: 10, workMultiple: 5, callers: 8 };

export const clientPath = (algorithm: ClientAlgorithm) => `/client/${algorithm}`;

/** sluice's policy for the scenario: one rule per algorithm, each keyed by `x-bench-key`. */
export function clientPolicy(o: ClientScenarioOptions): unknown {
  const window = `${o.windowSeconds}s`;
  return {
    version: 1,
    headers: ["legacy", "ietf"],
    rules: CLIENT_ALGORITHMS.map((algorithm) => ({
      id: `client-${algorithm}`,
      match: { paths: [clientPath(algorithm)] },
      key: "header:x-bench-key",
      limits: [{ limit: o.quota, window, algorithm }],
    })),
  };
}

export interface ClientRun {
  algorithm: ClientAlgorithm;
  mode: ClientMode;
  /** Requests the application made (the work). */
  requests: number;
  /** Of those, answered 2xx. */
  done: number;
  /** 429s the application saw (a 429 response, or a RateLimitedError). */
  app429: number;
  /** Requests sent on the wire, and the 429s among them (each a request that did no work). */
  wire: number;
  wire429: number;
  /** Answers other than 2xx and 429, and failed requests. */
  other: number;
  seconds: number;
  /** Admitted requests per full window (windows aligned as sluice aligns them; the first and last partial ones left out). */
  fullWindows: number[];
  /** Admitted in the busiest window of all, partial ones included (at most the quota, plus a bucket's burst). */
  maxWindow: number;
  /** Admissions whose window the round trip could not settle (none expected). */
  ambiguous: number;
  /** Every response on the wire: ms since the start (midpoint of its round trip) and status. */
  events: Array<[number, number]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one algorithm's work through one client, and measures it. */
export async function runClient(
  baseUrl: string,
  algorithm: ClientAlgorithm,
  mode: ClientMode,
  key: string,
  o: ClientScenarioOptions,
): Promise<ClientRun> {
  const windowMs = o.windowSeconds * 1000;
  const work = o.quota * o.workMultiple;
  /** The window (index since the epoch) each admitted request was counted in. */
  const admittedIn: number[] = [];
  let wire = 0;
  let wire429 = 0;
  let other = 0;
  let app429 = 0;
  let done = 0;
  const events: Array<[number, number]> = [];
  let started = 0;
  /** The wire: every request the client sends, with the time sluice admitted it (midpoint of the round trip). */
  const send = async (request: Request): Promise<Response> => {
    const sentAt = Date.now();
    wire++;
    const response = await fetch(request);
    const receivedAt = Date.now();
    events.push([Math.round((sentAt + receivedAt) / 2 - started), response.status]);
    if (response.status === 429) wire429++;
    else if (response.ok) admittedIn.push(windowOf(response, sentAt, receivedAt));
    return response;
  };
  /**
   * Which window sluice counted an admitted request in. A fixed or sliding window's `t` is the seconds (rounded
   * up) from sluice's decision to its aligned window's end, and the decision came after the request was sent
   * and before the origin answered: of the window ends that fit both, there is one while a round trip takes
   * less than the window less a second. A bucket has no windows: the origin's clock (same machine) places it.
   */
  const windowOf = (response: Response, sentAt: number, receivedAt: number): number => {
    const originAt = Number(response.headers.get("x-origin-time")) || (sentAt + receivedAt) / 2;
    const t = readRateLimit(response.headers).limits[0]?.resetSeconds;
    if (algorithm === "token-bucket" || t === undefined) return Math.floor(originAt / windowMs);
    const end = Math.ceil((sentAt + (t - 1) * 1000) / windowMs) * windowMs;
    if (end >= originAt + t * 1000) ambiguous++; // cannot happen but for a clock step; counted, not hidden
    return end / windowMs - 1;
  };
  let ambiguous = 0;
  const url = `${baseUrl}${clientPath(algorithm)}`;
  const headers = { "x-bench-key": key };
  const paced = pacedFetch({ fetch: send, maxWaitSeconds: 4 * o.windowSeconds, maxRetries: 5 });

  /** One item of work: paced, or plain fetch whose application waits out each 429's Retry-After and sends it again. */
  const item = async (): Promise<void> => {
    if (mode === "pacedFetch") {
      try {
        const res = await paced(url, { headers });
        await res.arrayBuffer();
        if (res.ok) done++;
        else if (res.status === 429) app429++;
        else other++;
      } catch (e) {
        if (e instanceof RateLimitedError) app429++;
        else other++;
      }
      return;
    }
    for (;;) {
      let res: Response;
      try {
        res = await send(new Request(url, { headers }));
      } catch {
        other++;
        return;
      }
      await res.arrayBuffer();
      if (res.ok) {
        done++;
        return;
      }
      if (res.status !== 429) {
        other++;
        return;
      }
      app429++;
      await sleep(Number(res.headers.get("Retry-After") ?? "1") * 1000);
    }
  };

  started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: o.callers }, async () => {
      while (next < work) {
        next++;
        await item();
      }
    }),
  );
  const finished = Date.now();
  const perWindow = new Map<number, number>();
  for (const w of admittedIn) perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
  // Full windows: begun after the first request, before the window of the last admission (the work ran out in it).
  const lastWindow = Math.max(...admittedIn);
  const fullWindows: number[] = [];
  for (let w = Math.ceil(started / windowMs); w < lastWindow; w++) fullWindows.push(perWindow.get(w) ?? 0);
  return {
    algorithm,
    mode,
    requests: work,
    done,
    app429,
    wire,
    wire429,
    other,
    seconds: (finished - started) / 1000,
    fullWindows,
    maxWindow: Math.max(0, ...perWindow.values()),
    ambiguous,
    events,
  };
}

const pct = (n: number, quota: number) => `${((100 * n) / quota).toFixed(1)}%`;

/** The scenario's table, one row per algorithm and client, and whether pacedFetch met the targets. */
export function clientMarkdown(runs: ClientRun[], o: ClientScenarioOptions, meta: Record<string, unknown>): string {
  const lines = [
    "# sluice benchmark: the client scenario",
    "",
    `A client with ${o.workMultiple}× its quota's work (${o.quota * o.workMultiple} requests; quota ${o.quota} per ${o.windowSeconds} s), ${o.callers} concurrent callers, against sluice under wrangler dev. ` +
      "pacedFetch is `sluice/client`; plain fetch is an application that waits out each 429's Retry-After and sends the item again. " +
      "Quota used: admitted requests per full window (aligned as sluice aligns fixed windows; the first, begun mid-way, and the last, where the work ran out, left out).",
    "",
    "| algorithm | client | requests | done | 429s seen by the app | requests on the wire | 429s on the wire (wasted) | other | quota used per full window (min) | full windows | busiest window | seconds |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of runs) {
    const min = r.fullWindows.length > 0 ? Math.min(...r.fullWindows) : undefined;
    lines.push(
      `| ${r.algorithm} | ${r.mode} | ${r.requests} | ${r.done} | ${r.app429} | ${r.wire} | ${r.wire429} | ${r.other} | ${min === undefined ? "n/a" : `${pct(min, o.quota)} (${r.fullWindows.join(", ")})`} | ${r.fullWindows.length} | ${r.maxWindow} | ${r.seconds.toFixed(1)} |`,
    );
  }
  // Plain fetch on the fixed window sends as fast as it is answered: if it could not fill a window, sluice
  // (under wrangler dev, on this machine, at that moment) did not serve the quota's rate, and no client could.
  const plainFixed = runs.find((r) => r.algorithm === "fixed" && r.mode === "plain fetch");
  const plainMin = plainFixed && plainFixed.fullWindows.length > 0 ? Math.min(...plainFixed.fullWindows) : undefined;
  if (plainMin !== undefined && plainMin < Math.ceil(0.95 * o.quota))
    lines.push(
      "",
      `**Note: the server did not keep up.** Plain fetch on the fixed window, which sends as fast as it is answered, filled only ${plainMin} of ${o.quota} in a full window: sluice under wrangler dev did not serve the quota's rate on this machine during the run (see the load average below), so these figures measure the machine, not the pacing. Run again on a quieter machine.`,
    );
  lines.push(
    "",
    "## Targets (pacedFetch)",
    "",
    "| algorithm | no 429 seen by the app | ≥ 95% of the quota in every full window |",
  );
  lines.push("| --- | --- | --- |");
  for (const r of runs.filter((x) => x.mode === "pacedFetch")) {
    const min = r.fullWindows.length > 0 ? Math.min(...r.fullWindows) : 0;
    const used = r.fullWindows.length > 0 && min >= Math.ceil(0.95 * o.quota);
    lines.push(
      `| ${r.algorithm} | ${r.app429 === 0 && r.other === 0 ? "yes" : `no (${r.app429} 429s, ${r.other} other)`} | ${used ? "yes" : "no"} (min ${pct(min, o.quota)}) |`,
    );
  }
  lines.push("", "## Run", "", "| | |", "| --- | --- |");
  for (const [k, v] of Object.entries(meta)) lines.push(`| ${k} | ${String(v)} |`);
  return `${lines.join("\n")}\n`;
}
