/**
 * The usage ledger through the Worker: a tenant's admitted and refused units
 * per rule and UTC day, read back with `GET /usage`, match the traffic sent;
 * another tenant's traffic is not in its rows; bad days are refused.
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

async function send(n: number, apiKey: string, path: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call(path, { headers: { authorization: `Bearer ${apiKey}` }, ip: uniqueIp() });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

interface UsageAnswer {
  tenant: string;
  rows: Array<{ day: string; tenant: string; rule: string; admitted: number; refused: number }>;
}

afterEach(() => vi.useRealTimers());

describe("the usage ledger", () => {
  it("counts a tenant's admitted and refused units per rule and day, as sent", async () => {
    // Midday: the whole test falls on one UTC day.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2033, 4, 6, 12, 0, 0));
    const [api, heavy] = [uniqueTag("api"), uniqueTag("heavy")];
    const policy: PolicyInput = {
      version: 1,
      rules: [
        { id: heavy, key: "tenant", match: { paths: ["/v1/heavy"] }, cost: 3, limits: [{ limit: 9, window: "1h" }] },
        { id: api, key: "tenant", limits: [{ limit: 5, window: "1h" }] },
      ],
    };
    await usePolicy(policy);
    const [a, b] = [uniqueTag("acme"), uniqueTag("globex")];
    const [aKey, bKey] = [uniqueTag("key"), uniqueTag("key")];
    expect((await admin("/tenants", "PUT", { apiKey: aKey, id: a })).status).toBe(200);
    expect((await admin("/tenants", "PUT", { apiKey: bKey, id: b })).status).toBe(200);

    // Tenant A: 5 admitted and 3 refused on `api`; 3 admitted (9 units) and 2 refused on `heavy`.
    expect(await send(8, aKey, "/v1/things")).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(await send(5, aKey, "/v1/heavy")).toEqual([200, 200, 200, 429, 429]);
    // Tenant B: 2 admitted on `api`, not in A's rows.
    expect(await send(2, bKey, "/v1/things")).toEqual([200, 200]);

    const day = "2033-05-06";
    const res = await admin(`/usage?tenant=${encodeURIComponent(a)}&from=${day}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as UsageAnswer;
    const rows = body.rows.filter((r) => r.rule === api || r.rule === heavy);
    expect(rows).toEqual(
      [
        { day, tenant: a, rule: api, admitted: 5, refused: 3 },
        { day, tenant: a, rule: heavy, admitted: 9, refused: 6 },
      ].sort((x, y) => (x.rule < y.rule ? -1 : 1)),
    );
    const other = (await (
      await admin(`/usage?tenant=${encodeURIComponent(b)}&from=${day}&to=${day}`)
    ).json()) as UsageAnswer;
    expect(other.rows).toEqual([{ day, tenant: b, rule: api, admitted: 2, refused: 0 }]);
  });

  it("refuses a missing tenant and days that are not days", async () => {
    for (const query of [
      "from=2026-01-01",
      "tenant=t",
      "tenant=t&from=2026-02-30",
      "tenant=t&from=2026-03-02&to=2026-03-01",
    ]) {
      const res = await admin(`/usage?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(/tenant|day|before/);
    }
  });
});
