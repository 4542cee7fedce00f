/**
 * Admin tokens with roles, through the Worker's default export: `ADMIN_TOKEN` (write, named "admin"),
 * `ADMIN_READ_TOKEN` (read, named "read") and the named tokens of `ADMIN_TOKENS`. A read token reads
 * (GET, `/metrics`, the console's views, validate and explain) and gets 403 for anything that changes
 * state; the actor in history is the token's name; a wrong token is counted towards the lockout
 * whatever roles the right ones have.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { uniqueIp, uniqueTag, useBuiltinPolicy } from "../support/client";

const PREFIX = "/__ratelimit";
const READ = `read-token-${uniqueTag()}`;
const GRAFANA = `grafana-token-${uniqueTag()}`;
const ALICE = `alice-token-${uniqueTag()}`;
const TOKENS = JSON.stringify({ grafana: { token: GRAFANA, role: "read" }, alice: { token: ALICE, role: "write" } });

/** The bindings of a deployment with every kind of token; a test overrides some. */
const withRoles: Partial<Cloudflare.Env> = { ADMIN_READ_TOKEN: READ, ADMIN_TOKENS: TOKENS };

async function admin(
  path: string,
  init: {
    method?: string;
    token?: string | null;
    body?: unknown;
    ip?: string;
    headers?: Record<string, string>;
    bindings?: Partial<Cloudflare.Env>;
  } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", init.ip ?? uniqueIp());
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? env.ADMIN_TOKEN}`);
  const body =
    init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body);
  const request = new Request(`http://api.example.com${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers,
    body,
  });
  const ctx = createExecutionContext();
  const res = await worker.fetch!(
    request as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...withRoles, ...init.bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const policy = (limit: number): PolicyInput => ({
  version: 1,
  rules: [{ id: "roles", key: "ip", limits: [{ limit, window: "15m" }] }],
});

async function historyActor(version: number): Promise<string> {
  return ((await env.POLICIES.get(`policy:history:${version}`, "json")) as { actor: string }).actor;
}

beforeEach(useBuiltinPolicy);
afterEach(() => vi.restoreAllMocks());

describe("a read token", () => {
  it.each([
    ["ADMIN_READ_TOKEN", READ],
    ["a read token of ADMIN_TOKENS", GRAFANA],
  ])("%s may GET every read call: 200", async (_, token) => {
    for (const path of [
      "/metrics",
      "/policy",
      "/policy/status",
      "/policy/history",
      "/policy/candidate",
      "/tenants",
      "/stats",
      "/fleet/overview",
      "/fleet/series?minutes=60",
      "/fleet/top-keys",
      "/keys?rule=default&key=192.0.2.1",
      "/counters?rule=default&object=ip:192.0.2.1",
    ]) {
      const res = await admin(path, { token });
      // No candidate is stored: that GET answers 404, not 403.
      expect(res.status, path).toBe(path === "/policy/candidate" ? 404 : 200);
      await res.arrayBuffer();
    }
  });

  it("may POST the two calls that change nothing: validate and explain", async () => {
    const valid = await admin("/policy/validate", { method: "POST", token: READ, body: policy(3) });
    expect(valid.status).toBe(200);
    expect(await valid.json()).toEqual({ valid: true, rules: ["roles"] });
    const explain = await admin("/explain", {
      method: "POST",
      token: GRAFANA,
      body: { method: "GET", url: "http://api.example.com/x", headers: {} },
    });
    expect(explain.status).toBe(200);
  });

  it.each([
    ["PUT", "/policy", policy(2)],
    ["POST", "/policy/rollback", { version: 1 }],
    ["PUT", "/policy/candidate", policy(2)],
    ["DELETE", "/policy/candidate", undefined],
    ["POST", "/policy/promote", undefined],
    ["PUT", "/tenants", { apiKey: "sk_role_test", id: "roles", tier: "pro" }],
    ["DELETE", "/tenants", { apiKey: "sk_role_test" }],
    ["DELETE", "/keys?rule=default&key=192.0.2.1", undefined],
    ["DELETE", "/counters?rule=default&object=ip:192.0.2.1", undefined],
    ["POST", "/unlock", { address: "192.0.2.1" }],
  ])("%s %s with a read token: 403 with the error body, nothing changed", async (method, path, body) => {
    const before = await env.POLICIES.list();
    const res = await admin(path, { method, token: GRAFANA, body });
    expect(res.status).toBe(403);
    const problem = (await res.json()) as { error: string; message: string };
    expect(problem.error).toBe("forbidden");
    expect(problem.message).toContain('the token "grafana" may only read');
    expect(problem.message).toContain("needs a write token");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect((await env.POLICIES.list()).keys.map((k) => k.name)).toEqual(before.keys.map((k) => k.name));
  });

  it("is refused before the body is looked at: a forbidden PUT of a bad document is 403, not 400", async () => {
    const res = await admin("/policy", { method: "PUT", token: READ, body: "{not json" });
    expect(res.status).toBe(403);
  });

  it("works alone: with only ADMIN_READ_TOKEN the admin API and the console are on, and nothing can write", async () => {
    const bindings = { ADMIN_TOKEN: undefined, ADMIN_TOKENS: undefined };
    expect((await admin("/metrics", { token: READ, bindings })).status).toBe(200);
    const page = await admin("/console", { token: null, bindings });
    expect(page.status).toBe(200);
    await page.arrayBuffer();
    expect((await admin("/policy", { method: "PUT", token: READ, body: policy(2), bindings })).status).toBe(403);
    expect((await admin("/policy", { token: env.ADMIN_TOKEN, bindings })).status).toBe(401);
  });
});

describe("GET /whoami", () => {
  it("names the token and its role, for each kind of token; without one it is 401", async () => {
    const who = async (token: string) => (await (await admin("/whoami", { token })).json()) as object;
    expect(await who(env.ADMIN_TOKEN!)).toEqual({ name: "admin", role: "write" });
    expect(await who(READ)).toEqual({ name: "read", role: "read" });
    expect(await who(GRAFANA)).toEqual({ name: "grafana", role: "read" });
    expect(await who(ALICE)).toEqual({ name: "alice", role: "write" });
    expect((await admin("/whoami", { token: null })).status).toBe(401);
  });
});

describe("write tokens and the actor", () => {
  it("ADMIN_TOKEN still does everything, as the actor 'admin'", async () => {
    const put = await admin("/policy", { method: "PUT", body: policy(5) });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    expect(await historyActor(version)).toBe("admin");
  });

  it("a write token of ADMIN_TOKENS publishes as its name, whatever X-Sluice-Actor claims", async () => {
    const put = await admin("/policy", {
      method: "PUT",
      token: ALICE,
      body: policy(6),
      headers: { "x-sluice-actor": "mallory" },
    });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    expect(await historyActor(version)).toBe("alice");
    const entry = await admin(`/policy/history/${version}`, { token: READ });
    expect(entry.headers.get("x-sluice-published-by")).toBe("alice");
    await entry.arrayBuffer();

    const back = await admin("/policy/rollback", {
      method: "POST",
      token: ALICE,
      body: { version },
      headers: { "x-sluice-actor": "mallory" },
    });
    expect(back.status).toBe(200);
    const rolled = (await back.json()) as { version: number };
    expect(await historyActor(rolled.version)).toBe("alice");
  });

  it("a write token may change tenants; the read token then sees the record", async () => {
    const apiKey = `sk_roles_${uniqueTag()}`;
    const put = await admin("/tenants", {
      method: "PUT",
      token: ALICE,
      body: { apiKey, id: "roles-t", tier: "starter" },
    });
    expect(put.status).toBe(200);
    expect(await env.POLICIES.get(`tenant:${await sha256Hex(apiKey)}`)).not.toBeNull();
    const seen = await admin("/tenants?id=roles-t", { token: READ });
    expect(seen.status).toBe(200);
    expect(((await seen.json()) as { tenants: Array<{ id: string }> }).tenants.map((t) => t.id)).toEqual(["roles-t"]);
  });
});

describe("wrong tokens", () => {
  it("a token that is none of them: 401 for a read and for a write", async () => {
    expect((await admin("/metrics", { token: `${READ}x` })).status).toBe(401);
    expect((await admin("/policy", { method: "PUT", token: "nope", body: policy(1) })).status).toBe(401);
    expect((await admin("/metrics", { token: null })).status).toBe(401);
  });

  it("10 wrong tokens lock the address out for every token, read or write; the 11th call gets 429", async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) expect((await admin("/metrics", { token: `wrong-${i}`, ip })).status).toBe(401);
    expect((await admin("/metrics", { token: READ, ip })).status).toBe(429);
    expect((await admin("/policy", { token: ALICE, ip })).status).toBe(429);
    expect((await admin("/metrics", { token: READ, ip: uniqueIp() })).status).toBe(200);
  });

  it("a read token's forbidden writes are not wrong tokens: 12 of them lock nothing", async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 12; i++)
      expect((await admin("/policy", { method: "PUT", token: READ, body: policy(1), ip })).status).toBe(403);
    expect((await admin("/metrics", { token: READ, ip })).status).toBe(200);
  });
});

describe("a misconfigured ADMIN_TOKENS", () => {
  it.each([
    ["not JSON", `{"ops": {"token": "${ALICE}"`],
    ["an array", "[]"],
    ["a bad role", JSON.stringify({ ops: { token: "t-ops-1", role: "admin" } })],
    ["an empty token", JSON.stringify({ ops: { token: "", role: "write" } })],
    ["an unknown field", JSON.stringify({ ops: { token: "t-ops-1", role: "read", expires: "never" } })],
    ["a bad name", JSON.stringify({ "ops team": { token: "t-ops-1", role: "read" } })],
    ["a name ADMIN_TOKEN has", JSON.stringify({ admin: { token: "t-ops-1", role: "read" } })],
    [
      "a token used twice",
      JSON.stringify({ a: { token: "t-same", role: "read" }, b: { token: "t-same", role: "write" } }),
    ],
  ])("%s closes the admin API with 500, every token refused, no token in the answer or the log", async (_, tokens) => {
    const lines: string[] = [];
    for (const level of ["log", "warn", "error"] as const)
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    for (const token of [env.ADMIN_TOKEN!, READ]) {
      const res = await admin("/policy", { token, bindings: { ADMIN_TOKENS: tokens } });
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(JSON.parse(body).error).toBe("admin_tokens_invalid");
      for (const secret of [env.ADMIN_TOKEN!, READ, ALICE, "t-ops-1", "t-same"]) expect(body).not.toContain(secret);
    }
    const logged = lines.filter((l) => l.includes("admin.tokens_invalid"));
    expect(logged.length).toBeGreaterThan(0);
    for (const line of lines)
      for (const secret of [env.ADMIN_TOKEN!, READ, ALICE, "t-ops-1", "t-same"]) expect(line).not.toContain(secret);
  });

  it("with no token at all the admin API is off: 404", async () => {
    const res = await admin("/policy", {
      token: READ,
      bindings: { ADMIN_TOKEN: undefined, ADMIN_READ_TOKEN: undefined, ADMIN_TOKENS: undefined },
    });
    expect(res.status).toBe(404);
  });
});
