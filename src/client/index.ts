/**
 * `sluice/client`: a `fetch` for calling a rate-limited API that paces itself by the server's
 * rate-limit headers and waits out refusals. For any server that sends the IETF draft's
 * `RateLimit`/`RateLimit-Policy`, the legacy `RateLimit-*` or `X-RateLimit-*` headers and
 * `Retry-After`, not only sluice. No dependency; Workers, Node, Deno, Bun and browsers.
 * @module
 */
export type { RateLimitInfo, ReportedLimit } from "./headers";
export { readRateLimit } from "./headers";
export type { ClientClock, PacedFetchOptions } from "./paced-fetch";
export { mayRetry, pacedFetch, RateLimitedError } from "./paced-fetch";
