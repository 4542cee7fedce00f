/**
 * Threshold webhooks through the Worker: a key's object fires each threshold
 * once per window, writes the event with the charge, and its alarm delivers
 * it signed (the signature checked here with WebCrypto, not with sluice's
 * code), retrying a receiver that fails twice with the same idempotency key;
 * the next window fires again; /metrics counts the attempts.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, callMany, uniqueIp, uniqueTag, usePolicy } from "../support/client";

interface HookCall {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function hookCalls(box: string): Promise<HookCall[]> {
  return (await (await fetch(`${env.ORIGIN}/__hooks/${box}`)).json()) as HookCall[];
}

/** Checks `t=<unix>,v1=<hex>` against HMAC-SHA256("<t>.<body>") with the shared secret: true when it matches. */
async function validSignature(header: string | undefined, body: string): Promise<boolean> {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.THRESHOLD_WEBHOOK_SECRET!),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const mac = new Uint8Array(m[2]!.match(/../g)!.map((h) => Number.parseInt(h, 16)));
  return crypto.subtle.verify("HMAC", key, mac, new TextEncoder().encode(`${m[1]}.${body}`));
}

/** The object's alarm runs once it has been set (after the answer, in a later turn). */
async function runAlarm(stub: DurableObjectStub): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return runDurableObjectAlarm(stub);
}

afterEach(() => vi.useRealTimers());

describe("threshold webhooks", () => {
  it("fire once per threshold per window, signed, retried past two failures with one idempotency key", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let now = Date.UTC(2033, 5, 1, 10, 0, 5);
    vi.setSystemTime(now);
    const step = (ms: number) => {
      now += ms;
      vi.setSystemTime(now);
    };
    const [rule, box, ip] = [uniqueTag("quota"), uniqueTag("box"), uniqueIp()];
    const policy: PolicyInput = {
      version: 1,
      notify: { url: `${env.ORIGIN}/__hooks/${box}?fail=2` },
      rules: [{ id: rule, key: "ip", limits: [{ limit: 10, window: "1m" }], thresholds: [0.5, 0.8, 1] }],
    };
    await usePolicy(policy);
    const stub = env.LIMITER.getByName(`ip:${ip}`);

    // 4 of 10: under every threshold; nothing is sent.
    expect(await callMany(4, "/v1/things", { ip })).toEqual([200, 200, 200, 200]);
    await runAlarm(stub);
    expect(await hookCalls(box)).toEqual([]);

    // The 5th crosses 0.5. The receiver fails twice: retried 1 s, then 2 s later, delivered on the third.
    expect(await callMany(1, "/v1/things", { ip })).toEqual([200]);
    expect(await runAlarm(stub)).toBe(true);
    step(1_000);
    expect(await runAlarm(stub)).toBe(true);
    step(1_999);
    await runAlarm(stub); // not yet due: nothing sent
    expect((await hookCalls(box)).map((c) => c.status)).toEqual([500, 500]);
    step(1);
    expect(await runAlarm(stub)).toBe(true);
    await runAlarm(stub); // delivered: never sent again
    const first = await hookCalls(box);
    expect(first.map((c) => c.status)).toEqual([500, 500, 200]);
    const keys = new Set(first.map((c) => c.headers["idempotency-key"]));
    expect(keys.size).toBe(1);
    const event = JSON.parse(first[2]!.body);
    expect(event).toMatchObject({
      type: "threshold.crossed",
      rule,
      counter: `${rule}-1m`,
      key: `ip:${ip}`,
      threshold: 0.5,
      count: 5,
      limit: 10,
      windowStart: "2033-06-01T10:00:00.000Z",
      windowEnd: "2033-06-01T10:01:00.000Z",
    });
    expect(event.id).toBe(first[0]!.headers["idempotency-key"]);
    for (const c of first) expect(await validSignature(c.headers["x-sluice-signature"], c.body)).toBe(true);
    expect(await validSignature(first[2]!.headers["x-sluice-signature"], first[2]!.body.replace("0.5", "0.6"))).toBe(
      false,
    );

    // 8 of 10 crosses 0.8; the 10th crosses 1; the 11th is refused and fires nothing.
    expect(await callMany(3, "/v1/things", { ip })).toEqual([200, 200, 200]);
    await runAlarm(stub);
    expect(await callMany(3, "/v1/things", { ip })).toEqual([200, 200, 429]);
    await runAlarm(stub);
    await runAlarm(stub);
    const all = await hookCalls(box);
    expect(all.map((c) => c.status)).toEqual([500, 500, 200, 200, 200]);
    expect(all.slice(2).map((c) => JSON.parse(c.body).threshold)).toEqual([0.5, 0.8, 1]);
    expect(all.slice(2).map((c) => JSON.parse(c.body).count)).toEqual([5, 8, 10]);
    expect(new Set(all.map((c) => c.headers["idempotency-key"])).size).toBe(3);

    // The next window: 0.5 fires again, with an id of its own.
    step(60_000);
    expect(await callMany(5, "/v1/things", { ip })).toEqual([200, 200, 200, 200, 200]);
    expect(await runAlarm(stub)).toBe(true);
    const next = (await hookCalls(box)).slice(5);
    expect(next.map((c) => c.status)).toEqual([200]);
    const rolled = JSON.parse(next[0]!.body);
    expect(rolled).toMatchObject({ threshold: 0.5, count: 5, windowStart: "2033-06-01T10:01:00.000Z" });
    expect(keys.has(next[0]!.headers["idempotency-key"])).toBe(false);

    // A reset in the same window starts the count again, but the stored record keeps 0.5 from firing twice.
    const reset = await call(`/__ratelimit/keys?rule=${rule}&key=${ip}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      ip: uniqueIp(),
    });
    expect(reset.status).toBe(200);
    expect(await callMany(6, "/v1/things", { ip })).toEqual([200, 200, 200, 200, 200, 200]);
    await runAlarm(stub);
    expect(await hookCalls(box)).toHaveLength(6);

    // /metrics: each attempt counted by its outcome.
    const metrics = await (
      await call(`/__ratelimit/metrics`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` }, ip: uniqueIp() })
    ).text();
    const sample = (threshold: string, outcome: string) =>
      Number(
        new RegExp(
          `^sluice_threshold_notifications_total\\{rule="${rule}",threshold="${threshold}",outcome="${outcome}"\\} (\\d+)$`,
          "m",
        ).exec(metrics)?.[1] ?? 0,
      );
    expect([
      sample("0.5", "retrying"),
      sample("0.5", "delivered"),
      sample("0.8", "delivered"),
      sample("1", "delivered"),
    ]).toEqual([2, 2, 1, 1]);
    const events = await (
      await call(`/__ratelimit/thresholds/events?limit=200`, {
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
        ip: uniqueIp(),
      })
    ).json<{ events: Array<{ outcome: string; event: { rule: string } }> }>();
    expect(events.events.filter((e) => e.event.rule === rule).map((e) => e.outcome)).toEqual([
      "delivered",
      "delivered",
      "delivered",
      "delivered",
    ]);
  });
});
