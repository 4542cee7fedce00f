/**
 * A candidate policy in shadow beside the live one: it never refuses, its
 * counters are its own (the live counters show only the live charges), its
 * per-rule counts in GET /stats match what the same document refuses once
 * promoted, on the same replayed traffic; promote and drop.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { uniqueIp, usePolicy } from "../support/client";

const PREFIX = "/__ratelimit";

/** One request through the Worker, waiting for its waitUntil work (the candidate's evaluation) to end. */
async function send(path: string, init: { method?: string; ip?: string; body?: unknown; admin?: boolean } = {}) {
  const headers = new Headers({ "cf-connecting-ip": init.ip ?? uniqueIp(), "content-type": "application/json" });
  if (init.admin) headers.set("authorization", `Bearer ${env.ADMIN_TOKEN}`);
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const ctx = createExecutionContext();
  const res = await worker.fetch!(
    new Request(`http://api.example.com${init.admin ? PREFIX : ""}${path}`, {
      method: init.method ?? "GET",
      headers,
      body,
    }) as Request<unknown, IncomingRequestCfProperties>,
    // Without the fleet store: its flush waits out an interval in waitUntil, which this helper waits for.
    { ...env, STATS: undefined },
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { status: res.status, text, headers: res.headers };
}

type Counts = Record<string, { admitted: number; refused: number }>;

/** Per-rule admitted/refused of one minute of a stats listing. */
function countsAt(minutes: Array<{ minute: string; rules: Counts }>, at: number): Record<string, [number, number]> {
  const minute = minutes.find((m) => Date.parse(m.minute) === at);
  return Object.fromEntries(
    Object.entries(minute?.rules ?? {}).map(([rule, c]) => [rule, [c.admitted, c.refused] as [number, number]]),
  );
}

// Live room under the leasing threshold (64): every live charge is a call, so the count below is exact.
const live: PolicyInput = { version: 1, rules: [{ id: "api", key: "ip", limits: [{ limit: 60, window: "1m" }] }] };
const candidate: PolicyInput = {
  version: 1,
  rules: [
    { id: "search", key: "ip", match: { paths: ["/search"] }, continue: true, limits: [{ limit: 2, window: "1m" }] },
    { id: "api", key: "ip", limits: [{ limit: 4, window: "1m" }] },
  ],
};
const traffic = ["/search", "/x", "/search", "/search", "/x", "/x", "/x", "/search"];

afterEach(() => {
  vi.useRealTimers();
});

describe("candidate policy", () => {
  it("counts what it would refuse, exactly what it refuses once promoted, and never charges the live counters", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const first = Date.UTC(2033, 6, 1, 8, 0, 0);
    vi.setSystemTime(first + 5_000);
    await usePolicy(live);
    await env.POLICIES.delete("policy:candidate");
    const put = await send("/policy/candidate", { method: "PUT", body: candidate, admin: true });
    expect(put.status).toBe(200);
    expect(JSON.parse(put.text)).toMatchObject({ stored: true });

    const ip = uniqueIp();
    const shadowed: number[] = [];
    for (const path of traffic) shadowed.push((await send(path, { ip })).status);
    expect(shadowed).toEqual(Array(8).fill(200)); // a candidate never refuses

    // The live counter holds the live policy's charges only: 8 of 60.
    const keys = JSON.parse((await send(`/keys?rule=api&key=${ip}`, { admin: true })).text) as {
      limits: Array<{ limit: number; remaining: number }>;
    };
    expect(keys.limits).toEqual([expect.objectContaining({ limit: 60, remaining: 52, leased: 0 })]);

    const stats = JSON.parse((await send("/stats", { admin: true })).text) as {
      minutes: Array<{ minute: string; rules: Counts }>;
      candidate: { id: string; minutes: Array<{ minute: string; rules: Counts }> };
    };
    const wouldHave = countsAt(stats.candidate.minutes, first);
    expect(wouldHave).toEqual({ search: [2, 2], api: [4, 2] });
    expect(countsAt(stats.minutes, first).api).toEqual([8, 0]);

    // Promoted, the same document on the same traffic (a later window) refuses the same requests.
    const later = first + 5 * 60_000;
    vi.setSystemTime(later + 5_000);
    const promoted = await send("/policy/promote", { method: "POST", admin: true });
    expect(promoted.status).toBe(200);
    expect((await send("/policy/candidate", { admin: true })).status).toBe(404);
    const replayed: number[] = [];
    for (const path of traffic) replayed.push((await send(path, { ip })).status);
    expect(replayed).toEqual([200, 200, 200, 429, 200, 429, 429, 429]);
    const after = JSON.parse((await send("/stats", { admin: true })).text) as {
      minutes: Array<{ minute: string; rules: Counts }>;
    };
    expect(countsAt(after.minutes, later)).toEqual(wouldHave);

    // The live document it replaced is in history, to roll back to.
    const history = JSON.parse((await send("/policy/history", { admin: true })).text) as {
      versions: Array<{ version: number; how?: string }>;
    };
    expect(history.versions.slice(0, 2).map((v) => v.how)).toEqual(["promote", "seen-in-kv"]);
  });

  it("reads the body for a body key though the live policy does not, and leaves the body to the origin", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const at = Date.UTC(2033, 6, 2, 8, 0, 0);
    vi.setSystemTime(at + 1_000);
    await usePolicy(live);
    const byEmail: PolicyInput = {
      version: 1,
      rules: [{ id: "signup", key: "body:email", limits: [{ limit: 1, window: "1m" }] }],
    };
    expect((await send("/policy/candidate", { method: "PUT", body: byEmail, admin: true })).status).toBe(200);
    const email = `${Math.random().toString(36).slice(2)}@example.com`;
    for (let i = 0; i < 2; i++) {
      const res = await send("/signup", { method: "POST", body: { email } }); // a new address each time
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toMatchObject({ method: "POST", body: JSON.stringify({ email }) });
    }
    const stats = JSON.parse((await send("/stats", { admin: true })).text) as {
      candidate: { minutes: Array<{ minute: string; rules: Counts }> };
    };
    expect(countsAt(stats.candidate.minutes, at).signup).toEqual([1, 1]);
    await send("/policy/candidate", { method: "DELETE", admin: true });
  });

  it("is validated like any policy, and dropped by DELETE", async () => {
    const bad = await send("/policy/candidate", {
      method: "PUT",
      body: { version: 1, rules: [{ id: "x", limits: [{ limit: 1, window: "1 minute" }] }] },
      admin: true,
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).errors).toEqual([expect.objectContaining({ path: "rules[0].limits[0].window" })]);
    expect(await env.POLICIES.get("policy:candidate")).toBeNull();

    expect((await send("/policy/candidate", { method: "PUT", body: candidate, admin: true })).status).toBe(200);
    expect(await env.POLICIES.get("policy:candidate")).not.toBeNull();
    const dropped = await send("/policy/candidate", { method: "DELETE", admin: true });
    expect(JSON.parse(dropped.text)).toEqual({ deleted: true });
    expect(await env.POLICIES.get("policy:candidate")).toBeNull();
    expect((await send("/policy/promote", { method: "POST", admin: true })).status).toBe(404);
  });
});
