/**
 * Under `wrangler dev`, through HTTP and the CLI: a candidate policy pushed with
 * `push --candidate` counts what it would refuse without refusing, `promote`
 * puts it in force and it then refuses those requests; a penalty outlasts its
 * window until `key reset` lifts it; `tenant add --override` raises a limit;
 * `usage` reads a tenant's ledger, which matches the traffic sent.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminJson, adminToken, fetchDrained } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { adminApiArgs, policyCli } from "../support/subprocess";
import {
  delay,
  freePort,
  freshDir,
  roomInWindow,
  sluiceVars,
  startWranglerDev,
  type WranglerDev,
} from "../support/wrangler-dev";

const TOKEN = adminToken("tenant-e2e");

describe("tenant features under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;
  let dir: string;
  const api = () => adminApiArgs(dev.url, TOKEN);

  const get = (client: string, headers: Record<string, string> = {}) =>
    fetchDrained(`${dev.url}/e2e`, { headers: { "x-client": client, ...headers } });
  const statuses = async (n: number, client: string) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await get(client)).status);
    return out;
  };
  const file = async (name: string, doc: unknown) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(doc));
    return path;
  };
  const admin = (path: string) => adminJson(dev.url, TOKEN, path);

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dir = await freshDir("sluice-tenant-e2e");
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a candidate counts what it would refuse; promoted, it refuses the same requests", async () => {
    await roomInWindow(3_600_000, 60_000);
    const rule = (limit: number) => ({
      version: 1,
      rules: [{ id: "api", key: "header:x-client", limits: [{ limit, window: "1h" }] }],
    });
    // The live limit sits under the leasing threshold (64): every live charge is a call, so its count is exact.
    expect((await policyCli("push", await file("live.json", rule(60)), ...api())).code).toBe(0);
    const pushed = await policyCli("push", await file("candidate.json", rule(3)), "--candidate", ...api());
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain("as the candidate");

    expect(await statuses(5, "c1")).toEqual([200, 200, 200, 200, 200]);
    // The candidate is evaluated after each response: wait for all five to be counted.
    let counts = { admitted: 0, refused: 0 };
    for (let i = 0; i < 100 && counts.admitted + counts.refused < 5; i++) {
      const stats = (await admin("/stats")) as {
        candidate?: { minutes: Array<{ rules: Record<string, { admitted: number; refused: number }> }> };
      };
      counts = { admitted: 0, refused: 0 };
      for (const m of stats.candidate?.minutes ?? []) {
        counts.admitted += m.rules.api?.admitted ?? 0;
        counts.refused += m.rules.api?.refused ?? 0;
      }
      if (counts.admitted + counts.refused < 5) await delay(50);
    }
    expect(counts).toEqual({ admitted: 3, refused: 2 });
    // The live counter carries the live charges only.
    const live = (await admin("/keys?rule=api&key=c1")) as { limits: Array<{ remaining: number }> };
    expect(live.limits[0]!.remaining).toBe(55);

    const promoted = await policyCli("promote", ...api());
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toMatch(/^promoted the candidate at .*: version \d+/);
    expect((await policyCli("key", "reset", "--rule", "api", "--key", "c1", ...api())).code).toBe(0);
    expect(await statuses(5, "c1")).toEqual([200, 200, 200, 429, 429]);

    const none = await policyCli("candidate", "drop", ...api());
    expect(none.stdout).toBe("there was no candidate policy; nothing to drop\n");
  });

  it("a penalty outlasts the window until key reset lifts it", async () => {
    await roomInWindow(60_000, 10_000);
    const doc = {
      version: 1,
      rules: [{ id: "login", key: "header:x-client", penalty: "1h", limits: [{ limit: 2, window: "1m" }] }],
    };
    expect((await policyCli("push", await file("penalty.json", doc), ...api())).code).toBe(0);
    expect(await statuses(2, "p1")).toEqual([200, 200]);
    const refused = await get("p1");
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(3590);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const reset = await policyCli("key", "reset", "--rule", "login", "--key", "p1", ...api());
    expect(reset.code, reset.stderr).toBe(0);
    expect(await statuses(3, "p1")).toEqual([200, 200, 429]);
  });

  it("tenant add --override raises one tenant's limit", async () => {
    const doc = {
      version: 1,
      identity: { apiKey: { header: "x-api-key" } },
      rules: [{ id: "tiered", key: "tenant", limits: [{ limit: { starter: 2, pro: 4 }, window: "1h" }] }],
    };
    expect((await policyCli("push", await file("tiered.json", doc), ...api())).code).toBe(0);
    const add = await policyCli(
      "tenant",
      "add",
      "--api-key",
      "key-partner",
      "--id",
      "partner",
      "--tier",
      "pro",
      "--override",
      "tiered-1h=x3",
      ...api(),
    );
    expect(add.code, add.stderr).toBe(0);
    const res = await get("t", { "x-api-key": "key-partner" });
    expect(res.headers.get("RateLimit-Limit")).toBe("12");
    const bad = await policyCli(
      "tenant",
      "add",
      "--api-key",
      "k",
      "--id",
      "x",
      "--tier",
      "pro",
      "--override",
      "nope-1h=5",
      ...api(),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no limit "nope-1h"');
  });

  it("usage reads the tenant's ledger: the units admitted and refused, as sent", async () => {
    await roomInWindow(3_600_000, 60_000);
    const doc = {
      version: 1,
      identity: { apiKey: { header: "x-api-key" } },
      // Under the leasing threshold (64): every charge is decided at the key's object.
      rules: [{ id: "metered", key: "tenant", cost: 2, limits: [{ limit: 6, window: "1h" }] }],
    };
    expect((await policyCli("push", await file("metered.json", doc), ...api())).code).toBe(0);
    const add = await policyCli(
      "tenant",
      "add",
      "--api-key",
      "key-ledger",
      "--id",
      "ledger",
      "--tier",
      "starter",
      ...api(),
    );
    expect(add.code, add.stderr).toBe(0);
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) sent.push((await get("l", { "x-api-key": "key-ledger" })).status);
    expect(sent).toEqual([200, 200, 200, 429, 429]);
    // From yesterday: a run that crosses midnight UTC still finds every row.
    const from = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const read = await policyCli("usage", "--tenant", "ledger", "--from", from, "--json", ...api());
    expect(read.code, read.stderr).toBe(0);
    const { rows } = JSON.parse(read.stdout) as { rows: Array<{ rule: string; admitted: number; refused: number }> };
    const metered = rows.filter((r) => r.rule === "metered");
    expect(metered.reduce((n, r) => n + r.admitted, 0)).toBe(6);
    expect(metered.reduce((n, r) => n + r.refused, 0)).toBe(4);
    const table = await policyCli("usage", "--tenant", "ledger", "--from", from, ...api());
    expect(table.stdout).toMatch(/metered\s+6\s+4/);
  });
});
