/**
 * Per-tenant overrides through the Worker: one tenant's raised limit while the
 * tier's other tenants keep theirs, the numbers in the headers, the 429 body
 * and GET /keys, the override lapsing at its expiry to the millisecond, and
 * PUT /tenants refusing an override the policy has no limit for.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, uniqueIp, uniqueTag, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

function admin(path: string, method = "GET", body?: unknown): Promise<Response> {
  return call(`${PREFIX}${path}`, {
    method,
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ip: uniqueIp(),
  });
}

async function statuses(n: number, apiKey: string): Promise<{ statuses: number[]; last: Response }> {
  const out: number[] = [];
  let last!: Response;
  for (let i = 0; i < n; i++) {
    last = await call("/v1/things", { headers: { authorization: `Bearer ${apiKey}` }, ip: uniqueIp() });
    if (i < n - 1) await last.arrayBuffer();
    out.push(last.status);
  }
  return { statuses: out, last };
}

const policy: PolicyInput = {
  version: 1,
  headers: ["legacy", "ietf"],
  rules: [{ id: "api", key: "tenant", limits: [{ limit: { starter: 3, pro: 5 }, window: "1m" }] }],
};

afterEach(() => {
  vi.useRealTimers();
});

describe("tenant overrides", () => {
  it("raise one tenant's limit while the tier's other tenants keep theirs", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2032, 1, 3, 9, 0, 10));
    await usePolicy(policy);
    const [raised, plain] = [uniqueTag("acme"), uniqueTag("globex")];
    const [raisedKey, plainKey] = [uniqueTag("key"), uniqueTag("key")];
    const put1 = await admin("/tenants", "PUT", {
      apiKey: raisedKey,
      id: raised,
      tier: "pro",
      overrides: { "api-1m": { limit: 8 } },
    });
    expect(put1.status).toBe(200);
    expect((await admin("/tenants", "PUT", { apiKey: plainKey, id: plain, tier: "pro" })).status).toBe(200);

    const a = await statuses(9, raisedKey);
    expect(a.statuses).toEqual([...Array(8).fill(200), 429]);
    expect(a.last.headers.get("RateLimit-Limit")).toBe("8");
    expect(a.last.headers.get("RateLimit-Policy")).toBe('"api-1m";q=8;w=60');
    expect(((await a.last.json()) as { limit: number }).limit).toBe(8);

    const b = await statuses(6, plainKey);
    expect(b.statuses).toEqual([...Array(5).fill(200), 429]);
    expect(b.last.headers.get("RateLimit-Limit")).toBe("5");
    expect(((await b.last.json()) as { limit: number }).limit).toBe(5);

    const shown = (await (await admin(`/keys?rule=api&key=${raised}`)).json()) as {
      tenant: string;
      tier: string;
      limits: Array<{ name: string; limit: number; remaining: number; override?: unknown }>;
    };
    expect(shown).toMatchObject({ tenant: raised, tier: "pro" });
    expect(shown.limits).toEqual([
      expect.objectContaining({ name: "api-1m", limit: 8, remaining: 0, override: { limit: 8 } }),
    ]);
    const plainShown = (await (await admin(`/keys?rule=api&key=${plain}`)).json()) as {
      limits: Array<{ limit: number; override?: unknown }>;
    };
    expect(plainShown.limits[0]).toMatchObject({ limit: 5 });
    expect(plainShown.limits[0]!.override).toBeUndefined();
  });

  it("lapses at its expiry: the tenant is back on its tier's number", async () => {
    const start = Date.UTC(2032, 1, 3, 10, 0, 0);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start);
    await usePolicy(policy);
    const apiKey = uniqueTag("key");
    const put = await admin("/tenants", "PUT", {
      apiKey,
      id: uniqueTag("initech"),
      tier: "pro",
      overrides: { "api-1m": { multiplier: 2, expires: new Date(start + 30_000).toISOString() } },
    });
    expect(put.status).toBe(200);
    const before = await statuses(6, apiKey);
    expect(before.statuses).toEqual(Array(6).fill(200));
    expect(before.last.headers.get("RateLimit-Limit")).toBe("10");
    await before.last.arrayBuffer();

    vi.setSystemTime(start + 30_000 - 1);
    const lastMoment = await statuses(1, apiKey);
    expect(lastMoment.statuses).toEqual([200]);
    expect(lastMoment.last.headers.get("RateLimit-Limit")).toBe("10");
    await lastMoment.last.arrayBuffer();

    // Same window, override gone: 7 used of the tier's 5.
    vi.setSystemTime(start + 30_000);
    const after = await statuses(1, apiKey);
    expect(after.statuses).toEqual([429]);
    expect(after.last.headers.get("RateLimit-Limit")).toBe("5");
    expect(((await after.last.json()) as { limit: number }).limit).toBe(5);
  });

  it("are checked against the policy in force by PUT /tenants", async () => {
    await usePolicy(policy);
    const res = await admin("/tenants", "PUT", {
      apiKey: uniqueTag("key"),
      id: "hooli",
      overrides: { "api-1h": { limit: 8 }, "api-1m": { limit: 2, multiplier: 2 } },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors.map((e) => e.path)).toEqual(["overrides.api-1m"]);
    const unknown = await admin("/tenants", "PUT", {
      apiKey: uniqueTag("key"),
      id: "hooli",
      overrides: { "api-1h": { limit: 8 } },
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      errors: [{ path: "overrides.api-1h", message: 'the policy in force has no limit "api-1h" (it has api-1m)' }],
    });
    const past = await admin("/tenants", "PUT", {
      apiKey: uniqueTag("key"),
      id: "hooli",
      overrides: { "api-1m": { limit: 8, expires: "2001-01-01T00:00:00Z" } },
    });
    expect(past.status).toBe(400);
    expect(await past.json()).toMatchObject({ errors: [{ path: "overrides.api-1m.expires" }] });
  });
});
