import { z } from 'zod';
import { httpsUrl, wildcardOr } from '../../schema-kit.js';
import { defineSource, details, markdownPageDoctor, unchangedNote } from '../source.js';

/** The page source of "Allowlisting ODC public IP addresses" in the public OutSystems/docs-odc repository. */
export const ODC_PAGE_URL =
  'https://raw.githubusercontent.com/OutSystems/docs-odc/main/src/eap/manage-platform-app-lifecycle/odc-public-ips.md';

/**
 * What the page lists addresses for; the README documents how headings map to them. `other` holds addresses under a
 * section no rule maps (the page adds purposes as new sections).
 */
export const ODC_PURPOSES = ['runtime', 'identity', 'data-platform', 'platform-unification', 'other'] as const;
export type OdcPurpose = (typeof ODC_PURPOSES)[number];

/** The stage types of the runtime tables. */
export const ODC_STAGES = ['development', 'non-production', 'production'] as const;

/** A stage as a key: "Non-production", "Non production" and "non-production" are one. */
export function stageKey(label: string): string {
  return regionKey(label);
}

/** A region or stage as a key: "Europe (Frankfurt)" -> "europe-frankfurt", the page's own anchor for it. */
export function regionKey(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Where the ODC page listed an address. */
export const odcEvidence = z.object({
  kind: z.literal('odc'),
  purpose: z.enum(ODC_PURPOSES),
  /** The region key ("europe-frankfurt"); for data-platform the customer region the row serves. */
  region: z.string(),
  /** Runtime only: the stage type key ("production"). */
  stage: z.string().optional(),
  /** The heading path (and row) the address stood under, verbatim. */
  heading: z.string(),
  /** The page's content hash ("sha256:…" of the bytes served), which a reviewer can recompute. */
  revision: z.string(),
  /** The page's address; absent in tests that build evidence by hand. */
  url: z.string().optional(),
  /** The server's validators, when it sent them. */
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  /** Set when the server answered 304: the cached page was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type OdcEvidence = Readonly<z.output<typeof odcEvidence>>;

export const odc = defineSource({
  fields: {
    url: httpsUrl
      .default(ODC_PAGE_URL)
      .meta({ description: 'Raw Markdown of the "Allowlisting ODC public IP addresses" page (default: the docs-odc repository).' }),
    regions: wildcardOr(z.string().trim().min(1), 'region names as the page writes them, such as ["Europe (Frankfurt)"]'),
    stages: wildcardOr(
      z
        .string()
        .transform(stageKey)
        .pipe(z.enum(ODC_STAGES, { error: `must be one of ${ODC_STAGES.join(', ')}` })),
      `stage types (${ODC_STAGES.join(', ')})`,
    ),
    purposes: wildcardOr(z.enum(ODC_PURPOSES), `purposes (${ODC_PURPOSES.join(', ')})`),
  },
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: markdownPageDoctor({
    rawSource: 'https://raw.githubusercontent.com/OutSystems/docs-odc/...',
    name: 'the ODC "Allowlisting ODC public IP addresses" page',
  }),
  evidence: [odcEvidence],
  describe: (evidence, inert) => {
    const where =
      evidence.purpose === 'runtime'
        ? `runtime egress of ODC region ${inert(evidence.region)}, stage ${inert(evidence.stage ?? 'unknown')}`
        : `${inert(evidence.purpose)} egress for ODC region ${inert(evidence.region)}`;
    const shared = sharedNote(evidence);
    const served = [
      evidence.etag && `ETag ${inert(evidence.etag)}`,
      evidence.lastModified && `Last-Modified ${inert(evidence.lastModified)}`,
      evidence.unchangedSince && inert(unchangedNote(evidence.unchangedSince)),
    ]
      .filter(Boolean)
      .join(', ');
    return `ODC public IP page, ${where}, under “${inert(evidence.heading)}” (${shared}); page ${inert(evidence.revision)}${served ? ` (${served})` : ''}`;
  },
  cite: (evidence, inert, link) => ({
    source: `${evidence.url ? link(evidence.url, 'ODC public IP page') : 'ODC public IP page'} revision ${inert(evidence.revision)}`,
    place: [inert(evidence.purpose), inert(evidence.region), ...(evidence.stage ? [inert(evidence.stage)] : [])].join(', '),
    detail: details(sharedNote(evidence), evidence.unchangedSince ? inert(unchangedNote(evidence.unchangedSince)) : undefined)!,
  }),
});

/** The page says so: these addresses are not the customer's own, and custom code does not leave through them. */
function sharedNote(evidence: OdcEvidence): string {
  return evidence.purpose === 'runtime'
    ? 'shared by every ODC customer in that region and stage; custom code does not use them (ODC Private Gateway does)'
    : 'shared by every ODC customer in that region';
}
