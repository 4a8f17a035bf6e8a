import { z } from 'zod';
import { httpsUrl, mediaType } from '../../schema-kit.js';
import { defineSource, unchangedNote } from '../source.js';

/** Plain-text lists are served as text/plain (Cloudflare's ips-v4, most mirrors); other types are added per target. */
export const TEXT_TYPES = ['text/plain'];

/** The list an address was read from. */
export const textEvidence = z.object({
  kind: z.literal('text'),
  url: z.string(),
  /** Set when the server answered 304: the cached list was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type TextEvidence = Readonly<z.output<typeof textEvidence>>;

export const textList = defineSource({
  fields: {
    url: httpsUrl.meta({ description: 'A plain-text list: one address or CIDR per line, "#" or ";" comments.' }),
    contentType: z
      .array(mediaType)
      .min(1, 'list at least one media type, or leave contentType out for text/plain')
      .default(TEXT_TYPES)
      .meta({ description: `Media types the list is accepted under; default ${TEXT_TYPES.join(', ')}.` }),
  },
  evidence: [textEvidence],
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: {
    upstream: (target) => ({ check: 'upstream', key: target.url, what: 'the document' }),
    fix: ({ code, status }, target) => {
      if (code === 'http-content-type' || code === 'text-html')
        return `Set url to the raw list itself, not the web page that shows it; if the server labels the list with another media type, add that type to contentType (accepted now: ${target.contentType.join(', ')}).`;
      if (code === 'http-status' && (status === 404 || status === 410))
        return 'The list moved: set url to where the provider publishes it now.';
      return undefined;
    },
  },
  describe: (evidence, inert) =>
    `text list ${inert(evidence.url)}${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => ({
    source: link(evidence.url, 'text list'),
    place: 'the list',
    ...(evidence.unchangedSince ? { detail: inert(unchangedNote(evidence.unchangedSince)) } : {}),
  }),
});
