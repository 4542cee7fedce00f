/**
 * Display labels of counting keys: what an operator reads beside a key in the top refused keys, the
 * log line of a refusal and the console. The counting key itself (the counter object's name) stays as
 * it is, `header|query|body:<name>:<sha256>`, so no counter moves on upgrade; the label travels beside it.
 *
 * - A value that is not a credential is shown as it is counted: trimmed, lower-cased, cut to
 *   {@link MAX_LABEL_VALUE} characters, with control and invisible characters escaped:
 *   `header:x-user-id:u1`, `body:email:ann@example.com`.
 * - A credential never is: `header:x-api-key:[credential 3f2a9c1b]`, the first 8 hex digits of the
 *   SHA-256 already in the key, enough to tell two rows apart and nothing more.
 *
 * Credentials are the places the policy reads API keys from (`identity.apiKey`: its header or query, `also`
 * and `forbidden`), and any header, query parameter or body field whose name says it holds a secret
 * (see {@link credentialName}). IPs and tenant ids need no label: their keys are readable as they are.
 * @module
 */
import type { CredentialPolicy, KeySpec } from "../policy/compile";

/** Characters of a value a label shows; a longer value is cut and ends in `…`. */
export const MAX_LABEL_VALUE = 64;
/** Hex digits of the value's SHA-256 a credential's label shows. */
const CREDENTIAL_HASH_DIGITS = 8;

/** Names that are credentials, compared lower-case with `-` read as `_` and a leading `x_` dropped. */
const CREDENTIAL_NAMES = new Set([
  "authorization",
  "proxy_authorization",
  "cookie",
  "set_cookie",
  "api_key",
  "apikey",
  "key",
  "auth",
  "access_token",
  "session",
  "sessionid",
  "session_id",
  "sid",
  "signature",
]);
/** Name endings that are credentials (`x-auth-token`, `client_secret`, `password`, `partner_api_key`). */
const CREDENTIAL_ENDINGS = [
  "token",
  "secret",
  "password",
  "passwd",
  "apikey",
  "api_key",
  "_key",
  "credential",
  "credentials",
];

/** Whether a header, query parameter or body field of this name holds a secret by its name alone. */
export function credentialName(name: string): boolean {
  const n = name.toLowerCase().replace(/-/g, "_").replace(/^x_/, "");
  return CREDENTIAL_NAMES.has(n) || CREDENTIAL_ENDINGS.some((e) => n.endsWith(e));
}

/** Whether a rule's key reads a credential: a place the policy takes API keys from, or a name that says so. */
export function isCredentialKey(key: KeySpec, credentials: CredentialPolicy): boolean {
  if (key.kind === "tenant" || key.kind === "ip") return false;
  const places = [...credentials.accepted, ...credentials.forbidden];
  if (key.kind === "header")
    return credentialName(key.name) || places.some((p) => "header" in p && p.header.toLowerCase() === key.name);
  const name = key.kind === "query" ? key.name : key.path[key.path.length - 1]!;
  // A body key may be read from the query string too (`bodyKey.from`), so a query place of the API key counts for both.
  return (
    credentialName(name) ||
    (key.kind === "body" && credentialName(key.field)) ||
    places.some((p) => "query" in p && p.query.toLowerCase() === name.toLowerCase())
  );
}

/**
 * C0 and C1 controls, the soft hyphen, zero-width and direction marks, line and paragraph separators,
 * bidi embeddings and isolates, invisible operators, the BOM: each would make two labels look alike or
 * reorder what is around it.
 */
function unshown(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0xad ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2069) ||
    code === 0xfeff
  );
}

/** A normalised value as a label shows it: cut, with what cannot be seen escaped (`\u0000`). */
export function shownValue(normalised: string): string {
  // At most two UTF-16 units a character: the head holds the characters shown, and splits no pair among them.
  const head = normalised.slice(0, MAX_LABEL_VALUE * 2);
  const chars = [...head];
  const longer = chars.length > MAX_LABEL_VALUE || head.length < normalised.length;
  const cut = longer ? [...chars.slice(0, MAX_LABEL_VALUE), "…"] : chars;
  return cut
    .map((c) => {
      const code = c.codePointAt(0)!;
      return unshown(code) ? `\\u${code.toString(16).padStart(4, "0")}` : c;
    })
    .join("");
}

/**
 * The label of a value key: `<kind>:<name>:<value as shown>`, or `<kind>:<name>:[credential <hash>]`.
 * `normalised` is the value as it is hashed (trimmed, lower-cased); `hash` its SHA-256 hex.
 */
export function valueLabel(kind: string, name: string, normalised: string, hash: string, credential: boolean): string {
  if (credential) return `${kind}:${name}:[credential ${hash.slice(0, CREDENTIAL_HASH_DIGITS)}]`;
  return `${kind}:${name}:${shownValue(normalised)}`;
}
