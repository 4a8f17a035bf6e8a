import ipaddr from 'ipaddr.js';
import type { FileSpec } from '../config.js';
import { aggregate, compareCidr, familyOf, prefixLengthOf, sortCidrs, tryParseCidr, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';

export type TemplateFileSpec = Extract<FileSpec, { format: 'template' }>;

/** The default and the highest `maxAddressesPerRange`: a /24 and a /16 of IPv4 written address by address. */
export const DEFAULT_MAX_ADDRESSES_PER_RANGE = 256;
export const MAX_ADDRESSES_PER_RANGE = 65_536;

/**
 * Whether a line is written once per address rather than once per range: {ip} alone is the network address,
 * so one line per range would allow only the first address of every range wider than a host.
 * ({ip} with {prefix}, or {cidr}, names the whole range; {prefix} alone is refused by the config.)
 */
export function writesEachAddress(line: string): boolean {
  return line.includes('{ip}') && !line.includes('{cidr}') && !line.includes('{prefix}');
}

/** How many addresses a range holds. */
export function addressesIn(range: Cidr): bigint {
  return 1n << BigInt((familyOf(range) === 4 ? 32 : 128) - prefixLengthOf(range));
}

/** Why a range cannot be written address by address under `cap`, or undefined when it can. */
export function tooManyAddresses(range: Cidr, cap: number): string | undefined {
  const count = addressesIn(range);
  if (count <= BigInt(cap)) return undefined;
  const size = `${range} has ${count} addresses`;
  if (count > BigInt(MAX_ADDRESSES_PER_RANGE)) {
    const what = familyOf(range) === 6 ? 'an IPv6 range' : 'a range';
    return `${size}, more than the ${MAX_ADDRESSES_PER_RANGE} lines any maxAddressesPerRange allows: ${what} this wide cannot be written one address per line; use {cidr}, or {ip} with {prefix}, in the line`;
  }
  return `${size} and maxAddressesPerRange is ${cap}; use {cidr}, or {ip} with {prefix}, in the line, or raise maxAddressesPerRange to at least ${count}`;
}

type MarkerKind = 'BEGIN' | 'END';

/** RegExp source for the byte-order mark some Windows editors put first; it is not part of the first line's text. */
const BOM = '\\uFEFF';

/**
 * For the config check: why a line written once per address would fail at every render, because entries the
 * config itself holds (static targets) already form a range wider than the cap. A file's ranges only grow as
 * observed addresses merge with them, so these failures are certain; observed ranges are checked at render.
 */
export function knownRangeProblems(line: string, cap: number, entries: readonly unknown[]): string[] {
  if (!writesEachAddress(line) || !Number.isInteger(cap) || cap < 1 || cap > MAX_ADDRESSES_PER_RANGE) return [];
  const known = entries.flatMap((entry) => (typeof entry === 'string' ? (tryParseCidr(entry) ?? []) : []));
  return sortCidrs(aggregate(known)).flatMap((range) => tooManyAddresses(range, cap) ?? []);
}

/**
 * Rewrites only the lines strictly between the file's BEGIN and END marker lines, one `file.line` per
 * CIDR (per address when the line has only {ip}, see writesEachAddress); everything else, including the
 * markers, stays byte for byte, so the rest of a hand-kept rule file (nginx, iptables-restore, ...) is never
 * touched. Generated lines take the BEGIN line's indentation and line ending, so a CRLF file stays CRLF.
 */
export function renderTemplate(
  file: TemplateFileSpec,
  cidrs: readonly Cidr[],
  existing: string | null,
  foreign: readonly { cidr: Cidr; text: string }[] = [],
): string {
  const begin = markerText(file, 'BEGIN');
  const end = markerText(file, 'END');
  const addMarkers = `add the two lines "${begin}" and "${end}" where the generated lines belong`;
  if (existing === null) {
    throw new AllowlistError(
      'template-missing',
      `${file.path} does not exist in the repository; a template file is edited in place, so create it and ${addMarkers}`,
    );
  }
  // Each element keeps its own line ending, so joining them again reproduces the input exactly.
  const lines = existing.split(/(?<=\n)/);
  const begins = findMarkers(lines, file, 'BEGIN');
  const ends = findMarkers(lines, file, 'END');
  const fail = (why: string) => new AllowlistError('template-markers', `${file.path}: ${why}`);

  if (begins.length === 0 && ends.length === 0) throw fail(`no allowlist-drift markers for file "${file.id}"; ${addMarkers}`);
  if (begins.length > 1) throw fail(`"${begin}" is on lines ${lineList(begins)}; keep exactly one`);
  if (ends.length > 1) throw fail(`"${end}" is on lines ${lineList(ends)}; keep exactly one`);
  const [beginAt] = begins;
  const [endAt] = ends;
  if (beginAt === undefined)
    throw fail(`"${end}" is on line ${endAt! + 1} but no line "${begin}" comes before it; add it above the first line to replace`);
  if (endAt === undefined)
    throw fail(`"${begin}" is on line ${beginAt + 1} but no line "${end}" follows it; add it below the last line to replace`);
  if (endAt < beginAt) throw fail(`"${end}" (line ${endAt + 1}) comes before "${begin}" (line ${beginAt + 1}); put the BEGIN line first`);

  const beginLine = lines[beginAt]!;
  const indentation = new RegExp(`^${BOM}?([ \\t]*)`).exec(beginLine)![1]!;
  const lineEnding = beginLine.endsWith('\r\n') ? '\r\n' : '\n';
  const entries = writesEachAddress(file.line) ? eachAddress(file, cidrs) : cidrs;
  // Lines the config does not manage stay as written, in address order among the generated ones.
  const placed = [
    ...entries.map((cidr) => ({ cidr, line: `${indentation}${fillPlaceholders(file.line, cidr)}` })),
    ...foreign.map(({ cidr, text }) => ({ cidr, line: text })),
  ];
  const generated = placed.sort((a, b) => compareCidr(a.cidr, b.cidr)).map(({ line }) => `${line}${lineEnding}`);
  return [...lines.slice(0, beginAt + 1), ...generated, ...lines.slice(endAt)].join('');
}

function markerText(file: TemplateFileSpec, kind: MarkerKind): string {
  return `${file.commentPrefix} ${kind} allowlist-drift:${file.id}`;
}

/**
 * Indexes of the lines that are this file's marker of one kind. A line that names the marker but
 * does not start with the comment prefix is an error rather than ignored: treating it as text would
 * leave the generated block in the wrong place without anyone noticing.
 */
function findMarkers(lines: readonly string[], file: TemplateFileSpec, kind: MarkerKind): number[] {
  const named = new RegExp(`${kind} allowlist-drift:${escapeRegExp(file.id)}(?=\\s|$)`);
  const proper = new RegExp(
    `^${BOM}?[ \\t]*${escapeRegExp(file.commentPrefix)}[ \\t]*${kind} allowlist-drift:${escapeRegExp(file.id)}(?=\\s|$)`,
  );
  const found: number[] = [];
  lines.forEach((line, index) => {
    if (!named.test(line)) return;
    if (!proper.test(line)) {
      throw new AllowlistError(
        'template-markers',
        `${file.path}: line ${index + 1} names "${kind} allowlist-drift:${file.id}" but does not start with the comment prefix "${file.commentPrefix}"; write it as "${markerText(file, kind)}"`,
      );
    }
    found.push(index);
  });
  return found;
}

/**
 * Every address of the set as a host route, in numeric order (IPv4 first), each once. Ranges are counted
 * after aggregation, as the engine hands them over; one wider than the cap fails the whole file, because
 * writing part of it would drop addresses without anyone noticing.
 */
function eachAddress(file: TemplateFileSpec, cidrs: readonly Cidr[]): Cidr[] {
  const ranges = sortCidrs(aggregate(cidrs));
  const reasons = ranges.flatMap((range) => tooManyAddresses(range, file.maxAddressesPerRange) ?? []);
  if (reasons.length > 0) {
    const more = reasons.length > 1 ? ` (and ${reasons.length - 1} more range${reasons.length > 2 ? 's' : ''} too wide)` : '';
    throw new AllowlistError(
      'template-range-too-large',
      `${file.path}: the line "${file.line}" has {ip} without {cidr} or {prefix}, so file "${file.id}" gets one line per address, but ${reasons[0]}${more}`,
    );
  }
  return ranges.flatMap(hostsOf);
}

/**
 * The addresses of one range in numeric order. The cap keeps a range to at most 2^16 addresses, and ranges are
 * aligned, so only the last two IPv4 bytes or the last IPv6 group vary.
 */
function hostsOf(range: Cidr): Cidr[] {
  const count = Number(addressesIn(range));
  const network = ipaddr.parse(range.slice(0, range.lastIndexOf('/')));
  const hosts: Cidr[] = [];
  if (network.kind() === 'ipv4') {
    const [a, b, c, d] = network.toByteArray() as [number, number, number, number];
    const low = c * 256 + d;
    for (let value = low; value < low + count; value++) hosts.push(`${a}.${b}.${value >> 8}.${value & 255}/32` as Cidr);
    return hosts;
  }
  const parts = [...(network as ipaddr.IPv6).parts];
  const low = parts[7]!;
  for (let value = low; value < low + count; value++) {
    parts[7] = value;
    hosts.push(`${new ipaddr.IPv6(parts).toRFC5952String()}/128` as Cidr);
  }
  return hosts;
}

function fillPlaceholders(line: string, cidr: Cidr): string {
  const values = { cidr, ip: cidr.slice(0, cidr.lastIndexOf('/')), prefix: String(prefixLengthOf(cidr)) };
  // One pass, so a value is never scanned for placeholders itself.
  return line.replace(/\{(cidr|ip|prefix)\}/g, (_, name: keyof typeof values) => values[name]);
}

function lineList(indexes: readonly number[]): string {
  const numbers = indexes.map((index) => String(index + 1));
  return numbers.length === 2 ? numbers.join(' and ') : `${numbers.slice(0, -1).join(', ')} and ${numbers.at(-1)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The addresses between the markers, read back through the file's own line template, each with its line as
 * written (without its line ending); outside the markers nothing is the tool's. A line there that the template does
 * not produce is an error, not skipped.
 */
export function readTemplateLines(file: TemplateFileSpec, content: string): { cidr: Cidr; text: string }[] {
  const lines = content.split(/(?<=\n)/);
  const [beginAt] = findMarkers(lines, file, 'BEGIN');
  const [endAt] = findMarkers(lines, file, 'END');
  if (beginAt === undefined || endAt === undefined || endAt < beginAt) return [];
  const named = new Set<string>();
  const placeholder = (name: string) => {
    if (named.has(name)) return `\\k<${name}>`;
    named.add(name);
    return `(?<${name}>${name === 'prefix' ? '\\d{1,3}' : `[0-9A-Fa-f:.]+${name === 'cidr' ? '/\\d{1,3}' : ''}`})`;
  };
  const pattern = new RegExp(
    `^[ \\t]*${escapeRegExp(file.line).replace(/\\\{(cidr|ip|prefix)\\\}/g, (_, name: string) => placeholder(name))}[ \\t]*$`,
  );
  return lines.slice(beginAt + 1, endAt).flatMap((raw, index) => {
    const line = raw.replace(/\r?\n$/, '');
    if (line.trim() === '') return [];
    const groups = pattern.exec(line)?.groups;
    const text =
      groups?.cidr ?? (groups?.ip !== undefined ? `${groups.ip}${groups.prefix !== undefined ? `/${groups.prefix}` : ''}` : undefined);
    const cidr = text === undefined ? undefined : tryParseCidr(text);
    if (cidr === undefined) {
      throw new AllowlistError(
        'rule-file-unreadable',
        `${file.path} line ${beginAt + 2 + index} between the allowlist-drift markers does not match the line template ${JSON.stringify(file.line)}; nothing was pushed, so no entry of it is lost. Fix or remove the line.`,
      );
    }
    return [{ cidr, text: line }];
  });
}
