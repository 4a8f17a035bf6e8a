import { z } from 'zod';
import { familyOf, parseCidr, sortCidrs, type Cidr, type IpFamily } from '../../ipset.js';
import { fetchDocument, probeUrl, type FetchOptions, type ProbedUrl } from '../../net/http.js';
import { AllowlistError, type Problem } from '../../problem.js';
import type { TargetOf } from '../registry.js';
import { observing, type ObservedEntry, type Reading, type Source, type SourceContext, type UnknownScope } from '../source.js';
import type { AwsIpRangeEvidence } from './schema.js';
import { editDistance } from '../closest.js';

type AwsIpRangesTarget = TargetOf<'aws-ip-ranges'>;

/** AWS serves the file as JSON; mirrors and object stores often answer with plain text or octet-stream. */
const CONTENT_TYPES = ['application/json', 'application/octet-stream', 'text/plain'] as const;
/** How many malformed entries a warning names before it only counts the rest. */
const NAMED_ENTRIES = 5;
/** How many of the document's names a warning offers for a selected name it lacks. */
const CLOSEST_NAMES = 3;

/** The parts of the file this source reads; each list entry is checked while selecting (see selectAwsRanges). */
const documentShape = z.looseObject({
  // AWS writes the token as a string of digits; a number is the same token.
  syncToken: z.union([z.string().regex(/^\d{1,15}$/, 'must be a string of digits'), z.int().nonnegative().transform(String)]),
  createDate: z.string().regex(/^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/, 'must be a date such as 2026-08-22-15-17-05'),
  prefixes: z.array(z.unknown()),
  ipv6_prefixes: z.array(z.unknown()),
});

/** A parsed ip-ranges.json: its version and its two lists, whose entries are still untrusted. */
export interface AwsDocument {
  readonly syncToken: string;
  readonly createDate: string;
  readonly prefixes: readonly unknown[];
  readonly ipv6Prefixes: readonly unknown[];
}

/**
 * Parses the document's frame. A document that is not JSON (a truncated download), lacks a list, or lists nothing in
 * one of them is an error: AWS has listed both families for years, so an empty list is a broken file, never "no addresses".
 */
export function parseAwsDocument(text: string): AwsDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AllowlistError('aws-ip-ranges-not-json', `The AWS ip-ranges document is not JSON (${shorten((error as Error).message)}).`);
  }
  const parsed = documentShape.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
    throw new AllowlistError('aws-ip-ranges-shape', `The AWS ip-ranges document does not have the expected shape: ${issues.join('; ')}.`);
  }
  const { syncToken, createDate, prefixes, ipv6_prefixes: ipv6Prefixes } = parsed.data;
  const empty = [prefixes.length === 0 && '"prefixes" (IPv4)', ipv6Prefixes.length === 0 && '"ipv6_prefixes" (IPv6)'].filter(Boolean);
  if (empty.length > 0) {
    throw new AllowlistError(
      'aws-ip-ranges-empty',
      `The AWS ip-ranges document (syncToken ${syncToken}) lists nothing in ${empty.join(' and ')}: a broken or truncated file, not an empty list; it is not used.`,
    );
  }
  return { syncToken, createDate, prefixes, ipv6Prefixes };
}

/** What a target selects, as in its config. */
export interface AwsSelection {
  readonly services: '*' | readonly string[];
  readonly regions: '*' | readonly string[];
  readonly networkBorderGroups?: '*' | readonly string[] | undefined;
}

type Selected = Pick<Reading, 'status' | 'entries' | 'warnings' | 'errors' | 'unknownScopes'>;

/** The two lists and the key of each one's address. */
const LISTS = [
  { list: 'prefixes', key: 'ip_prefix', family: 4 },
  { list: 'ipv6_prefixes', key: 'ipv6_prefix', family: 6 },
] as const satisfies readonly { list: string; key: string; family: IpFamily }[];

/**
 * Keeps the entries of the selected services, regions and network border groups. Every entry is accounted for: it is
 * observed, or it is outside the selection, or it is malformed and named in a warning; a malformed entry that could
 * be in the selection makes what it could belong to (its service and region, as far as it names them) unknown, so
 * their approved addresses are kept rather than missed. A selected name the document does not have is unknown the same
 * way, with the closest names it has; a selection that matches nothing is an error, never an empty list.
 */
export function selectAwsRanges(document: AwsDocument, selection: AwsSelection, url: string, unchangedSince?: string): Selected {
  const wanted = {
    service: selection.services === '*' ? undefined : new Set(selection.services),
    region: selection.regions === '*' ? undefined : new Set(selection.regions),
    group:
      selection.networkBorderGroups === undefined || selection.networkBorderGroups === '*'
        ? undefined
        : new Set(selection.networkBorderGroups),
  };
  const seen = { service: new Set<string>(), region: new Set<string>(), group: new Set<string>() };
  const { syncToken, createDate } = document;
  const origin = unchangedSince === undefined ? { url } : { url, unchangedSince };
  // One citation per service, region and border group, shared by every prefix listed there (evidence is never
  // mutated): a few hundred objects instead of one per entry, and a repeated listing is found by identity.
  const citations = new Map<string, Map<string, Map<string | undefined, AwsIpRangeEvidence>>>();
  const citation = (service: string, region: string, group: string | undefined): AwsIpRangeEvidence => {
    const ofService = citations.get(service) ?? citations.set(service, new Map()).get(service)!;
    const ofRegion = ofService.get(region) ?? ofService.set(region, new Map()).get(region)!;
    let cited = ofRegion.get(group);
    if (cited === undefined) {
      cited =
        group === undefined
          ? { kind: 'aws-ip-range', service, region, syncToken, createDate, ...origin }
          : { kind: 'aws-ip-range', service, region, networkBorderGroup: group, syncToken, createDate, ...origin };
      ofRegion.set(group, cited);
    }
    return cited;
  };
  const evidence = new Map<Cidr, AwsIpRangeEvidence[]>();
  const malformed: string[] = [];
  const unknown = new Map<string, UnknownScope>();
  const blind = (scope: Omit<UnknownScope, 'kind'>) => {
    const pattern: UnknownScope = { kind: 'aws-ip-range', ...scope };
    unknown.set(JSON.stringify(pattern), pattern);
  };

  for (const { list, key, family } of LISTS) {
    const items = list === 'prefixes' ? document.prefixes : document.ipv6Prefixes;
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      const fields = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : NOT_AN_OBJECT;
      const service = nameField(fields.service);
      const region = nameField(fields.region);
      const group = fields.network_border_group === undefined ? undefined : nameField(fields.network_border_group);
      // The names present are needed only to tell which listed names the document lacks.
      if (service !== undefined && wanted.service) seen.service.add(service);
      if (region !== undefined && wanted.region) seen.region.add(region);
      if (group !== undefined && wanted.group) seen.group.add(group);
      // An entry a known field puts outside the selection is not this target's business, well formed or not.
      if (service !== undefined && wanted.service && !wanted.service.has(service)) continue;
      if (region !== undefined && wanted.region && !wanted.region.has(region)) continue;
      if (group !== undefined && wanted.group && !wanted.group.has(group)) continue;

      const usable = usableCidr({ fields, key, family, service, region, group, filtered: wanted.group !== undefined });
      if ('why' in usable) {
        malformed.push(`${list}[${index}]${describeEntry(service, region)}: ${usable.why}`);
        blind({ ...(service === undefined ? {} : { service }), ...(region === undefined ? {} : { region }) });
        continue;
      }
      const cited = citation(service!, region!, group);
      const known = evidence.get(usable.cidr);
      // AWS lists a block once per service; the same service and place twice is one citation.
      if (known === undefined) evidence.set(usable.cidr, [cited]);
      else if (!known.includes(cited)) known.push(cited);
    }
  }

  const at = `AWS ip-ranges.json (syncToken ${document.syncToken})`;
  const warnings: Problem[] = [];
  if (malformed.length > 0) {
    const more = malformed.length > NAMED_ENTRIES ? ` and ${malformed.length - NAMED_ENTRIES} more` : '';
    warnings.push({
      code: 'aws-ip-ranges-bad-entry',
      message:
        `${at} has ${malformed.length} malformed ${malformed.length === 1 ? 'entry' : 'entries'} that may be in the selection: ` +
        `${malformed.slice(0, NAMED_ENTRIES).join('; ')}${more}; approved addresses of the services and regions they name are kept, neither missed nor removed`,
    });
  }
  const missingNames = (
    what: { field: 'service' | 'region' | 'networkBorderGroup'; label: string; code: string },
    names: '*' | readonly string[] | undefined,
    present: ReadonlySet<string>,
  ) => {
    if (names === undefined || names === '*') return;
    for (const name of names) {
      if (present.has(name)) continue;
      const closest = closestNames(name, present);
      warnings.push({
        code: what.code,
        message:
          `${at} lists no ${what.label} "${name}"` +
          (closest.length > 0
            ? `; the closest names it has are ${closest.map((n) => `"${n}"`).join(', ')} (names are matched exactly)`
            : '') +
          `; the approved addresses of "${name}" are kept, neither missed nor removed`,
      });
      blind({ [what.field]: name });
    }
  };
  missingNames({ field: 'service', label: 'service', code: 'aws-ip-ranges-service-missing' }, selection.services, seen.service);
  missingNames({ field: 'region', label: 'region', code: 'aws-ip-ranges-region-missing' }, selection.regions, seen.region);
  missingNames(
    { field: 'networkBorderGroup', label: 'network border group', code: 'aws-ip-ranges-border-group-missing' },
    selection.networkBorderGroups,
    seen.group,
  );

  if (evidence.size === 0) {
    return {
      status: 'error',
      entries: [],
      warnings,
      errors: [
        {
          code: 'aws-ip-ranges-selection-empty',
          message: `${at} lists no address for the selected ${describeSelection(selection)}: the selection matches nothing, which is never read as "no addresses"; nothing is applied or removed.`,
        },
      ],
    };
  }
  const entries: ObservedEntry[] = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  if (unknown.size === 0) return { status: 'ok', entries, warnings, errors: [] };
  return { status: 'partial', entries, warnings, errors: [], unknownScopes: [...unknown.values()] };
}

/** The canonical CIDR of a usable entry, or why it is not usable. */
function usableCidr(entry: {
  readonly fields: Readonly<Record<string, unknown>>;
  readonly key: string;
  readonly family: IpFamily;
  readonly service: string | undefined;
  readonly region: string | undefined;
  readonly group: string | undefined;
  readonly filtered: boolean;
}): Parsed {
  const { fields, key, family } = entry;
  if (fields === NOT_AN_OBJECT) return { why: 'not an object with a prefix, service and region' };
  const text = fields[key];
  if (typeof text !== 'string') {
    const misplaced = family === 6 && typeof fields.ip_prefix === 'string' ? ' (an IPv4 entry in the IPv6 list)' : '';
    return { why: `no "${key}"${misplaced}` };
  }
  if (entry.service === undefined) return { why: 'no "service"' };
  if (entry.region === undefined) return { why: 'no "region"' };
  if (fields.network_border_group !== undefined && entry.group === undefined) return { why: '"network_border_group" is not a name' };
  if (entry.filtered && entry.group === undefined) return { why: 'no "network_border_group", while network border groups are selected' };
  let cidr: Cidr;
  try {
    cidr = parseCidr(text);
  } catch (error) {
    return { why: (error as Error).message };
  }
  if (familyOf(cidr) !== family)
    return { why: `${JSON.stringify(shorten(text))} is an IPv${familyOf(cidr)} prefix in the IPv${family} list` };
  return { cidr };
}

/** Stands for a list item that is not an object: it has none of the fields. */
const NOT_AN_OBJECT: Readonly<Record<string, unknown>> = Object.freeze({});

type Parsed = { readonly cidr: Cidr } | { readonly why: string };

function nameField(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function describeEntry(service: string | undefined, region: string | undefined): string {
  const parts = [service, region].filter((part) => part !== undefined).map((part) => JSON.stringify(shorten(part)));
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function describeSelection(selection: AwsSelection): string {
  const list = (names: '*' | readonly string[]) => (names === '*' ? 'any' : names.map((name) => `"${name}"`).join(', '));
  const groups = selection.networkBorderGroups;
  return (
    `services ${list(selection.services)} in regions ${list(selection.regions)}` +
    (groups === undefined || groups === '*' ? '' : ` and network border groups ${list(groups)}`)
  );
}

/**
 * The names of the document nearest to a missing one: AWS renames rarely, but a typo ("eu-west1", "ec2") is the
 * usual cause, and seeing the right spelling fixes it.
 */
export function closestNames(name: string, present: Iterable<string>): string[] {
  const wanted = name.toLowerCase();
  return [...present]
    .map((candidate) => ({ candidate, distance: editDistance(wanted, candidate.toLowerCase()) }))
    .filter(({ candidate, distance }) => distance <= Math.max(2, Math.floor(Math.max(wanted.length, candidate.length) / 2)))
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, CLOSEST_NAMES)
    .map(({ candidate }) => candidate);
}

/**
 * Reads one document for a target: a document older than the last one read (a lower syncToken: a stale cache or
 * mirror, or a change notice that arrived out of order) is refused whole, so nothing is applied and nothing removed.
 * A cached copy the server confirmed unchanged (`unchangedSince`) is read the same way: its syncToken equals the last one.
 */
export function readAwsIpRanges(
  text: string,
  target: Pick<AwsIpRangesTarget, 'url' | 'services' | 'regions' | 'networkBorderGroups'>,
  previousFacts?: Readonly<Record<string, string | number>>,
  unchangedSince?: string,
): Reading {
  const document = parseAwsDocument(text);
  const token = Number(document.syncToken);
  const previous = Number(previousFacts?.syncToken);
  if (Number.isFinite(previous) && previous > token) {
    throw new AllowlistError(
      'aws-ip-ranges-stale',
      `The AWS ip-ranges document has syncToken ${document.syncToken} (created ${document.createDate}), older than syncToken ${previous} read before ` +
        '(a stale cache or mirror, or a change notice that arrived out of order); it is not used: nothing is added or removed.',
    );
  }
  const selected = selectAwsRanges(document, target, target.url, unchangedSince);
  return { ...selected, ...(selected.status === 'error' ? {} : { facts: { syncToken: token } }) };
}

export const observeAwsIpRanges: Source<AwsIpRangesTarget> = observing(async (target, context) => {
  // On a 304 the cached copy is parsed and selected again: the selection or this release may have changed since.
  const { text, unchangedSince } = await fetchDocument(target.url, fetchOptions(context), context);
  return readAwsIpRanges(text, target, context.previousFacts, unchangedSince);
});

/** allowlist-drift doctor: whether the document answers with a JSON media type, without downloading it. */
export function probeAwsIpRanges(target: AwsIpRangesTarget, context: SourceContext): Promise<ProbedUrl> {
  return probeUrl(target.url, fetchOptions(context));
}

function fetchOptions(context: Pick<SourceContext, 'config' | 'signal'>): FetchOptions {
  return {
    timeoutMs: context.config.http.timeoutMs,
    maxBytes: context.config.http.maxBytes,
    contentTypes: CONTENT_TYPES,
    ...(context.signal ? { signal: context.signal } : {}),
  };
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
