/**
 * The admin API is off while no admin token is set (`ADMIN_TOKEN`, `ADMIN_READ_TOKEN`, `ADMIN_TOKENS`): every call answers 404, as if it were not
 * there. So that this does not look like a typo, the first request an isolate serves logs it once
 * (`admin.disabled`), and under `wrangler dev` (a loopback host, never a production one) the 404
 * says why and how to turn it on.
 * @module
 */
import { logEvent } from "../log";
import { type AdminTokenVars, adminApiOn } from "./tokens";

let reported = false;

/** Logs once per isolate that the admin API is off. */
export function reportAdminOff(env: AdminTokenVars & { ADMIN_PREFIX?: string }): void {
  if (reported || adminApiOn(env)) return;
  reported = true;
  logEvent(
    "admin.disabled",
    {
      prefix: env.ADMIN_PREFIX || "/__ratelimit",
      message:
        "ADMIN_TOKEN is not set: the admin API answers 404. Set it with `npx wrangler secret put ADMIN_TOKEN` (locally: ADMIN_TOKEN=... in .dev.vars, then restart wrangler dev)",
    },
    "warn",
  );
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The 404 of an admin call while the admin API is off; with a hint on a loopback host. */
export function adminOffResponse(request: Request): Response {
  const local = LOOPBACK.has(new URL(request.url).hostname);
  const body: Record<string, string> = { error: "not_found", message: "no such admin call" };
  if (local)
    body.hint =
      "the admin API is off because ADMIN_TOKEN is not set: put ADMIN_TOKEN=<a secret> in .dev.vars and restart npm run dev";
  return Response.json(body, { status: 404, headers: { "Cache-Control": "no-store" } });
}
