/** Requests to a running `wrangler dev` from Node, for the end-to-end tests: the front door and the admin API. */
import { expect } from "vitest";

/** The admin API's prefix in the project's wrangler.toml. */
export const ADMIN_PREFIX = "/__ratelimit";

/** An admin token no other test file uses. */
export function adminToken(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2)}`;
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** Fetches and reads the body to its end, so that the request is over; status and headers stay readable. */
export async function fetchDrained(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res;
}

/** `GET <prefix><path>` of the admin API, as JSON. */
export async function adminJson(base: string, token: string, path: string): Promise<unknown> {
  return (await fetch(`${base}${ADMIN_PREFIX}${path}`, { headers: bearer(token) })).json();
}

/** Publishes a policy through the admin API (`PUT <prefix>/policy`); it must be taken (200). */
export async function putPolicy(base: string, token: string, policy: unknown): Promise<void> {
  const res = await fetchDrained(`${base}${ADMIN_PREFIX}/policy`, {
    method: "PUT",
    headers: { ...bearer(token), "content-type": "application/json" },
    body: JSON.stringify(policy),
  });
  expect(res.status).toBe(200);
}
