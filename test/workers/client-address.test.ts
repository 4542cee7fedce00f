/**
 * One client address, one reading (issue 24, item 4). A block or bypass list written in IPv4 matches
 * the IPv6 spellings of the same address (IPv4-compatible `::a.b.c.d`, IPv4-mapped `::ffff:a.b.c.d`,
 * NAT64 `64:ff9b::a.b.c.d`, dotted or hex), and they are counted with it. A `CF-Connecting-IP` that is
 * not one address (a leading-zero octet, a `:port`, two values, garbage) is refused with 400
 * `INVALID_CLIENT_IP` and never reaches the origin; before, each fell onto one shared "unknown" counter
 * (and past every block list).
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, originCount, uniqueIp, uniqueTag, usePolicy } from "../support/client";

beforeAll(async () => {
  await (await call("/warm-up")).arrayBuffer();
}, 60_000);

const BLOCKED = "203.0.113.0/24";
const TRUSTED = "198.18.0.0/24";

const policy: PolicyInput = {
  version: 1,
  rules: [
    { id: "blocked", action: "block", match: { ips: [BLOCKED] } },
    { id: "trusted", action: "bypass", match: { ips: [TRUSTED] } },
    { id: "per-ip", key: "ip", limits: [{ limit: 3, window: "15m" }] },
  ],
};

/** The embedded-IPv4 spellings of a dotted quad. */
function spellings(v4: string): string[] {
  const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
  const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  return [`::${v4}`, `::${hex}`, `::ffff:${v4}`, `::ffff:${hex}`, `64:ff9b::${v4}`, `64:ff9b::${hex.toUpperCase()}`];
}

describe("a list written in IPv4 matches every embedded-IPv4 spelling of its addresses", () => {
  it.each(spellings("203.0.113.5"))("%s is blocked by 203.0.113.0/24; the origin never sees it", async (ip) => {
    await usePolicy(policy);
    const tag = uniqueTag("blocked");
    const res = await call("/transfers", { ip, headers: { "x-test-tag": tag } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ success: false, code: "BLOCKED", rule: "blocked" });
    expect(await originCount(tag)).toBe(0);
  });

  it.each(spellings("198.18.0.9"))("%s is let through by the bypass 198.18.0.0/24, uncounted", async (ip) => {
    await usePolicy(policy);
    for (let i = 0; i < 5; i++) {
      const res = await call("/transfers", { ip });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      expect(res.headers.get("RateLimit-Remaining")).toBeNull();
    }
  });

  it("counts every spelling of one IPv4 client on its one counter: the 4th request is refused", async () => {
    await usePolicy(policy);
    const v4 = uniqueIp();
    const [compatible, , mapped, , nat64] = spellings(v4);
    const statuses: number[] = [];
    for (const ip of [compatible!, nat64!, v4, mapped!]) {
      const res = await call("/transfers", { ip });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe("a client address that is not one address is refused, never pooled", () => {
  it.each([
    "203.0.113.05",
    "192.0.2.016",
    "203.0.113.5:8080",
    "[2001:db8::1]:443",
    "203.0.113.5, 198.51.100.7",
    "not-an-address",
  ])("CF-Connecting-IP %j: 400 INVALID_CLIENT_IP, never forwarded, never counted", async (ip) => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    await usePolicy(policy);
    const tag = uniqueTag("malformed");
    for (let i = 0; i < 2; i++) {
      const res = await call("/transfers", { ip, headers: { "x-test-tag": tag } });
      expect(res.status).toBe(400);
      expect(res.headers.get("Cache-Control")).toBe("no-store");
      expect(await res.json()).toEqual({
        success: false,
        error: "Bad Request",
        message: "CF-Connecting-IP is not one IPv4 or IPv6 address.",
        code: "INVALID_CLIENT_IP",
      });
    }
    expect(await originCount(tag)).toBe(0);
    vi.restoreAllMocks();
  });

  it("refuses a malformed address even on a path no rule limits (a block list must not be stepped around)", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    await usePolicy({ version: 1, rules: [{ id: "blocked", action: "block", match: { ips: [BLOCKED] } }] });
    const tag = uniqueTag("unmatched");
    const res = await call("/anything", { ip: "203.0.113.005", headers: { "x-test-tag": tag } });
    expect(res.status).toBe(400);
    await res.arrayBuffer();
    expect(await originCount(tag)).toBe(0);
    vi.restoreAllMocks();
  });
});
