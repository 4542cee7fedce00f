/**
 * IP addresses as the limiter needs them: parse v4 and v6, reduce v6 to a
 * prefix (so a client cannot rotate through its /64), and match CIDR ranges.
 * Addresses are held as BigInt so one code path serves both families.
 *
 * One address, one reading: an IPv4 address embedded in IPv6 (IPv4-mapped
 * `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, in
 * dotted or hex groups) is that IPv4 address, so a list written in IPv4 matches
 * it and it is counted with it. A dotted quad with a leading zero (`192.0.2.016`)
 * is no address: `inet_aton` reads `016` as octal 14, others as decimal 16, and
 * an address two readers disagree on must not be guessed.
 * @module
 */

export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
}

export interface Cidr {
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

export function parseIp(text: string): ParsedIp | undefined {
  if (text.length > 64) return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { version: 4, value: v4 };
  const v6 = parseIpv6(text);
  if (v6 !== undefined) {
    const v4 = embeddedIpv4(v6);
    return v4 !== undefined ? { version: 4, value: v4 } : { version: 6, value: v6 };
  }
  return undefined;
}

/** The /96 prefixes whose last 32 bits are an IPv4 address (the upper 96 bits of the address). */
const IPV4_MAPPED = 0xffffn; // ::ffff:0:0/96 (RFC 4291 2.5.5.2)
const IPV4_COMPATIBLE = 0n; // ::/96 (RFC 4291 2.5.5.1, deprecated but still parsed by stacks)
const NAT64_WELL_KNOWN = 0x64ff9bn << 64n; // 64:ff9b::/96 (RFC 6052)

/**
 * The IPv4 address an IPv6 address embeds, if it is one of the forms that
 * stand for an IPv4 host. `::` and `::1` (unspecified, loopback) are IPv6.
 */
function embeddedIpv4(v6: bigint): bigint | undefined {
  const upper = v6 >> 32n;
  if (upper === IPV4_MAPPED || upper === NAT64_WELL_KNOWN) return v6 & 0xffffffffn;
  if (upper === IPV4_COMPATIBLE && v6 > 1n) return v6;
  return undefined;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let t = text;
  const zone = t.indexOf("%");
  if (zone !== -1) t = t.slice(0, zone);
  if (t.startsWith("[") && t.endsWith("]")) t = t.slice(1, -1);
  if (!/^[0-9a-fA-F:.]+$/.test(t)) return undefined;
  // A trailing dotted quad (::ffff:192.0.2.1) stands for the last two groups.
  if (t.includes(".")) {
    const lastColon = t.lastIndexOf(":");
    const v4 = parseIpv4(t.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    t = `${t.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = t.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups: bigint[] = [];
  for (const g of [...head, ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
  }
  const total = head.length + rest.length;
  if (halves.length === 2) {
    if (total > 7) return undefined;
    groups.push(...head.map((g) => BigInt(`0x${g}`)));
    for (let i = 0; i < 8 - total; i++) groups.push(0n);
    groups.push(...rest.map((g) => BigInt(`0x${g}`)));
  } else {
    if (total !== 8) return undefined;
    groups.push(...head.map((g) => BigInt(`0x${g}`)));
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | g;
  return value;
}

/**
 * A range or a single address. A range written in IPv6 inside one of the
 * IPv4-embedding /96s with a prefix of 96 or more (`::ffff:203.0.113.0/120`)
 * is the IPv4 range it embeds (`203.0.113.0/24`), so it matches every spelling
 * of those addresses; a shorter IPv6 prefix is an IPv6 range and matches IPv6
 * clients only (an embedded IPv4 client is an IPv4 client).
 */
export function parseCidr(text: string): Cidr | undefined {
  if (text.length > 68) return undefined;
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  let prefix: number | undefined;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
  }
  const v4 = parseIpv4(address);
  if (v4 !== undefined) {
    const bits = prefix ?? 32;
    return bits > 32 ? undefined : { version: 4, network: mask(v4, bits, 32), prefix: bits };
  }
  const v6 = parseIpv6(address);
  if (v6 === undefined) return undefined;
  const bits = prefix ?? 128;
  if (bits > 128) return undefined;
  const embedded = bits >= 96 ? embeddedIpv4(v6) : undefined;
  if (embedded !== undefined) return { version: 4, network: mask(embedded, bits - 96, 32), prefix: bits - 96 };
  return { version: 6, network: mask(v6, bits, 128), prefix: bits };
}

export function cidrContains(cidr: Cidr, ip: ParsedIp): boolean {
  if (cidr.version !== ip.version) return false;
  const bits = ip.version === 4 ? 32 : 128;
  return mask(ip.value, cidr.prefix, bits) === cidr.network;
}

function mask(value: bigint, prefix: number, bits: number): bigint {
  if (prefix === 0) return 0n;
  const shift = BigInt(bits - prefix);
  return (value >> shift) << shift;
}

/**
 * The identity a client IP is counted under: IPv4 as is, IPv6 reduced to its
 * first `ipv6Prefix` bits and written canonically (`2001:db8:0:1::/64`), so every
 * spelling of one address, and every address of one prefix, is one counter.
 */
export function clientIpKey(text: string, ipv6Prefix: number): string | undefined {
  const ip = parseIp(text.trim());
  return ip ? ipKeyOf(ip, ipv6Prefix) : undefined;
}

/** {@link clientIpKey} of an address already parsed. */
export function ipKeyOf(ip: ParsedIp, ipv6Prefix: number): string {
  if (ip.version === 4) return formatIpv4(ip.value);
  const net = mask(ip.value, ipv6Prefix, 128);
  return `${formatIpv6(net)}/${ipv6Prefix}`;
}

function formatIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

function formatIpv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLen).join(":");
  return `${left}::${right}`;
}
