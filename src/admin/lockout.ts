/**
 * Who may call the admin API, and how fast a wrong token may be guessed.
 *
 * Wrong tokens are counted per client address (IPv6 per /64) in that address's counter object:
 * 10 per 15 minutes, then 429 until the window ends. The failure is charged BEFORE the token is
 * compared and given back when it was right, so parallel guesses cannot get more than 10
 * comparisons. Only requests that present a token count: a request with no `Authorization`
 * header, and any `OPTIONS` (a CORS preflight never carries credentials), get 401 without being
 * counted or compared, so no web page can lock an operator out. A locked address is let in again
 * by `POST <prefix>/unlock` from another address, or by an unlock marker in KV
 * (`admin-unlock:<address>`, what `policy unlock --local/--remote` writes through wrangler). A
 * marker lifts the lockout it names, once, and nothing else (see `unlock-key.ts`): while an address
 * is locked out its lockout is recorded in KV so the CLI can name it.
 *
 * The count goes through the engine's counter-store port, the store the front door counts with. A
 * limit of 10 is far below the room an object needs before it lends any of it to an isolate (see
 * `src/lease/`; test/unit/admin-lockout.test.ts holds the two against each other), so every
 * guess is decided and charged in the address's object itself, before the token is compared.
 * @module
 */
import { UNKNOWN_IP } from "../engine/identity";
import type { Background, CounterStore } from "../engine/ports";
import type { Env } from "../env";
import { chargesOf } from "../limiter/answer";
import type { Charge } from "../limiter/types";
import { logEvent } from "../log";
import { constantTimeEqual } from "./constant-time";
import { ADMIN_FAILURES, ADMIN_UNLOCKS, lockoutObjectName } from "./lockout-counter";
import type { AdminToken } from "./tokens";
import {
  addressKey,
  lockoutKey,
  lockoutRecord,
  readLockoutRecord,
  readUnlockMarker,
  ttlSeconds,
  unlockKey,
} from "./unlock-key";

export { ADMIN_FAILURES, addressKey, lockoutObjectName, unlockKey };

/** How long a client is asked to wait when the lockout counter cannot be reached. */
export const LOCKOUT_UNAVAILABLE_RETRY_SECONDS = 10;

/** Who may go on (the token presented, by name and role), or the answer to send. */
export type AdminAuth = { ok: true; token: Omit<AdminToken, "token"> } | { ok: false; response: Response };

function json(status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store", ...headers } });
}

function unauthorized(): Response {
  return json(401, { error: "unauthorized", message: "missing or wrong admin token" });
}

/** Where wrong tokens are counted: the counter store, and where work after the response goes. */
export interface LockoutStore {
  counters: CounterStore;
  background: Background;
}

/**
 * Checks the bearer token of an admin request against every configured token (read or write: a
 * wrong token is counted whatever role the right ones have); which token it was, or the answer to
 * send when it may not go on.
 */
export async function authenticate(
  request: Request,
  env: Env,
  tokens: readonly AdminToken[],
  { counters, background }: LockoutStore,
): Promise<AdminAuth> {
  const address = request.headers.get("cf-connecting-ip") ?? "";
  const ipKey = addressKey(address) ?? UNKNOWN_IP;
  const method = request.method;
  const path = new URL(request.url).pathname;
  const header = request.headers.get("authorization");
  if (method === "OPTIONS" || header === null || header.trim() === "") {
    logEvent(
      "admin.unauthorized",
      {
        ip: address || UNKNOWN_IP,
        method,
        path,
        reason: method === "OPTIONS" ? "preflight" : "no token",
        counted: false,
      },
      "warn",
    );
    return { ok: false, response: unauthorized() };
  }

  const object = lockoutObjectName(ipKey);
  const charge = () => counters.check(object, { counters: [ADMIN_FAILURES] }, background);
  let charges: Charge[];
  try {
    let charged = await charge();
    if (!charged.allowed) {
      const until = charged.counters[0]!.result.resetAt;
      if (await liftedByMarker(env, { counters, background }, ipKey, until, charged.now).catch(markerFailed(ipKey)))
        charged = await charge();
    }
    if (!charged.allowed)
      return { ok: false, response: lockedOut(charged.counters[0]!.result.resetAt, charged.now, address) };
    charges = chargesOf(charged);
  } catch (e) {
    // Without the counter the token cannot be compared safely: refuse, and say when to come back.
    logEvent("admin.lockout_unavailable", { ip: address || UNKNOWN_IP, message: (e as Error).message }, "error");
    return {
      ok: false,
      response: json(
        503,
        { error: "lockout_unavailable", message: "the admin API cannot check this address right now; try again" },
        { "Retry-After": String(LOCKOUT_UNAVAILABLE_RETRY_SECONDS) },
      ),
    };
  }

  const match = /^Bearer[ ]+(.+)$/i.exec(header);
  const presented = match ? match[1]!.trim() : undefined;
  // Compared with every token, not stopping at a match, so the time taken does not say which one it was.
  let found: AdminToken | undefined;
  for (const t of tokens) if (presented !== undefined && constantTimeEqual(presented, t.token)) found ??= t;
  if (!found) {
    logEvent(
      "admin.unauthorized",
      { ip: address || UNKNOWN_IP, method, path, reason: "wrong token", counted: true },
      "warn",
    );
    return { ok: false, response: unauthorized() };
  }
  // The right token: the failure charged above is given back.
  try {
    await counters.release(object, charges, background);
  } catch (e) {
    logEvent("admin.lockout_refund_failed", { ip: address || UNKNOWN_IP, message: (e as Error).message }, "warn");
  }
  return { ok: true, token: { name: found.name, role: found.role } };
}

function lockedOut(resetAt: number, now: number, address: string): Response {
  const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000));
  logEvent("admin.locked_out", { ip: address || UNKNOWN_IP, retryAfter }, "warn");
  return json(
    429,
    {
      error: "too_many_failures",
      message:
        "too many wrong admin tokens from this address; try again later, or unlock it (POST /unlock from another address, or `policy unlock <address> --local/--remote`)",
    },
    { "Retry-After": String(retryAfter) },
  );
}

/** KV failing while an address is locked out: it stays locked out (429), as without a marker. */
function markerFailed(ipKey: string): (e: unknown) => false {
  return (e) => {
    logEvent("admin.unlock_unavailable", { ip: ipKey, message: (e as Error).message }, "warn");
    return false;
  };
}

/**
 * A locked-out address: records its lockout in KV (for `policy unlock --local/--remote` to name), and
 * lifts it when an unlock marker names this lockout and none has lifted one in this window yet. The
 * marker is deleted once used; a marker for no lockout or another one is left to expire.
 */
async function liftedByMarker(
  env: Env,
  { counters, background }: LockoutStore,
  ipKey: string,
  until: number,
  now: number,
): Promise<boolean> {
  const [recorded, marker] = await Promise.all([
    env.POLICIES.get(lockoutKey(ipKey)),
    env.POLICIES.get(unlockKey(ipKey)),
  ]);
  if (readLockoutRecord(recorded) !== until)
    await env.POLICIES.put(lockoutKey(ipKey), lockoutRecord(until), { expirationTtl: ttlSeconds(until, now) });
  if (marker === null) return false;
  const lifts = readUnlockMarker(marker);
  if (lifts !== until) {
    logEvent("admin.unlock_ignored", { ip: ipKey, reason: "the marker names no lockout in force", lifts }, "warn");
    return false;
  }
  const object = lockoutObjectName(ipKey);
  const once = await counters.check(object, { counters: [ADMIN_UNLOCKS] }, background);
  if (!once.allowed) {
    logEvent("admin.unlock_ignored", { ip: ipKey, reason: "a marker already lifted this lockout", lifts }, "warn");
    return false;
  }
  await Promise.all([env.POLICIES.delete(unlockKey(ipKey)), env.POLICIES.delete(lockoutKey(ipKey))]);
  await counters.reset(object, [ADMIN_FAILURES.name]);
  logEvent("admin.unlocked", { ip: ipKey, by: "kv", lifted: until });
  return true;
}

/**
 * Clears an address's wrong-token count (`POST /unlock`), and its lockout record, so no unlock marker
 * is written for the lockout lifted here.
 */
export async function unlockAddress(
  counters: CounterStore,
  address: string,
  kv?: KVNamespace,
): Promise<{ ipKey: string; cleared: boolean }> {
  const ipKey = addressKey(address);
  if (ipKey === undefined) throw new TypeError(`not an IP address: ${address}`);
  const removed = await counters.reset(lockoutObjectName(ipKey), [ADMIN_FAILURES.name]);
  await kv?.delete(lockoutKey(ipKey));
  return { ipKey, cleared: removed > 0 };
}
