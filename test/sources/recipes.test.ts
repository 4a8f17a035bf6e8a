import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Target } from '../../shared/config.js';
import { observeTarget } from '../../shared/sources/index.js';
import type { Observation, SourceContext } from '../../shared/sources/source.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';

/**
 * The README's recipes, read from the README itself, so that the snippet a reader copies is the one tested: each is
 * parsed as a config target and run against a sample in its provider's published format (test/fixtures/recipes/),
 * served from a local peer at the recipe URL's path.
 */

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

function recipeTargets(): Target[] {
  const start = README.indexOf('\n### Recipes:');
  expect(start).toBeGreaterThan(0);
  const end = README.slice(start + 1).search(/\n#{2,3} /);
  const section = README.slice(start, end === -1 ? undefined : start + 1 + end);
  const snippets = [...section.matchAll(/```json\n([\s\S]*?)```/g)].flatMap((match) => [JSON.parse(match[1]!) as unknown].flat());
  return parseConfig({ targets: snippets }).targets;
}

/** What each recipe's URL serves here: a sample in the provider's format (test/fixtures/README.md names the source). */
const SAMPLES: Record<string, { file: string; contentType: string }> = {
  'https://www.gstatic.com/ipranges/cloud.json': { file: 'google-cloud.json', contentType: 'application/json' },
  'https://www.gstatic.com/ipranges/goog.json': { file: 'google-goog.json', contentType: 'application/json' },
  'https://www.cloudflare.com/ips-v4': { file: 'cloudflare-ips-v4.txt', contentType: 'text/plain; charset=utf-8' },
  'https://www.cloudflare.com/ips-v6': { file: 'cloudflare-ips-v6.txt', contentType: 'text/plain; charset=utf-8' },
  'https://ip-ranges.atlassian.com/': { file: 'atlassian-ip-ranges.json', contentType: 'application/json' },
  'https://s3.amazonaws.com/okta-ip-ranges/ip_ranges.json': { file: 'okta-ip_ranges.json', contentType: 'application/json' },
};

/** What each recipe selects from its sample, read off the sample by hand. */
const EXPECTED: Record<string, string[]> = {
  // europe-west1's three IPv4 entries and its IPv6 entry; not africa-south1, europe-west10 or us-east1.
  'gcp-europe-west1': ['34.22.112.0/20', '34.76.0.0/14', '35.187.0.0/17', '2600:1900:4010::/44'],
  'google-services': [
    '8.8.4.0/24',
    '8.8.8.0/24',
    '8.34.208.0/20',
    '34.64.0.0/10',
    '142.250.0.0/15',
    '2001:4860::/32',
    '2404:6800::/32',
    '2607:f8b0::/32',
  ],
  'cloudflare-v4': [
    '103.21.244.0/22',
    '103.22.200.0/22',
    '103.31.4.0/22',
    '104.16.0.0/13',
    '104.24.0.0/14',
    '108.162.192.0/18',
    '131.0.72.0/22',
    '141.101.64.0/18',
    '162.158.0.0/15',
    '172.64.0.0/13',
    '173.245.48.0/20',
    '188.114.96.0/20',
    '190.93.240.0/20',
    '197.234.240.0/22',
    '198.41.128.0/17',
  ],
  'cloudflare-v6': [
    '2400:cb00::/32',
    '2405:8100::/32',
    '2405:b500::/32',
    '2606:4700::/32',
    '2803:f800::/32',
    '2a06:98c0::/29',
    '2c0f:f248::/32',
  ],
  // Entries for jira with egress among their directions; not the ingress-only one, not bitbucket-only or email ones.
  'atlassian-jira-egress': ['104.192.136.0/21', '185.166.140.0/22', '185.166.143.224/28', '2401:1d80:3000::/36'],
  'okta-us-cells': ['3.209.184.0/25', '3.213.5.0/24', '3.228.107.0/25', '44.195.73.0/25', '52.20.157.0/25'],
};

/** The version each recipe cites: the sample's creationTime or creationDate, where the recipe names one. */
const VERSIONS: Record<string, string | undefined> = {
  'gcp-europe-west1': '2026-12-07T07:00:00.000000',
  'google-services': '2026-12-07T07:00:00.000000',
  'atlassian-jira-egress': '2026-12-01T00:40:12.123456',
};

let peer: HttpPeer;
const served = new Map<string, { body: string | Buffer; contentType: string }>();

beforeAll(async () => {
  peer = await startHttpPeer((request, response) => routes(Object.fromEntries(served))(request, response));
});
afterAll(() => peer.close());

function serveSamples(): void {
  for (const [url, sample] of Object.entries(SAMPLES)) {
    served.set(new URL(url).pathname, { body: sharedFile(`fixtures/recipes/${sample.file}`), contentType: sample.contentType });
  }
}

/** The recipe's target, pointed at the local peer (same path). */
function local(target: Target): Target {
  const url = new URL((target as { url: string }).url);
  return { ...target, url: `${peer.url}${url.pathname}` } as Target;
}

const context: SourceContext = {
  config: { dns: { timeoutMs: 2_000, tries: 1, concurrency: 4, stabilityQueries: 1 }, http: { timeoutMs: 5_000, maxBytes: 1_000_000 } },
  env: {},
  now: () => new Date('2026-12-07T06:00:00.000Z'),
};

const observe = (id: string): Promise<Observation> => observeTarget(local(recipeTargets().find((target) => target.id === id)!), context);

describe('README recipes against samples in each provider format', () => {
  it('has one snippet per recipe, each a valid target whose URL is the provider document', () => {
    const targets = recipeTargets();
    expect(targets.map((target) => target.id)).toEqual(Object.keys(EXPECTED));
    expect(targets.map((target) => (target as { url: string }).url).sort()).toEqual(Object.keys(SAMPLES).sort());
  });

  it.each(Object.keys(EXPECTED))('%s selects exactly what the sample lists for it, every value accounted for', async (id) => {
    serveSamples();
    const observation = await observe(id);
    expect(observation).toMatchObject({ status: 'ok', warnings: [], errors: [] });
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(EXPECTED[id]);
    // The documents that name their version are cited with it.
    const versions = new Set(observation.entries.map((entry) => (entry.evidence[0] as { version?: string }).version));
    expect([...versions]).toEqual([VERSIONS[id]]);
  });

  it('Google Cloud: an entry with one family key yields no null; an entry with neither is named, and nothing is counted missing', async () => {
    serveSamples();
    const cloud = JSON.parse(sharedFile('fixtures/recipes/google-cloud.json').toString('utf8')) as { prefixes: object[] };
    // The IPv6-only and IPv4-only entries above read clean (status ok); now one entry that lost its address key.
    cloud.prefixes.push({ service: 'Google Cloud', scope: 'europe-west1' });
    served.set('/ipranges/cloud.json', { body: JSON.stringify(cloud), contentType: 'application/json' });
    const observation = await observe('gcp-europe-west1');
    expect(observation.status).toBe('partial');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(EXPECTED['gcp-europe-west1']);
    expect(observation.warnings).toEqual([
      { code: 'json-not-address', message: expect.stringMatching(/^value \[4\]\[0\] of the selection .*: null is null, not a string/) },
    ]);
    // A scope gone from the document (renamed region) is an error, not an empty list.
    served.set('/ipranges/cloud.json', {
      body: JSON.stringify({ ...cloud, prefixes: cloud.prefixes.filter((p) => (p as { scope: string }).scope !== 'europe-west1') }),
      contentType: 'application/json',
    });
    expect((await observe('gcp-europe-west1')).errors.map((e) => e.code)).toEqual(['json-shape']);
  });

  it('Okta: a cell the file no longer has is named, and the other cell is still read', async () => {
    serveSamples();
    const okta = JSON.parse(sharedFile('fixtures/recipes/okta-ip_ranges.json').toString('utf8')) as Record<string, unknown>;
    delete okta.us_cell_2;
    served.set('/okta-ip-ranges/ip_ranges.json', { body: JSON.stringify(okta), contentType: 'application/json' });
    const observation = await observe('okta-us-cells');
    expect(observation.status).toBe('partial');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(['3.209.184.0/25', '3.213.5.0/24', '44.195.73.0/25']);
    expect(observation.warnings.map((warning) => warning.message)).toEqual([expect.stringContaining('value [1] of the selection')]);
  });

  it('Atlassian: an entry without "product" is an error, never a shorter list', async () => {
    serveSamples();
    const atlassian = JSON.parse(sharedFile('fixtures/recipes/atlassian-ip-ranges.json').toString('utf8')) as { items: object[] };
    atlassian.items.push({ cidr: '52.16.1.0/24', direction: ['egress'] });
    served.set('/', { body: JSON.stringify(atlassian), contentType: 'application/json' });
    const observation = await observe('atlassian-jira-egress');
    expect(observation).toMatchObject({ status: 'error', entries: [], errors: [{ code: 'json-select-failed' }] });
  });
});
