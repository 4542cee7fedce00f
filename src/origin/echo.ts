/**
 * The built-in demo origin (`ORIGIN = "builtin:echo"`): answers every request
 * with a JSON echo of it, so `npm run dev` shows the limiter with nothing else
 * running. Credentials are redacted: an echo must not hand an API key back.
 * @module
 */
const REDACTED = new Set(["authorization", "x-api-key", "cookie", "proxy-authorization"]);
const MAX_ECHOED_BODY = 64 * 1024;

export async function echoOrigin(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = REDACTED.has(name) ? "[redacted]" : value;
  let body: string | undefined;
  if (request.body) {
    const text = await request.text();
    body = text.length > MAX_ECHOED_BODY ? `${text.slice(0, MAX_ECHOED_BODY)}…` : text;
  }
  return Response.json({
    echo: true,
    method: request.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    ...(body !== undefined ? { body } : {}),
  });
}
