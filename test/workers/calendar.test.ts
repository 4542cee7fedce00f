/**
 * Calendar windows through the Worker: a tenant's month quota on its billing
 * day in its time zone, refused at its limit with the seconds to the period's
 * end (`t`, `Retry-After`) and the period's length (`w`), its counter named
 * `quota-month` in GET /keys and tenant overrides, reset when paid by
 * DELETE /keys, and PUT /tenants refusing a bad billing period. workerd's
 * clock cannot be moved: the period is the one containing now, and the
 * expected numbers come from the same pure `calendarWindow`.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { calendarWindow } from "../../src/limiter/calendar";
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

const policy: PolicyInput = {
  version: 1,
  headers: ["legacy", "ietf"],
  rules: [
    {
      id: "quota",
      key: "tenant",
      limits: [{ limit: 3, window: "month", anchor: { day: 31, time: "00:00", timeZone: "Europe/Berlin" } }],
    },
  ],
};

/** `"quota-month";r=0;t=123` → 123. */
function secondsOf(header: string | null): number {
  return Number(/;t=(\d+)/.exec(header ?? "")?.[1]);
}

describe("a month quota on the tenant's billing day", () => {
  it("admits the limit, refuses the next with t and w of the tenant's period, and resets when paid", async () => {
    await usePolicy(policy);
    const id = uniqueTag("acme");
    const apiKey = uniqueTag("key");
    const billing = { day: 15, timeZone: "America/New_York" };
    expect((await admin("/tenants", "PUT", { apiKey, id, billing })).status).toBe(200);
    const send = () => call("/v1/things", { headers: { authorization: `Bearer ${apiKey}` }, ip: uniqueIp() });

    const before = Date.now();
    const statuses: number[] = [];
    let last!: Response;
    for (let i = 0; i < 4; i++) {
      last = await send();
      if (i < 3) await last.arrayBuffer();
      statuses.push(last.status);
    }
    const after = Date.now();
    expect(statuses).toEqual([200, 200, 200, 429]);

    // The tenant's period (15th, 00:00 New York), not the policy's (31st, Berlin).
    const period = calendarWindow(after, { period: "month", day: 15, minute: 0, timeZone: "America/New_York" });
    expect(calendarWindow(before, { period: "month", day: 15, minute: 0, timeZone: "America/New_York" })).toEqual(
      period,
    );
    const w = Math.round((period.end - period.start) / 1000);
    expect(last.headers.get("RateLimit-Policy")).toBe(`"quota-month";q=3;w=${w}`);
    const t = secondsOf(last.headers.get("RateLimit"));
    expect(t).toBeGreaterThanOrEqual(Math.ceil((period.end - after) / 1000));
    expect(t).toBeLessThanOrEqual(Math.ceil((period.end - before) / 1000));
    expect(last.headers.get("RateLimit-Reset")).toBe(String(Math.ceil(period.end / 1000)));
    expect(Number(last.headers.get("Retry-After"))).toBe(t);
    expect(((await last.json()) as { window: string }).window).toBe("month");

    const shown = (await (await admin(`/keys?rule=quota&key=${id}`)).json()) as {
      limits: Array<{ name: string; limit: number; remaining: number; reset: number }>;
    };
    expect(shown.limits).toEqual([
      expect.objectContaining({ name: "quota-month", limit: 3, remaining: 0, reset: Math.ceil(period.end / 1000) }),
    ]);

    // Paid: the operator resets the tenant's quota; the period runs on to the same end.
    const reset = await admin(`/keys?rule=quota&key=${id}`, "DELETE");
    expect(reset.status).toBe(200);
    const paid = await send();
    expect(paid.status).toBe(200);
    expect(paid.headers.get("RateLimit-Remaining")).toBe("2");
    expect(paid.headers.get("RateLimit-Reset")).toBe(String(Math.ceil(period.end / 1000)));
  });

  it("an override names the counter quota-month", async () => {
    await usePolicy(policy);
    const apiKey = uniqueTag("key");
    const put = await admin("/tenants", "PUT", {
      apiKey,
      id: uniqueTag("initech"),
      overrides: { "quota-month": { limit: 5 } },
    });
    expect(put.status).toBe(200);
    const res = await call("/v1/things", { headers: { authorization: `Bearer ${apiKey}` }, ip: uniqueIp() });
    await res.arrayBuffer();
    expect(res.headers.get("RateLimit-Limit")).toBe("5");
  });

  it("PUT /tenants refuses a bad billing period with {path, message}", async () => {
    await usePolicy(policy);
    const res = await admin("/tenants", "PUT", {
      apiKey: uniqueTag("key"),
      id: "hooli",
      billing: { day: 32, timeZone: "Nowhere/Land" },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors.map((e) => e.path)).toEqual(["billing.day", "billing.timeZone"]);
  });
});
