/**
 * Under `wrangler dev`, over HTTP, with a loopback webhook receiver: a rule's thresholds each fire once
 * per window, delivered by the key's object's alarm as a POST signed with the Worker's
 * THRESHOLD_WEBHOOK_SECRET (checked here with node:crypto, not with sluice's code), retried with one
 * idempotency key after the receiver fails twice, and never delivered twice. And a month quota on a
 * tenant's billing day (the 31st, New York): the `t` of the RateLimit header is the seconds to the
 * tenant's next period start, computed here with Intl.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PREFIX, adminToken, bearer, fetchDrained, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { delay, freePort, roomInWindow, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = adminToken("hooks-e2e");
const SECRET = `hook-secret-${Math.random().toString(36).slice(2)}`;
const HOUR = 3_600_000;
const LIMIT = 4;

interface HookCall {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `t=<unix>,v1=<hex>` against HMAC-SHA256("<t>.<body>") with the secret, and `t` within 5 minutes of now. */
function validSignature(header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const mac = createHmac("sha256", SECRET).update(`${m[1]}.${body}`).digest();
  const given = Buffer.from(m[2]!, "hex");
  return given.length === mac.length && timingSafeEqual(given, mac);
}

describe("threshold webhooks under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({
      vars: { ...sluiceVars({ origin: origin.url, token: TOKEN }), THRESHOLD_WEBHOOK_SECRET: SECRET },
    });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  const hookCalls = async (box: string): Promise<HookCall[]> =>
    (await (await fetch(`${origin.url}/__hooks/${box}`)).json()) as HookCall[];

  /** The receiver's calls once `done` holds of them, polled until a deadline; the caller asserts on them. */
  const hooksWhen = async (box: string, done: (calls: HookCall[]) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let calls = await hookCalls(box);
    while (!done(calls) && Date.now() < deadline) {
      await delay(100);
      calls = await hookCalls(box);
    }
    return calls;
  };

  const thresholdOf = (c: HookCall) => (JSON.parse(c.body) as { threshold: number }).threshold;

  it("fires each threshold once per window, signed, retried with one idempotency key past two failures", async () => {
    await roomInWindow(HOUR, 60_000);
    const box = `box${Math.random().toString(36).slice(2)}`;
    const client = `c-${Math.random().toString(36).slice(2)}`;
    await putPolicy(dev.url, TOKEN, {
      version: 1,
      headers: ["legacy"],
      notify: { url: `${origin.url}/__hooks/${box}?fail=2` },
      // Under the leasing threshold (64): every charge is decided at the key's object.
      rules: [{ id: "hooked", key: "header:x-client", limits: [{ limit: LIMIT, window: "1h" }], thresholds: [0.5, 1] }],
    });
    const send = async () => (await fetchDrained(`${dev.url}/e2e`, { headers: { "x-client": client } })).status;

    // The 2nd of 4 crosses 0.5. The receiver answers 500 twice, the object's alarm retries (1 s, then 2 s).
    expect([await send(), await send()]).toEqual([200, 200]);
    const half = await hooksWhen(box, (calls) => calls.some((c) => c.status === 200));
    expect(half.map((c) => c.status)).toEqual([500, 500, 200]);
    expect(half.map(thresholdOf)).toEqual([0.5, 0.5, 0.5]);
    const halfKeys = new Set(half.map((c) => c.headers["idempotency-key"]));
    expect(halfKeys.size).toBe(1);
    for (const c of half) {
      expect(c.headers["content-type"]).toMatch(/^application\/json/);
      expect(validSignature(c.headers["x-sluice-signature"], c.body), c.headers["x-sluice-signature"]).toBe(true);
    }
    // A changed body does not pass, nor another secret's signature.
    expect(
      validSignature(half[2]!.headers["x-sluice-signature"], half[2]!.body.replace('"count":2', '"count":3')),
    ).toBe(false);
    const event = JSON.parse(half[2]!.body) as Record<string, unknown>;
    const windowStart = Math.floor(Date.now() / HOUR) * HOUR;
    expect(event).toMatchObject({
      type: "threshold.crossed",
      rule: "hooked",
      counter: "hooked-1h",
      threshold: 0.5,
      count: 2,
      limit: LIMIT,
      windowStart: new Date(windowStart).toISOString(),
      windowEnd: new Date(windowStart + HOUR).toISOString(),
    });
    expect(event.id).toBe(half[0]!.headers["idempotency-key"]);

    // The 4th crosses 1 (the receiver now answers 200 at once); the 5th is refused and fires nothing.
    expect([await send(), await send(), await send()]).toEqual([200, 200, 429]);
    const full = await hooksWhen(box, (calls) => calls.length >= 4);
    expect(full.map((c) => c.status)).toEqual([500, 500, 200, 200]);
    const last = full[3]!;
    expect(thresholdOf(last)).toBe(1);
    expect(validSignature(last.headers["x-sluice-signature"], last.body)).toBe(true);
    expect(JSON.parse(last.body)).toMatchObject({ threshold: 1, count: LIMIT, limit: LIMIT, counter: "hooked-1h" });
    expect(halfKeys.has(last.headers["idempotency-key"])).toBe(false);
    expect(JSON.parse(last.body).id).toBe(last.headers["idempotency-key"]);

    // A while later: nothing more arrives; each threshold was delivered (2xx) exactly once.
    await delay(4_000);
    const settled = await hookCalls(box);
    expect(settled).toHaveLength(4);
    const delivered = settled.filter((c) => c.status === 200).map(thresholdOf);
    expect(delivered).toEqual([0.5, 1]);

    // The attempts as /metrics counts them.
    const metrics = await (await fetch(`${dev.url}${ADMIN_PREFIX}/metrics`, { headers: bearer(TOKEN) })).text();
    const sample = (threshold: string, outcome: string) =>
      Number(
        new RegExp(
          `^sluice_threshold_notifications_total\\{rule="hooked",threshold="${threshold}",outcome="${outcome}"\\} (\\d+)$`,
          "m",
        ).exec(metrics)?.[1] ?? 0,
      );
    expect([sample("0.5", "retrying"), sample("0.5", "delivered"), sample("1", "delivered")]).toEqual([2, 1, 1]);
  });
});

/** The wall-clock fields of `at` in `timeZone`. */
function localParts(at: number, timeZone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    })
      .formatToParts(new Date(at))
      .filter((p) => p.type !== "literal")
      .map((p) => [p.type, Number(p.value)]),
  ) as Record<"year" | "month" | "day" | "hour" | "minute" | "second", number>;
  return parts;
}

/** The instant of local midnight starting `year-month-day` in `timeZone` (midnight exists there every day). */
function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const p = localParts(guess, timeZone);
    const seen = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    guess += wall - seen;
  }
  return guess;
}

/** The start of the billing month that holds day `day` (or the month's last day, when shorter) of `year-month`. */
function billingStart(year: number, month: number, day: number, timeZone: string): number {
  const normalized = new Date(Date.UTC(year, month - 1, 1));
  const [y, m] = [normalized.getUTCFullYear(), normalized.getUTCMonth() + 1];
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return localMidnight(y, m, Math.min(day, daysInMonth), timeZone);
}

/** The start of the tenant's current period and of the next one, at `at`. */
function billingPeriod(at: number, day: number, timeZone: string): { start: number; end: number } {
  const { year, month } = localParts(at, timeZone);
  const thisMonth = billingStart(year, month, day, timeZone);
  if (at >= thisMonth) return { start: thisMonth, end: billingStart(year, month + 1, day, timeZone) };
  return { start: billingStart(year, month - 1, day, timeZone), end: thisMonth };
}

describe("a month quota on a tenant's billing day under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  it("reports the seconds to the tenant's next period start (the 31st or the month's last day, local midnight)", async () => {
    const zone = "America/New_York";
    await putPolicy(dev.url, TOKEN, {
      version: 1,
      headers: ["legacy", "ietf"],
      rules: [
        {
          id: "quota",
          key: "tenant",
          // The policy's anchor (the 1st, UTC) is moved for this tenant by its billing record.
          limits: [{ limit: 3, window: "month", anchor: { day: 1, time: "00:00", timeZone: "UTC" } }],
        },
      ],
    });
    const apiKey = `key-${Math.random().toString(36).slice(2)}`;
    const stored = await fetchDrained(`${dev.url}${ADMIN_PREFIX}/tenants`, {
      method: "PUT",
      headers: { ...bearer(TOKEN), "content-type": "application/json" },
      body: JSON.stringify({ apiKey, id: "billed", billing: { day: 31, timeZone: zone } }),
    });
    expect(stored.status).toBe(200);

    const statuses: number[] = [];
    let last!: Response;
    let sentAt = 0;
    for (let i = 0; i < 4; i++) {
      sentAt = Date.now();
      last = await fetchDrained(`${dev.url}/e2e`, { headers: { authorization: `Bearer ${apiKey}` } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);

    const period = billingPeriod(sentAt, 31, zone);
    // Independent of sluice: the period starts at local midnight on the 31st or the month's last day.
    for (const edge of [period.start, period.end]) {
      const p = localParts(edge, zone);
      expect([p.hour, p.minute, p.second]).toEqual([0, 0, 0]);
      const daysInMonth = new Date(Date.UTC(p.year, p.month, 0)).getUTCDate();
      expect(p.day).toBe(Math.min(31, daysInMonth));
    }
    const expectedT = (period.end - sentAt) / 1000;
    const t = Number(/"quota-month";r=0;t=(\d+)/.exec(last.headers.get("RateLimit") ?? "")?.[1]);
    expect(Math.abs(t - expectedT), `${last.headers.get("RateLimit")} vs ${expectedT}`).toBeLessThanOrEqual(2);
    expect(Math.abs(Number(last.headers.get("Retry-After")) - expectedT)).toBeLessThanOrEqual(2);
    expect(Number(last.headers.get("RateLimit-Reset"))).toBe(Math.ceil(period.end / 1000));
    expect(last.headers.get("RateLimit-Policy")).toBe(
      `"quota-month";q=3;w=${Math.round((period.end - period.start) / 1000)}`,
    );
  });
});
