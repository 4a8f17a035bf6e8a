/**
 * Reading IP text already in canonical form (dotted decimal, RFC 5952 IPv6, with a prefix length) in one pass over its
 * characters: the fast paths of parseCidr and the sort keys of ipset.ts. Published lists (AWS's file holds 16,000
 * prefixes) are written this way, and reading them was most of the cost of reading such a list. Text of any other
 * shape is undefined here, for the general parse with ipaddr.js; test/sources/aws-ip-ranges/broad-prefix.test.ts
 * checks both answer alike.
 */

/**
 * The canonical form of strict dotted-decimal IPv4 text with a prefix length, computed with integer arithmetic in one
 * pass over the characters: the form published lists use (AWS's file holds 10,000 of them) and the supernets
 * PrefixIndex asks for, read in a fraction of the time the general parse takes. Anything else (a leading zero, no
 * prefix) is undefined and goes through the general parse.
 */
export function canonicalIpv4(text: string): string | undefined {
  const slash = text.indexOf('/');
  const prefix = slash === -1 ? undefined : canonicalDecimal(text, slash + 1, 32);
  if (prefix === undefined) return undefined;
  let value = 0;
  let at = 0;
  for (let octets = 1; octets <= 4; octets++) {
    const first = at;
    let octet = 0;
    for (let code = text.charCodeAt(at); code >= 48 && code <= 57; code = text.charCodeAt(++at)) octet = octet * 10 + (code - 48);
    const digits = at - first;
    if (digits === 0 || digits > 3 || (digits > 1 && text.charCodeAt(first) === 48) || octet > 255) return undefined;
    value = value * 256 + octet;
    // Dots between the octets, and the first "/" right after the fourth.
    if (text.charCodeAt(at) !== (octets === 4 ? 47 : 46)) return undefined;
    at++;
  }
  const network = clearHostBits(value, 32 - prefix);
  if (network === value) return text;
  return `${Math.floor(network / 16_777_216)}.${Math.floor(network / 65_536) % 256}.${Math.floor(network / 256) % 256}.${network % 256}/${prefix}`;
}

/**
 * The same for IPv6 text written as RFC 5952 writes it (as the general parse would), host bits masked: lower-case
 * hex groups without leading zeros, "::" only for the leftmost longest run of two or more zero groups. Read in one
 * pass over the characters, because AWS's file holds 6,000 of them. Anything else is undefined.
 */
export function canonicalIpv6(text: string): string | undefined {
  const slash = text.indexOf('/');
  const prefix = slash === -1 ? undefined : canonicalDecimal(text, slash + 1, 128);
  const groups = prefix === undefined ? undefined : ipv6Groups(text, slash);
  if (prefix === undefined || groups === undefined || groups.leadingZero) return undefined;
  const { values, gap, elided } = groups;
  // RFC 5952 writes "::" for two or more zero groups only, and for the leftmost longest run of them.
  const run = zeroRun(values);
  if (gap === -1 ? run.start !== -1 : elided < 2 || run.start !== gap || run.length !== elided) return undefined;
  let masked = false;
  for (let group = prefix >> 4; group < 8; group++) {
    const hostBits = Math.max(0, 16 - Math.max(0, prefix - group * 16));
    const host = values[group]! & ((1 << hostBits) - 1);
    if (host === 0) continue;
    values[group] = values[group]! - host;
    masked = true;
  }
  return masked ? `${rfc5952(values)}/${prefix}` : text;
}

/** IPv6 text as its eight group values, where its "::" stood and how many groups it elided, and whether a group had a leading zero. */
export interface Ipv6Groups {
  readonly values: number[];
  readonly gap: number;
  readonly elided: number;
  readonly leadingZero: boolean;
}

/**
 * Reads the text before `end` in one pass over the characters: lower-case hex groups of one to four digits separated by
 * ":", at most one "::". Anything else (upper case, a dotted quad, a zone) is undefined, for the caller's general path.
 */
export function ipv6Groups(text: string, end: number): Ipv6Groups | undefined {
  // Filled in place, so reading an address allocates only this array and the answer.
  const values = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1;
  let leadingZero = false;
  let at = 0;
  if (text.startsWith('::')) {
    gap = 0;
    at = 2;
  }
  while (at < end) {
    const first = at;
    let value = 0;
    for (let digit = hexDigit(text.charCodeAt(at)); digit !== -1 && at < end; digit = hexDigit(text.charCodeAt(++at)))
      value = value * 16 + digit;
    const digits = at - first;
    if (digits === 0 || digits > 4 || count === 8) return undefined;
    if (digits > 1 && text.charCodeAt(first) === 48) leadingZero = true;
    values[count++] = value;
    if (at === end) break;
    if (text.charCodeAt(at) !== 58) return undefined;
    at++;
    if (text.charCodeAt(at) === 58) {
      if (gap !== -1) return undefined;
      gap = count;
      at++;
    } else if (at === end) return undefined;
  }
  const elided = 8 - count;
  if (gap === -1 ? elided !== 0 : elided < 1) return undefined;
  // The groups after "::" move to the end; the elided ones between become zero.
  if (gap !== -1) {
    for (let group = count - 1; group >= gap; group--) values[group + elided] = values[group]!;
    values.fill(0, gap, gap + elided);
  }
  return { values, gap, elided, leadingZero };
}

/** The value of a lower-case hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** The decimal number from `from` to the end of the text, at most `max`, written without a leading zero; else undefined. */
function canonicalDecimal(text: string, from: number, max: number): number | undefined {
  if (from >= text.length || text.length - from > 3 || (text.length - from > 1 && text.charCodeAt(from) === 48)) return undefined;
  let value = 0;
  for (let at = from; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code < 48 || code > 57) return undefined;
    value = value * 10 + (code - 48);
  }
  return value > max ? undefined : value;
}

/** The leftmost longest run of two or more zero groups; start -1 when there is none. */
function zeroRun(values: readonly number[]): { start: number; length: number } {
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && values[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
    start += length;
  }
  return best;
}

/** Eight groups as RFC 5952 writes them: lower-case hex without leading zeros, the leftmost longest zero run (2+) as "::". */
function rfc5952(values: readonly number[]): string {
  const best = zeroRun(values);
  const hex = values.map((value) => value.toString(16));
  if (best.start === -1) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/**
 * A 32-bit word with its lowest `hostBits` bits zero (all of them from 32 on, none at 0 or below), in unsigned integer
 * shifts: a word is exact in a double, and shifts cost a fraction of the floating-point power and remainder they replace.
 */
export function clearHostBits(word: number, hostBits: number): number {
  if (hostBits <= 0) return word;
  return hostBits >= 32 ? 0 : ((word >>> hostBits) << hostBits) >>> 0;
}
