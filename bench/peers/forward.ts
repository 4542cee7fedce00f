/**
 * The forwarding step every benchmark Worker shares: the same as sluice's
 * `src/origin/forward.ts` for an `ORIGIN` base URL (path and query kept,
 * redirects passed through), so that the only difference between the
 * Workers under test is the rate limiting in front of it.
 * Benchmark fixture, not product code.
 */
export interface ForwardEnv {
  ORIGIN: string;
}

export function forward(request: Request, env: ForwardEnv): Promise<Response> {
  const target = new URL(env.ORIGIN);
  const url = new URL(request.url);
  url.protocol = target.protocol;
  url.host = target.host;
  return fetch(new Request(url.href, request), { redirect: "manual" });
}

/** The header the benchmark puts its simulated client keys in (wrangler dev gives every request the same IP). */
export const KEY_HEADER = "x-bench-key";
