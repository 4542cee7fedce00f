/**
 * IP parsing, CIDR containment, and the IP counting key: every spelling of one
 * address, and every address of one IPv6 /64, is one counter.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrContains, clientIpKey, parseCidr, parseIp } from "../../src/net/ip";

function v6(text: string): bigint {
  const p = parseIp(text);
  expect(p?.version, text).toBe(6);
  return p!.value;
}

describe("parseIp: IPv4", () => {
  it("parses dotted quads", () => {
    expect(parseIp("1.2.3.4")).toEqual({ version: 4, value: 0x01020304n });
    expect(parseIp("0.0.0.0")).toEqual({ version: 4, value: 0n });
    expect(parseIp("255.255.255.255")).toEqual({ version: 4, value: 0xffffffffn });
    expect(parseIp("203.0.113.7")).toEqual({ version: 4, value: (203n << 24n) | (113n << 8n) | 7n });
  });

  it.each([
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.-4",
    "01.2.3.4",
    "1.2.3.04",
    "1..3.4",
    "a.b.c.d",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4/32",
    "",
    "0x1.2.3.4",
    "1.2.3.4%eth0",
    // A leading zero: inet_aton reads 016 as octal (14), others as 16; neither is guessed.
    "203.0.113.05",
    "192.0.2.016",
    "::ffff:192.0.2.016",
    "64:ff9b::203.0.113.05",
    // What proxies put in an address header that is not one address.
    "203.0.113.5:8080",
    "[2001:db8::1]:443",
    "203.0.113.5, 198.51.100.7",
    "203.0.113.5,198.51.100.7",
    "unknown",
  ])("rejects %j", (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe("parseIp: IPv6", () => {
  it("parses the full form", () => {
    expect(v6("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe(0x20010db8000000000000000000000001n);
    expect(v6("2001:db8:0:0:0:0:0:1")).toBe(0x20010db8000000000000000000000001n);
  });

  it("parses compressed forms", () => {
    expect(v6("2001:db8::1")).toBe(0x20010db8000000000000000000000001n);
    expect(v6("::")).toBe(0n);
    expect(v6("::1")).toBe(1n);
    expect(v6("1::")).toBe(1n << 112n);
    expect(v6("1:2:3:4:5:6:7::")).toBe(0x0001000200030004000500060007_0000n);
    expect(v6("::2:3:4:5:6:7:8")).toBe(0x0000000200030004000500060007_0008n);
  });

  it("is case-insensitive", () => {
    expect(v6("2001:DB8::ABCD")).toBe(v6("2001:db8::abcd"));
  });

  it("parses a trailing dotted quad as the last two groups", () => {
    expect(v6("1:2:3:4:5:6:1.2.3.4")).toBe(0x0001000200030004000500060102_0304n);
    expect(v6("2001:db8::192.0.2.33")).toBe(0x20010db8000000000000000000000000n | 0xc0000221n);
  });

  it("takes an IPv4-mapped address (::ffff:a.b.c.d) as the IPv4 address", () => {
    expect(parseIp("::ffff:1.2.3.4")).toEqual({ version: 4, value: 0x01020304n });
    expect(parseIp("::FFFF:102:304")).toEqual({ version: 4, value: 0x01020304n });
    expect(parseIp("0:0:0:0:0:ffff:c000:0221")).toEqual(parseIp("192.0.2.33"));
  });

  it("takes every embedded-IPv4 spelling (compatible, NAT64, dotted or hex) as the IPv4 address", () => {
    const v4 = parseIp("203.0.113.5");
    for (const spelling of [
      "::203.0.113.5",
      "::cb00:7105",
      "0:0:0:0:0:0:203.0.113.5",
      "::ffff:203.0.113.5",
      "::ffff:cb00:7105",
      "64:ff9b::203.0.113.5",
      "64:ff9b::cb00:7105",
      "0064:FF9B:0:0:0:0:CB00:7105",
      "[64:ff9b::203.0.113.5]",
    ])
      expect(parseIp(spelling), spelling).toEqual(v4);
    // The unspecified and loopback IPv6 addresses stay IPv6; so does anything outside the three /96s.
    expect(v6("::")).toBe(0n);
    expect(v6("::1")).toBe(1n);
    expect(v6("64:ff9b:1::cb00:7105")).toBe((0x64ff9b0001n << 80n) | 0xcb007105n);
    expect(v6("::fffe:cb00:7105")).toBe(0xfffecb007105n);
  });

  it("accepts brackets and a zone id", () => {
    expect(v6("[2001:db8::1]")).toBe(v6("2001:db8::1"));
    expect(v6("fe80::1%eth0")).toBe(v6("fe80::1"));
  });

  it.each([
    ":::",
    "1:::2",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "12345::",
    "g::1",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:",
    "::ffff:1.2.3.256",
    "::ffff:1.2.3",
    "1:2:3:4:5:6:7:1.2.3.4",
    "1.2.3.4::",
    "[::1",
    "2001:db8::1/64",
    "x".repeat(65),
  ])("rejects %j", (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe("parseCidr and cidrContains", () => {
  const inRange = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, parseIp(ip)!);

  it("parses ranges and plain addresses", () => {
    expect(parseCidr("203.0.113.0/24")).toEqual({ version: 4, network: 0xcb007100n, prefix: 24 });
    expect(parseCidr("203.0.113.9")).toEqual({ version: 4, network: 0xcb007109n, prefix: 32 });
    expect(parseCidr("2001:db8::/32")).toEqual({ version: 6, network: 0x20010db8n << 96n, prefix: 32 });
    // Host bits set in the range are masked off.
    expect(parseCidr("10.1.2.3/8")).toEqual({ version: 4, network: 0x0a000000n, prefix: 8 });
  });

  it.each([
    "10.0.0.0/33",
    "2001:db8::/129",
    "10.0.0.0/",
    "10.0.0.0/-1",
    "10.0.0.0/a",
    "10.0.0/8",
    "nope/8",
    "10.0.0.0/8/8",
    "",
  ])("rejects %j", (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it("contains exactly the addresses of the range", () => {
    expect(inRange("203.0.113.0/24", "203.0.113.0")).toBe(true);
    expect(inRange("203.0.113.0/24", "203.0.113.255")).toBe(true);
    expect(inRange("203.0.113.0/24", "203.0.114.0")).toBe(false);
    expect(inRange("203.0.113.0/24", "203.0.112.255")).toBe(false);
    expect(inRange("203.0.113.9", "203.0.113.9")).toBe(true);
    expect(inRange("203.0.113.9", "203.0.113.10")).toBe(false);
    expect(inRange("0.0.0.0/0", "8.8.8.8")).toBe(true);
    expect(inRange("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(true);
    expect(inRange("2001:db8::/32", "2001:db9::")).toBe(false);
    expect(inRange("::/0", "2001:db8::1")).toBe(true);
  });

  it("matches an IPv4 range against every embedded-IPv4 spelling of its addresses", () => {
    for (const spelling of [
      "203.0.113.5",
      "::203.0.113.5",
      "::ffff:cb00:7105",
      "64:ff9b::203.0.113.5",
      "64:ff9b::cb00:7105",
    ]) {
      expect(inRange("203.0.113.0/24", spelling), spelling).toBe(true);
      expect(inRange("203.0.113.5", spelling), spelling).toBe(true);
      expect(inRange("198.51.100.0/24", spelling), spelling).toBe(false);
    }
  });

  it("reads an IPv6 range inside an IPv4-embedding /96 with a prefix of 96 or more as the IPv4 range", () => {
    expect(parseCidr("::ffff:203.0.113.0/120")).toEqual(parseCidr("203.0.113.0/24"));
    expect(parseCidr("64:ff9b::cb00:7100/120")).toEqual(parseCidr("203.0.113.0/24"));
    expect(parseCidr("::203.0.113.5")).toEqual(parseCidr("203.0.113.5/32"));
    expect(inRange("::ffff:203.0.113.0/120", "203.0.113.77")).toBe(true);
    expect(inRange("64:ff9b::203.0.113.5/128", "::203.0.113.5")).toBe(true);
    // A shorter prefix is an IPv6 range: it holds IPv6 clients, not the IPv4 ones embedded in it.
    expect(parseCidr("64:ff9b::/64")).toEqual({ version: 6, network: 0x64ff9bn << 96n, prefix: 64 });
    expect(parseCidr("::ffff:203.0.113.0/24")).toEqual({ version: 6, network: 0n, prefix: 24 });
    expect(parseCidr("::ffff:203.0.113.0/129")).toBeUndefined();
  });

  it("never matches across families", () => {
    expect(inRange("0.0.0.0/0", "2001:db8::1")).toBe(false);
    expect(inRange("::/0", "1.2.3.4")).toBe(false);
    // An IPv4-mapped client is an IPv4 client: it is in IPv4 ranges.
    expect(inRange("1.2.3.0/24", "::ffff:1.2.3.4")).toBe(true);
  });

  it("agrees with a bit-by-bit check for random IPv4 ranges", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        (net, ip, prefix) => {
          const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join(".");
          const expected = prefix === 0 || net >>> (32 - prefix) === ip >>> (32 - prefix);
          expect(inRange(`${dotted(net)}/${prefix}`, dotted(ip))).toBe(expected);
        },
      ),
    );
  });
});

describe("clientIpKey", () => {
  it("keeps IPv4 as is (trimmed), and turns IPv4-mapped IPv6 into it", () => {
    expect(clientIpKey("203.0.113.7", 64)).toBe("203.0.113.7");
    expect(clientIpKey(" 203.0.113.7\n", 64)).toBe("203.0.113.7");
    expect(clientIpKey("::ffff:203.0.113.7", 64)).toBe("203.0.113.7");
    expect(clientIpKey("::ffff:cb00:7107", 64)).toBe("203.0.113.7");
  });

  it("counts IPv4-compatible and NAT64 spellings with the IPv4 address, not on an IPv6 /64", () => {
    expect(clientIpKey("::203.0.113.7", 64)).toBe("203.0.113.7");
    expect(clientIpKey("::cb00:7107", 64)).toBe("203.0.113.7");
    expect(clientIpKey("64:ff9b::203.0.113.7", 64)).toBe("203.0.113.7");
    expect(clientIpKey("64:ff9b::cb00:7107", 64)).toBe("203.0.113.7");
    // Two addresses of the NAT64 /96 were one /64 before: they are two clients.
    expect(clientIpKey("64:ff9b::203.0.113.8", 64)).toBe("203.0.113.8");
  });

  it("reduces IPv6 to its /64, written canonically (RFC 5952)", () => {
    expect(clientIpKey("2001:db8:0:1:aaaa:bbbb:cccc:dddd", 64)).toBe("2001:db8:0:1::/64");
    expect(clientIpKey("2001:0DB8:0000:0001:0000:0000:0000:0001", 64)).toBe("2001:db8:0:1::/64");
    expect(clientIpKey("2001:db8::1", 64)).toBe("2001:db8::/64");
    expect(clientIpKey("::1", 64)).toBe("::/64");
    expect(clientIpKey("2001:db8:1:2:3:4:5:6", 128)).toBe("2001:db8:1:2:3:4:5:6/128");
    expect(clientIpKey("2001:db8:1:2:3:4:5:6", 0)).toBe("::/0");
    expect(clientIpKey("2001:db8:aaaa:bbbb::1", 48)).toBe("2001:db8:aaaa::/48");
    // The longest run of zeros is compressed; the first one on a tie.
    expect(clientIpKey("1:0:0:2:0:0:0:3", 128)).toBe("1:0:0:2::3/128");
    expect(clientIpKey("1:0:0:2:3:0:0:4", 128)).toBe("1::2:3:0:0:4/128");
    // A single zero group is not compressed.
    expect(clientIpKey("1:0:2:3:4:5:6:7", 128)).toBe("1:0:2:3:4:5:6:7/128");
  });

  it("gives one key for every spelling of one address", () => {
    const spellings = [
      "2001:db8:0:1::5",
      "2001:DB8:0:1:0:0:0:5",
      "2001:0db8:0000:0001:0000:0000:0000:0005",
      "[2001:db8:0:1::5]",
      "2001:db8:0:1::0.0.0.5",
      "2001:db8::1:0:0:0:5",
    ];
    const keys = new Set(spellings.map((s) => clientIpKey(s, 64)));
    expect([...keys]).toEqual(["2001:db8:0:1::/64"]);
  });

  it("gives one key for every address of one /64 and different keys for neighbouring /64s", () => {
    expect(clientIpKey("2001:db8:0:1::", 64)).toBe(clientIpKey("2001:db8:0:1:ffff:ffff:ffff:ffff", 64));
    expect(clientIpKey("2001:db8:0:1::", 64)).not.toBe(clientIpKey("2001:db8:0:2::", 64));
    expect(clientIpKey("2001:db8:0:1::", 64)).not.toBe(clientIpKey("2001:db8:0:0:ffff:ffff:ffff:ffff", 64));
  });

  it("maps random addresses of one /64, however spelled, to one key that parses back to the prefix", () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    // A first group other than 0 keeps clear of IPv4-mapped and -compatible addresses; not 64:ff9b:0:0 of NAT64.
    const prefixArb = fc
      .tuple(fc.integer({ min: 1, max: 0xffff }), group, group, group)
      .filter(([a, b, c, d]) => !(a === 0x64 && b === 0xff9b && c === 0 && d === 0));
    const quad = fc.array(group, { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(prefixArb, quad, quad, fc.boolean(), (prefix, a, b, upper) => {
        const full = (groups: number[]) => groups.map((g) => g.toString(16).padStart(4, "0")).join(":");
        const short = (groups: number[]) => groups.map((g) => g.toString(16)).join(":");
        const spellA = upper ? full([...prefix, ...a]).toUpperCase() : full([...prefix, ...a]);
        const spellB = short([...prefix, ...b]);
        const ka = clientIpKey(spellA, 64);
        const kb = clientIpKey(spellB, 64);
        expect(ka).toBeDefined();
        expect(ka).toBe(kb);
        // The key is the /64 itself: its network is the prefix, as a CIDR.
        const cidr = parseCidr(ka!)!;
        expect(cidr.prefix).toBe(64);
        expect(cidr.network).toBe(parseIp(`${short(prefix)}::`)!.value);
        expect(cidrContains(cidr, parseIp(spellA)!)).toBe(true);
        expect(cidrContains(cidr, parseIp(spellB)!)).toBe(true);
      }),
    );
  });

  it("returns undefined for something that is not an IP", () => {
    expect(clientIpKey("", 64)).toBeUndefined();
    expect(clientIpKey("unknown", 64)).toBeUndefined();
    expect(clientIpKey("203.0.113.7, 10.0.0.1", 64)).toBeUndefined();
    expect(clientIpKey("203.0.113.7:443", 64)).toBeUndefined();
    expect(clientIpKey("192.0.2.016", 64)).toBeUndefined();
  });
});
