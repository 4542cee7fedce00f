/**
 * IP addresses as the limiter needs them: parse v4 and v6, reduce v6 to a
 * prefix (so a client cannot rotate through its /64), and match CIDR ranges.
 * Addresses are held as BigInt so one code path serves both families.
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
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 client.
    if (v6 >> 32n === 0xffffn) return { version: 4, value: v6 & 0xffffffffn };
    return { version: 6, value: v6 };
  }
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

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addr = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!addr) return undefined;
  const bits = addr.version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > bits) return undefined;
  }
  return { version: addr.version, network: mask(addr.value, prefix, bits), prefix };
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
