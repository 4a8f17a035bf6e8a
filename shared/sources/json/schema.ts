import { z } from 'zod';
import { httpsUrl, mediaType } from '../../schema-kit.js';
import { defineSource, unchangedNote } from '../source.js';

/**
 * The JSON media types a JSON list is accepted under by default: application/json, its old spellings, and the
 * "+json" types of generic API envelopes (JSON:API, HAL). application/problem+json is not among them: it is an error
 * report served instead of the document, so it must fail the check, not be read as a list.
 */
export const JSON_TYPES = ['application/json', 'text/json', 'application/x-json', 'application/vnd.api+json', 'application/hal+json'];

/**
 * The longest select expression accepted: the recipes are under 100 characters; a page of JMESPath is a mistake
 * (or a pasted document). The expression's grammar is checked when it is compiled, by the observation and the doctor.
 */
const MAX_SELECT_LENGTH = 1_000;

/** A JMESPath expression as a config key holds it; `empty` says what to write instead of nothing. */
const expression = (empty: string) =>
  z.string().trim().min(1, empty).max(MAX_SELECT_LENGTH, `must be at most ${MAX_SELECT_LENGTH} characters`);

/** The document (and the version it names, when the target says where) and the expression an address was selected with. */
export const jsonEvidence = z.object({
  kind: z.literal('json'),
  url: z.string(),
  select: z.string(),
  version: z.string().optional(),
  /** Set when the server answered 304: the cached document was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type JsonEvidence = Readonly<z.output<typeof jsonEvidence>>;

export const jsonList = defineSource({
  fields: {
    url: httpsUrl.meta({ description: 'The JSON document that lists the addresses.' }),
    select: expression('write a JMESPath expression that yields the addresses, e.g. "prefixes[].ipv4Prefix"').meta({
      description:
        'A JMESPath expression (the AWS CLI --query language) yielding the addresses: a string, or lists of strings (nested lists are flattened).',
    }),
    version: expression('write a JMESPath expression that yields the document\'s version, e.g. "creationTime", or leave version out')
      .optional()
      .meta({
        description: 'A JMESPath expression yielding the document\'s version (a string or number), cited in the PR, e.g. "creationTime".',
      }),
    contentType: z
      .array(mediaType)
      .min(1, 'list at least one media type, or leave contentType out for the JSON types')
      .default(JSON_TYPES)
      .meta({ description: `Media types the document is accepted under; default ${JSON_TYPES.join(', ')}.` }),
  },
  evidence: [jsonEvidence],
  configured: [],
  schedule: 'CAS_SCHEDULE',
  doctor: {
    // The probe compiles the expression too, so targets share a check only when they read the same way.
    upstream: (target) => ({
      check: 'upstream',
      key: `${target.url} select ${target.select} version ${target.version ?? ''}`,
      what: 'the document',
    }),
    fix: ({ code, status }, target) => {
      if (code === 'http-content-type')
        return `Set url to the JSON document itself, not a page about it; if the server labels the JSON with another media type, add that type to contentType (accepted now: ${target.contentType.join(', ')}).`;
      if (code === 'json-select-invalid')
        return 'Correct the expression the message names ("select" or "version"): it must be JMESPath (https://jmespath.org/specification.html).';
      if (code === 'http-status' && (status === 404 || status === 410))
        return 'The document moved: set url to where the provider publishes it now.';
      return undefined;
    },
  },
  describe: (evidence, inert) =>
    `JSON document ${inert(evidence.url)}${versionOf(evidence, inert)}, selected by ${inert(evidence.select)}` +
    `${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => ({
    source: `${link(evidence.url, 'JSON document')}${versionOf(evidence, inert)}`,
    place: `select ${inert(evidence.select)}`,
    ...(evidence.unchangedSince ? { detail: inert(unchangedNote(evidence.unchangedSince)) } : {}),
  }),
});

function versionOf(evidence: { readonly version?: string | undefined }, inert: (text: string) => string): string {
  return evidence.version === undefined ? '' : ` version ${inert(evidence.version)}`;
}
