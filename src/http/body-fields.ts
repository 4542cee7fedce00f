/**
 * Reads one field of a request body for a `body:<field>` key, without taking
 * the body from the origin: it reads a clone, at most {@link MAX_BODY_BYTES},
 * and cancels the rest of that clone.
 * @module
 */

export const MAX_BODY_BYTES = 16 * 1024;

export type BodyFields = (path: readonly string[]) => string | undefined;

/**
 * Parses a JSON or `application/x-www-form-urlencoded` body of at most 16 KiB.
 * Anything else (another type, a larger body, malformed text) gives `undefined`:
 * the caller counts such a request by its IP.
 */
export async function readBodyFields(request: Request, maxBytes = MAX_BODY_BYTES): Promise<BodyFields | undefined> {
  if (!request.body) return undefined;
  const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const isJson = type === "application/json" || type.endsWith("+json");
  const isForm = type === "application/x-www-form-urlencoded";
  if (!isJson && !isForm) return undefined;
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) return undefined;

  const text = await readPrefix(request.clone(), maxBytes);
  if (text === undefined) return undefined;
  if (isForm) {
    const form = new URLSearchParams(text);
    return (path) => (path.length === 1 ? (form.get(path[0]!) ?? undefined) : undefined);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  return (path) => {
    let node: unknown = json;
    for (const p of path) {
      if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
      node = (node as Record<string, unknown>)[p];
    }
    if (typeof node === "string") return node;
    if (typeof node === "number" || typeof node === "boolean") return String(node);
    return undefined;
  };
}

/** The body as text if it is at most `maxBytes` long; `undefined` if longer. */
async function readPrefix(request: Request, maxBytes: number): Promise<string | undefined> {
  const reader = request.body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) return undefined;
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
