/**
 * How real origin frameworks read a request, for the loopback origin's echo:
 * the route a path reaches and the body fields they parse. The security tests
 * use it to show that what sluice counts is what the origin acts on.
 *
 * - paths: Tomcat/Jetty/Spring strip `;` path parameters per segment; Rails and
 *   Tomcat merge slashes and decode escapes; Rails routes `/x.json` to `/x`
 *   (format suffix); a case-insensitive router folds case (`ſ` is `s`).
 * - bodies: Express inflates gzip/deflate/br, parses JSON whatever the type says
 *   (`express.json({ type: "*\/*" })`), forms last-wins (Rack, PHP), multipart fields.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";

/** The body fields an Express-like origin (with the choices above) reads; `undefined` when it cannot. */
export function parsedBody(headers: Record<string, string | string[] | undefined>, raw: Buffer): unknown {
  let bytes = raw;
  const coding = String(headers["content-encoding"] ?? "").toLowerCase();
  try {
    if (coding === "gzip") bytes = gunzipSync(bytes);
    else if (coding === "deflate") bytes = inflateSync(bytes);
    else if (coding === "br") bytes = brotliDecompressSync(bytes);
  } catch {
    return undefined;
  }
  const text = bytes.toString("utf8");
  const type = String(headers["content-type"] ?? "");
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
  if (type.toLowerCase().startsWith("multipart/form-data") && boundary) {
    const fields: Record<string, string> = {};
    for (const part of text.split(`--${boundary[1] ?? boundary[2]}`).slice(1, -1)) {
      const name = /name="([^"]*)"/.exec(part);
      const value = part.split(/\r\n\r\n/)[1]?.replace(/\r\n$/, "");
      if (name && value !== undefined) fields[name[1]!] = value;
    }
    return fields;
  }
  try {
    return JSON.parse(text);
  } catch {
    // Last wins, as Rack and PHP read a repeated field.
    return Object.fromEntries(new URLSearchParams(text));
  }
}
