/**
 * What every admin route shares: the Hono environment (who called, with which
 * role) and the error body.
 * @module
 */
import type { Env } from "../env";
import type { AdminRole } from "./tokens";

/** `actor`: the name of the token the call came with; `role`: what that token may do. */
export type AdminEnv = { Bindings: Env; Variables: { actor: string; role: AdminRole } };

/** Error body of the admin API: `{ error, message }` plus `errors: [{path, message}]` for a bad document. */
export function problem(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error, message, ...extra }, { status, headers: { "Cache-Control": "no-store" } });
}
