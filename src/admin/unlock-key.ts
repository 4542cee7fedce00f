/**
 * The address a lockout belongs to and the KV key of its unlock marker, in a Workers-free module
 * so the CLI (`policy unlock --local/--remote`) spells them as the Worker does.
 * @module
 */
import { clientIpKey } from "../net/ip";

/** An address as the lockout counts it (IPv6 per /64), or `undefined` when it is no IP address. */
export function addressKey(address: string): string | undefined {
  return clientIpKey(address, 64);
}

/** The KV key of an unlock marker for one address (as {@link addressKey} gives it). */
export function unlockKey(ipKey: string): string {
  return `admin-unlock:${ipKey}`;
}
