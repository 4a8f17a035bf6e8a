import { z } from 'zod';
import { httpsUrl, wildcardOr } from '../../schema-kit.js';
import { defineSource } from '../source.js';

/** The Microsoft 365 IP address and URL web service. */
export const DEFAULT_M365_URL = 'https://endpoints.office.com';
/** The service's instances, spelt as its URLs spell them. */
export const M365_INSTANCES = ['Worldwide', 'USGovDoD', 'USGovGCCHigh', 'China'] as const;
export const M365_SERVICE_AREAS = ['Exchange', 'SharePoint', 'Skype', 'Common'] as const;
export const M365_CATEGORIES = ['Optimize', 'Allow', 'Default'] as const;

/** The endpoint set an address was listed in, and the version of the service's data it was read from. */
export const m365Evidence = z.object({
  kind: z.literal('m365'),
  instance: z.string(),
  /** The service's version ("2024103100"): the date and a sequence number of the data. */
  version: z.string(),
  /** The endpoint set's id as text, so a partial check can name the set it could not read (UnknownScope values are text). */
  endpointSetId: z.string(),
  serviceArea: z.string(),
  category: z.string(),
  required: z.boolean(),
  tcpPorts: z.string().optional(),
  udpPorts: z.string().optional(),
  /** The endpoints URL without the ClientRequestId parameter. */
  url: z.string().optional(),
});
export type M365Evidence = Readonly<z.output<typeof m365Evidence>>;

export const m365 = defineSource({
  fields: {
    url: httpsUrl.default(DEFAULT_M365_URL).meta({
      description: 'The web service (default https://endpoints.office.com); its version and endpoints methods are asked below it.',
    }),
    instance: z
      .enum(M365_INSTANCES, { error: `must be one of ${M365_INSTANCES.join(', ')}` })
      .default('Worldwide')
      .meta({ description: 'The cloud instance: Worldwide (default), USGovDoD, USGovGCCHigh or China.' }),
    serviceAreas: wildcardOr(
      z.enum(M365_SERVICE_AREAS, { error: `must be one of ${M365_SERVICE_AREAS.join(', ')}` }),
      `service areas (${M365_SERVICE_AREAS.join(', ')})`,
    ),
    categories: wildcardOr(
      z.enum(M365_CATEGORIES, { error: `must be one of ${M365_CATEGORIES.join(', ')}` }),
      `categories (${M365_CATEGORIES.join(', ')})`,
    )
      .default('*')
      .meta({ description: 'Endpoint categories (Optimize, Allow, Default) or "*" (default).' }),
    requiredOnly: z
      .boolean()
      .default(false)
      .meta({ description: 'Only endpoint sets Microsoft marks required (default false: optional ones too).' }),
  },
  evidence: [m365Evidence],
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: {
    upstream: (target) => ({
      check: 'upstream',
      key: `${target.url.replace(/\/+$/, '')}/version/${target.instance}`,
      what: 'the version method',
    }),
    fix: ({ status }) =>
      status === 400 || status === 404
        ? 'Check "url" (https://endpoints.office.com) and "instance" (Worldwide, USGovDoD, USGovGCCHigh or China).'
        : undefined,
  },
  describe: (evidence, inert) =>
    `Microsoft 365 endpoint set ${inert(evidence.endpointSetId)} (${inert(evidence.serviceArea)}, ${inert(evidence.category)}, ` +
    `${evidence.required ? 'required' : 'optional'}${ports(evidence, inert)}), ${inert(evidence.instance)} version ${inert(evidence.version)}`,
  cite: (evidence, inert, link) => ({
    source: `${evidence.url ? link(evidence.url, 'Microsoft 365 endpoints') : 'Microsoft 365 endpoints'} ${inert(evidence.instance)} version ${inert(evidence.version)}`,
    place: `endpoint set ${inert(evidence.endpointSetId)}, ${inert(evidence.serviceArea)}, ${inert(evidence.category)}`,
    detail: `${evidence.required ? 'required' : 'optional'}${ports(evidence, inert)}`,
  }),
});

function ports(evidence: M365Evidence, inert: (text: string) => string): string {
  return [evidence.tcpPorts && `, TCP ${inert(evidence.tcpPorts)}`, evidence.udpPorts && `, UDP ${inert(evidence.udpPorts)}`]
    .filter(Boolean)
    .join('');
}
