/**
 * The operator console: one HTML page, its script and its style, served by
 * the Worker under `<ADMIN_PREFIX>/console` (so it never shadows a path of
 * the origin). Loading them needs no token: the page asks for it and sends
 * it as a bearer header on its API calls, so there is no cookie and no CSRF.
 * The policy allows only these same-origin files: no inline script or style,
 * no framing, nothing from elsewhere.
 * @module
 */
import { CONSOLE_SCRIPT } from "./script";
import { CONSOLE_STYLE } from "./style";

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "Content-Security-Policy": CONSOLE_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

// Its own icon, so the browser does not ask the origin (and its rate limits) for /favicon.ico.
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2458d6"/><path d="M3 11h10M3 7h6" stroke="#fff" stroke-width="2"/></svg>';

function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function page(prefix: string): string {
  const base = escapeAttribute(`${prefix}/console`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>sluice console</title>
<link rel="icon" href="${base}/favicon.svg">
<link rel="stylesheet" href="${base}/console.css">
<script src="${base}/console.js" defer></script>
</head>
<body>
<header>
<h1>sluice</h1>
<nav id="nav" hidden>
<a href="#/overview">Overview</a>
<a href="#/top-keys">Top refused keys</a>
<a href="#/key">Key</a>
<a href="#/policy">Policy</a>
<a href="#/tenants">Tenants</a>
<a href="#/explain">Explain</a>
<span id="whoami" class="muted"></span>
<button type="button" id="sign-out">Forget token</button>
</nav>
</header>
<main>
<form id="token-form" hidden>
<h2>Admin token</h2>
<p>Any admin token: <code>ADMIN_TOKEN</code>, <code>ADMIN_READ_TOKEN</code> (every view, no changes) or one of <code>ADMIN_TOKENS</code>. It stays in this tab (sessionStorage) and is sent as a bearer header on each call.</p>
<label for="token-input">Admin token</label>
<input id="token-input" type="password" autocomplete="off" required>
<button type="submit">Open the console</button>
<p id="token-error" class="error" role="alert"></p>
</form>
<section id="view" aria-live="polite"></section>
</main>
</body>
</html>
`;
}

/**
 * Answers a console path (the part after the admin prefix), or undefined
 * for any other path. `prefix` is the admin prefix without its trailing slash.
 */
export function serveConsole(path: string, prefix: string): Response | undefined {
  if (path === "/console" || path === "/console/") {
    return new Response(page(prefix), {
      headers: { "Content-Type": "text/html; charset=utf-8", ...SECURITY_HEADERS },
    });
  }
  if (path === "/console/console.js")
    return new Response(CONSOLE_SCRIPT, {
      headers: { "Content-Type": "text/javascript; charset=utf-8", ...SECURITY_HEADERS },
    });
  if (path === "/console/favicon.svg")
    return new Response(FAVICON, { headers: { "Content-Type": "image/svg+xml", ...SECURITY_HEADERS } });
  if (path === "/console/console.css")
    return new Response(CONSOLE_STYLE, { headers: { "Content-Type": "text/css; charset=utf-8", ...SECURITY_HEADERS } });
  return undefined;
}
