/**
 * The admin API from the command line: `Authorization: Bearer <token>`,
 * errors turned into {@link CliError}s that carry the server's own message.
 * @module
 */
import { CliError, EXIT_NO, EXIT_TROUBLE } from "./errors";

export { DEFAULT_ADMIN_PREFIX } from "../admin/prefix";

const TIMEOUT_MS = 30_000;

export interface AdminTarget {
  /** The Worker's base URL, e.g. `https://api.example.com` or `http://127.0.0.1:8787`. */
  url: string;
  token: string;
  prefix: string;
}

export interface AdminResponse {
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

/** The JSON body of a successful answer. */
export function answerJson<T>(res: AdminResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new CliError(
      `${res.url} answered ${res.status} with something that is not JSON: ${res.text.trim().slice(0, 200)}`,
    );
  }
}

interface Problem {
  error?: unknown;
  message?: unknown;
  errors?: unknown;
  etag?: unknown;
  hint?: unknown;
}

/** `<base><prefix><path>`, not doubling the prefix when the base URL already ends with it. */
export function adminUrl(target: AdminTarget, path: string, query: Record<string, string> = {}): string {
  let base: URL;
  try {
    base = new URL(target.url);
  } catch {
    throw new CliError(
      `not a URL: ${JSON.stringify(target.url)} (give the Worker's base URL, e.g. http://127.0.0.1:8787)`,
    );
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new CliError(`not an http(s) URL: ${target.url}`);
  const prefix = `/${target.prefix.replace(/^\/+|\/+$/g, "")}`;
  let basePath = base.pathname.replace(/\/+$/, "");
  if (!basePath.endsWith(prefix)) basePath += prefix;
  base.pathname = `${basePath}${path}`;
  base.search = new URLSearchParams(query).toString();
  return base.href;
}

export async function adminCall(
  target: AdminTarget,
  method: string,
  path: string,
  options: { query?: Record<string, string>; body?: string; headers?: Record<string, string> } = {},
): Promise<AdminResponse> {
  const url = adminUrl(target, path, options.query);
  const headers: Record<string, string> = {
    authorization: `Bearer ${target.token}`,
    accept: "application/json",
    ...options.headers,
  };
  if (options.body !== undefined) headers["content-type"] ??= "application/json";
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: options.body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why =
      err.name === "TimeoutError"
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new CliError(`cannot reach ${url}: ${why}`);
  }
  const text = await res.text();
  if (res.ok) return { url, status: res.status, headers: res.headers, text };
  throw httpError(method, url, res.status, text);
}

function httpError(method: string, url: string, status: number, text: string): CliError {
  let problem: Problem | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === "object") problem = parsed as Problem;
  } catch {
    // Not JSON: show the start of the text.
  }
  const said =
    problem && (typeof problem.message === "string" || typeof problem.error === "string")
      ? [problem.error, problem.message].filter((s) => typeof s === "string").join(": ")
      : text.trim().slice(0, 300) || "(empty body)";
  const details: string[] = [];
  if (problem && Array.isArray(problem.errors)) {
    for (const e of problem.errors as Array<{ path?: unknown; message?: unknown }>)
      details.push(`  ${formatErrorLine(String(e.path ?? ""), String(e.message ?? ""))}`);
  }
  if (typeof problem?.etag === "string") details.push(`  current ETag: ${problem.etag}`);
  if (typeof problem?.hint === "string") details.push(`  ${problem.hint}`);
  if (status === 401)
    details.push(
      "  check the token (--token or SLUICE_ADMIN_TOKEN): it must be the Worker's ADMIN_TOKEN, ADMIN_READ_TOKEN or one of ADMIN_TOKENS",
    );
  if (status === 403 && problem?.error === "forbidden")
    details.push(
      "  this token has the role read; changes need a write token (ADMIN_TOKEN, or a write token of ADMIN_TOKENS)",
    );
  const noSuchCall =
    problem === undefined || (typeof problem.message === "string" && problem.message.startsWith("no such admin call"));
  if (status === 404 && noSuchCall) {
    details.push(
      "  is ADMIN_TOKEN set on the Worker (without it the admin API answers 404), and --admin-prefix right?",
    );
  }
  // The server refused the change itself: the answer is "no", not trouble.
  const refused = (status === 400 && problem?.error === "invalid_policy") || status === 412;
  return new CliError(`${method} ${url} answered ${status}: ${said}`, refused ? EXIT_NO : EXIT_TROUBLE, details);
}

/** `path: message`, with `(document)` for the document itself. */
export function formatErrorLine(path: string, message: string): string {
  return `${path === "" ? "(document)" : path}: ${message}`;
}
