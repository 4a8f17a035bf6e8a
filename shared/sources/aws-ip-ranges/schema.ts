import { z } from 'zod';
import { httpsUrl, wildcardOr } from '../../schema-kit.js';
import { defineSource, unchangedNote } from '../source.js';

/** AWS publishes its address ranges here; mirrors and caches serve copies of the same file. */
export const AWS_IP_RANGES_URL = 'https://ip-ranges.amazonaws.com/ip-ranges.json';

/** Where AWS's ip-ranges.json listed an address. */
export const awsIpRangeEvidence = z.object({
  kind: z.literal('aws-ip-range'),
  /** The service as the file writes it ("EC2", "AMAZON", "CLOUDFRONT"). */
  service: z.string(),
  /** The region as the file writes it ("eu-west-1", "GLOBAL"). */
  region: z.string(),
  /** The network border group, when the entry names one (it is the region's name for ordinary regions). */
  networkBorderGroup: z.string().optional(),
  /** The document's version: seconds since the epoch, as a string of digits (as AWS writes it). */
  syncToken: z.string(),
  /** When AWS generated the document ("2026-08-22-15-17-05"). */
  createDate: z.string(),
  /** The document's address as configured. */
  url: z.string(),
  /** Set when the server answered 304: the cached document was read, which it last sent in full at this time. */
  unchangedSince: z.string().optional(),
});
export type AwsIpRangeEvidence = Readonly<z.output<typeof awsIpRangeEvidence>>;

/**
 * The document is public and no credential is sent to it, but its addresses go into firewall rules: plain http
 * would let anyone on the path rewrite them, so only https is accepted, except to this machine (tests, a local mirror).
 */
const documentUrl = httpsUrl.refine((text) => {
  const url = URL.parse(text);
  if (url?.protocol !== 'http:') return true;
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}, 'must be an https URL; plain http is accepted only for this machine (localhost, 127.0.0.0/8, [::1])');

const name = z.string().trim().min(1).max(100);

export const awsIpRanges = defineSource({
  fields: {
    url: documentUrl
      .default(AWS_IP_RANGES_URL)
      .meta({ description: `AWS's ip-ranges.json (default ${AWS_IP_RANGES_URL}), or a mirror of it.` }),
    services: wildcardOr(name, 'service names as the file writes them, such as ["EC2", "CLOUDFRONT"]').meta({
      description: 'Services as the file writes them ("EC2", "S3", "CLOUDFRONT", "AMAZON" for every AWS range), or "*".',
    }),
    regions: wildcardOr(name, 'region names as the file writes them, such as ["eu-west-1", "GLOBAL"]').meta({
      description: 'Regions as the file writes them ("eu-west-1", "GLOBAL" for global services), or "*".',
    }),
    networkBorderGroups: wildcardOr(name, 'network border group names, such as ["us-west-2-lax-1"]')
      .optional()
      .meta({ description: 'Only these network border groups (Local Zones, Wavelength); every group when absent.' }),
  },
  evidence: [awsIpRangeEvidence],
  configured: [],
  // The file is a large document like the service tags file; it changes several times a week, not by the minute.
  schedule: 'CAS_SCHEDULE',
  // AWS publishes IPv4 blocks as broad as /11 (and added a /13 in an ordinary week) and IPv6 blocks of /32.
  broadestPrefix: { ipv4: 11, ipv6: 32 },
  doctor: {
    upstream: (target) => ({ check: 'upstream', key: target.url, what: 'the document' }),
    fix: ({ code, status }) => {
      if (code === 'http-content-type') return `Set url to the ip-ranges.json file itself (${AWS_IP_RANGES_URL}), not a page about it.`;
      if (code === 'http-status' && (status === 404 || status === 410))
        return `The document is not at this address: use ${AWS_IP_RANGES_URL} or a mirror that serves the same file.`;
      return undefined;
    },
  },
  describe: (evidence, inert) =>
    `AWS ip-ranges.json, service ${inert(evidence.service)}, region ${inert(evidence.region)}` +
    `${borderGroupNote(evidence, inert)}, syncToken ${inert(evidence.syncToken)} (created ${inert(evidence.createDate)})` +
    `${evidence.unchangedSince ? `, ${inert(unchangedNote(evidence.unchangedSince))}` : ''}`,
  cite: (evidence, inert, link) => ({
    source: `${link(evidence.url, 'AWS ip-ranges.json')} syncToken ${inert(evidence.syncToken)} (created ${inert(evidence.createDate)})`,
    place: `${inert(evidence.service)}, ${inert(evidence.region)}${borderGroupNote(evidence, inert)}`,
    ...(evidence.unchangedSince ? { detail: inert(unchangedNote(evidence.unchangedSince)) } : {}),
  }),
});

/** Said only where it adds something: an ordinary region is its own network border group. */
function borderGroupNote(evidence: AwsIpRangeEvidence, inert: (text: string) => string): string {
  const group = evidence.networkBorderGroup;
  return group === undefined || group === evidence.region ? '' : `, network border group ${inert(group)}`;
}
