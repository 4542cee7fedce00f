/**
 * The console's files and the admin calls it uses, through the Workers runtime.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { call, callMany, uniqueIp, useBuiltinPolicy, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ip: uniqueIp(),
  });
}

const uniqueRule = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

beforeEach(useBuiltinPolicy);

describe("the console's files", () => {
  it("serve without a token, under the admin prefix only, with a strict CSP", async () => {
    const page = await call(`${PREFIX}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp.split("; ")).toEqual(
      expect.arrayContaining(["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]),
    );
    expect(page.headers.get("set-cookie")).toBeNull();
    const html = await page.text();
    expect(html).toContain(`<script src="${PREFIX}/console/console.js" defer></script>`);
    expect(html.match(/<script/g)).toHaveLength(1);

    const script = await call(`${PREFIX}/console/console.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toContain("sessionStorage");
    expect((await call(`${PREFIX}/console/console.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
    // Anything else under /console is the admin API's: behind the token.
    expect((await call(`${PREFIX}/console/other`, { ip: uniqueIp() })).status).toBe(401);
  });

  it("answer 404 when no ADMIN_TOKEN is configured", async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch!(
      new Request(`http://api.example.com${PREFIX}/console`) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ADMIN_TOKEN: undefined },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(404);
  });

  it("a path /console outside the admin prefix goes to the origin", async () => {
    const res = await call("/console", { ip: uniqueIp() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-origin")).toBe("loopback");
  });
});

describe("the admin calls the console uses", () => {
  const policy = (id: string, limit: number): PolicyInput => ({
    version: 1,
    rules: [
      { id: "health", match: { paths: ["/health"] }, action: "bypass" },
      { id, key: "ip", limits: [{ limit, window: "15m" }] },
    ],
  });

  it("GET /policy/history/<version> returns that version's document; 404 for an unknown one", async () => {
    const rule = uniqueRule("hist");
    const put = (await (await admin("/policy", { method: "PUT", body: policy(rule, 5) })).json()) as {
      version: number;
    };
    const entry = (await (await admin(`/policy/history/${put.version}`)).json()) as { version: number; text: string };
    expect(entry.version).toBe(put.version);
    expect(JSON.parse(entry.text).rules[1].id).toBe(rule);
    expect((await admin("/policy/history/999999")).status).toBe(404);
  });

  it("GET /tenants lists records without their API keys, and searches by id", async () => {
    const id = uniqueRule("acme");
    // A tenant's tier must be one the policy in force defines.
    await usePolicy({
      version: 1,
      rules: [{ id: "tiered", key: "tenant", limits: [{ limit: { starter: 5, pro: 50 }, window: "15m" }] }],
    });
    await admin("/tenants", { method: "PUT", body: { apiKey: `secret-${id}`, id, tier: "pro" } });
    const all = (await (await admin("/tenants")).json()) as { tenants: Array<Record<string, unknown>> };
    expect(all.tenants.find((t) => t.id === id)).toMatchObject({ id, tier: "pro", sandbox: false });
    expect(JSON.stringify(all)).not.toContain(`secret-${id}`);
    const found = (await (await admin(`/tenants?search=${id.toUpperCase()}`)).json()) as { tenants: unknown[] };
    expect(found.tenants).toHaveLength(1);
  });

  it("GET and DELETE /counters read and reset a counting key as the top-keys list names it", async () => {
    const rule = uniqueRule("ctr");
    await usePolicy(policy(rule, 2));
    const ip = uniqueIp();
    expect(await callMany(3, "/x", { ip })).toEqual([200, 200, 429]);
    const read = async () =>
      (await (await admin(`/counters?rule=${rule}&object=ip:${ip}`)).json()) as {
        limits: Array<{ limit: number; remaining: number }>;
      };
    expect((await read()).limits).toMatchObject([{ limit: 2, remaining: 0 }]);
    expect((await admin(`/counters?rule=${rule}&object=ip:${ip}`, { method: "DELETE" })).status).toBe(200);
    expect((await read()).limits).toMatchObject([{ limit: 2, remaining: 2 }]);
    expect(await callMany(1, "/x", { ip })).toEqual([200]);
    expect((await admin(`/counters?rule=nope&object=ip:${ip}`)).status).toBe(404);
    expect((await admin(`/counters?rule=${rule}`)).status).toBe(400);
  });

  it("/keys and /counters name one counter both ways: key= (a request's value) and object= (its counting key)", async () => {
    const rule = uniqueRule("both");
    await usePolicy(policy(rule, 2));
    const ip = uniqueIp();
    expect(await callMany(1, "/x", { ip })).toEqual([200]);
    const remaining = async (path: string) =>
      ((await (await admin(path)).json()) as { object: string; limits: Array<{ remaining: number }> }).limits[0]!
        .remaining;
    for (const path of [
      `/keys?rule=${rule}&key=${ip}`,
      `/keys?rule=${rule}&object=ip:${ip}`,
      `/counters?rule=${rule}&object=ip:${ip}`,
      `/counters?rule=${rule}&key=${ip}`,
    ])
      expect(await remaining(path)).toBe(1);
    expect((await admin(`/counters?rule=${rule}&key=${ip}`, { method: "DELETE" })).status).toBe(200);
    expect(await remaining(`/keys?rule=${rule}&object=ip:${ip}`)).toBe(2);
  });

  it("POST /explain says which rules match and what each limit would say, counting nothing", async () => {
    const rule = uniqueRule("exp");
    await usePolicy(policy(rule, 1));
    const ip = uniqueIp();
    const explain = async (path: string) =>
      (await (
        await admin("/explain", {
          method: "POST",
          body: { method: "get", url: `http://api.example.com${path}`, headers: { "cf-connecting-ip": ip } },
        })
      ).json()) as {
        method: string;
        client: { ip: string };
        rules: Array<{
          id: string;
          matches: boolean;
          applies: boolean;
          key?: string;
          limits?: Array<{ wouldAdmit: boolean; remaining: number }>;
        }>;
      };
    const before = await explain("/x");
    expect(before.method).toBe("GET");
    expect(before.client.ip).toBe(ip);
    expect(before.rules.map((r) => [r.id, r.matches, r.applies])).toEqual([
      ["health", false, false],
      [rule, true, true],
    ]);
    expect(before.rules[1]).toMatchObject({ key: `ip:${ip}`, limits: [{ wouldAdmit: true, remaining: 1 }] });
    // Explaining twice charged nothing: the one request still fits.
    await explain("/x");
    expect(await callMany(2, "/x", { ip })).toEqual([200, 429]);
    expect((await explain("/x")).rules[1]!.limits).toMatchObject([{ wouldAdmit: false, remaining: 0 }]);
    const health = await explain("/health");
    expect(health.rules.map((r) => [r.id, r.applies])).toEqual([
      ["health", true],
      [rule, false],
    ]);
    expect((await admin("/explain", { method: "POST", body: { url: "not a url" } })).status).toBe(400);
  });

  it("POST /explain gives a header key's label: a user id as it is, an API key only by its hash", async () => {
    const rule = uniqueRule("exp-user");
    const keyRule = uniqueRule("exp-key");
    await usePolicy({
      version: 1,
      rules: [
        { id: rule, key: "header:x-user-id", continue: true, limits: [{ limit: 5, window: "15m" }] },
        { id: keyRule, key: "header:x-api-key", limits: [{ limit: 5, window: "15m" }] },
      ],
    });
    const res = await admin("/explain", {
      method: "POST",
      body: {
        method: "GET",
        url: "http://api.example.com/x",
        headers: { "x-user-id": "U7", "x-api-key": "sk_secret_1" },
      },
    });
    const text = await res.text();
    const rules = (JSON.parse(text) as { rules: Array<{ id: string; key?: string; label?: string }> }).rules;
    const hash = await sha256Hex("sk_secret_1");
    expect(rules.map((r) => [r.id, r.key, r.label])).toEqual([
      [rule, `header:x-user-id:${await sha256Hex("u7")}`, "header:x-user-id:u7"],
      [keyRule, `header:x-api-key:${hash}`, `header:x-api-key:[credential ${hash.slice(0, 8)}]`],
    ]);
    expect(text).not.toContain("sk_secret_1");
  });
});
