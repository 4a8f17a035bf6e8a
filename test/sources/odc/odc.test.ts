import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig, type ConfigInput, type OdcTarget } from '../../../shared/config.js';
import { sortCidrs, type Cidr } from '../../../shared/ipset.js';
import { observeOdc } from '../../../shared/sources/odc/index.js';
import { ODC_PAGE_URL, type OdcEvidence } from '../../../shared/sources/odc/schema.js';
import type { Observation, SourceContext } from '../../../shared/sources/source.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const may2025 = sharedFile('fixtures/odc/odc-public-ips_2025-05-28.md').toString('utf8');
const december2025 = sharedFile('fixtures/odc/odc-public-ips_2025-12-22.md').toString('utf8');
const NOW = new Date('2026-01-05T06:00:00Z');
const ETAG = 'W/"5b0c1e8f2d"';

/** A variant of a real revision: a replacement that must apply (so a fixture change cannot make the test vacuous). */
function variant(page: string, from: string, to: string): string {
  expect(page.includes(from), `the fixture holds ${JSON.stringify(from)}`).toBe(true);
  return page.replaceAll(from, to);
}

/** "Middle East" became "Israel" in a later revision; the page renames regions. */
const renamed = variant(december2025, 'Middle East (Tel Aviv)', 'Israel (Tel Aviv)');
/** The same rename in the runtime headings only: the data-platform table still names the old region. */
const renamedOnce = variant(december2025, '#### Middle East (Tel Aviv)', '#### Israel (Tel Aviv)');
/** A purpose the tool does not know yet, as the page has added sections before. */
const unknownSection = `${december2025}\n\n## Agent workflows egress {#agent-workflows}\n\n| Region | IP addresses |\n| --- | --- |\n| Europe (Frankfurt) | 3.5.136.10, 3.5.136.11 |\n| US East (North Virginia) | 3.5.0.20 |\n`;
/** A letter glued to an address in Frankfurt's Development row (the accounting rule: named, and only that row blinded). */
const brokenCell = variant(
  december2025,
  '|Development|3.74.249.67, 3.74.54.131, 52.58.149.36|',
  '|Development|3.74.249.67, 3.74.54.131m 52.58.149.36|',
);

let peer: HttpPeer;

beforeAll(async () => {
  const table = routes({
    '/2025-05-28.md': { body: may2025, contentType: 'text/plain; charset=utf-8' },
    '/renamed.md': { body: renamed, contentType: 'text/plain; charset=utf-8' },
    '/renamed-once.md': { body: renamedOnce, contentType: 'text/plain' },
    '/unknown-section.md': { body: unknownSection, contentType: 'text/plain; charset=utf-8' },
    '/broken-cell.md': { body: brokenCell, contentType: 'text/plain; charset=utf-8' },
    '/half.md': { body: december2025.slice(0, december2025.lastIndexOf('16.79.9.133')), contentType: 'text/plain' },
    '/empty.md': { body: '', contentType: 'text/plain' },
    '/blob.html': { body: '<!DOCTYPE html><html><body>github blob page</body></html>', contentType: 'text/html; charset=utf-8' },
  });
  peer = await startHttpPeer((request, response) => {
    // raw.githubusercontent.com answers with an ETag and no Last-Modified; one route does the same.
    if (request.url === '/2025-12-22.md') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', etag: ETAG });
      response.end(december2025);
      return;
    }
    return table(request, response);
  });
});

afterAll(async () => {
  await peer.close();
});

/** Targets go through the real config schema, so stage names and defaults are as in production. */
function setup(target: Record<string, unknown>): { target: OdcTarget; context: SourceContext } {
  const input = { targets: [{ id: 'odc', type: 'odc', ...target, url: `${peer.url}${String(target.url)}` }] } as ConfigInput;
  const config = parseConfig(input);
  return { target: config.targets[0] as OdcTarget, context: { config, env: {}, now: () => NOW } };
}

function observe(target: Record<string, unknown>): Promise<Observation> {
  const { target: parsed, context } = setup(target);
  return observeOdc(parsed, context);
}

const hosts = (...addresses: string[]) => sortCidrs(addresses.map((a) => `${a}/32` as Cidr));
const cidrs = (observation: Observation) => observation.entries.map((entry) => entry.cidr);
const codes = (problems: readonly { code: string }[]) => problems.map((p) => p.code);
const sha = (text: string) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)}`;

// Read off the documents by hand: Europe (Frankfurt), the same in both revisions.
const FRANKFURT = {
  development: ['3.74.249.67', '3.74.54.131', '52.58.149.36'],
  'non-production': ['3.126.108.4', '3.72.145.236', '3.74.85.23'],
  production: ['18.157.156.208', '18.197.117.16', '3.74.248.145'],
};

describe('the two real revisions over HTTP', () => {
  test('2025-12-22: one region, Production runtime, with the revision a reviewer can check', async () => {
    const observation = await observe({
      url: '/2025-12-22.md',
      regions: ['Europe (Frankfurt)'],
      stages: ['Production'],
      purposes: ['runtime'],
    });
    expect(observation).toMatchObject({
      targetId: 'odc',
      type: 'odc',
      status: 'ok',
      observedAt: NOW.toISOString(),
      warnings: [],
      errors: [],
    });
    expect(cidrs(observation)).toEqual(hosts(...FRANKFURT.production));
    expect(observation.facts).toEqual({ revision: sha(december2025) });
    expect(observation.entries.find((e) => e.cidr === '3.74.248.145/32')?.evidence).toEqual([
      {
        kind: 'odc',
        purpose: 'runtime',
        region: 'europe-frankfurt',
        stage: 'production',
        heading: 'Runtime applications accessing internal resources > ODC public runtime IP addresses > Europe (Frankfurt) > Production',
        revision: sha(december2025),
        url: expect.stringMatching(/\/2025-12-22\.md$/),
        etag: ETAG,
      },
    ]);
  });

  test('2025-05-28 (no purpose headings of its own yet, "Stage" or "Stage type" headers): the same Frankfurt addresses', async () => {
    const observation = await observe({ url: '/2025-05-28.md', regions: ['europe-frankfurt'], stages: '*', purposes: ['runtime'] });
    expect(observation.status).toBe('ok');
    expect(cidrs(observation)).toEqual(hosts(...FRANKFURT.development, ...FRANKFURT['non-production'], ...FRANKFURT.production));
    const stages = observation.entries.map((e) => (e.evidence[0] as OdcEvidence).stage);
    expect(new Set(stages)).toEqual(new Set(['development', 'non-production', 'production']));
    // The 2025-05-28 revision is read whole: 11 regions of 3 stages of 3 addresses.
    const all = await observe({ url: '/2025-05-28.md', regions: '*', stages: '*', purposes: '*' });
    expect(all.status).toBe('ok');
    expect(all.entries).toHaveLength(99);
    expect(all.warnings).toEqual([]);
  });

  test('a region named as the page writes it, by its key, or ignoring case and punctuation', async () => {
    for (const name of ['South America (São Paulo)', 'south-america-sao-paulo', 'SOUTH AMERICA SAO PAULO']) {
      const observation = await observe({ url: '/2025-12-22.md', regions: [name], stages: ['production'], purposes: ['runtime'] });
      expect(cidrs(observation), name).toEqual(hosts('177.71.132.163', '54.233.150.19', '18.231.94.114'));
    }
  });

  test('data platform, per customer region: Canada is served from US East, spelt "CA (Canada Central)" in that table', async () => {
    const observation = await observe({ url: '/2025-12-22.md', regions: ['Canada (Central)'], stages: '*', purposes: ['data-platform'] });
    expect(observation.status).toBe('ok');
    expect(cidrs(observation)).toEqual(hosts('54.89.107.154', '54.84.58.61', '35.172.177.93'));
    expect(observation.entries[0]!.evidence).toEqual([
      expect.objectContaining({
        purpose: 'data-platform',
        region: 'canada-central',
        heading: 'Streaming analytics and audit trail data > CA (Canada Central)',
      }),
    ]);
    expect((observation.entries[0]!.evidence[0] as OdcEvidence).stage).toBeUndefined();
  });

  test('platform unification, per region; stages do not narrow a purpose without stages', async () => {
    const observation = await observe({
      url: '/2025-12-22.md',
      regions: ['Asia Pacific (Jakarta)'],
      stages: ['production'],
      purposes: ['platform-unification', 'runtime'],
    });
    expect(observation.status).toBe('ok');
    expect(cidrs(observation)).toEqual(
      hosts('108.137.120.230', '16.79.9.133', '43.218.208.114', '108.137.159.172', '16.79.51.184', '43.218.83.26'),
    );
  });

  test('everything on 2025-12-22: per purpose, counted off the page', async () => {
    const observation = await observe({ url: '/2025-12-22.md', regions: '*', stages: '*', purposes: '*' });
    expect(observation.status).toBe('ok');
    expect(observation.warnings).toEqual([]);
    const byPurpose = (purpose: string) =>
      new Set(observation.entries.filter((e) => e.evidence.some((x) => (x as OdcEvidence).purpose === purpose)).map((e) => e.cidr)).size;
    // 16 regions x 3 stages x 3; 4 data-platform rows x 3; 16 regions x 3.
    expect(byPurpose('runtime')).toBe(144);
    expect(byPurpose('data-platform')).toBe(12);
    expect(byPurpose('platform-unification')).toBe(48);
    expect(observation.entries).toHaveLength(204);
    // Frankfurt's data-platform addresses serve five customer regions: one entry, five pieces of evidence.
    const frankfurt = observation.entries.find((e) => e.cidr === '3.73.166.181/32');
    expect(frankfurt?.evidence.map((x) => (x as OdcEvidence).region).sort()).toEqual([
      'europe-frankfurt',
      'europe-london',
      'middle-east-tel-aviv',
      'middle-east-uae',
      'south-africa-cape-town',
    ]);
  });

  test('the default URL is the raw page source of the docs-odc repository', () => {
    const config = parseConfig({ targets: [{ id: 'odc', type: 'odc', regions: '*', stages: '*', purposes: '*' }] });
    expect((config.targets[0] as OdcTarget).url).toBe(ODC_PAGE_URL);
    expect(ODC_PAGE_URL).toBe(
      'https://raw.githubusercontent.com/OutSystems/docs-odc/main/src/eap/manage-platform-app-lifecycle/odc-public-ips.md',
    );
  });
});

describe('variants', () => {
  test('a renamed region: a warning naming the closest current name, and only that region blinded', async () => {
    const observation = await observe({
      url: '/renamed.md',
      regions: ['Middle East (Tel Aviv)', 'Europe (Frankfurt)'],
      stages: ['production'],
      purposes: ['runtime'],
    });
    expect(observation.status).toBe('partial');
    expect(cidrs(observation)).toEqual(hosts(...FRANKFURT.production));
    expect(codes(observation.warnings)).toEqual(['odc-region-missing']);
    expect(observation.warnings[0]!.message).toContain('"Middle East (Tel Aviv)"');
    expect(observation.warnings[0]!.message).toContain('the closest current name is "Israel (Tel Aviv)"');
    expect(observation.unknownScopes).toEqual([{ kind: 'odc', region: 'middle-east-tel-aviv' }]);
  });

  test('a region renamed in one table only: that purpose is blinded for it, naming the closest name there', async () => {
    const observation = await observe({
      url: '/renamed-once.md',
      regions: ['Middle East (Tel Aviv)'],
      stages: '*',
      purposes: ['runtime', 'data-platform'],
    });
    expect(observation.status).toBe('partial');
    expect(codes(observation.warnings)).toEqual(['odc-region-missing']);
    expect(observation.warnings[0]!.message).toContain('lists no runtime addresses for the selected region "Middle East (Tel Aviv)"');
    expect(observation.warnings[0]!.message).toContain('the closest current name is "Israel (Tel Aviv)"');
    expect(observation.unknownScopes).toEqual([{ kind: 'odc', purpose: 'runtime', region: 'middle-east-tel-aviv' }]);
    expect(cidrs(observation)).toEqual(hosts('3.73.166.181', '52.59.51.255', '18.194.166.197'));
  });

  test('an unknown section: observed under "other" with purposes "*", and the check stays complete', async () => {
    const observation = await observe({ url: '/unknown-section.md', regions: ['Europe (Frankfurt)'], stages: '*', purposes: '*' });
    expect(observation.status).toBe('ok');
    expect(codes(observation.warnings)).toEqual(['odc-section-unrecognised']);
    expect(observation.warnings[0]!.message).toContain('"Agent workflows egress"');
    const other = observation.entries.filter((e) => e.evidence.some((x) => (x as OdcEvidence).purpose === 'other'));
    expect(other.map((e) => e.cidr)).toEqual(hosts('3.5.136.10', '3.5.136.11'));
    expect(other[0]!.evidence[0]).toMatchObject({ region: 'europe-frankfurt', heading: 'Agent workflows egress > Europe (Frankfurt)' });
  });

  test('an unknown section with purposes listed: nothing is removed (a renamed section must not look like removed addresses)', async () => {
    const observation = await observe({ url: '/unknown-section.md', regions: ['Europe (Frankfurt)'], stages: '*', purposes: ['runtime'] });
    expect(observation.status).toBe('partial');
    expect(observation.unknownScopes).toBeUndefined();
    expect(codes(observation.warnings)).toEqual(['odc-section-unrecognised']);
    expect(cidrs(observation)).toHaveLength(9);
  });

  test('a broken cell blinds only its row: the rest of the row is read, the other stages are complete', async () => {
    const observation = await observe({ url: '/broken-cell.md', regions: ['Europe (Frankfurt)'], stages: '*', purposes: ['runtime'] });
    expect(observation.status).toBe('partial');
    expect(codes(observation.warnings)).toEqual(['odc-unreadable-address']);
    expect(observation.warnings[0]!.message).toContain('"3.74.54.131m"');
    expect(observation.unknownScopes).toEqual([{ kind: 'odc', purpose: 'runtime', region: 'europe-frankfurt', stage: 'development' }]);
    expect(cidrs(observation)).toEqual(hosts('3.74.249.67', '52.58.149.36', ...FRANKFURT['non-production'], ...FRANKFURT.production));
  });

  test('a broken cell in a region or stage not selected says nothing', async () => {
    const observation = await observe({
      url: '/broken-cell.md',
      regions: ['Europe (Frankfurt)'],
      stages: ['production'],
      purposes: ['runtime'],
    });
    expect(observation.status).toBe('ok');
    expect(observation.warnings).toEqual([]);
  });

  test('a selected purpose the page does not have yet (2025-05-28 had no platform unification)', async () => {
    const observation = await observe({
      url: '/2025-05-28.md',
      regions: ['Europe (Frankfurt)'],
      stages: ['production'],
      purposes: ['runtime', 'platform-unification'],
    });
    expect(observation.status).toBe('partial');
    expect(codes(observation.warnings)).toEqual(['odc-purpose-missing']);
    expect(observation.unknownScopes).toEqual([{ kind: 'odc', purpose: 'platform-unification' }]);
  });
});

describe('garbage upstream: an error, never an empty observation', () => {
  test.each([
    ['/half.md', 'odc-truncated'],
    ['/empty.md', 'odc-empty'],
    ['/blob.html', 'http-content-type'],
    ['/gone.md', 'http-status'],
  ])('%s', async (url, code) => {
    const observation = await observe({ url, regions: '*', stages: '*', purposes: '*' });
    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation.errors)).toEqual([code]);
  });

  test('a selection the page has nothing for', async () => {
    const observation = await observe({ url: '/2025-12-22.md', regions: ['Atlantis (Lost City)'], stages: '*', purposes: ['runtime'] });
    expect(observation.status).toBe('error');
    expect(codes(observation.errors)).toEqual(['odc-selection-empty']);
    expect(codes(observation.warnings)).toEqual(['odc-region-missing']);
  });
});

describe('config', () => {
  test('stages and purposes are checked, with the accepted values named', () => {
    expect(() => parseConfig({ targets: [{ id: 'odc', type: 'odc', regions: '*', stages: ['Staging'], purposes: '*' }] })).toThrow(
      /stages\[0\]: must be one of development, non-production, production/,
    );
    expect(() => parseConfig({ targets: [{ id: 'odc', type: 'odc', regions: [], stages: '*', purposes: ['runtime'] }] })).toThrow(
      /regions: list at least one, or use "\*" for all/,
    );
    const config = parseConfig({ targets: [{ id: 'odc', type: 'odc', regions: '*', stages: ['Non production'], purposes: ['runtime'] }] });
    expect((config.targets[0] as OdcTarget).stages).toEqual(['non-production']);
  });
});
