/**
 * The policy CLI (`npm run policy -- <command>`, src/cli/policy.ts) run as a subprocess: its
 * output and exit codes (0 ok / 1 invalid or different / 2 could not do it), local KV through
 * wrangler, and a running `wrangler dev` that sees what the CLI writes.
 *
 * KV is read back with wrangler itself and tenant keys are hashed with node:crypto, not with the
 * CLI's own code, so a mistake there cannot hide.
 */
import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, bearer, fetchDrained } from "../support/http";
import { localKvValue as kvValue, localKvValues as kvValues } from "../support/local-kv";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { adminApiArgs, POLICY_CLI, policyCli as policy, run, TSX } from "../support/subprocess";
import {
  freePort,
  freshDir,
  PROJECT_ROOT,
  roomInWindow,
  sluiceVars,
  startWranglerDev,
  type WranglerDev,
} from "../support/wrangler-dev";

const FIXTURES = join(PROJECT_ROOT, "test", "fixtures", "cli");
const VALID = join(FIXTURES, "valid.json");
const TIERED = join(FIXTURES, "tiered.json");
const INVALID = join(FIXTURES, "invalid.json");
const NOT_JSON = join(FIXTURES, "not-json.json");
const TOKEN = adminToken("cli-admin");

function tenantKvKey(apiKey: string): string {
  return `tenant:${createHash("sha256").update(apiKey).digest("hex")}`;
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

describe("policy CLI: validate and usage", () => {
  it("validate: a valid document exits 0", async () => {
    const r = await policy("validate", VALID);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${VALID}: valid policy, 1 rule: cli\n`);
  });

  it("validate: an invalid document exits 1 with one `path: message` line per error", async () => {
    const r = await policy("validate", INVALID);
    expect(r.code).toBe(1);
    expect(lines(r.stdout).sort()).toEqual([
      "rules[0].colour: unknown field",
      "rules[0].id: must match [a-z0-9_-]{1,64}",
      // A limit's window may also be a calendar period.
      'rules[0].limits[0].window: must be <n>s, <n>m, <n>h or <n>d with n a positive integer (e.g. "15m"), or "week", "month" or "year"',
    ]);
    expect(r.stderr).toBe(`${INVALID}: invalid policy (3 errors)\n`);
  });

  it("validate: text that is not JSON exits 1; a missing file or a directory exits 2", async () => {
    const [notJson, missing, dir] = await Promise.all([
      policy("validate", NOT_JSON),
      policy("validate", join(FIXTURES, "no-such.json")),
      policy("validate", FIXTURES),
    ]);
    expect(notJson.code).toBe(1);
    expect(notJson.stdout).toMatch(/^\(document\): invalid JSON: .+\n$/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`error: cannot read ${join(FIXTURES, "no-such.json")}: no such file\n`);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toBe(`error: cannot read ${FIXTURES}: it is a directory\n`);
  });

  it("npm run policy -- validate works from a subfolder, with paths relative to it", async () => {
    const [ok, bad] = await Promise.all([
      run("npm", ["run", "--silent", "policy", "--", "validate", "valid.json"], { cwd: FIXTURES }),
      run("npm", ["run", "--silent", "policy", "--", "validate", "invalid.json"], { cwd: FIXTURES }),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("valid.json: valid policy, 1 rule: cli\n");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("rules[0].colour: unknown field\n");
  });

  it("exits 2 with a clear message on bad usage", async () => {
    const [unknown, nowhere, both, noToken, ifMatchKv, missingOption, persistAlone] = await Promise.all([
      policy("frobnicate"),
      policy("push", VALID),
      policy("push", VALID, "--local", "--url", "http://127.0.0.1:9"),
      policy("push", VALID, "--url", "http://127.0.0.1:9"),
      policy("push", VALID, "--local", "--if-match", '"x"'),
      policy("tenant", "add", "--api-key", "k", "--id", "acme", "--local"),
      policy("diff", VALID, "--persist-to", "/tmp/x"),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain(
      "error: where to? give --url <base> (or SLUICE_URL) for the admin API, or --local/--remote",
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("not both");
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe("error: no admin token: give --token <token> or set SLUICE_ADMIN_TOKEN\n");
    expect(ifMatchKv.code).toBe(2);
    expect(ifMatchKv.stderr).toContain("--if-match needs --url");
    expect(missingOption.code).toBe(2);
    expect(missingOption.stderr).toContain("required option '--tier <tier>' not specified");
    expect(persistAlone.code).toBe(2);
    expect(persistAlone.stderr).toContain("--persist-to only applies with --local");
  });

  it("--help documents the exit codes", async () => {
    const r = await policy("diff", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: policy diff [options] <file>");
    expect(r.stdout).toContain("0  done; the document is valid; diff found no differences");
    expect(r.stdout).toContain("1  the document is invalid (nothing was pushed); diff found differences;");
  });
});

describe("policy CLI: local KV through wrangler", () => {
  let persistTo: string;
  let validText: string;

  beforeAll(async () => {
    persistTo = await freshDir("sluice-cli-kv");
    validText = await readFile(VALID, "utf8");
  });

  afterAll(async () => {
    if (persistTo) await rm(persistTo, { recursive: true, force: true });
  });

  it("diff against an empty KV compares with the built-in default, and exits 1", async () => {
    const r = await policy("diff", VALID, "--local", "--persist-to", persistTo);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`--- built-in default (local KV (${persistTo}) has no "policy")\n+++ ${VALID}\n`);
    expect(lines(r.stdout)).toEqual(
      expect.arrayContaining([
        '-      "id": "default",',
        '+      "id": "cli",',
        '-          "limit": 300,',
        '+          "limit": 5,',
      ]),
    );
  });

  it("push --local stores the file's exact text as KV policy", async () => {
    expect(await kvValue("policy", persistTo)).toBeNull();
    const r = await policy("push", VALID, "--local", "--persist-to", persistTo);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`pushed ${VALID} (cli) to local KV (${persistTo}) "policy"`);
    expect(await kvValue("policy", persistTo)).toBe(validText);
  });

  it("push of an invalid document exits 1, prints its errors and leaves KV untouched", async () => {
    const r = await policy("push", INVALID, "--local", "--persist-to", persistTo);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("rules[0].colour: unknown field\n");
    expect(r.stderr).toContain(`${INVALID}: invalid policy (3 errors); nothing was pushed\n`);
    const notJson = await policy("push", NOT_JSON, "--local", "--persist-to", persistTo);
    expect(notJson.code).toBe(1);
    expect(await kvValue("policy", persistTo)).toBe(validText);
  });

  it("diff: exit 0 and 'no changes' when equal, exit 1 and a unified diff when not", async () => {
    const same = await policy("diff", VALID, "--local", "--persist-to", persistTo);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe(`no changes: ${VALID} is the policy local KV (${persistTo}) "policy"\n`);
    const changed = await policy("diff", TIERED, "--local", "--persist-to", persistTo);
    expect(changed.code, changed.stderr).toBe(1);
    const out = lines(changed.stdout);
    expect(out[0]).toBe(`--- local KV (${persistTo}) "policy"`);
    expect(out[1]).toBe(`+++ ${TIERED}`);
    expect(out[2]).toMatch(/^@@ -1,\d+ \+1,\d+ @@$/);
    expect(out).toEqual(
      expect.arrayContaining([
        '+  "defaultTier": "starter",',
        '-      "id": "cli",',
        '+      "id": "tiered",',
        '-      "key": "ip",',
        '+      "key": "tenant",',
        '+            "pro": 7,',
      ]),
    );
    // Every line of a hunk is context, removal or addition.
    for (const line of out.slice(3)) expect(line).toMatch(/^(@@ |[ +-])/);
  });

  it("tenant add/remove --local write and delete tenant:<sha256 of the key>", async () => {
    const acmeKey = "sk_live_cli_local_1";
    const betaKey = "sk_test_cli_local_2";
    // A tenant's tier must be one the policy in force defines: TIERED has starter and pro.
    const tiers = await policy("push", TIERED, "--local", "--persist-to", persistTo);
    expect(tiers.code, tiers.stderr).toBe(0);
    const add = await policy(
      "tenant",
      "add",
      "--api-key",
      acmeKey,
      "--id",
      "acme",
      "--tier",
      "pro",
      "--local",
      "--persist-to",
      persistTo,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`stored tenant acme (tier pro) as ${tenantKvKey(acmeKey)} in local KV (${persistTo})\n`);
    const sandbox = await policy(
      "tenant",
      "add",
      "--api-key",
      betaKey,
      "--id",
      "beta",
      "--tier",
      "starter",
      "--sandbox",
      "--local",
      "--persist-to",
      persistTo,
    );
    expect(sandbox.code, sandbox.stderr).toBe(0);

    const stored = await kvValues([tenantKvKey(acmeKey), tenantKvKey(betaKey), `tenant:${acmeKey}`], persistTo);
    expect(JSON.parse(stored[tenantKvKey(acmeKey)]!)).toEqual({ id: "acme", tier: "pro", sandbox: false });
    expect(JSON.parse(stored[tenantKvKey(betaKey)]!)).toEqual({ id: "beta", tier: "starter", sandbox: true });
    // The raw key is never stored.
    expect(stored[`tenant:${acmeKey}`]).toBeNull();

    const remove = await policy("tenant", "remove", "--api-key", acmeKey, "--local", "--persist-to", persistTo);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toBe(`removed ${tenantKvKey(acmeKey)}\n`);
    const after = await kvValues([tenantKvKey(acmeKey), tenantKvKey(betaKey)], persistTo);
    expect(after[tenantKvKey(acmeKey)]).toBeNull();
    expect(after[tenantKvKey(betaKey)]).not.toBeNull();
  });
});

describe("policy CLI against a running wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;
  let persistTo: string;

  const api = () => adminApiArgs(dev.url, TOKEN);
  const request = (headers: Record<string, string> = {}) => fetchDrained(`${dev.url}/cli/e2e`, { headers });

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    persistTo = await freshDir("sluice-cli-dev");
    // The same --persist-to: what the CLI writes with --local, this wrangler dev reads.
    dev = await startWranglerDev({ persistTo, vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
    if (persistTo) await rm(persistTo, { recursive: true, force: true });
  });

  it("push --local: the next request is limited by the new policy", async () => {
    // The tests below count in 1-hour windows, from one test into the next: keep them in one window.
    await roomInWindow(3_600_000, 60_000);
    const before = await request();
    expect(before.headers.get("RateLimit-Limit")).toBe("300");

    const r = await policy("push", VALID, "--local", "--persist-to", persistTo);
    expect(r.code, r.stderr).toBe(0);
    const after = await request();
    expect(after.status).toBe(200);
    expect(after.headers.get("RateLimit-Limit")).toBe("5");
    expect(after.headers.get("RateLimit-Remaining")).toBe("4");
    expect(after.headers.get("X-RateLimit-Limit")).toBe("5");

    // The Worker now has what the file says.
    const same = await policy("diff", VALID, ...api());
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain("no changes");
  });

  it("push --url: in force at once; a stale --if-match exits 1 and changes nothing", async () => {
    const current = await fetch(`${dev.url}/__ratelimit/policy`, { headers: bearer(TOKEN) });
    const etag = current.headers.get("ETag")!;
    await current.arrayBuffer();

    const stale = await policy("push", TIERED, ...api(), "--if-match", '"0000"');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("answered 412: precondition_failed: the policy changed since you read it");
    expect(stale.stderr).toContain(`current ETag: ${etag}`);
    expect((await request()).headers.get("RateLimit-Limit")).toBe("5");

    const r = await policy("push", TIERED, ...api(), "--if-match", etag);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^pushed .*tiered\.json \(tiered\) to http:\/\/127\.0\.0\.1:\d+: version \d+, ETag "[0-9a-f]{32}"\n/,
    );
    // Anonymous clients are counted by IP under the default tier (starter: 2).
    const anonymous = await request();
    expect(anonymous.headers.get("RateLimit-Limit")).toBe("2");
    expect(anonymous.headers.get("RateLimit-Remaining")).toBe("1");
  });

  it("tenant add (admin API and --local): a request with that API key gets the tenant's tier", async () => {
    const viaApi = await policy("tenant", "add", "--api-key", "key-acme-1", "--id", "acme", "--tier", "pro", ...api());
    expect(viaApi.code, viaApi.stderr).toBe(0);
    const acme = await request({ "x-api-key": "key-acme-1" });
    expect(acme.status).toBe(200);
    expect(acme.headers.get("RateLimit-Limit")).toBe("7");
    expect(acme.headers.get("RateLimit-Remaining")).toBe("6");

    // Written straight into the KV the Worker reads: the record's shape is the Worker's.
    const viaKv = await policy(
      "tenant",
      "add",
      "--api-key",
      "key-globex-1",
      "--id",
      "globex",
      "--tier",
      "pro",
      "--local",
      "--persist-to",
      persistTo,
    );
    expect(viaKv.code, viaKv.stderr).toBe(0);
    const globex = await request({ "x-api-key": "key-globex-1" });
    expect(globex.headers.get("RateLimit-Limit")).toBe("7");
    expect(globex.headers.get("RateLimit-Remaining")).toBe("6");

    // An unknown key is an anonymous client (starter, by IP: its second request).
    const unknown = await request({ "x-api-key": "key-nobody" });
    expect(unknown.headers.get("RateLimit-Limit")).toBe("2");
    expect(unknown.headers.get("RateLimit-Remaining")).toBe("0");

    const removed = await policy("tenant", "remove", "--api-key", "key-globex-1", ...api());
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`removed ${tenantKvKey("key-globex-1")}\n`);
    // globex is anonymous again: the IP counter is spent.
    expect((await request({ "x-api-key": "key-globex-1" })).status).toBe(429);
  });

  it("key show and key reset through the admin API", async () => {
    const show = await policy("key", "show", "--rule", "tiered", "--key", "acme", "--tier", "pro", ...api());
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(
      /^rule tiered, key acme \(counter object tenant:acme\)\n {2}tiered-1h: 6 of 7 left, resets \d{4}-\d\d-\d\dT\d\d:00:00\.000Z \(in \d+ s\)\n$/,
    );

    const json = await policy("key", "show", "--rule", "tiered", "--key", "acme", "--tier", "pro", "--json", ...api());
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).limits[0]).toMatchObject({ name: "tiered-1h", limit: 7, remaining: 6 });

    const reset = await policy("key", "reset", "--rule", "tiered", "--key", "acme", "--tier", "pro", ...api());
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toBe("reset rule tiered for key acme: 1 counter removed\n");
    const fresh = await request({ "x-api-key": "key-acme-1" });
    expect(fresh.headers.get("RateLimit-Remaining")).toBe("6");

    const noRule = await policy("key", "show", "--rule", "nope", "--key", "acme", ...api());
    expect(noRule.code).toBe(2);
    expect(noRule.stderr).toContain('answered 404: not_found: no rule "nope" in the policy in force');
  });

  it("takes the URL and the token from SLUICE_URL and SLUICE_ADMIN_TOKEN", async () => {
    const r = await run(TSX, [POLICY_CLI, "diff", TIERED], { env: { SLUICE_URL: dev.url, SLUICE_ADMIN_TOKEN: TOKEN } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`no changes: ${TIERED} is the policy in force at ${dev.url} (pushed)\n`);
    const noToken = await run(TSX, [POLICY_CLI, "diff", TIERED], { env: { SLUICE_URL: dev.url } });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("no admin token");
  });

  it("HTTP errors exit 2 with the server's message", async () => {
    const wrong = await policy("diff", VALID, "--url", dev.url, "--token", "wrong-token");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("answered 401: unauthorized: missing or wrong admin token");
    const down = await policy(
      "key",
      "show",
      "--rule",
      "tiered",
      "--key",
      "acme",
      "--url",
      `http://127.0.0.1:${await freePort()}`,
      "--token",
      TOKEN,
    );
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(
      /^error: cannot reach http:\/\/127\.0\.0\.1:\d+\/__ratelimit\/keys\?rule=tiered&key=acme: ECONNREFUSED\n$/,
    );
  });
});
