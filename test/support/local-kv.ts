/**
 * The Worker's local KV (the `POLICIES` binding under a `--persist-to` folder), written and read
 * with wrangler itself rather than the CLI's own code, so a mistake there cannot hide.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { run } from "./subprocess";
import { WRANGLER_BIN, withFreshDir } from "./wrangler-dev";

const LOCAL = (persistTo: string) => ["--binding", "POLICIES", "--local", "--persist-to", persistTo];

/** `wrangler kv key put <key> <value>` into local KV. */
export async function localKvPut(key: string, value: string, persistTo: string): Promise<void> {
  const r = await run(WRANGLER_BIN, ["kv", "key", "put", key, value, ...LOCAL(persistTo)]);
  expect(r.code, r.stderr).toBe(0);
}

/** Local KV values as wrangler reads them (one `kv bulk get`); `null` for a missing key. */
export async function localKvValues(
  keys: readonly string[],
  persistTo: string,
): Promise<Record<string, string | null>> {
  return withFreshDir("sluice-kv-keys", async (dir) => {
    const file = join(dir, "keys.json");
    await writeFile(file, JSON.stringify(keys));
    const r = await run(WRANGLER_BIN, ["kv", "bulk", "get", file, ...LOCAL(persistTo)]);
    expect(r.code, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as Record<string, { value: string | null }>;
    return Object.fromEntries(keys.map((k) => [k, answer[k]?.value ?? null]));
  });
}

export async function localKvValue(key: string, persistTo: string): Promise<string | null> {
  return (await localKvValues([key], persistTo))[key]!;
}
