import { z } from 'zod';
import { httpsUrl, wildcardOr } from '../../schema-kit.js';
import { defineSource, markdownPageDoctor, unchangedNote } from '../source.js';

/**
 * Section keys of the CAS network-requirements page; the README documents how headings map to them.
 * `notice` holds addresses the page lists outside any known section (the notice under the title).
 */
export const CAS_SECTIONS = ['portal', 'siem', 'log-collector', 'app-connector', 'dlp', 'mail', 'proxy', 'notice'] as const;
export type CasSection = (typeof CAS_SECTIONS)[number];

/** "US" and "EU" are the 2018 names of US1 and EU1; "Gov US1" becomes GOV-US1. */
export function normaliseDataCenter(name: string): string {
  const code = name
    .trim()
    .toUpperCase()
    .replace(/[\s_]+/g, '-');
  if (code === 'US') return 'US1';
  if (code === 'EU') return 'EU1';
  return code;
}

/** Where the Defender for Cloud Apps page listed an address. */
export const casEvidence = z.object({
  kind: z.literal('cas'),
  section: z.enum(CAS_SECTIONS),
  /** Stable code (US1, EU2, GOV-US1, GCC) or, for the proxy tables, the region ("west-europe"); "global" for the mail server. */
  dataCenter: z.string(),
  /** The heading (and table row label) the address stood under, verbatim. */
  heading: z.string(),
  /** The page's ms.date, when it has one. */
  revision: z.string().optional(),
  /** The page as configured; evidence stored before this field existed has none. */
  url: z.string().optional(),
  /** Set when the server answered 304: the cached page was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type CasEvidence = Readonly<z.output<typeof casEvidence>>;

export const casDocs = defineSource({
  fields: {
    url: httpsUrl.meta({ description: 'Raw Markdown of the Defender for Cloud Apps "Network requirements" page.' }),
    dataCenters: wildcardOr(z.string().min(1).transform(normaliseDataCenter), 'data-center names such as ["US1", "EU1"]'),
    sections: wildcardOr(z.enum(CAS_SECTIONS), `sections (${CAS_SECTIONS.join(', ')})`),
  },
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: markdownPageDoctor({
    rawSource: 'https://raw.githubusercontent.com/MicrosoftDocs/...',
    name: 'the Defender for Cloud Apps network requirements page',
  }),
  evidence: [casEvidence],
  describe: (evidence, inert) =>
    `Defender for Cloud Apps page, section ${inert(evidence.section)}, data center ${inert(evidence.dataCenter)}, ` +
    `under “${inert(evidence.heading)}”, ${evidence.revision ? `page revision ${inert(evidence.revision)}` : 'page not dated'}` +
    `${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => ({
    source: `${evidence.url ? link(evidence.url, 'CAS page') : 'CAS page'}${evidence.revision ? ` revision ${inert(evidence.revision)}` : ', not dated'}`,
    place: `${inert(evidence.heading)}, ${inert(evidence.dataCenter)}`,
    ...(evidence.unchangedSince ? { detail: inert(unchangedNote(evidence.unchangedSince)) } : {}),
  }),
});
