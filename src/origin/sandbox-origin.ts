/**
 * Where a request to a sandbox host goes. A sandbox host gets the sandbox
 * multiplier on counters of its own; it must not also reach the production
 * origin, or anyone could use the sandbox host name to call production at ten
 * times the limits. So: `SANDBOX_ORIGIN` when it is set; the request's own URL
 * in route mode (`ORIGIN` empty: the zone routes the sandbox host itself);
 * otherwise no origin at all, and the request is refused (503).
 * @module
 */
import type { Env } from "../env";

/** The base URL to forward a request to (`""`: its own URL), or `undefined`: refuse it. */
export function originFor(env: Env, sandboxHost: boolean): string | undefined {
  const origin = env.ORIGIN?.trim() ?? "";
  if (!sandboxHost) return origin;
  const sandbox = env.SANDBOX_ORIGIN?.trim() ?? "";
  if (sandbox !== "") return sandbox;
  return origin === "" ? "" : undefined;
}
