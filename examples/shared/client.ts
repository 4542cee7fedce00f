/**
 * Test helpers shared by the example apps' tests (and the front door's parity test): requests from
 * a chosen client IP to a Worker's `fetch`, fresh IPs and tags, and waiting helpers.
 */

/** The Worker under test: `(request) => exports.default.fetch(request)`. */
export type WorkerFetch = (request: Request) => Promise<Response>;

export interface CallOptions {
  ip?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: BodyInit;
}

export type Call = (path: string, options?: CallOptions) => Promise<Response>;

/** A `call(path, options)` bound to one Worker: `CF-Connecting-IP` is the client IP, as on Cloudflare. */
export function caller(fetch: WorkerFetch): Call {
  return (path, options = {}) => {
    const headers = new Headers(options.headers);
    if (options.ip) headers.set("cf-connecting-ip", options.ip);
    return fetch(
      new Request(`http://api.example.com${path}`, {
        method: options.method ?? "GET",
        headers,
        body: options.body,
        redirect: "manual",
      }),
    );
  };
}

let ipCounter = 0;
/** A client IP no other test of this run uses. */
export function uniqueIp(): string {
  ipCounter++;
  const salt = Math.floor(Math.random() * 200) + 1;
  return `203.${salt}.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

let tagCounter = 0;
export function uniqueTag(prefix = "t"): string {
  tagCounter++;
  return `${prefix}-${Date.now().toString(36)}-${tagCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retries `probe` until it returns true or ~3 s pass (a release runs after the response, in waitUntil). */
export async function eventually(probe: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (await probe()) return true;
    await delay(50);
  }
  return false;
}

/**
 * Fixed windows are aligned to multiples of their length: when fewer than `neededMs` are left in
 * the current window, wait for the next one, so that a sequence is counted in one window.
 */
export async function roomInWindow(windowMs: number, neededMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < neededMs) await delay(left + 50);
}

/** The `r` (remaining) of one item of an ietf `RateLimit` header. */
export function ietfRemaining(header: string | null, item: string): number | undefined {
  const match = new RegExp(`"${item}";r=(\\d+)`).exec(header ?? "");
  return match ? Number(match[1]) : undefined;
}
