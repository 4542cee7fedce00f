/**
 * The webhook's signature, in the shape Stripe made familiar:
 * `x-sluice-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 * The timestamp is signed with the body, so a receiver that refuses old
 * timestamps (say, more than 5 minutes away) refuses replays too.
 * @module
 */

export const SIGNATURE_HEADER = "x-sluice-signature";

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The header's value for `body` sent at `unixSeconds`. */
export async function signatureHeader(secret: string, body: string, unixSeconds: number): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${unixSeconds}.${body}`));
  return `t=${unixSeconds},v1=${hex(mac)}`;
}

/** The event's id (and `idempotency-key`): the SHA-256 hex of what makes it one event, so it is stable and carries no key in clear. */
export async function eventId(parts: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts)));
}
