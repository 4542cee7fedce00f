/**
 * One policy document, the same figures everywhere: `examples/shared-policy.json` in KV for the
 * front door, compiled into the Hono example, in KV for the itty example. Each of the three test
 * projects sends the same six requests from one client and must see exactly these figures.
 */
import { expect } from "vitest";
import sharedPolicy from "../shared-policy.json";
import { type Call, ietfRemaining, roomInWindow } from "./client";

export { sharedPolicy };

/** Rule `api` of the shared policy: 5 an hour per client IP. */
export const API_PATH = "/api/items";
const API_WINDOW_MS = 3_600_000;

export interface Figures {
  status: number;
  limit: string | null;
  remaining: string | null;
  ietfRemaining: number | undefined;
  policy: string | null;
}

const figure = (status: number, remaining: number): Figures => ({
  status,
  limit: "5",
  remaining: String(remaining),
  ietfRemaining: remaining,
  policy: '"api-1h";q=5;w=3600',
});

/** Five admitted with 4, 3, 2, 1, 0 left; the sixth refused. */
export const EXPECTED_API_FIGURES: Figures[] = [
  figure(200, 4),
  figure(200, 3),
  figure(200, 2),
  figure(200, 1),
  figure(200, 0),
  figure(429, 0),
];

/** The refusal's body (contract section 5, the default `response.body`), but for `retry_after`. */
export const EXPECTED_REFUSAL = {
  success: false,
  error: "Too many requests",
  code: "RATE_LIMIT_EXCEEDED",
  message: "You have exceeded the maximum number of requests allowed (5 requests per 1 hour). Please try again later.",
  limit: 5,
  window: "1 hour",
};

/**
 * Sends the six requests from `ip` and asserts the figures, the 429's headers and its body.
 * Give the test a timeout of 30 s: near the end of an hour it waits for the next.
 */
export async function expectSharedPolicyFigures(call: Call, ip: string): Promise<void> {
  await roomInWindow(API_WINDOW_MS, 10_000);
  const seen: Figures[] = [];
  let refusal: Response | undefined;
  let refusalBody: unknown;
  for (let i = 0; i < EXPECTED_API_FIGURES.length; i++) {
    const res = await call(API_PATH, { ip });
    const body: unknown = await res.json();
    seen.push({
      status: res.status,
      limit: res.headers.get("RateLimit-Limit"),
      remaining: res.headers.get("RateLimit-Remaining"),
      ietfRemaining: ietfRemaining(res.headers.get("RateLimit"), "api-1h"),
      policy: res.headers.get("RateLimit-Policy"),
    });
    if (res.status === 429) {
      refusal = res;
      refusalBody = body;
    }
  }
  expect(seen).toEqual(EXPECTED_API_FIGURES);
  expect(refusal).toBeDefined();
  const retryAfter = Number(refusal!.headers.get("Retry-After"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(3600);
  expect(refusal!.headers.get("Cache-Control")).toBe("no-store");
  expect(refusalBody).toEqual({ ...EXPECTED_REFUSAL, retry_after: retryAfter });
}
