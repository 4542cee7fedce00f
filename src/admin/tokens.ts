/**
 * The admin API's tokens and their roles (docs/operations.md "Admin tokens and roles").
 *
 * - `ADMIN_TOKEN`: a write token named `admin` (as before roles: it may do everything).
 * - `ADMIN_READ_TOKEN`: a read token named `read`, for dashboards and scrapers.
 * - `ADMIN_TOKENS`: named tokens, JSON `{"<name>": {"token": "<secret>", "role": "read" | "write"}}`.
 *
 * A read token may call GET (and HEAD), and the two POSTs that change nothing: `/policy/validate` and
 * `/explain`. Anything else with it is 403. The name of the token a call came with is its actor (the
 * policy history's `actor`, the `actor` of log lines); what the caller says about itself is not read.
 *
 * The admin API is on when any token is configured. An `ADMIN_TOKENS` that is not a valid map closes
 * the whole admin API (500, and a log line saying what is wrong, never a token) until it is fixed:
 * better than guessing which of its tokens were meant.
 * @module
 */

export type AdminRole = "read" | "write";

export interface AdminToken {
  name: string;
  role: AdminRole;
  token: string;
}

/** The vars that configure admin tokens. */
export interface AdminTokenVars {
  ADMIN_TOKEN?: string | undefined;
  ADMIN_READ_TOKEN?: string | undefined;
  ADMIN_TOKENS?: string | undefined;
}

export type AdminTokens =
  | { state: "off" }
  | { state: "invalid"; problems: string[] }
  | { state: "on"; tokens: AdminToken[] };

/** The name `ADMIN_TOKEN` acts under (in the policy history and the logs). */
export const ADMIN_TOKEN_NAME = "admin";
/** The name `ADMIN_READ_TOKEN` acts under. */
export const ADMIN_READ_TOKEN_NAME = "read";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

const set = (v: string | undefined): v is string => v !== undefined && v !== "";

/** Whether any admin token is configured (else the admin API answers 404, as if it were not there). */
export function adminApiOn(env: AdminTokenVars): boolean {
  return set(env.ADMIN_TOKEN) || set(env.ADMIN_READ_TOKEN) || set(env.ADMIN_TOKENS?.trim());
}

let cached: { key: string; value: AdminTokens } | undefined;

/** The configured tokens (read once per isolate and set of values). */
export function adminTokens(env: AdminTokenVars): AdminTokens {
  const key = JSON.stringify([env.ADMIN_TOKEN ?? null, env.ADMIN_READ_TOKEN ?? null, env.ADMIN_TOKENS ?? null]);
  if (cached?.key !== key) cached = { key, value: readTokens(env) };
  return cached.value;
}

function readTokens(env: AdminTokenVars): AdminTokens {
  if (!adminApiOn(env)) return { state: "off" };
  const tokens: AdminToken[] = [];
  if (set(env.ADMIN_TOKEN)) tokens.push({ name: ADMIN_TOKEN_NAME, role: "write", token: env.ADMIN_TOKEN });
  if (set(env.ADMIN_READ_TOKEN))
    tokens.push({ name: ADMIN_READ_TOKEN_NAME, role: "read", token: env.ADMIN_READ_TOKEN });
  const problems: string[] = [];
  if (set(env.ADMIN_TOKENS?.trim())) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(env.ADMIN_TOKENS);
    } catch {
      // Not the parser's message: it may quote the text, and the text holds the tokens.
      return { state: "invalid", problems: ["ADMIN_TOKENS is not JSON"] };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      return {
        state: "invalid",
        problems: ['ADMIN_TOKENS must be an object: {"<name>": {"token": ..., "role": ...}}'],
      };
    for (const [name, entry] of Object.entries(parsed)) {
      const at = `ADMIN_TOKENS[${JSON.stringify(name.slice(0, 64))}]`;
      if (!TOKEN_NAME.test(name)) {
        problems.push(
          `${at}: a name is 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`,
        );
        continue;
      }
      if (tokens.some((t) => t.name === name)) {
        problems.push(`${at}: the name "${name}" is taken (by ADMIN_TOKEN, ADMIN_READ_TOKEN or another entry)`);
        continue;
      }
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        problems.push(`${at}: must be {"token": "<secret>", "role": "read" | "write"}`);
        continue;
      }
      const { token, role, ...rest } = entry as Record<string, unknown>;
      const unknown = Object.keys(rest);
      if (unknown.length > 0) problems.push(`${at}: unknown field ${JSON.stringify(unknown[0])}`);
      if (typeof token !== "string" || token.trim() === "" || token !== token.trim())
        problems.push(`${at}.token: must be a non-empty string without surrounding spaces`);
      if (role !== "read" && role !== "write") problems.push(`${at}.role: must be "read" or "write"`);
      if (unknown.length === 0 && typeof token === "string" && (role === "read" || role === "write"))
        tokens.push({ name, role, token });
    }
  }
  // The same secret under two names would make the actor (and perhaps the role) a matter of order.
  const seen = new Map<string, string>();
  for (const t of tokens) {
    const other = seen.get(t.token);
    if (other !== undefined) problems.push(`the tokens of "${other}" and "${t.name}" are the same; each needs its own`);
    else seen.set(t.token, t.name);
  }
  return problems.length > 0 ? { state: "invalid", problems } : { state: "on", tokens };
}

/** The calls a read token may make: GET and HEAD, and the POSTs that change nothing. */
export function readOnlyCall(method: string, path: string): boolean {
  if (method === "GET" || method === "HEAD") return true;
  if (method !== "POST") return false;
  const p = path.replace(/\/+$/, "");
  return p.endsWith("/policy/validate") || p.endsWith("/explain");
}
