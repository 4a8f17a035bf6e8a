import { containsCidr, excludeCidr, mergeCidr, overlapCidr } from 'cidr-tools';
import ipaddr from 'ipaddr.js';
import { canonicalIpv4, canonicalIpv6, clearHostBits, ipv6Groups } from './canonical-text.js';
import { AllowlistError } from './problem.js';

/** A CIDR in canonical form: network address with host bits zero, IPv6 compressed lower-case, always with a prefix. */
export type Cidr = string & { readonly __canonicalCidr: unique symbol };

export type IpFamily = 4 | 6;

/**
 * Parses an address or CIDR from untrusted text into canonical form.
 * A bare address becomes a host route (/32 or /128). Host bits are cleared, because the
 * network is what a firewall rule matches; an IPv4-mapped IPv6 address stays IPv6, and every RFC 4291 form,
 * deprecated ones included (IPv4-compatible ::a.b.c.d, site-local fec0::/10), keeps exactly the address written.
 */
export function parseCidr(text: string): Cidr {
  const fast = text.includes(':') ? canonicalIpv6(text) : canonicalIpv4(text);
  if (fast !== undefined) return fast as Cidr;
  const input = text.trim();
  if (input.length === 0 || input.length > 64) throw invalid(text, 'not an IP address or CIDR');
  if (input.includes('%')) throw invalid(text, 'zone ids are not allowed');
  const slash = input.indexOf('/');
  const addressText = hexTail(slash === -1 ? input : input.slice(0, slash));
  if (addressText === undefined || !ipaddr.isValid(addressText) || !isStrictAddress(addressText))
    throw invalid(text, 'not an IP address or CIDR');
  const address = ipaddr.parse(addressText);
  const bits = address.kind() === 'ipv4' ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const prefixText = input.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) throw invalid(text, 'the prefix length is not a number');
    prefix = Number(prefixText);
    if (prefix > bits) throw invalid(text, `the prefix length is above ${bits}`);
  }
  const network =
    address.kind() === 'ipv4'
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
 * IPv6 text whose last 32 bits are written as a dotted quad (RFC 4291 2.2 form 3), with those bits as two hex groups,
 * so ipaddr.js reads the address written: it reads the deprecated IPv4-compatible form "::a.b.c.d" as the
 * IPv4-mapped "::ffff:a.b.c.d", a different address. Undefined when the quad is not strict dotted decimal.
 * Any other text is returned as it is.
 */
function hexTail(text: string): string | undefined {
  const colon = text.lastIndexOf(':');
  if (colon === -1 || !text.includes('.')) return text;
  const quad = text.slice(colon + 1);
  if (!isStrictAddress(quad)) return undefined;
  const [a, b, c, d] = quad.split('.').map(Number) as [number, number, number, number];
  return `${text.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
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

/** IPv4 before IPv6, then by network address, then by prefix length (a covering prefix sorts before what it covers). */
export function compareCidr(a: Cidr, b: Cidr): number {
  return compareSortKeys(sortKeyOf(a), sortKeyOf(b));
}

/** Unique and sorted, but not aggregated: every input prefix stays visible, as a rule file would list it. */
export function sortCidrs(cidrs: Iterable<Cidr>): Cidr[] {
  // Decorated once so the sort compares numbers instead of re-parsing text on every comparison.
  const keyed = [...new Set(cidrs)].map(sortKeyOf);
  keyed.sort(compareSortKeys);
  return keyed.map(({ cidr }) => cidr);
}

/**
 * compareCidr's order in plain numbers, which compare several times faster than the BigInt ranges of blockOf (AWS's
 * file sorts 11,000 prefixes): the family, the network address as four 32-bit words (an IPv4 address in the first),
 * the prefix length.
 */
interface SortKey {
  readonly cidr: Cidr;
  readonly family: IpFamily;
  readonly words: readonly [number, number, number, number];
  readonly prefix: number;
}

function sortKeyOf(cidr: Cidr): SortKey {
  const slash = cidr.lastIndexOf('/');
  const text = slash === -1 ? cidr : cidr.slice(0, slash);
  const family: IpFamily = text.includes(':') ? 6 : 4;
  const bits = family === 4 ? 32 : 128;
  const prefix = slash === -1 ? bits : Number(cidr.slice(slash + 1));
  const address = family === 4 ? ipv4Number(text) : ipv6Words(text);
  if (address === undefined) {
    // Text of another shape (an embedded dotted quad) takes blockOf's BigInt path, then becomes words.
    const start = blockOf(cidr).start << BigInt(128 - bits);
    const word = (index: number) => Number((start >> BigInt(96 - 32 * index)) & 0xffff_ffffn);
    return { cidr, family, words: [word(0), word(1), word(2), word(3)], prefix };
  }
  const words: [number, number, number, number] = typeof address === 'number' ? [address, 0, 0, 0] : address;
  for (let index = 0; index < 4; index++) words[index] = clearHostBits(words[index]!, 32 - Math.max(0, prefix - 32 * index));
  return { cidr, family, words, prefix };
}

function compareSortKeys(a: SortKey, b: SortKey): number {
  return (
    a.family - b.family ||
    a.words[0] - b.words[0] ||
    a.words[1] - b.words[1] ||
    a.words[2] - b.words[2] ||
    a.words[3] - b.words[3] ||
    a.prefix - b.prefix
  );
}

/** The smallest sorted list of prefixes covering exactly the same addresses (adjacent and covered prefixes merged). */
export function aggregate(cidrs: Iterable<Cidr>): Cidr[] {
  return fromCidrTools(mergeCidr(toArray(cidrs)));
}

export function union(...sets: Iterable<Cidr>[]): Cidr[] {
  return aggregate(sets.flatMap(toArray));
}

/** Addresses in `a` that are not in `b`, aggregated. */
export function difference(a: Iterable<Cidr>, b: Iterable<Cidr>): Cidr[] {
  return fromCidrTools(excludeCidr(toArray(a), toArray(b)));
}

/** Addresses in both `a` and `b`, aggregated. */
export function intersection(a: Iterable<Cidr>, b: Iterable<Cidr>): Cidr[] {
  const left = toArray(a);
  return difference(left, difference(left, b));
}

/** Whether any address is in both sets. */
export function intersects(a: Iterable<Cidr>, b: Iterable<Cidr>): boolean {
  return overlapCidr(toArray(a), toArray(b));
}

/** Whether every address of `cidr` is in `set`, even when the set covers it only with several prefixes together. */
export function covers(set: Iterable<Cidr>, cidr: Cidr): boolean {
  // containsCidr asks whether a single member contains the prefix; after merging, a covered
  // prefix always lies inside one merged block, because aligned blocks are nested or disjoint.
  return containsCidr(mergeCidr(toArray(set)), cidr);
}

/** Whether both sets contain exactly the same addresses, however they are split into prefixes. */
export function sameAddresses(a: Iterable<Cidr>, b: Iterable<Cidr>): boolean {
  // The aggregated form is unique per address set, so comparing it element-wise decides equality.
  const left = mergeCidr(toArray(a));
  const right = mergeCidr(toArray(b));
  return left.length === right.length && left.every((network, index) => network === right[index]);
}

export interface SemanticDiff {
  readonly added: Cidr[];
  readonly removed: Cidr[];
}

/**
 * What changed in address terms, not in text: re-splitting a prefix or listing a prefix that
 * another already covers is no change, so only real additions and removals reach a pull request.
 */
export function semanticDiff(from: Iterable<Cidr>, to: Iterable<Cidr>): SemanticDiff {
  const before = toArray(from);
  const after = toArray(to);
  return { added: difference(after, before), removed: difference(before, after) };
}

/** How many addresses the set covers, IPv4 and IPv6 together, counting overlaps once. */
export function addressCount(cidrs: Iterable<Cidr>): bigint {
  let count = 0n;
  for (const network of aggregate(cidrs)) {
    const bits = familyOf(network) === 4 ? 32 : 128;
    count += 1n << BigInt(bits - prefixLengthOf(network));
  }
  return count;
}

/**
 * Special-purpose ranges (IANA IPv4 and IPv6 special-purpose registries as ipaddr.js names them),
 * in kebab case. ipaddr.js files documentation and benchmarking space under 'reserved'; they are
 * told apart here because an allowlist entry in documentation space is almost certainly a copy error.
 */
export type SpecialRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'carrier-grade-nat'
  | 'link-local'
  | 'multicast'
  | 'reserved'
  | 'broadcast'
  | 'benchmarking'
  | 'documentation'
  | 'unique-local'
  | 'ipv4-mapped'
  | 'ipv4-translated'
  | 'nat64'
  | '6to4'
  | 'teredo'
  | 'as112'
  | 'amt'
  | 'orchid'
  | 'drone-remote-id'
  | 'site-local'
  | 'discard'
  | 'segment-routing';

/** Mirrors ipaddr.js 2.5 `SpecialRanges` (test/ipset.test.ts checks it still does); the comment names ipaddr's range. */
const specialRanges: ReadonlyArray<readonly [string, SpecialRange]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['255.255.255.255/32', 'broadcast'],
  ['224.0.0.0/4', 'multicast'],
  ['169.254.0.0/16', 'link-local'],
  ['127.0.0.0/8', 'loopback'],
  ['100.64.0.0/10', 'carrier-grade-nat'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'], // reserved
  ['192.88.99.0/24', 'reserved'],
  ['198.18.0.0/15', 'benchmarking'], // reserved
  ['198.51.100.0/24', 'documentation'], // reserved
  ['203.0.113.0/24', 'documentation'], // reserved
  ['240.0.0.0/4', 'reserved'],
  ['192.175.48.0/24', 'as112'],
  ['192.31.196.0/24', 'as112'],
  ['192.52.193.0/24', 'amt'],
  ['::/128', 'unspecified'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
  ['::1/128', 'loopback'],
  ['fc00::/7', 'unique-local'],
  ['::ffff:0:0/96', 'ipv4-mapped'],
  ['fec0::/10', 'site-local'], // deprecatedSiteLocal
  ['100::/64', 'discard'],
  ['::ffff:0:0:0/96', 'ipv4-translated'], // rfc6145
  ['64:ff9b::/96', 'nat64'], // rfc6052
  ['64:ff9b:1::/48', 'nat64'], // rfc6052
  ['2002::/16', '6to4'],
  ['2001::/32', 'teredo'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:3::/32', 'amt'],
  ['2001:4:112::/48', 'as112'], // as112v6
  ['2620:4f:8000::/48', 'as112'], // as112v6
  ['2001:10::/28', 'orchid'], // deprecatedOrchid
  ['2001:20::/28', 'orchid'], // orchid2
  ['2001:30::/28', 'drone-remote-id'], // droneRemoteIdProtocolEntityTags
  ['5f00::/16', 'segment-routing'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'documentation'], // reserved
  ['3fff::/20', 'documentation'], // reserved
];

/** Every special-purpose range as a prefix, for code that must keep clear of all of it (widening a file's cover). */
export const SPECIAL_PURPOSE_PREFIXES: readonly Cidr[] = specialRanges.map(([range]) => range as Cidr);

/**
 * Every special range the CIDR overlaps, in table order without repeats; empty means ordinary public space.
 * Overlap rather than containment, so a broad prefix such as 8.0.0.0/5 is flagged for the private 10/8 inside it.
 */
export function classify(cidr: Cidr): SpecialRange[] {
  return specialRangesOverlapping(blockOf(cidr));
}

/**
 * classify for a whole set at once: only the members in special-purpose space, each with its ranges.
 * Large public lists are almost entirely ordinary space, so one sorted sweep against the merged special
 * space rules most members out before any of them is compared with the individual ranges.
 */
export function classifyAll(cidrs: Iterable<Cidr>): Map<Cidr, SpecialRange[]> {
  const found = new Map<Cidr, SpecialRange[]>();
  const keyed = [...new Set(cidrs)].map((cidr) => ({ cidr, block: blockOf(cidr) }));
  keyed.sort((a, b) => compareBlocks(a.block, b.block));
  let next = 0;
  for (const { cidr, block } of keyed) {
    // Members are sorted by start, so special ranges ending before this one end before every later one too.
    while (next < specialSpace.length && compareEnds(specialSpace[next]!, block) < 0 && !overlaps(specialSpace[next]!, block)) next++;
    let candidate = next;
    while (candidate < specialSpace.length && !startsAfter(specialSpace[candidate]!, block)) {
      if (overlaps(specialSpace[candidate]!, block)) {
        found.set(cidr, specialRangesOverlapping(block));
        break;
      }
      candidate++;
    }
  }
  return found;
}

function specialRangesOverlapping(block: Block): SpecialRange[] {
  const found = new Set<SpecialRange>();
  for (const [range, name] of specialBlocks) {
    if (overlaps(range, block)) found.add(name);
  }
  return [...found];
}

/** An inclusive address range of one family; a prefix is the aligned special case. */
interface Range {
  readonly family: IpFamily;
  readonly start: bigint;
  readonly end: bigint;
}

interface Block extends Range {
  readonly prefix: number;
}

/**
 * Reads a Cidr (canonical by construction, validated once by parseCidr) straight into numbers:
 * re-validating with a general parser would cost more than the sorting or classifying it serves.
 * Text that is not in the expected shape, such as an embedded dotted quad, takes ipaddr.js's path.
 */
function blockOf(cidr: Cidr): Block {
  const slash = cidr.lastIndexOf('/');
  const prefix = slash === -1 ? (cidr.includes(':') ? 128 : 32) : Number(cidr.slice(slash + 1));
  const text = slash === -1 ? cidr : cidr.slice(0, slash);
  const family: IpFamily = text.includes(':') ? 6 : 4;
  const address = family === 4 ? ipv4Value(text) : ipv6Value(text);
  const hostBits = BigInt((family === 4 ? 32 : 128) - prefix);
  const start = (address >> hostBits) << hostBits;
  return { family, start, end: start + (1n << hostBits) - 1n, prefix };
}

function ipv4Value(text: string): bigint {
  const value = ipv4Number(text);
  return value === undefined ? ipaddrValue(text) : BigInt(value);
}

/** Dotted-quad decimal as a number; undefined for any other shape. */
function ipv4Number(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46) {
      value = value * 256 + octet;
      octet = 0;
      dots++;
    } else {
      octet = octet * 10 + (code - 48);
    }
  }
  return dots === 3 ? value * 256 + octet : undefined;
}

/** The IPv4 network of `value` at `length`, written as parseCidr writes it. */
function ipv4Network(value: number, length: number): Cidr {
  const network = length === 0 ? 0 : (value & (0xffffffff << (32 - length))) >>> 0;
  return `${network >>> 24}.${(network >>> 16) & 255}.${(network >>> 8) & 255}.${network & 255}/${length}` as Cidr;
}

function ipv6Value(text: string): bigint {
  const words = ipv6Words(text);
  if (words === undefined) return ipaddrValue(text);
  // Four 32-bit words keep the BigInt work to a few operations per address.
  return (BigInt(words[0]) << 96n) | (BigInt(words[1]) << 64n) | (BigInt(words[2]) << 32n) | BigInt(words[3]);
}

/** Hex-group IPv6 text as four 32-bit words; undefined for other text (an embedded dotted quad). */
function ipv6Words(text: string): [number, number, number, number] | undefined {
  const groups = ipv6Groups(text, text.length);
  if (groups === undefined) return undefined;
  const word = (i: number) => groups.values[i]! * 0x10000 + groups.values[i + 1]!;
  return [word(0), word(2), word(4), word(6)];
}

function ipaddrValue(text: string): bigint {
  return ipaddr
    .parse(text)
    .toByteArray()
    .reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

/** Sorted blocks as the fewest ranges: overlapping and adjacent ones joined. */
function mergeBlocks(sorted: readonly Block[]): Range[] {
  const merged: Array<{ family: IpFamily; start: bigint; end: bigint }> = [];
  for (const block of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.family === block.family && block.start <= last.end + 1n) {
      if (block.end > last.end) last.end = block.end;
    } else {
      merged.push({ family: block.family, start: block.start, end: block.end });
    }
  }
  return merged;
}

function compareBlocks(a: Block, b: Block): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return a.prefix - b.prefix;
}

/** Orders by where ranges end, IPv4 space before IPv6 space. */
function compareEnds(a: Range, b: Range): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.end === b.end ? 0 : a.end < b.end ? -1 : 1;
}

/** Whether `a` lies wholly after `b` in the combined IPv4-then-IPv6 order. */
function startsAfter(a: Range, b: Range): boolean {
  return a.family !== b.family ? a.family > b.family : a.start > b.end;
}

function overlaps(a: Range, b: Range): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

function toArray(cidrs: Iterable<Cidr>): Cidr[] {
  return Array.isArray(cidrs) ? cidrs : [...cidrs];
}

const specialBlocks: ReadonlyArray<readonly [Block, SpecialRange]> = specialRanges.map(([range, name]) => [blockOf(range as Cidr), name]);

/** The union of all special ranges, sorted and merged, for classifyAll's sweep. */
const specialSpace: readonly Range[] = mergeBlocks(specialBlocks.map(([block]) => block).sort(compareBlocks));

/**
 * cidr-tools emits IPv4 blocks before IPv6 ones, each in address order, which is already
 * compareCidr order for non-overlapping blocks. Its text is already canonical (dotted decimal,
 * RFC 5952 IPv6, network address), so re-parsing every block, which would cost more than the merge
 * itself on large lists, is skipped; test/ipset.property.test.ts checks that this still holds.
 * Only a missing prefix (cidr-tools writes bare addresses in some versions) needs adding.
 */
function fromCidrTools(networks: readonly string[]): Cidr[] {
  return networks.map((network) => {
    if (network.includes('/')) return network as Cidr;
    return `${network}/${network.includes(':') ? 128 : 32}` as Cidr;
  });
}

/**
 * Looks up which members of a prefix list contain a given prefix, by probing its supernets at the
 * prefix lengths the list actually uses: a handful of map lookups instead of a scan of the list.
 */
export class PrefixIndex<V> {
  private readonly members = new Map<Cidr, V>();
  private readonly lengths: Record<4 | 6, number[]>;

  constructor(entries: Iterable<readonly [Cidr, V]>) {
    const lengths = { 4: new Set<number>(), 6: new Set<number>() };
    for (const [cidr, value] of entries) {
      this.members.set(cidr, value);
      lengths[familyOf(cidr)].add(prefixLengthOf(cidr));
    }
    this.lengths = { 4: [...lengths[4]].sort((a, b) => b - a), 6: [...lengths[6]].sort((a, b) => b - a) };
  }

  keys(): IterableIterator<Cidr> {
    return this.members.keys();
  }

  get(cidr: Cidr): V | undefined {
    return this.members.get(cidr);
  }

  /** Members equal to or containing `cidr`, most specific first. */
  allContaining(cidr: Cidr): Cidr[] {
    const prefix = prefixLengthOf(cidr);
    const address = cidr.slice(0, cidr.lastIndexOf('/'));
    const family = familyOf(cidr);
    // A canonical IPv4 prefix's supernets are worked out with integer masks: parsing each one cost more than the lookups.
    const value = family === 4 ? ipv4Number(address) : undefined;
    const found: Cidr[] = [];
    for (const length of this.lengths[family]) {
      if (length > prefix) continue;
      const supernet = length === prefix ? cidr : value === undefined ? parseCidr(`${address}/${length}`) : ipv4Network(value, length);
      if (this.members.has(supernet)) found.push(supernet);
    }
    return found;
  }

  /** The most specific member equal to or containing `cidr`. */
  containing(cidr: Cidr): Cidr | undefined {
    // A member itself is the most specific answer, without parsing a supernet per prefix length.
    if (this.members.has(cidr)) return cidr;
    return this.allContaining(cidr)[0];
  }
}
