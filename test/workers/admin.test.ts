/**
 * The admin API and policy loading from KV.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PolicyStore } from "../../src/adapters/workers/kv-policy-source";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { call, callMany, uniqueIp, uniqueTag, useBuiltinPolicy, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string>; ip?: string } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? env.ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const body =
    init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body);
  return call(`${PREFIX}${path}`, {
    method: init.method ?? "GET",
    headers: Object.fromEntries(headers),
    body,
    ip: init.ip ?? uniqueIp(),
  });
}

async function fetchWith(bindings: Partial<Cloudflare.Env>, request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch!(
    request as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const policy = (limit: number, id = "api"): PolicyInput => ({
  version: 1,
  headers: ["legacy"],
  rules: [{ id, key: "ip", limits: [{ limit, window: "15m" }] }],
});

beforeEach(useBuiltinPolicy);
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("authentication", () => {
  it("answers 404 everywhere when no ADMIN_TOKEN is configured", async () => {
    const res = await fetchWith(
      { ADMIN_TOKEN: undefined },
      new Request(`http://api.example.com${PREFIX}/policy`, { headers: { authorization: "Bearer anything" } }),
    );
    expect(res.status).toBe(404);
  });

  it("refuses a missing header, a wrong scheme, a wrong token and a token of another length with 401, changing nothing", async () => {
    const token = env.ADMIN_TOKEN!;
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: `Basic ${token}` },
      { authorization: `Bearer ${token.slice(0, -1)}X` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: `Bearer ${token}${token}` },
      { authorization: "Bearer " },
    ];
    for (const headers of attempts) {
      const put = await admin("/policy", { method: "PUT", token: null, headers, body: policy(1) });
      expect(put.status, JSON.stringify(headers)).toBe(401);
      const tenants = await admin("/tenants", {
        method: "PUT",
        token: null,
        headers,
        body: { apiKey: "k", id: "x", tier: "pro" },
      });
      expect(tenants.status).toBe(401);
    }
    expect(await env.POLICIES.get("policy")).toBeNull();
    expect(await env.POLICIES.get(`tenant:${await sha256Hex("k")}`)).toBeNull();
    const res = await call("/x", { ip: uniqueIp() });
    expect(res.headers.get("RateLimit-Limit")).toBe("300");
  });
});

describe("guessing the token", () => {
  it("refuses an address with 429 after 10 wrong tokens in 15 minutes, even with the right one, and no other address", async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) {
      const res = await admin("/policy", { token: `wrong-${i}`, ip });
      expect(res.status, `attempt ${i + 1}`).toBe(401);
    }
    const locked = await admin("/policy", { ip });
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect((await admin("/policy", { ip: uniqueIp() })).status).toBe(200);
  });

  it("does not count a right token against the address", async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 12; i++) expect((await admin("/policy", { ip })).status).toBe(200);
  });
});

describe("policy", () => {
  it("GET returns the document in force with an ETag", async () => {
    const res = await admin("/policy");
    expect(res.status).toBe(200);
    expect(res.headers.get("ETag")).toMatch(/^"[0-9a-f]{32}"$/);
    const doc = (await res.json()) as PolicyInput;
    expect(doc.rules[0]!.id).toBe("default");
  });

  it("PUT validates, stores in KV and puts the document in force at once, even with a long cache TTL", async () => {
    const put = await admin("/policy", { method: "PUT", body: policy(4) });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    expect(version).toBeGreaterThanOrEqual(1);
    expect(JSON.parse((await env.POLICIES.get("policy"))!)).toEqual(policy(4));
    const res = await fetchWith(
      { POLICY_TTL_SECONDS: "3600" },
      new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } }),
    );
    expect(res.headers.get("RateLimit-Limit")).toBe("4");
    const history = JSON.parse((await env.POLICIES.get(`policy:history:${version}`))!) as {
      text: string;
      actor: string;
      at: string;
    };
    expect(JSON.parse(history.text)).toEqual(policy(4));
    expect(history.actor).toBe("admin"); // ADMIN_TOKEN's name
    expect(Date.parse(history.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("PUT of a bad document answers 400 with {path, message} errors and stores nothing", async () => {
    await admin("/policy", { method: "PUT", body: policy(6) });
    const bad = { ...policy(6), rules: [{ id: "Bad Id", key: "ip", limits: [{ limit: 0, window: "15 minutes" }] }] };
    const res = await admin("/policy", { method: "PUT", body: bad });
    expect(res.status).toBe(400);
    const { errors } = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(errors.map((e) => e.path).sort()).toEqual([
      "rules[0].id",
      "rules[0].limits[0].limit",
      "rules[0].limits[0].window",
    ]);
    expect(errors.every((e) => e.message.length > 0)).toBe(true);
    expect(JSON.parse((await env.POLICIES.get("policy"))!)).toEqual(policy(6));
    const req = await call("/x", { ip: uniqueIp() });
    expect(req.headers.get("RateLimit-Limit")).toBe("6");
    const notJson = await admin("/policy", { method: "PUT", body: "{ nope" });
    expect(notJson.status).toBe(400);
  });

  it("honours If-Match: a stale ETag gets 412 and changes nothing", async () => {
    await admin("/policy", { method: "PUT", body: policy(7) });
    const etag = (await admin("/policy")).headers.get("ETag")!;
    const first = await admin("/policy", { method: "PUT", body: policy(8), headers: { "if-match": etag } });
    expect(first.status).toBe(200);
    const second = await admin("/policy", { method: "PUT", body: policy(9), headers: { "if-match": etag } });
    expect(second.status).toBe(412);
    expect(JSON.parse((await env.POLICIES.get("policy"))!)).toEqual(policy(8));
  });

  it("POST /policy/validate validates only", async () => {
    const ok = await admin("/policy/validate", { method: "POST", body: policy(2) });
    expect(ok.status).toBe(200);
    const bad = await admin("/policy/validate", { method: "POST", body: { version: 1, rules: [], extra: true } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ path: string }> }).errors[0]!.path).toBe("extra");
    expect(await env.POLICIES.get("policy")).toBeNull();
  });

  it("keeps every published document and rolls back to an earlier version", async () => {
    const v1 = ((await (await admin("/policy", { method: "PUT", body: policy(11) })).json()) as { version: number })
      .version;
    await admin("/policy", { method: "PUT", body: policy(12) });
    const list = (await (await admin("/policy/history")).json()) as { versions: Array<{ version: number }> };
    expect(list.versions.map((v) => v.version)).toContain(v1);
    const back = await admin("/policy/rollback", { method: "POST", body: { version: v1 } });
    expect(back.status).toBe(200);
    expect(((await back.json()) as { restored: number }).restored).toBe(v1);
    expect((await call("/x", { ip: uniqueIp() })).headers.get("RateLimit-Limit")).toBe("11");
    expect((await admin("/policy/rollback", { method: "POST", body: { version: 99999 } })).status).toBe(404);
    expect((await admin("/policy/rollback", { method: "POST", body: { version: "one" } })).status).toBe(400);
  });
});

describe("policy loading from KV", () => {
  it("takes a change into force within POLICY_TTL_SECONDS, not before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2034, 0, 1));
    const req = () => new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } });
    await usePolicy(policy(21));
    expect((await fetchWith({ POLICY_TTL_SECONDS: "10" }, req())).headers.get("RateLimit-Limit")).toBe("21");
    await usePolicy(policy(22));
    vi.setSystemTime(Date.UTC(2034, 0, 1) + 9_000);
    expect((await fetchWith({ POLICY_TTL_SECONDS: "10" }, req())).headers.get("RateLimit-Limit")).toBe("21");
    vi.setSystemTime(Date.UTC(2034, 0, 1) + 10_000);
    expect((await fetchWith({ POLICY_TTL_SECONDS: "10" }, req())).headers.get("RateLimit-Limit")).toBe("22");
  });

  it("never shares a KV read between requests: before the first load each reads; after the TTL one reads and the others go on", async () => {
    await usePolicy(policy(31));
    let reads = 0;
    const counting = {
      get: (key: string, options?: unknown) => {
        reads++;
        return env.POLICIES.get(key, options as KVNamespaceGetOptions<"text">);
      },
    } as unknown as KVNamespace;
    const bindings = { ...env, POLICIES: counting, POLICY_TTL_SECONDS: "30" };
    const store = new PolicyStore();
    const first = await Promise.all(Array.from({ length: 5 }, () => store.get(bindings, 1_000_000)));
    expect(first.map((p) => p.source)).toEqual(Array(5).fill("kv"));
    expect(first.map((p) => p.compiled.rules[0]!.limits[0]!.limitFor("starter"))).toEqual(Array(5).fill(31));
    expect(reads).toBe(5);
    await Promise.all(Array.from({ length: 5 }, () => store.get(bindings, 1_000_000 + 29_999)));
    expect(reads).toBe(5);
    await usePolicy(policy(32));
    const later = await Promise.all(Array.from({ length: 5 }, () => store.get(bindings, 1_000_000 + 30_000)));
    expect(reads).toBe(6);
    expect(later[0]!.compiled.rules[0]!.limits[0]!.limitFor("starter")).toBe(32);
    expect((await store.get(bindings, 1_000_000 + 30_001)).compiled.rules[0]!.limits[0]!.limitFor("starter")).toBe(32);
  });

  it("keeps the last good document when KV throws, and logs it once", async () => {
    await usePolicy(policy(23));
    expect((await call("/x", { ip: uniqueIp() })).headers.get("RateLimit-Limit")).toBe("23");
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const failing = { get: () => Promise.reject(new Error("KV is down")) } as unknown as KVNamespace;
    for (let i = 0; i < 3; i++) {
      const res = await fetchWith(
        { POLICIES: failing, POLICY_TTL_SECONDS: "0" },
        new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } }),
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("RateLimit-Limit")).toBe("23");
    }
    expect(errors.mock.calls.filter((c) => String(c[0]).includes("policy.load_failed"))).toHaveLength(1);
  });
});

describe("tenants", () => {
  it("stores only the hash of the API key, and the tenant's tier applies at once", async () => {
    await usePolicy({
      version: 1,
      headers: ["legacy"],
      rules: [{ id: "t", limits: [{ limit: { starter: 2, pro: 5 }, window: "15m" }] }],
    });
    const apiKey = `sk_live_${uniqueTag()}`;
    const put = await admin("/tenants", { method: "PUT", body: { apiKey, id: "acme", tier: "pro", sandbox: false } });
    expect(put.status).toBe(200);
    const stored = await env.POLICIES.get(`tenant:${await sha256Hex(apiKey)}`);
    expect(JSON.parse(stored!)).toEqual({ id: "acme", tier: "pro", sandbox: false });
    const keys = await env.POLICIES.list({ prefix: "tenant:" });
    for (const k of keys.keys) {
      expect(k.name).not.toContain(apiKey);
      expect(await env.POLICIES.get(k.name)).not.toContain(apiKey);
    }
    const res = await call("/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.headers.get("RateLimit-Limit")).toBe("5");

    const del = await admin("/tenants", { method: "DELETE", body: { apiKey } });
    expect(((await del.json()) as { deleted: boolean }).deleted).toBe(true);
    expect(await env.POLICIES.get(`tenant:${await sha256Hex(apiKey)}`)).toBeNull();
    const after = await call("/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${apiKey}` } });
    expect(after.headers.get("RateLimit-Limit")).toBe("2");
    expect((await admin("/tenants", { method: "PUT", body: { apiKey, id: "", tier: "pro" } })).status).toBe(400);
    expect((await admin("/tenants", { method: "PUT", body: { id: "x" } })).status).toBe(400);
  });
});

describe("counters", () => {
  it("GET /keys shows a counter's state and DELETE /keys resets it", async () => {
    await usePolicy({
      version: 1,
      rules: [
        {
          id: "api",
          key: "ip",
          limits: [
            { limit: 3, window: "15m" },
            { limit: 10, window: "1d" },
          ],
        },
      ],
    });
    const ip = uniqueIp();
    expect(await callMany(4, "/x", { ip })).toEqual([200, 200, 200, 429]);
    const shown = await admin(`/keys?rule=api&key=${ip}`);
    expect(shown.status).toBe(200);
    const state = (await shown.json()) as {
      limits: Array<{ name: string; limit: number; remaining: number; reset: number }>;
    };
    expect(state.limits.map(({ name, limit, remaining }) => ({ name, limit, remaining }))).toEqual([
      { name: "api-15m", limit: 3, remaining: 0 },
      { name: "api-1d", limit: 10, remaining: 7 },
    ]);
    expect(state.limits[1]!.reset % 86400).toBe(0);
    const reset = await admin(`/keys?rule=api&key=${ip}`, { method: "DELETE" });
    expect(reset.status).toBe(200);
    expect(await callMany(1, "/x", { ip })).toEqual([200]);
    expect((await admin("/keys?rule=nope&key=1.2.3.4")).status).toBe(404);
    expect((await admin("/keys?rule=api")).status).toBe(400);
  });

  it("GET /keys takes the plain value of a body key, not its hash", async () => {
    await usePolicy({
      version: 1,
      rules: [{ id: "forgot", key: "body:email", limits: [{ limit: 10, window: "15m" }] }],
    });
    const email = `${uniqueTag()}@example.com`;
    await callMany(2, "/f", {
      ip: uniqueIp(),
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email }),
    });
    const state = (await (await admin(`/keys?rule=forgot&key=${encodeURIComponent(email)}`)).json()) as {
      limits: Array<{ remaining: number }>;
    };
    expect(state.limits[0]!.remaining).toBe(8);
  });
});

describe("stats and logs", () => {
  it("GET /stats counts admitted and refused requests per rule", async () => {
    await usePolicy(policy(1, `stats-${Math.floor(Math.random() * 1e6)}`));
    const id = (JSON.parse((await env.POLICIES.get("policy"))!) as PolicyInput).rules[0]!.id;
    await callMany(3, "/x", { ip: uniqueIp() });
    const stats = (await (await admin("/stats")).json()) as {
      minutes: Array<{ rules: Record<string, { admitted: number; refused: number }> }>;
    };
    const counts = stats.minutes.map((m) => m.rules[id]).filter(Boolean);
    expect(counts.reduce((n, c) => n + c!.admitted, 0)).toBe(1);
    expect(counts.reduce((n, c) => n + c!.refused, 0)).toBe(2);
  });

  it("writes each decision to the ANALYTICS dataset when it is bound, and works without it", async () => {
    await usePolicy(policy(1, "analytics"));
    const points: AnalyticsEngineDataPoint[] = [];
    const dataset = { writeDataPoint: (p: AnalyticsEngineDataPoint) => points.push(p) } as AnalyticsEngineDataset;
    const ip = uniqueIp();
    for (let i = 0; i < 2; i++) {
      const res = await fetchWith(
        { ANALYTICS: dataset },
        new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": ip } }),
      );
      await res.arrayBuffer();
    }
    expect(points).toEqual([
      { blobs: ["analytics", "admitted"], doubles: [1], indexes: ["analytics"] },
      { blobs: ["analytics", "refused"], doubles: [1], indexes: ["analytics"] },
    ]);
    const without = await fetchWith(
      { ANALYTICS: undefined },
      new Request("http://api.example.com/x", { headers: { "cf-connecting-ip": uniqueIp() } }),
    );
    expect(without.status).toBe(200);
  });

  it("never writes the raw API key or the admin token to a log line or an error", async () => {
    const lines: string[] = [];
    for (const level of ["log", "warn", "error", "info", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    const apiKey = `sk_secret_${uniqueTag()}`;
    await admin("/tenants", { method: "PUT", body: { apiKey, id: "logtest", tier: "pro" } });
    await usePolicy({ version: 1, rules: [{ id: "t", limits: [{ limit: 1, window: "15m" }] }] });
    await callMany(3, "/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${apiKey}` } });
    await admin("/policy", { method: "PUT", body: { bad: true } });
    await admin("/policy", { method: "PUT", token: "wrong", body: policy(1) });
    await admin("/tenants", { method: "DELETE", body: { apiKey } });
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(apiKey);
      expect(line).not.toContain(env.ADMIN_TOKEN!);
    }
  });
});
