import ipaddr from 'ipaddr.js';
import { AllowlistError } from './problem.js';

/** A CIDR in canonical form: network address with host bits zero, IPv6 compressed lower-case, always with a prefix. */
export type Cidr = string & { readonly __canonicalCidr: unique symbol };

export type IpFamily = 4 | 6;

/**
 * Parses an address or CIDR from untrusted text into canonical form.
 * A bare address becomes a host route (/32 or /128). Host bits are cleared, because the
 * network is what a firewall rule matches; an IPv4-mapped IPv6 address stays IPv6.
 */
export function parseCidr(text: string): Cidr {
  const input = text.trim();
  if (input.length === 0 || input.length > 64) throw invalid(text, 'not an IP address or CIDR');
  if (input.includes('%')) throw invalid(text, 'zone ids are not allowed');
  const slash = input.indexOf('/');
  const addressText = slash === -1 ? input : input.slice(0, slash);
  if (!ipaddr.isValid(addressText) || !isStrictAddress(addressText)) throw invalid(text, 'not an IP address or CIDR');
  const address = ipaddr.parse(addressText);
  const bits = address.kind() === 'ipv4' ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = input.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) throw invalid(text, 'the prefix length is not a number');
    prefix = Number(prefixText);
    if (prefix > bits) throw invalid(text, `the prefix length is above ${bits}`);
  }
  const network = address.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
  const canonical = network.kind() === 'ipv6' ? (network as ipaddr.IPv6).toRFC5952String() : network.toString();
  return `${canonical}/${prefix}` as Cidr;
}

/** Like parseCidr, but returns undefined instead of throwing (for scanning free text). */
export function tryParseCidr(text: string): Cidr | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/**
 * ipaddr.js also accepts legacy IPv4 forms ("10.1", "0x0a.0.0.1", "012.0.0.1") that
 * firewalls read differently; only dotted-quad decimal and ordinary IPv6 text are accepted.
 */
function isStrictAddress(text: string): boolean {
  if (text.includes(':')) return ipaddr.IPv6.isValid(text);
  return ipaddr.IPv4.isValidFourPartDecimal(text) && !/(^|\.)0\d/.test(text);
}

function invalid(text: string, why: string): AllowlistError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new AllowlistError('invalid-cidr', `${JSON.stringify(shown)}: ${why}`);
}

export function familyOf(cidr: Cidr): IpFamily {
  return cidr.includes(':') ? 6 : 4;
}

export function prefixLengthOf(cidr: Cidr): number {
  return Number(cidr.slice(cidr.lastIndexOf('/') + 1));
}
