import { z } from 'zod';
import { httpsUrl, strictObject, tokenUrl } from '../../schema-kit.js';
import { defineSource, details, unchangedNote } from '../source.js';

export const DEFAULT_ARM_URL = 'https://management.azure.com';

/** The service tag (and the file's version) an address was listed under. */
export const serviceTagEvidence = z.object({
  kind: z.literal('service-tag'),
  tag: z.string(),
  tagChangeNumber: z.number(),
  fileChangeNumber: z.number(),
  /** Where the document came from: the file's URL, or the ARM location asked. Evidence stored before these existed has neither. */
  url: z.string().optional(),
  armLocation: z.string().optional(),
  /** Set when the server answered 304: the cached file was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type ServiceTagEvidence = Readonly<z.output<typeof serviceTagEvidence>>;

export const serviceTags = defineSource({
  fields: {
    url: httpsUrl.optional().meta({ description: 'A ServiceTags_Public JSON file; set this or "arm".' }),
    arm: strictObject({
      subscriptionId: z.uuid('must be a subscription id (a GUID)'),
      location: z.string().regex(/^[a-z0-9]+$/, 'must be an Azure location name such as westeurope'),
      baseUrl: tokenUrl.default(DEFAULT_ARM_URL),
      apiVersion: z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be an API version such as 2024-05-01')
        .default('2024-05-01'),
    })
      .optional()
      .meta({ description: 'The Azure Service Tags API; set this or "url".' }),
    tags: z
      .array(z.string().min(1).max(200))
      .min(1, 'list at least one service tag')
      .meta({ description: 'Service tag names, e.g. "MicrosoftCloudAppSecurity".' }),
  },
  meta: { oneOf: [{ required: ['url'] }, { required: ['arm'] }] },
  problems: (target, at) =>
    (target.url === undefined) === (target.arm === undefined)
      ? [`${at}: set exactly one of "url" (a ServiceTags JSON file) or "arm" (the Service Tags API)`]
      : [],
  evidence: [serviceTagEvidence],
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: {
    upstream: (target) =>
      target.arm
        ? { check: 'arm', key: `arm ${JSON.stringify(target.arm)}`, what: 'the Service Tags API' }
        : { check: 'upstream', key: `${target.url}`, what: 'the document' },
    unused: [{ check: 'arm', detail: 'not checked: no service-tags target uses "arm"' }],
    fix: ({ code, status }, target) => {
      if (code === 'http-content-type') return 'Set url to the ServiceTags JSON file itself, not the page that links to it.';
      if (code !== 'http-status') return undefined;
      if (target.arm) return 'Check arm.subscriptionId, arm.location and arm.apiVersion.';
      if (status === 404 || status === 410)
        return 'Microsoft removes old weekly ServiceTags files: set url to the current one, or use "arm", which is always current.';
      return undefined;
    },
  },
  describe: (evidence, inert) =>
    `service tag ${inert(evidence.tag)} (changeNumber ${inert(String(evidence.tagChangeNumber))}), ` +
    `file changeNumber ${inert(String(evidence.fileChangeNumber))}` +
    `${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => {
    const document = evidence.url
      ? link(evidence.url, 'service tags file')
      : evidence.armLocation
        ? `Service Tags API (ARM, ${inert(evidence.armLocation)})`
        : 'service tags';
    return {
      source: `${document} changeNumber ${inert(String(evidence.fileChangeNumber))}`,
      place: `tag ${inert(evidence.tag)}`,
      detail: details(
        `tag changeNumber ${inert(String(evidence.tagChangeNumber))}`,
        evidence.unchangedSince ? inert(unchangedNote(evidence.unchangedSince)) : undefined,
      )!,
    };
  },
});
