import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../shared/config.js';
import { AllowlistError } from '../../../shared/problem.js';
import {
  closestNames,
  observeAwsIpRanges,
  parseAwsDocument,
  probeAwsIpRanges,
  readAwsIpRanges,
  selectAwsRanges,
  type AwsSelection,
} from '../../../shared/sources/aws-ip-ranges/index.js';
import { AWS_IP_RANGES_URL } from '../../../shared/sources/aws-ip-ranges/schema.js';
import type { TargetOf } from '../../../shared/sources/registry.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

type AwsTarget = TargetOf<'aws-ip-ranges'>;

const NEW_TEXT = sharedFile('fixtures/aws/ip-ranges_2026-08-22.json').toString('utf8');
const OLD_TEXT = sharedFile('fixtures/aws/ip-ranges_2021-01-13.json').toString('utf8');

interface RawEntry {
  ip_prefix?: string;
  ipv6_prefix?: string;
  service: string;
  region: string;
  network_border_group?: string;
}
interface RawDocument {
  syncToken: string;
  createDate: string;
  prefixes: RawEntry[];
  ipv6_prefixes: RawEntry[];
}
const NEW = JSON.parse(NEW_TEXT) as RawDocument;

/** The oracle: the file's own prefix strings, read with JSON.parse and a filter, not with the code under test. */
function expected(document: RawDocument, keep: (entry: RawEntry) => boolean = () => true): string[] {
  const texts = [...document.prefixes, ...document.ipv6_prefixes].filter(keep).map((entry) => entry.ip_prefix ?? entry.ipv6_prefix!);
  return [...new Set(texts)].sort();
}

function target(fields: Record<string, unknown>): AwsTarget {
  return parseConfig({ targets: [{ id: 'aws', type: 'aws-ip-ranges', ...fields }] }).targets[0] as AwsTarget;
}

const ALL: AwsSelection = { services: '*', regions: '*' };

/** A small document in the published format; `prefixes`/`ipv6` replace its lists. */
function small(lists: { prefixes?: unknown[]; ipv6?: unknown[]; syncToken?: unknown } = {}): string {
  return JSON.stringify({
    syncToken: lists.syncToken ?? '1787411825',
    createDate: '2026-08-22-15-17-05',
    prefixes: lists.prefixes ?? [
      { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'AMAZON', network_border_group: 'ap-northeast-2' },
      { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'S3', network_border_group: 'ap-northeast-2' },
      { ip_prefix: '52.94.0.0/22', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
      { ip_prefix: '15.230.39.0/24', region: 'us-west-2', service: 'EC2', network_border_group: 'us-west-2-lax-1' },
    ],
    ipv6_prefixes: lists.ipv6 ?? [
      { ipv6_prefix: '2a05:d07a:a000::/40', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
    ],
  });
}

describe('reading the real files', () => {
  it('observes every prefix of the 2026-08-22 file with services "*" and regions "*", each listing cited', () => {
    const reading = readAwsIpRanges(NEW_TEXT, target({ services: '*', regions: '*' }));
    expect(reading.status).toBe('ok');
    expect(reading.warnings).toEqual([]);
    expect(reading.entries.map((entry) => entry.cidr).sort()).toEqual(expected(NEW));
    expect(reading.facts).toEqual({ syncToken: 1787411825 });
    // Accounting: every (prefix, service, region, group) listing of the file is one citation, none dropped.
    const listings = new Set(
      [...NEW.prefixes, ...NEW.ipv6_prefixes].map(
        (e) => `${e.ip_prefix ?? e.ipv6_prefix} ${e.service} ${e.region} ${e.network_border_group}`,
      ),
    );
    const cited = reading.entries.flatMap((entry) =>
      entry.evidence.map((evidence) => {
        if (evidence.kind !== 'aws-ip-range') throw new Error(evidence.kind);
        return `${entry.cidr} ${evidence.service} ${evidence.region} ${evidence.networkBorderGroup}`;
      }),
    );
    expect(cited).toHaveLength(listings.size);
    expect(new Set(cited)).toEqual(listings);
    expect(reading.entries[0]!.evidence[0]).toMatchObject({
      kind: 'aws-ip-range',
      syncToken: '1787411825',
      createDate: '2026-08-22-15-17-05',
      url: AWS_IP_RANGES_URL,
    });
  });

  it('observes exactly the EC2 prefixes of eu-west-1 for the narrower selection', () => {
    const reading = readAwsIpRanges(NEW_TEXT, target({ services: ['EC2'], regions: ['eu-west-1'] }));
    const oracle = expected(NEW, (e) => e.service === 'EC2' && e.region === 'eu-west-1');
    expect(oracle.length).toBeGreaterThan(100);
    expect(reading.status).toBe('ok');
    expect(reading.entries.map((entry) => entry.cidr).sort()).toEqual(oracle);
    expect(reading.entries.every((entry) => entry.evidence.every((e) => e.kind === 'aws-ip-range' && e.service === 'EC2'))).toBe(true);
  });

  it('selects network border groups when they are listed, and GLOBAL as a region', () => {
    const groups = readAwsIpRanges(
      NEW_TEXT,
      target({ services: ['EC2'], regions: ['us-west-2'], networkBorderGroups: ['us-west-2-lax-1'] }),
    );
    expect(groups.entries.map((entry) => entry.cidr).sort()).toEqual(
      expected(NEW, (e) => e.service === 'EC2' && e.region === 'us-west-2' && e.network_border_group === 'us-west-2-lax-1'),
    );
    const global = readAwsIpRanges(NEW_TEXT, target({ services: ['CLOUDFRONT'], regions: ['GLOBAL'] }));
    expect(global.entries.map((entry) => entry.cidr).sort()).toEqual(
      expected(NEW, (e) => e.service === 'CLOUDFRONT' && e.region === 'GLOBAL'),
    );
  });

  it('reads the 2021-01-13 file in full too', () => {
    const reading = readAwsIpRanges(OLD_TEXT, target({ services: '*', regions: '*' }));
    expect(reading.status).toBe('ok');
    expect(reading.entries.map((entry) => entry.cidr).sort()).toEqual(expected(JSON.parse(OLD_TEXT) as RawDocument));
    expect(reading.facts).toEqual({ syncToken: 1610525658 });
  });
});

describe('the stale rule', () => {
  const all = () => target({ services: '*', regions: '*' });

  it('refuses a document older than the last one read, naming both syncTokens', () => {
    expect(() => readAwsIpRanges(OLD_TEXT, all(), { syncToken: 1787411825 })).toThrow(
      expect.objectContaining({
        code: 'aws-ip-ranges-stale',
        message: expect.stringMatching(/1610525658.*older than syncToken 1787411825/),
      }),
    );
  });

  it('reads the same syncToken again, and a newer one', () => {
    expect(readAwsIpRanges(NEW_TEXT, all(), { syncToken: 1787411825 }).status).toBe('ok');
    expect(readAwsIpRanges(NEW_TEXT, all(), { syncToken: 1610525658 }).status).toBe('ok');
  });
});

describe('garbage documents', () => {
  const code = (text: string) => {
    try {
      parseAwsDocument(text);
    } catch (error) {
      return (error as AllowlistError).code;
    }
    return 'parsed';
  };

  it('is an error for text that is not JSON: truncated, empty, HTML', () => {
    expect(code(NEW_TEXT.slice(0, 1_000_000))).toBe('aws-ip-ranges-not-json');
    expect(code('')).toBe('aws-ip-ranges-not-json');
    expect(code('<html><body>Access denied</body></html>')).toBe('aws-ip-ranges-not-json');
  });

  it('is an error for JSON of the wrong shape, naming what is wrong', () => {
    expect(code('[]')).toBe('aws-ip-ranges-shape');
    expect(code('null')).toBe('aws-ip-ranges-shape');
    expect(code('{}')).toBe('aws-ip-ranges-shape');
    const { ipv6_prefixes: _, ...noIpv6 } = JSON.parse(small()) as Record<string, unknown>;
    expect(code(JSON.stringify(noIpv6))).toBe('aws-ip-ranges-shape');
    expect(code(small({ prefixes: 'none' as unknown as unknown[] }))).toBe('aws-ip-ranges-shape');
    expect(code(small({ syncToken: 'yesterday' }))).toBe('aws-ip-ranges-shape');
    expect(code(small({ syncToken: -1 }))).toBe('aws-ip-ranges-shape');
    expect(() => parseAwsDocument(JSON.stringify({ ...JSON.parse(small()), createDate: 5 }))).toThrow(/createDate/);
  });

  it('reads a number syncToken as the same token', () => {
    expect(parseAwsDocument(small({ syncToken: 1787411825 })).syncToken).toBe('1787411825');
  });

  it('is an error for an empty list of either family: a broken file, never "no addresses"', () => {
    expect(code(small({ prefixes: [] }))).toBe('aws-ip-ranges-empty');
    expect(code(small({ ipv6: [] }))).toBe('aws-ip-ranges-empty');
  });

  it('names malformed entries that may be in the selection, keeps their scope unknown, and uses the rest', () => {
    const text = small({
      prefixes: [
        { ip_prefix: '52.94.0.0/22', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
        { ip_prefix: '52.94.999.0/22', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
        { ip_prefix: '2a05:d07a::/40', region: 'eu-central-1', service: 'EC2', network_border_group: 'eu-central-1' },
        { ip_prefix: 52, region: 'us-east-1', service: 'EC2', network_border_group: 'us-east-1' },
        { ip_prefix: '52.95.0.0/22', region: 'eu-north-1', network_border_group: 'eu-north-1' },
        'not an entry',
        // Outside the selection: not this target's business, well formed or not.
        { ip_prefix: 'garbage', region: 'eu-west-1', service: 'S3', network_border_group: 'eu-west-1' },
      ],
      ipv6: [
        { ipv6_prefix: '2a05:d07a:a000::/40', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
        { ip_prefix: '52.96.0.0/22', region: 'eu-west-1', service: 'EC2', network_border_group: 'eu-west-1' },
      ],
    });
    const reading = selectAwsRanges(
      parseAwsDocument(text),
      { services: ['EC2', 'AMAZON'], regions: '*' },
      'https://mirror.test/ip-ranges.json',
    );
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.94.0.0/22', '2a05:d07a:a000::/40']);
    const warning = reading.warnings.find((w) => w.code === 'aws-ip-ranges-bad-entry')!;
    expect(warning.message).toContain('has 6 malformed entries');
    expect(warning.message).toContain('prefixes[1] ("EC2", "eu-west-1"): "52.94.999.0/22": not an IP address or CIDR');
    expect(warning.message).toContain('prefixes[2] ("EC2", "eu-central-1"): "2a05:d07a::/40" is an IPv6 prefix in the IPv4 list');
    expect(warning.message).toContain('prefixes[3] ("EC2", "us-east-1"): no "ip_prefix"');
    expect(warning.message).toContain('prefixes[4] ("eu-north-1"): no "service"');
    expect(warning.message).toContain('prefixes[5]: not an object');
    expect(warning.message).toContain('and 1 more');
    expect(warning.message).not.toContain('garbage');
    expect(reading.unknownScopes).toEqual(
      expect.arrayContaining([
        { kind: 'aws-ip-range', service: 'EC2', region: 'eu-west-1' },
        { kind: 'aws-ip-range', service: 'EC2', region: 'eu-central-1' },
        { kind: 'aws-ip-range', service: 'EC2', region: 'us-east-1' },
        { kind: 'aws-ip-range', region: 'eu-north-1' },
        { kind: 'aws-ip-range' },
        // AMAZON is selected but this document lists no AMAZON entry.
        { kind: 'aws-ip-range', service: 'AMAZON' },
      ]),
    );
    expect(reading.unknownScopes).toHaveLength(6);
  });

  it('names an IPv4 entry in the IPv6 list as such', () => {
    const text = small({ ipv6: [{ ip_prefix: '52.96.0.0/22', region: 'eu-west-1', service: 'EC2' }] });
    const reading = selectAwsRanges(parseAwsDocument(text), ALL, AWS_IP_RANGES_URL);
    expect(reading.warnings[0]!.message).toContain(
      'ipv6_prefixes[0] ("EC2", "eu-west-1"): no "ipv6_prefix" (an IPv4 entry in the IPv6 list)',
    );
  });

  it('is an error when every selected entry is malformed', () => {
    const text = small({
      prefixes: [{ ip_prefix: '1.2.3.4/33', region: 'eu-west-1', service: 'EC2' }],
      ipv6: [{ ipv6_prefix: '2a05:d07a:a000::/40', region: 'eu-west-1', service: 'S3' }],
    });
    const reading = selectAwsRanges(parseAwsDocument(text), { services: ['EC2'], regions: ['eu-west-1'] }, AWS_IP_RANGES_URL);
    expect(reading.status).toBe('error');
    expect(reading.errors.map((e) => e.code)).toEqual(['aws-ip-ranges-selection-empty']);
    expect(reading.warnings.map((w) => w.code)).toEqual(['aws-ip-ranges-bad-entry']);
  });

  it('asks for a network border group only when the selection names groups', () => {
    const text = small({ prefixes: [{ ip_prefix: '52.94.0.0/22', region: 'eu-west-1', service: 'EC2' }] });
    expect(selectAwsRanges(parseAwsDocument(text), ALL, AWS_IP_RANGES_URL).entries[0]!.evidence[0]).not.toHaveProperty(
      'networkBorderGroup',
    );
    const grouped = selectAwsRanges(parseAwsDocument(text), { ...ALL, networkBorderGroups: ['eu-west-1'] }, AWS_IP_RANGES_URL);
    expect(grouped.warnings.map((w) => w.message).join()).toContain('no "network_border_group", while network border groups are selected');
  });
});

describe('names the document does not have', () => {
  it('warns with the closest names, keeps that part unknown (partial) and uses the rest', () => {
    const reading = readAwsIpRanges(NEW_TEXT, target({ services: ['EC2', 'ec2', 'CLOUDFRNT'], regions: ['eu-west-1', 'eu-west1'] }));
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr).sort()).toEqual(
      expected(NEW, (e) => e.service === 'EC2' && e.region === 'eu-west-1'),
    );
    const messages = reading.warnings.map((w) => `${w.code}: ${w.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^aws-ip-ranges-service-missing: .*lists no service "ec2"; the closest names it has are "EC2"/),
      expect.stringMatching(/^aws-ip-ranges-service-missing: .*lists no service "CLOUDFRNT"; the closest names it has are "CLOUDFRONT"/),
      expect.stringMatching(/^aws-ip-ranges-region-missing: .*lists no region "eu-west1"; the closest names it has are "eu-west-1"/),
    ]);
    expect(reading.unknownScopes).toEqual([
      { kind: 'aws-ip-range', service: 'ec2' },
      { kind: 'aws-ip-range', service: 'CLOUDFRNT' },
      { kind: 'aws-ip-range', region: 'eu-west1' },
    ]);
  });

  it('is an error, never an empty list, when the selection matches nothing', () => {
    const reading = readAwsIpRanges(NEW_TEXT, target({ services: ['EC9'], regions: ['mars-north-1'] }));
    expect(reading.status).toBe('error');
    expect(reading.entries).toEqual([]);
    expect(reading.errors).toEqual([
      expect.objectContaining({
        code: 'aws-ip-ranges-selection-empty',
        message: expect.stringContaining('services "EC9" in regions "mars-north-1"'),
      }),
    ]);
    expect(reading.facts).toBeUndefined();
  });

  it('offers only names reasonably near', () => {
    expect(closestNames('eu-west1', ['us-east-1', 'eu-west-2', 'eu-west-1', 'GLOBAL'])).toEqual(['eu-west-1', 'eu-west-2']);
    expect(closestNames('SOMETHINGELSE', ['EC2', 'S3'])).toEqual([]);
  });
});

describe('the config', () => {
  it('defaults url to AWS and accepts "*" or lists', () => {
    expect(target({ services: '*', regions: ['GLOBAL'] })).toMatchObject({ url: AWS_IP_RANGES_URL, services: '*', regions: ['GLOBAL'] });
  });

  it('refuses plain http except to this machine, and empty selections', () => {
    const problems = (fields: Record<string, unknown>) => {
      try {
        target(fields);
      } catch (error) {
        return (error as ConfigError).problems.join('\n');
      }
      return '';
    };
    expect(problems({ url: 'http://mirror.example/ip-ranges.json', services: '*', regions: '*' })).toContain('must be an https URL');
    expect(problems({ url: 'http://127.0.0.1:8080/ip-ranges.json', services: '*', regions: '*' })).toBe('');
    expect(problems({ services: [], regions: '*' })).toContain('services');
    expect(problems({ services: '*' })).toContain('regions');
    expect(problems({ services: 'EC2', regions: '*' })).toContain('must be "*" (all) or a non-empty list');
  });
});

describe('over HTTP', () => {
  let peer: HttpPeer;
  beforeAll(async () => {
    peer = await startHttpPeer();
  });
  afterAll(async () => {
    await peer.close();
  });
  const context = (maxBytes = 16 * 1024 * 1024): SourceContext => ({
    config: { dns: { timeoutMs: 2_000, tries: 2, concurrency: 32, stabilityQueries: 2 }, http: { timeoutMs: 20_000, maxBytes } },
    env: {},
    now: () => new Date('2026-08-23T06:00:00.000Z'),
  });

  it('observes the served document, and reports an oversized or HTML answer as an error', async () => {
    peer.handle(
      routes({
        '/ip-ranges.json': { body: NEW_TEXT, contentType: 'application/json' },
        '/page': { body: '<html></html>', contentType: 'text/html' },
      }),
    );
    const url = `${peer.url}/ip-ranges.json`;
    const observation = await observeAwsIpRanges(target({ url, services: ['S3'], regions: '*' }), context());
    expect(observation).toMatchObject({ targetId: 'aws', type: 'aws-ip-ranges', status: 'ok', observedAt: '2026-08-23T06:00:00.000Z' });
    expect(observation.entries.map((e) => e.cidr).sort()).toEqual(expected(NEW, (e) => e.service === 'S3'));

    const { observeTarget } = await import('../../../shared/sources/index.js');
    const tooLarge = await observeTarget(target({ url, services: '*', regions: '*' }), context(1024 * 1024));
    expect(tooLarge.errors.map((e) => e.code)).toEqual(['http-too-large']);
    const html = await observeTarget(target({ url: `${peer.url}/page`, services: '*', regions: '*' }), context());
    expect(html.errors.map((e) => e.code)).toEqual(['http-content-type']);

    await expect(probeAwsIpRanges(target({ url, services: '*', regions: '*' }), context())).resolves.toMatchObject({ status: 200 });
  });
});
