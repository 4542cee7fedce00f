/**
 * An operator's day with the policy CLI against a real `wrangler dev`: publish as a named token, read
 * the history, show and diff versions rule by rule, roll back, get the policy in force, stats that
 * agree with the log, tenants checked against the policy and listed, explain, the lockout's way out,
 * and the admin API switched off explained. Also the packaged `sluice` bin.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/build";
import { adminToken, fetchDrained } from "../support/http";
import { adminApiArgs, policyCli as cli, run } from "../support/subprocess";
import {
  freshDir,
  PROJECT_ROOT,
  roomInWindow,
  sluiceVars,
  startWranglerDev,
  untilOutput,
  type WranglerDev,
} from "../support/wrangler-dev";

const TOKEN = adminToken("op-admin");
/** Named write tokens (ADMIN_TOKENS): the history records who published by the token's name. */
const PEOPLE = { alice: adminToken("op-alice"), bob: adminToken("op-bob"), carol: adminToken("op-carol") };

const doc = (rules: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ version: 1, headers: ["legacy"], ...extra, rules }, null, 2);
const ruleA = { id: "alpha", match: { paths: ["/a/*"] }, key: "ip", limits: [{ limit: 2, window: "1h" }] };
const ruleB = { id: "bravo", match: { paths: ["/b/*"] }, key: "ip", limits: [{ limit: 50, window: "1h" }] };
const ruleC = { id: "charlie", match: { paths: ["/c/*"] }, key: "ip", limits: [{ limit: 9, window: "1h" }] };
const tiered = {
  id: "tiered",
  match: { paths: ["/t/*"] },
  key: "tenant",
  limits: [{ limit: { starter: 3, pro: 7 }, window: "1h" }],
};

describe("the policy CLI against wrangler dev", () => {
  let dev: WranglerDev;
  let dir: string;
  let api: string[];
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await freshDir("sluice-e2e-operator");
    await writeFile(file("one.json"), doc([ruleA, ruleB]));
    await writeFile(file("two.json"), doc([ruleA, ruleC, tiered]));
    const tokens = Object.fromEntries(Object.entries(PEOPLE).map(([name, token]) => [name, { token, role: "write" }]));
    dev = await startWranglerDev({
      vars: { ...sluiceVars({ origin: "builtin:echo", token: TOKEN }), ADMIN_TOKENS: JSON.stringify(tokens) },
    });
    api = adminApiArgs(dev.url, TOKEN);
  });

  afterAll(async () => {
    await dev?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("push records the token's name as the actor; history lists every version; show prints one", async () => {
    expect((await cli("push", file("one.json"), ...adminApiArgs(dev.url, PEOPLE.alice))).code).toBe(0);
    // What the caller claims is not what is recorded: the CLI says it does not send --actor.
    const two = await cli("push", file("two.json"), ...adminApiArgs(dev.url, PEOPLE.bob), "--actor", "mallory");
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toContain('--actor "mallory" is not sent');
    expect(two.stdout).toContain("version 2");
    const history = await cli("history", ...api);
    expect(history.code, history.stderr).toBe(0);
    const rows = history.stdout.split("\n").filter((l) => /^\d/.test(l));
    expect(rows[0]).toMatch(/^2\s+\S+\s+bob\s+put$/);
    expect(rows[1]).toMatch(/^1\s+\S+\s+alice\s+put$/);
    const show = await cli("show", "1", ...api);
    expect(JSON.parse(show.stdout)).toEqual(JSON.parse(doc([ruleA, ruleB])));
  });

  it("diff of two versions goes rule by rule: a removed and an added rule are blocks of their own, id first", async () => {
    const r = await cli("diff", "1", "2", ...api);
    expect(r.code, r.stderr).toBe(1);
    const out = r.stdout.split("\n");
    expect(out.slice(0, 2)).toEqual(["--- version 1", "+++ version 2"]);
    const removed = out.indexOf('-      "id": "bravo",');
    const added = out.indexOf('+      "id": "charlie",');
    expect(removed).toBeGreaterThan(0);
    expect(added).toBeGreaterThan(removed);
    // bravo's lines all come before charlie's: no interleaving.
    // The line before charlie's id opens its block ("+    {").
    expect(out[added - 1]).toBe("+    {");
    expect(out.slice(removed, added - 1).every((l) => l.startsWith("-"))).toBe(true);
    expect(out[removed - 1]).toBe("-    {");
    expect((await cli("diff", "2", file("two.json"), ...api)).stdout).toBe(
      `no changes: version 2 and ${file("two.json")} are the same policy\n`,
    );
  });

  it("rollback puts version 1 in force as version 3; get says which version is in force", async () => {
    const back = await cli("rollback", "1", ...adminApiArgs(dev.url, PEOPLE.carol));
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toBe("rolled back to version 1: it is in force again as version 3\n");
    const get = await cli("get", ...api);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stderr).toContain("In force: version 3");
    expect(JSON.parse(get.stdout)).toEqual(JSON.parse(doc([ruleA, ruleB])));
    // Straight from KV through wrangler, as the README's `policy get --local`: the same version.
    const local = await cli("get", "--local", "--persist-to", dev.persistTo);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stderr).toContain("in force: version 3,");
    expect(JSON.parse(local.stdout)).toEqual(JSON.parse(doc([ruleA, ruleB])));
    expect((await cli("history", ...api)).stdout).toMatch(/\n3\s+\S+\s+carol\s+rollback:1\n/);
  });

  it("stats count every refusal the log shows, cached ones included", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetchDrained(`${dev.url}/a/x`)).status);
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    const stats = await cli("stats", ...api);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain("alpha: 2 admitted, 4 refused");
    // A cached refusal's repeats are one line with their count: the lines' counts add up to the refusals.
    const logged = (out: string) =>
      out
        .split("\n")
        .filter((l) => l.includes('"request.refused"') && l.includes('"alpha"'))
        .reduce((n, l) => n + Number(/"count":(\d+)/.exec(l)?.[1] ?? 1), 0);
    expect(logged(await untilOutput(dev, (out) => logged(out) === 4))).toBe(4);
  });

  it("tenants: a tier the policy lacks is refused with a hint; list and show find the stored one", async () => {
    await cli("push", file("two.json"), ...api);
    const bad = await cli("tenant", "add", "--api-key", "sk_op_1", "--id", "acme", "--tier", "Pro", ...api);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('tier "Pro" is not defined by the policy in force');
    expect(bad.stderr).toContain('did you mean "pro"?');
    const ok = await cli("tenant", "add", "--api-key", "sk_op_1", "--id", "acme", "--tier", "pro", ...api);
    expect(ok.code, ok.stderr).toBe(0);
    const list = await cli("tenant", "list", ...api);
    expect(list.stdout).toMatch(/^acme {2}tier pro {2}tenant:[0-9a-f]{64}$/m);
    expect((await cli("tenant", "show", "acme", ...api)).stdout).toContain("acme  tier pro");
    expect((await cli("tenant", "show", "nobody", ...api)).code).toBe(2);
    const keyShow = await cli("key", "show", "--rule", "tiered", "--key", "acme", "--tier", "enterprise", ...api);
    expect(keyShow.code).toBe(2);
    expect(keyShow.stderr).toContain('tier "enterprise" is not defined');
  });

  it("explain says which rules match, what each counts by and what each limit allows", async () => {
    const r = await cli(
      "explain",
      "GET",
      "https://api.example.com/t/things",
      "--ip",
      "198.51.100.9",
      "--tier",
      "pro",
      ...api,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("rules[0] alpha: does not match");
    expect(r.stdout).toContain("rules[2] tiered: matches: counted by the tenant of the request's API key");
    expect(r.stdout).toContain("tiered-1h: 7 per 1 hour (fixed)");
  });

  it("a locked-out 127.0.0.1 is let in again by unlock --local (every local call comes from it)", async () => {
    // The lockout counts wrong tokens in a fixed 15-minute window aligned to the epoch: ten of them split
    // across its turn would lock nothing out.
    await roomInWindow(15 * 60_000, 90_000);
    for (let i = 0; i < 10; i++) await cli("get", "--url", dev.url, "--token", `wrong-${i}`);
    const locked = await cli("get", ...api);
    expect(locked.code).toBe(2);
    expect(locked.stderr).toContain("429");
    const unlock = await cli("unlock", "127.0.0.1", "--local", "--persist-to", dev.persistTo);
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.stdout).toContain("unlock marker for 127.0.0.1 written");
    expect((await cli("get", ...api)).code).toBe(0);
    // With nobody locked out, unlock writes nothing: a marker left behind would cancel the next lockout.
    const idle = await cli("unlock", "127.0.0.1", "--local", "--persist-to", dev.persistTo);
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stdout).toContain("127.0.0.1 is not locked out");
  }, 240_000);
});

describe("the admin API switched off", () => {
  let dev: WranglerDev;
  beforeAll(async () => {
    dev = await startWranglerDev({ vars: { ORIGIN: "builtin:echo" } });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it("logs that ADMIN_TOKEN is unset and says so in the 404 on a local host", async () => {
    const res = await fetch(`${dev.url}/__ratelimit/policy`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { hint?: string };
    expect(body.hint).toContain("ADMIN_TOKEN is not set");
    expect(await untilOutput(dev, (out) => out.includes('"admin.disabled"'))).toContain('"admin.disabled"');
  });
});

describe("the packaged sluice bin", () => {
  it("runs the policy tool on plain Node from dist/", async () => {
    await ensureBuilt();
    const r = await run(process.execPath, [
      join(PROJECT_ROOT, "dist", "src", "cli", "sluice.js"),
      "policy",
      "validate",
      join(PROJECT_ROOT, "examples", "policies", "partner-api.json"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("valid policy, 1 rule: partner");
  });
});
