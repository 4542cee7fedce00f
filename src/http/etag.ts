/**
 * The `ETag` of a policy text: what `GET /policy` sends and `PUT /policy` compares `If-Match` with.
 * @module
 */
import { sha256Hex } from "../hash";

export async function etagOf(text: string): Promise<string> {
  return `"${(await sha256Hex(text)).slice(0, 32)}"`;
}

/** The entity tags of an `If-Match` value (`*` stays `*`); weak tags never match (RFC 9110 13.1.1). */
export function ifMatchTags(header: string): string[] {
  return header
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "" && !t.startsWith("W/"));
}
