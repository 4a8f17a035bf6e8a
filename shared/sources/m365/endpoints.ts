import { z } from 'zod';
import { sortCidrs, tryParseCidr, type Cidr } from '../../ipset.js';
import { AllowlistError, type Problem } from '../../problem.js';
import type { Reading, UnknownScope } from '../source.js';
import type { M365Target } from '../registry.js';
import { closestName } from '../closest.js';
import type { M365Evidence } from './schema.js';

/** A list's non-addresses are each named in its warning, up to this many (a list of thousands is a new format, blinded whole). */
const NAMED = 50;

/**
 * The Microsoft 365 web service's answers, as its documentation describes them
 * (https://learn.microsoft.com/en-us/microsoft-365/enterprise/microsoft-365-ip-web-service): the version method
 * answers `{ instance, latest }` for one instance, the endpoints method an array of endpoint sets.
 */

/** One endpoint set; URL-only sets have no `ips`. Addresses stay untrusted text until selected and parsed. */
export interface EndpointSet {
  readonly id: number;
  readonly serviceArea: string;
  readonly category: string;
  readonly required: boolean;
  readonly ips?: readonly unknown[];
  readonly tcpPorts?: string;
  readonly udpPorts?: string;
}

const versionShape = z.looseObject({ instance: z.string(), latest: z.string().regex(/^\d{10}$/, 'must be a 10-digit version') });

const setShape = z.looseObject({
  id: z.int().nonnegative(),
  serviceArea: z.string().min(1),
  category: z.string().min(1),
  required: z.boolean(),
  ips: z.array(z.unknown()).optional(),
  tcpPorts: z.string().optional(),
  udpPorts: z.string().optional(),
});

/** The `latest` version of the configured instance; another instance's answer is an error, not a version. */
export function parseVersion(text: string, instance: string): string {
  const parsed = versionShape.safeParse(parseJson(text, 'version'));
  if (!parsed.success) throw shapeError('version', parsed.error);
  if (parsed.data.instance.toLowerCase() !== instance.toLowerCase()) {
    throw new AllowlistError(
      'm365-shape',
      `The Microsoft 365 version method answered for instance "${shorten(parsed.data.instance)}", not "${instance}".`,
    );
  }
  return parsed.data.latest;
}

/** Every endpoint set of the document; a set of the wrong shape makes the whole document unusable (its scope is unknown). */
export function parseEndpoints(text: string): EndpointSet[] {
  const parsed = z.array(z.unknown()).min(1, 'lists no endpoint sets').safeParse(parseJson(text, 'endpoints'));
  if (!parsed.success) throw shapeError('endpoints', parsed.error);
  return parsed.data.map((value, index) => {
    const set = setShape.safeParse(value);
    if (!set.success) throw shapeError('endpoints', set.error, [index]);
    return set.data;
  });
}

/** Where the entries came from, for their evidence. */
export interface EndpointsRevision {
  readonly instance: string;
  readonly version: string;
  /** The endpoints URL without ClientRequestId. */
  readonly url: string;
}

/**
 * Keeps the addresses of the selected sets. Every string a selected set lists is observed or named in a warning: a
 * bad one blinds its set (partial: its readable addresses observed, its approved ones kept). A selected service area or category the
 * document no longer has is a warning naming the closest current one, and blinds that part.
 */
export function selectM365(
  sets: readonly EndpointSet[],
  target: Pick<M365Target, 'serviceAreas' | 'categories' | 'requiredOnly'>,
  revision: EndpointsRevision,
): Reading {
  const note = `(${revision.instance} version ${revision.version})`;
  const warnings: Problem[] = [];
  const unknownScopes: UnknownScope[] = [];
  const missingPart = (field: 'serviceArea' | 'category', wanted: readonly string[]) => {
    const present = new Set(sets.map((set) => set[field]));
    for (const name of wanted.filter((name) => !present.has(name))) {
      const closest = closestName(name, present);
      warnings.push({
        code: field === 'serviceArea' ? 'm365-service-area-missing' : 'm365-category-missing',
        message:
          `The Microsoft 365 endpoints ${note} have no endpoint set with ${field} "${name}"` +
          `${closest ? `; the closest is "${closest}"` : ''}; its approved addresses are kept, neither missed nor removed.`,
      });
      unknownScopes.push({ kind: 'm365', [field]: name });
    }
  };
  if (target.serviceAreas !== '*') missingPart('serviceArea', target.serviceAreas);
  if (target.categories !== '*') missingPart('category', target.categories);

  const selected = (set: EndpointSet) =>
    (target.serviceAreas === '*' || (target.serviceAreas as readonly string[]).includes(set.serviceArea)) &&
    (target.categories === '*' || (target.categories as readonly string[]).includes(set.category)) &&
    (!target.requiredOnly || set.required);
  const evidence = new Map<Cidr, M365Evidence[]>();
  for (const set of sets.filter(selected)) {
    const bad: string[] = [];
    const cidrs: Cidr[] = [];
    for (const ip of set.ips ?? []) {
      const cidr = typeof ip === 'string' ? tryParseCidr(ip) : undefined;
      if (cidr === undefined) bad.push(shorten(JSON.stringify(ip) ?? String(ip)));
      else cidrs.push(cidr);
    }
    if (bad.length > 0) {
      warnings.push({
        code: 'm365-bad-address',
        message:
          `Microsoft 365 endpoint set ${set.id} ${note} lists ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that ` +
          `${bad.length === 1 ? 'is' : 'are'} not an address or CIDR: ${bad.slice(0, NAMED).join(', ')}${bad.length > NAMED ? ` and ${bad.length - NAMED} more` : ''}; ` +
          "the set's other addresses are observed, and its approved ones are kept, neither missed nor removed.",
      });
      unknownScopes.push({ kind: 'm365', endpointSetId: String(set.id) });
    }
    const item: M365Evidence = {
      kind: 'm365',
      instance: revision.instance,
      version: revision.version,
      endpointSetId: String(set.id),
      serviceArea: set.serviceArea,
      category: set.category,
      required: set.required,
      ...(set.tcpPorts ? { tcpPorts: set.tcpPorts } : {}),
      ...(set.udpPorts ? { udpPorts: set.udpPorts } : {}),
      url: revision.url,
    };
    for (const cidr of cidrs) evidence.set(cidr, [...(evidence.get(cidr) ?? []), item]);
  }
  if (evidence.size === 0) {
    const errors = [
      {
        code: 'm365-selection-empty',
        message: `The Microsoft 365 endpoints ${note} list no usable addresses for ${describeSelection(target)}; nothing is changed.`,
      },
    ];
    return { status: 'error', entries: [], warnings, errors };
  }
  const entries = sortCidrs(evidence.keys()).map((cidr) => ({ cidr, evidence: evidence.get(cidr) ?? [] }));
  if (unknownScopes.length === 0) return { status: 'ok', entries, warnings, errors: [] };
  return { status: 'partial', entries, warnings, errors: [], unknownScopes };
}

function describeSelection(target: Pick<M365Target, 'serviceAreas' | 'categories' | 'requiredOnly'>): string {
  const list = (value: '*' | readonly string[]) => (value === '*' ? 'all' : value.join(', '));
  return `service areas ${list(target.serviceAreas)}, categories ${list(target.categories)}${target.requiredOnly ? ', required only' : ''}`;
}

function parseJson(text: string, method: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AllowlistError('m365-not-json', `The Microsoft 365 ${method} answer is not JSON (${shorten((error as Error).message)}).`);
  }
}

function shapeError(method: string, error: z.ZodError, at: readonly (string | number)[] = []): AllowlistError {
  const issues = error.issues.slice(0, 3).map((issue) => `${[...at, ...issue.path].map(String).join('.') || '(root)'}: ${issue.message}`);
  return new AllowlistError('m365-shape', `The Microsoft 365 ${method} answer does not have the documented shape: ${issues.join('; ')}.`);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
