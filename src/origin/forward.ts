/**
 * Sends an admitted request on to the origin. With `ORIGIN` set, the request
 * goes to that scheme, host and port with its own path and query; unset or
 * empty, it goes to its own URL (route mode on a zone, where the Worker sits
 * in front of the zone's origin). The origin's status, headers and body come
 * back untouched, streaming; redirects are passed to the client, not followed.
 * @module
 */
import type { Env } from "../env";
import { echoOrigin } from "./echo";

export const ECHO_ORIGIN = "builtin:echo";

/** `origin` defaults to `ORIGIN`; a sandbox host passes its own (see `sandbox-origin.ts`). */
export async function forward(request: Request, env: Env, origin = env.ORIGIN?.trim() ?? ""): Promise<Response> {
  if (origin === ECHO_ORIGIN) return echoOrigin(request);
  if (origin === "") return fetch(request, { redirect: "manual" });
  const target = new URL(origin);
  const url = new URL(request.url);
  url.protocol = target.protocol;
  url.host = target.host;
  return fetch(new Request(url.href, request), { redirect: "manual" });
}
