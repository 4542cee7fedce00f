/**
 * Last good, always, end to end: a good policy written into KV by hand, then a broken one, then a
 * restart of `wrangler dev` on the same state. The good limits still hold, and the admin API and
 * `policy diff` say that KV holds an invalid document and which version is in force.
 */
import { spawn } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BIN_DIR,
  childEnv,
  delay,
  freshDir,
  PROJECT_ROOT,
  startWranglerDev,
  WRANGLER_BIN,
  type WranglerDev,
} from "../support/wrangler-dev";

const TOKEN = `lg-admin-${Math.random().toString(36).slice(2)}`;
const BROKEN = '{"version":1,"rules":[{"id":"x",';
const good = (limit: number) =>
  JSON.stringify({
    version: 1,
    headers: ["legacy"],
    rules: [{ id: "lg", match: { paths: ["/lg/*"] }, key: "ip", limits: [{ limit, window: "1h" }] }],
  });

function run(
  command: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = childEnv();
  for (const name of ["SLUICE_URL", "SLUICE_ADMIN_TOKEN", "SLUICE_ADMIN_PREFIX", "SLUICE_ACTOR"]) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const policyCli = (...args: string[]) =>
  run(join(BIN_DIR, "tsx"), [join(PROJECT_ROOT, "src", "cli", "policy.ts"), ...args]);

describe("an invalid document in KV across a restart of wrangler dev", () => {
  let persistTo: string;
  let dev: WranglerDev | undefined;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const start = async () =>
    startWranglerDev({
      persistTo,
      vars: { ORIGIN: "builtin:echo", POLICY_TTL_SECONDS: "0", ADMIN_TOKEN: TOKEN, LIMITER_TIMEOUT_MS: "5000" },
    });
  const kvPut = async (value: string) => {
    const r = await run(WRANGLER_BIN, [
      "kv",
      "key",
      "put",
      "policy",
      value,
      "--binding",
      "POLICIES",
      "--local",
      "--persist-to",
      persistTo,
    ]);
    expect(r.code, r.stderr).toBe(0);
  };
  const limitHeader = async () => {
    const res = await fetch(`${dev!.url}/lg/probe`);
    await res.arrayBuffer();
    return res.headers.get("RateLimit-Limit");
  };

  beforeAll(async () => {
    persistTo = await freshDir("sluice-e2e-last-good");
    dev = await start();
  });

  afterAll(async () => {
    await dev?.stop();
    await rm(persistTo, { recursive: true, force: true });
  });

  it("keeps a good document put into KV by hand when KV breaks, records it, and still enforces it after a restart", async () => {
    await kvPut(good(7));
    expect(await limitHeader()).toBe("7");
    await kvPut(BROKEN);
    // The warm isolate keeps the good document and, now that something replaced it, records it.
    expect(await limitHeader()).toBe("7");
    const res0 = await fetch(`${dev!.url}/__ratelimit/policy/history`, { headers: auth });
    const { versions } = (await res0.json()) as { versions: Array<{ version: number; how: string }> };
    expect(versions).toEqual([expect.objectContaining({ version: 1, how: "seen-in-kv" })]);

    await dev!.stop();
    dev = await start();
    // A fresh isolate whose first read is the broken document: the good limits, not the built-in 300.
    expect(await limitHeader()).toBe("7");
    // wrangler passes the Worker's log lines on with a delay.
    for (let i = 0; i < 50 && !dev.output().includes('"keeping":"history"'); i++) await delay(100);
    expect(dev.output()).toContain('"keeping":"history"');

    const res = await fetch(`${dev.url}/__ratelimit/policy`, { headers: auth });
    expect(res.headers.get("X-Sluice-Stored-Policy")).toBe("invalid");
    expect(res.headers.get("X-Sluice-Policy-Source")).toBe("history");
    expect(res.headers.get("X-Sluice-Policy-Version")).toBe("1");
    expect(await res.text()).toBe(good(7));
  });

  it("policy diff says KV holds an invalid document and diffs against the version in force", async () => {
    const dir = await freshDir("sluice-e2e-last-good-file");
    try {
      const file = join(dir, "policy.json");
      await writeFile(file, good(7));
      const viaApi = await policyCli("diff", file, "--url", dev!.url, "--token", TOKEN);
      expect(viaApi.stderr).toContain("holds an INVALID document");
      expect(viaApi.stdout).toContain("no changes");
      expect(viaApi.stdout).toContain("(history)");
      expect(viaApi.stderr).toContain("version 1");
      expect(viaApi.code).toBe(0);

      const viaKv = await policyCli("diff", file, "--local", "--persist-to", persistTo);
      expect(viaKv.stderr).toContain("holds an INVALID document");
      expect(viaKv.stderr).toContain("in force: version 1");
      expect(viaKv.code, viaKv.stderr).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a push with --local gets its own history entry, with its actor", async () => {
    const dir = await freshDir("sluice-e2e-last-good-file");
    try {
      const file = join(dir, "policy.json");
      await writeFile(file, good(8));
      const r = await policyCli("push", file, "--local", "--persist-to", persistTo, "--actor", "alice");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("version 2");
      expect(await limitHeader()).toBe("8");
      const res = await fetch(`${dev!.url}/__ratelimit/policy/history`, { headers: auth });
      const { versions } = (await res.json()) as { versions: Array<{ version: number; how: string; actor: string }> };
      expect(versions[0]).toMatchObject({ version: 2, how: "cli-local", actor: "alice" });
      expect(versions).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
