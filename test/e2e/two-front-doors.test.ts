/**
 * Two front doors, one counter: two `wrangler dev` processes (two isolates,
 * each leasing on its own), the second binding the first's `RateLimiter`
 * through `script_name` (wrangler's dev registry connects them). Requests
 * split between them never admit more than the limit, and once the leases
 * have lapsed or come back the window's total reaches the limit exactly.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, fetchDrained, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import {
  delay,
  freePort,
  freshDir,
  PROJECT_ROOT,
  roomInWindow,
  sluiceVars,
  startWranglerDev,
  type WranglerDev,
} from "../support/wrangler-dev";

const TOKEN = adminToken("e2e-admin");
/** The first door's Worker name, unique so that no other `wrangler dev` in the registry answers for it. */
const FIRST = `sluice-door-one-${Math.random().toString(36).slice(2, 8)}`;

/** The second door's config: the root's, renamed, its `RateLimiter` bound from the first door's Worker. */
async function secondDoorConfig(dir: string): Promise<string> {
  const root = await readFile(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
  const main = /^main\s*=\s*"([^"]+)"/m.exec(root)?.[1];
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(root)?.[1];
  const flags = /^compatibility_flags\s*=\s*(\[[^\]]*\])/m.exec(root)?.[1] ?? "[]";
  expect(main).toBeDefined();
  const config = `name = "${FIRST}-two"
main = "${join(PROJECT_ROOT, main!)}"
compatibility_date = "${date}"
compatibility_flags = ${flags}
send_metrics = false

[vars]
ORIGIN = ""
ADMIN_PREFIX = "/__ratelimit"
POLICY_TTL_SECONDS = "0"
SANDBOX = "false"
LIMITER_TIMEOUT_MS = "5000"

[[durable_objects.bindings]]
name = "LIMITER"
class_name = "RateLimiter"
script_name = "${FIRST}"

[[kv_namespaces]]
binding = "POLICIES"
id = "00000000000000000000000000000000"
`;
  const path = join(dir, "wrangler.toml");
  await writeFile(path, config);
  return path;
}

async function publish(door: WranglerDev, id: string, limit: number): Promise<void> {
  await putPolicy(door.url, TOKEN, { version: 1, rules: [{ id, key: "ip", limits: [{ limit, window: "1m" }] }] });
}

/**
 * Fires `count` requests at once, alternating between the doors; returns when the origin saw each admitted
 * one (its own clock, `x-origin-at`) and how many were refused.
 */
async function burstTimes(
  doors: WranglerDev[],
  count: number,
  tag: string,
): Promise<{ at: number[]; refused: number }> {
  const answers = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fetchDrained(`${doors[i % doors.length]!.url}/split/${i}`, { headers: { "x-test-tag": tag } });
      return { status: res.status, at: Number(res.headers.get("x-origin-at")) };
    }),
  );
  expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
  const at = answers.filter((a) => a.status === 200).map((a) => a.at);
  return { at: at.sort((a, b) => a - b), refused: answers.length - at.length };
}

/** Fires `count` requests at once, alternating between the doors; returns how many were admitted. */
async function burst(doors: WranglerDev[], count: number, tag: string): Promise<number> {
  const statuses = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fetchDrained(`${doors[i % doors.length]!.url}/split/${i}`, { headers: { "x-test-tag": tag } });
      return res.status;
    }),
  );
  expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
  return statuses.filter((s) => s === 200).length;
}

describe("two front doors on one counter", () => {
  let origin: OriginServer;
  let one: WranglerDev;
  let two: WranglerDev;
  let dir: string;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    const vars = sluiceVars({ origin: origin.url, token: TOKEN });
    one = await startWranglerDev({ name: FIRST, vars });
    // The second registers after the first, so the registry already knows the first's objects.
    await delay(3_000);
    dir = await freshDir("sluice-e2e-door-two");
    two = await startWranglerDev({ config: await secondDoorConfig(dir), vars });
  });

  afterAll(async () => {
    await two?.stop();
    await one?.stop();
    await origin?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Sends one request at a time, alternating doors, until the window's total admitted reaches `limit`
   * (leases lapse within seconds and their unused units go back); returns the total admitted.
   */
  async function drain(limit: number, admitted: number, tag: string): Promise<number> {
    const doors = [one, two];
    let total = admitted;
    const until = Date.now() + 20_000;
    for (let i = 0; total < limit && Date.now() < until; i++) {
      const res = await fetchDrained(`${doors[i % 2]!.url}/split/drain-${i}`, { headers: { "x-test-tag": tag } });
      if (res.status === 200) total++;
      else await delay(100);
    }
    // And not one more.
    for (let i = 0; i < 20; i++) {
      const res = await fetchDrained(`${doors[i % 2]!.url}/split/after-${i}`, { headers: { "x-test-tag": tag } });
      if (res.status === 200) total++;
    }
    return total;
  }

  it("200 at once at a limit of 50, split across both doors, admit at most 50; the window's total reaches exactly 50", async () => {
    await publish(one, "split-fifty", 50);
    await publish(two, "split-fifty", 50);
    await roomInWindow(60_000, 40_000);
    const tag = `doors-50-${Date.now()}`;
    const admitted = await burst([one, two], 200, tag);
    expect(admitted).toBeLessThanOrEqual(50);
    expect(await drain(50, admitted, tag)).toBe(50);
    expect(origin.count(tag)).toBe(50);
  });

  it("with onLimit.delay on a bucket of 10/s: 40 at once over both doors are held, not refused, up to the bound, and none is forwarded early", async () => {
    const rule = {
      id: "split-delay",
      key: "ip",
      onLimit: { delay: "2s" },
      limits: [{ limit: 10, window: "1s", algorithm: "token-bucket" }],
    };
    await putPolicy(one.url, TOKEN, { version: 1, rules: [rule] });
    await putPolicy(two.url, TOKEN, { version: 1, rules: [rule] });
    const tag = `doors-delay-${Date.now()}`;
    const sent = Date.now();
    const { at, refused } = await burstTimes([one, two], 40, tag);
    // A bucket of 10 (burst 10) held up to 2 s: about 10 + 10 x 2 forwarded (a few more, as the 40 reach the
    // object over some hundreds of ms and each is held up to 2 s from its own arrival), the rest refused.
    expect(at.length).toBeGreaterThanOrEqual(20);
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBe(40 - at.length);
    expect(origin.count(tag)).toBe(at.length);
    // Never early. The bucket starts full at the first decision, which comes after `sent`: the k-th request
    // forwarded (from 0) has its slot no earlier than sent + (k - 9) x 100 ms, and reaches the origin after
    // its slot. (Spans between arrivals would not do: the first ten may reach the origin late, later ones
    // on time.)
    for (const [k, arrived] of at.entries())
      expect(arrived, `forward ${k}`).toBeGreaterThanOrEqual(sent + Math.max(0, k - 9) * 100);
  });

  it("with a limit large enough to lease (600 a minute), 1,200 in bursts admit at most 600, and then exactly 600", async () => {
    await publish(one, "split-six-hundred", 600);
    await publish(two, "split-six-hundred", 600);
    await roomInWindow(60_000, 45_000);
    const tag = `doors-600-${Date.now()}`;
    let admitted = 0;
    for (let round = 0; round < 12; round++) admitted += await burst([one, two], 100, tag);
    expect(admitted).toBeLessThanOrEqual(600);
    expect(await drain(600, admitted, tag)).toBe(600);
    expect(origin.count(tag)).toBe(600);
  });
});
