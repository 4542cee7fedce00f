/**
 * Last good, always: an invalid document in KV never loosens the limits. A fresh isolate (a
 * restart) falls back to the newest valid version in history, a warm one keeps what it enforces,
 * and the admin API says plainly what KV holds and which version is in force.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PolicyStore } from "../../src/adapters/workers/kv-policy-source";
import { appendHistory, latestVersion, readHistoryEntry } from "../../src/kv/policy-history";
import type { PolicyInput } from "../../src/policy/schema";
import { call, forgetHistory, uniqueIp, useBuiltinPolicy, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";
const BROKEN = '{"version":1,"rules":[{"id":"x",';

const policy = (limit: number, id = "api"): PolicyInput => ({
  version: 1,
  headers: ["legacy"],
  rules: [{ id, key: "ip", limits: [{ limit, window: "15m" }] }],
});

function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    ip: uniqueIp(),
  });
}

const limitOf = (p: { compiled: { rules: Array<{ limits: Array<{ limitFor(t: string): number }> }> } }) =>
  p.compiled.rules[0]!.limits[0]!.limitFor("starter");

// Each test starts from "nothing was ever published".
beforeEach(async () => {
  await forgetHistory();
  await useBuiltinPolicy();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("a fresh isolate (a restart) with an invalid document in KV", () => {
  it("enforces the newest valid version from history, not the built-in default", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const put = await admin("/policy", { method: "PUT", body: policy(7) });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    await usePolicy(BROKEN);

    const restarted = new PolicyStore();
    const inForce = await restarted.get(env);
    expect(inForce.source).toBe("history");
    expect(inForce.version).toBe(version);
    expect(limitOf(inForce)).toBe(7);
    expect(restarted.storedState().state).toBe("invalid");
    const logged = errors.mock.calls.map((c) => String(c[0])).find((l) => l.includes("policy.invalid"));
    expect(JSON.parse(logged!)).toMatchObject({ keeping: "history", version });
  });

  it("skips history entries that no longer validate and takes the newest one that does", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await appendHistory(env.POLICIES, { actor: "t", how: "put", text: JSON.stringify(policy(5)) });
    const good = await appendHistory(env.POLICIES, { actor: "t", how: "put", text: JSON.stringify(policy(6)) });
    await appendHistory(env.POLICIES, { actor: "t", how: "put", text: BROKEN });
    await usePolicy(BROKEN);
    const inForce = await new PolicyStore().get(env);
    expect(inForce.version).toBe(good.version);
    expect(limitOf(inForce)).toBe(6);
  });

  it("falls back to the built-in default only when no valid version was ever published", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await usePolicy(BROKEN);
    const inForce = await new PolicyStore().get(env);
    expect(inForce.source).toBe("builtin");
    expect(limitOf(inForce)).toBe(300);
  });
});

describe("a warm isolate that then finds an invalid document", () => {
  it("keeps the document it enforces", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    await usePolicy(policy(9));
    const store = new PolicyStore();
    expect(limitOf(await store.get(env, 1_000))).toBe(9);
    await usePolicy(BROKEN);
    const after = await store.get(env, 1_000 + 3_600_000);
    expect(after.source).toBe("kv");
    expect(limitOf(after)).toBe(9);
    expect(store.storedState().state).toBe("invalid");
  });

  it("moves to a newer valid version from history when one exists", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const older = await appendHistory(env.POLICIES, { actor: "t", how: "put", text: JSON.stringify(policy(3)) });
    const store = new PolicyStore();
    store.install((await new PolicyStore().get(env)).compiled, JSON.stringify(policy(3)), 1_000, older.version);
    const newer = await appendHistory(env.POLICIES, { actor: "t", how: "put", text: JSON.stringify(policy(4)) });
    await usePolicy(BROKEN);
    const after = await store.get(env, 1_000 + 3_600_000);
    expect(after.version).toBe(newer.version);
    expect(limitOf(after)).toBe(4);
  });
});

describe("the front door and the admin API", () => {
  it("keeps limiting by the last good version and GET /policy says KV holds an invalid document", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const put = await admin("/policy", { method: "PUT", body: policy(2) });
    const { version } = (await put.json()) as { version: number };
    await usePolicy(BROKEN);
    const ip = uniqueIp();
    expect((await call("/x", { ip })).status).toBe(200);
    expect((await call("/x", { ip })).status).toBe(200);
    const third = await call("/x", { ip });
    expect(third.status).toBe(429);
    expect(third.headers.get("RateLimit-Limit")).toBe("2");

    const res = await admin("/policy");
    expect(res.headers.get("X-Sluice-Stored-Policy")).toBe("invalid");
    expect(res.headers.get("X-Sluice-Policy-Version")).toBe(String(version));
    expect(JSON.parse(await res.text())).toEqual(policy(2));
    const status = (await (await admin("/policy/status")).json()) as {
      inForce: { version: number };
      stored: { state: string; errors: unknown[] };
      message: string;
    };
    expect(status.inForce.version).toBe(version);
    expect(status.stored.state).toBe("invalid");
    expect(status.stored.errors.length).toBeGreaterThan(0);
    expect(status.message).toContain("INVALID");
    expect(status.message).toContain(`version ${version}`);
  });

  it("GET /policy/history/<version> returns that version's entry with its document, 404 for one that does not exist", async () => {
    const first = (await (await admin("/policy", { method: "PUT", body: policy(11) })).json()) as { version: number };
    await admin("/policy", { method: "PUT", body: policy(12) });
    const res = await admin(`/policy/history/${first.version}`);
    expect(res.status).toBe(200);
    const entry = (await res.json()) as { version: number; text: string };
    expect(entry.version).toBe(first.version);
    expect(JSON.parse(entry.text)).toEqual(policy(11));
    expect(res.headers.get("X-Sluice-Policy-Version")).toBe(String(first.version));
    expect((await admin("/policy/history/99999")).status).toBe(404);
  });
});

describe("a document written into KV by hand", () => {
  it("gets a history entry once an isolate sees it, and only one", async () => {
    await usePolicy(policy(13));
    for (let i = 0; i < 2; i++) {
      const ctx = createExecutionContext();
      await new PolicyStore().get(env, undefined, ctx);
      await waitOnExecutionContext(ctx);
    }
    const { keys } = await env.POLICIES.list({ prefix: "policy:history:" });
    expect(keys).toHaveLength(1);
    const version = await latestVersion(env.POLICIES);
    expect(keys[0]!.name).toBe(`policy:history:${version}`);
    const entry = await readHistoryEntry(env.POLICIES, version);
    expect(JSON.parse(entry!.text)).toEqual(policy(13));
    expect(entry).toMatchObject({ actor: "kv", how: "seen-in-kv" });
  });
});

describe("a fresh isolate's first look at a document already in history", () => {
  it("names its version in the operator's view at once, before any traffic (no 'no version yet')", async () => {
    await usePolicy(policy(14));
    const ctx = createExecutionContext();
    await new PolicyStore().get(env, undefined, ctx);
    await waitOnExecutionContext(ctx);
    const version = await latestVersion(env.POLICIES);
    expect(version).toBeGreaterThan(0);
    // A restart: a new store whose first read is an operator's.
    const inForce = await new PolicyStore().current(env);
    expect(inForce).toMatchObject({ source: "kv", version });
    // Already in history: nothing appended.
    expect(await latestVersion(env.POLICIES)).toBe(version);
  });
});
