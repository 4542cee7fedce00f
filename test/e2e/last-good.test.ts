/**
 * Last good, always, end to end: a good policy written into KV by hand, then a broken one, then a
 * restart of `wrangler dev` on the same state. The good limits still hold, and the admin API and
 * `policy diff` say that KV holds an invalid document and which version is in force.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, bearer, fetchDrained } from "../support/http";
import { localKvPut } from "../support/local-kv";
import { adminApiArgs, policyCli } from "../support/subprocess";
import {
  freshDir,
  roomInWindow,
  sluiceVars,
  startWranglerDev,
  untilOutput,
  type WranglerDev,
  withFreshDir,
} from "../support/wrangler-dev";

const TOKEN = adminToken("lg-admin");
const BROKEN = '{"version":1,"rules":[{"id":"x",';
const good = (limit: number) =>
  JSON.stringify({
    version: 1,
    headers: ["legacy"],
    rules: [{ id: "lg", match: { paths: ["/lg/*"] }, key: "ip", limits: [{ limit, window: "1h" }] }],
  });

describe("an invalid document in KV across a restart of wrangler dev", () => {
  let persistTo: string;
  let dev: WranglerDev | undefined;
  const auth = bearer(TOKEN);
  const start = async () => startWranglerDev({ persistTo, vars: sluiceVars({ origin: "builtin:echo", token: TOKEN }) });
  const kvPut = (value: string) => localKvPut("policy", value, persistTo);
  const limitHeader = async () => (await fetchDrained(`${dev!.url}/lg/probe`)).headers.get("RateLimit-Limit");

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
    expect(await untilOutput(dev, (out) => out.includes('"keeping":"history"'))).toContain('"keeping":"history"');

    const res = await fetch(`${dev.url}/__ratelimit/policy`, { headers: auth });
    expect(res.headers.get("X-Sluice-Stored-Policy")).toBe("invalid");
    expect(res.headers.get("X-Sluice-Policy-Source")).toBe("history");
    expect(res.headers.get("X-Sluice-Policy-Version")).toBe("1");
    expect(await res.text()).toBe(good(7));
  });

  it("policy diff says KV holds an invalid document and diffs against the version in force", async () => {
    await withFreshDir("sluice-e2e-last-good-file", async (dir) => {
      const file = join(dir, "policy.json");
      await writeFile(file, good(7));
      const viaApi = await policyCli("diff", file, ...adminApiArgs(dev!.url, TOKEN));
      expect(viaApi.stderr).toContain("holds an INVALID document");
      expect(viaApi.stdout).toContain("no changes");
      expect(viaApi.stdout).toContain("(history)");
      expect(viaApi.stderr).toContain("version 1");
      expect(viaApi.code).toBe(0);

      const viaKv = await policyCli("diff", file, "--local", "--persist-to", persistTo);
      expect(viaKv.stderr).toContain("holds an INVALID document");
      expect(viaKv.stderr).toContain("in force: version 1");
      expect(viaKv.code, viaKv.stderr).toBe(0);
    });
  });

  it("a push with --local gets its own history entry, with its actor", async () => {
    await withFreshDir("sluice-e2e-last-good-file", async (dir) => {
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
    });
  });
});

describe("a good document put into KV by hand, then a broken one written while nobody reads, then a restart", () => {
  let persistTo: string;
  let dev: WranglerDev | undefined;
  const auth = bearer(TOKEN);
  const tight = JSON.stringify({
    version: 1,
    headers: ["legacy"],
    rules: [{ id: "tight", match: { paths: ["/tight/*"] }, key: "ip", limits: [{ limit: 3, window: "15m" }] }],
  });
  const start = async () => startWranglerDev({ persistTo, vars: sluiceVars({ origin: "builtin:echo", token: TOKEN }) });
  const statuses = async (n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await fetchDrained(`${dev!.url}/tight/probe`)).status);
    return out;
  };

  beforeAll(async () => {
    persistTo = await freshDir("sluice-e2e-last-good-hand");
    dev = await start();
  });

  afterAll(async () => {
    await dev?.stop();
    await rm(persistTo, { recursive: true, force: true });
  });

  it("keeps the hand-published limits: the isolate that enforced it recorded it, though no admin call read it", async () => {
    await roomInWindow(15 * 60_000, 60_000);
    await localKvPut("policy", tight, persistTo);
    const first = await fetchDrained(`${dev!.url}/tight/probe`);
    expect(first.headers.get("RateLimit-Limit")).toBe("3");
    // Recorded after that response (waitUntil), by ordinary traffic alone: give it the moment it takes.
    await untilOutput(dev!, (out) => out.includes('"policy.recorded"'));

    // The broken document lands while no request reads KV, and the Worker restarts before any does.
    await localKvPut("policy", BROKEN, persistTo);
    await dev!.stop();
    dev = await start();

    // 3 per 15 minutes, not the built-in 300 per minute: one more admitted (the second of three), then 429s.
    const after = await fetchDrained(`${dev.url}/tight/probe`);
    expect(after.headers.get("RateLimit-Limit")).toBe("3");
    expect([after.status, ...(await statuses(2))]).toEqual([200, 200, 429]);
    const res = await fetch(`${dev.url}/__ratelimit/policy/status`, { headers: auth });
    const status = (await res.json()) as {
      inForce: { source: string; version: number | null };
      stored: { state: string };
    };
    expect(status.inForce).toMatchObject({ source: "history", version: 1 });
    expect(status.stored.state).toBe("invalid");
  });
});
