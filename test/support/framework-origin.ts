/**
 * How real origin frameworks read a request, for the loopback origin's echo:
 * the route a path reaches and the body fields they parse. The security tests
 * use it to show that what sluice counts is what the origin acts on.
 *
 * - paths: Tomcat/Jetty/Spring strip `;` path parameters per segment; Rails and
 *   Tomcat merge slashes and decode escapes; Rails routes `/x.json` to `/x`
 *   (format suffix); a case-insensitive router folds case (`ſ` is `s`).
 * - bodies: Express inflates gzip/deflate/br and decodes the declared charset;
 *   JSON is parsed whatever the type says (`express.json({ type: "*\/*" })`, strict:
 *   an object or an array), else the body is a form parsed by qs as
 *   `express.urlencoded({ extended: true })` does (a field twice, `email[]=`,
 *   `email[0]=` are arrays); multipart fields as busboy (multer) gives them.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import Busboy from "busboy";
import qs from "qs";

/** The body fields an Express-like origin (with the choices above) reads; `undefined` when it cannot. */
export async function parsedBody(
  headers: Record<string, string | string[] | undefined>,
  raw: Buffer,
): Promise<unknown> {
  let bytes = raw;
  const coding = String(headers["content-encoding"] ?? "").toLowerCase();
  try {
    if (coding === "gzip") bytes = gunzipSync(bytes);
    else if (coding === "deflate") bytes = inflateSync(bytes);
    else if (coding === "br") bytes = brotliDecompressSync(bytes);
  } catch {
    return undefined;
  }
  const type = String(headers["content-type"] ?? "");
  if (type.toLowerCase().startsWith("multipart/form-data")) return multipart(type, bytes);
  const charset = /charset="?([^";,\s]+)/i.exec(type)?.[1]?.toLowerCase() ?? "utf-8";
  let text: string;
  try {
    text = new TextDecoder(charset === "iso-8859-1" ? "latin1" : charset).decode(bytes);
  } catch {
    return undefined;
  }
  if (/^[ \t\r\n]*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // Not JSON: a form, as below.
    }
  }
  return qs.parse(text, { depth: 32, arrayLimit: 100, charset: charset === "iso-8859-1" ? "iso-8859-1" : "utf-8" });
}

function multipart(type: string, bytes: Buffer): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    let bb: Busboy.Busboy;
    try {
      bb = Busboy({ headers: { "content-type": type } });
    } catch {
      resolve(undefined);
      return;
    }
    const fields: Record<string, unknown> = {};
    bb.on("field", (name, value) => {
      // multer's way: a name given twice makes an array.
      const seen = fields[name];
      fields[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    });
    bb.on("file", (_name, stream) => {
      stream.on("error", () => {});
      stream.resume();
    });
    bb.on("error", () => resolve(undefined));
    bb.on("close", () => resolve(fields));
    bb.end(bytes);
  });
}
