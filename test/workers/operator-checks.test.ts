/**
 * The admin API refuses what would silently do the wrong thing: a tenant tier the policy does not
 * define, a tenant id that cannot name counters, a counter looked up for an unknown tier, and a
 * document larger than a policy may be (413, not a bare 500 from KV).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_POLICY_BYTES } from "../../src/policy/validate";
import worker from "../../src/worker";
import { call, uniqueIp, uniqueTag, useBuiltinPolicy, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(path: string, init: { method?: string; body?: string } = {}): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: init.body,
    ip: uniqueIp(),
  });
}

beforeEach(useBuiltinPolicy);
afterEach(() => {
  vi.restoreAllMocks();
});

describe("tenants against the policy in force", () => {
  it("refuses a tier the policy does not define, naming it, and an id that cannot name counters", async () => {
    await usePolicy({
      version: 1,
      rules: [{ id: "t", limits: [{ limit: { starter: 2, pro: 5 }, window: "15m" }] }],
    });
    const gold = await admin("/tenants", {
      method: "PUT",
      body: JSON.stringify({ apiKey: "k-gold", id: "acme", tier: "gold" }),
    });
    expect(gold.status).toBe(400);
    expect(((await gold.json()) as { message: string }).message).toContain('tier "gold" is not defined');
    const cased = await admin("/tenants", {
      method: "PUT",
      body: JSON.stringify({ apiKey: "k", id: "acme", tier: "Pro" }),
    });
    expect(((await cased.json()) as { message: string }).message).toContain('did you mean "pro"?');
    const badId = await admin("/tenants", {
      method: "PUT",
      body: JSON.stringify({ apiKey: "k-id", id: "Acme Corp!", tier: "pro" }),
    });
    expect(badId.status).toBe(400);
    expect(await env.POLICIES.list({ prefix: "tenant:" }).then((l) => l.keys.length)).toBe(0);
    const ok = await admin("/tenants", {
      method: "PUT",
      body: JSON.stringify({ apiKey: "k-ok", id: "acme", tier: "pro" }),
    });
    expect(ok.status).toBe(200);
  });

  it("GET /keys refuses a tier the policy does not define instead of showing the default tier's numbers", async () => {
    await usePolicy({ version: 1, rules: [{ id: "t", key: "ip", limits: [{ limit: 3, window: "15m" }] }] });
    const res = await admin("/keys?rule=t&key=198.51.100.1&tier=enterprise");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain('tier "enterprise" is not defined');
    expect((await admin("/keys?rule=t&key=198.51.100.1&tier=starter")).status).toBe(200);
  });
});

describe("document size", () => {
  it("answers 413 with a clear error for a document over the limit, from PUT and validate, storing nothing", async () => {
    const big = JSON.stringify({ version: 1, rules: [{ id: "a", key: "ip", limits: [{ limit: 1, window: "1m" }] }] });
    const body = big + " ".repeat(MAX_POLICY_BYTES);
    for (const [method, path] of [
      ["PUT", "/policy"],
      ["POST", "/policy/validate"],
    ] as const) {
      const res = await admin(path, { method, body });
      expect(res.status).toBe(413);
      const problem = (await res.json()) as { errors: Array<{ message: string }> };
      expect(problem.errors[0]!.message).toMatch(/^the document is 1\.0 MiB; a policy may be at most 1 MiB$/);
    }
    expect(await env.POLICIES.get("policy")).toBeNull();
  });
});

describe("logs and stats", () => {
  it("logs every refusal, those answered from the refusal cache too (repeats as one line with their count), and /stats counts the same", async () => {
    const id = uniqueTag("r")
      .replace(/[^a-z0-9-]/g, "")
      .slice(0, 40);
    await usePolicy({ version: 1, rules: [{ id, key: "ip", limits: [{ limit: 1, window: "15m" }] }] });
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call("/x", { ip });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 429, 429, 429]);
    const lines = () =>
      log.mock.calls
        .map((c) => String(c[0]))
        .filter((l) => l.includes('"request.refused"') && l.includes(`"${id}"`))
        .map((l) => JSON.parse(l) as { cached?: true; count?: number });
    // A cached refusal's repeats are written as one line with their count when the interval is over.
    const refusals = () => lines().reduce((n, l) => n + (l.count ?? 1), 0);
    await vi.waitFor(() => expect(refusals()).toBe(3), { timeout: 10_000, interval: 50 });
    expect(lines().filter((l) => l.cached).length).toBeGreaterThanOrEqual(1);
    const { minutes } = (await (await admin("/stats")).json()) as {
      minutes: Array<{ rules: Record<string, { refused: number; admitted: number }> }>;
    };
    const refused = minutes.reduce((n, m) => n + (m.rules[id]?.refused ?? 0), 0);
    expect(refused).toBe(3);
  });
});

describe("the admin API switched off", () => {
  it("answers 404 with a hint on a local host, and a bare 404 elsewhere", async () => {
    const off = async (host: string) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch!(
        new Request(`http://${host}/__ratelimit/policy`, {
          headers: { authorization: "Bearer x" },
        }) as Request<unknown, IncomingRequestCfProperties>,
        { ...env, ADMIN_TOKEN: undefined },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const local = await off("127.0.0.1:8787");
    expect(local.status).toBe(404);
    expect(((await local.json()) as { hint?: string }).hint).toContain("ADMIN_TOKEN is not set");
    const remote = await off("api.example.com");
    expect(remote.status).toBe(404);
    expect(((await remote.json()) as { hint?: string }).hint).toBeUndefined();
  });
});
