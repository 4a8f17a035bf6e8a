import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig, type CasDocsTarget, type ConfigInput } from '../../../shared/config.js';
import { sortCidrs, type Cidr } from '../../../shared/ipset.js';
import { observeCasDocs } from '../../../shared/sources/cas-docs/index.js';
import type { CasEvidence } from '../../../shared/sources/cas-docs/schema.js';
import type { Observation, SourceContext } from '../../../shared/sources/source.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const page2017 = sharedFile('fixtures/cas/network-requirements_2017-09-27.md');
const page2018 = sharedFile('fixtures/cas/network-requirements_2018-05-14.md');
const page2024 = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cas/${name}`, import.meta.url));
const variant = fixture('numbered-list-layout.md');
const NOW = new Date('2025-03-01T06:00:00Z');

let peer: HttpPeer;

beforeAll(async () => {
  peer = await startHttpPeer(
    routes({
      '/2017.md': { body: page2017, contentType: 'text/plain; charset=utf-8' },
      '/2018.md': { body: page2018, contentType: 'text/markdown' },
      '/2024.md': { body: page2024, contentType: 'text/plain; charset=utf-8' },
      '/variant.md': { body: variant, contentType: 'text/plain' },
      '/glued-letter.md': { body: fixture('glued-letter.md'), contentType: 'text/plain' },
      '/title-notice.md': { body: fixture('title-notice.md'), contentType: 'text/plain' },
      '/prose-only.md': { body: fixture('prose-only.md'), contentType: 'text/plain' },
      '/continuation-column.md': { body: fixture('continuation-column.md'), contentType: 'text/plain' },
      '/half.md': { body: page2024.subarray(0, page2024.length / 2), contentType: 'text/plain' },
      '/empty.md': { body: '', contentType: 'text/plain' },
      '/html-as-text.md': {
        body: '<!DOCTYPE html>\n<html><head><title>Network requirements</title></head><body>13.91.91.243</body></html>',
        contentType: 'text/plain',
      },
      '/blob.html': { body: '<!DOCTYPE html><html><body>github blob page</body></html>', contentType: 'text/html; charset=utf-8' },
    }),
  );
});

afterAll(async () => {
  await peer.close();
});

/** Targets go through the real config schema, so data-center names are normalised as in production. */
function setup(target: Record<string, unknown>): { target: CasDocsTarget; context: SourceContext } {
  const input = { targets: [{ id: 'cas', type: 'cas-docs', ...target, url: `${peer.url}${String(target.url)}` }] } as ConfigInput;
  const config = parseConfig(input);
  return { target: config.targets[0] as CasDocsTarget, context: { config, env: {}, now: () => NOW } };
}

async function observe(target: Record<string, unknown>): Promise<Observation> {
  const { target: parsed, context } = setup(target);
  return observeCasDocs(parsed, context);
}

const host = (...addresses: string[]) => addresses.map((a) => (a.includes('/') ? a : `${a}/32`));
const codes = (problems: readonly { code: string }[]) => problems.map((p) => p.code);

describe('observing the real pages over HTTP', () => {
  test('2024 portal and mail for EU1: mail is kept whatever the data center', async () => {
    const observation = await observe({ url: '/2024.md', sections: ['portal', 'mail'], dataCenters: ['EU1'] });
    expect(observation).toMatchObject({
      targetId: 'cas',
      type: 'cas-docs',
      status: 'ok',
      observedAt: NOW.toISOString(),
      warnings: [],
      errors: [],
    });
    const expected = host(
      '13.80.125.22',
      '40.74.1.235',
      '40.74.6.204',
      '40.119.154.72',
      '51.143.58.207',
      '52.137.89.147',
      '52.157.238.58',
      '52.174.56.180',
      '52.183.75.62',
      '20.71.203.39',
      '137.116.224.49',
      '65.55.234.192/26',
      '207.46.50.192/26',
      '65.55.52.224/27',
      '94.245.112.0/27',
      '111.221.26.0/27',
      '207.46.200.0/27',
    );
    expect(observation.entries.map((e) => e.cidr)).toEqual(sortCidrs(expected as Cidr[]));
    expect(observation.entries.map((e) => e.cidr)[0]).toBe('13.80.125.22/32');
    expect(observation.facts).toEqual({ revision: '2024-02-29' });
    const mail = observation.entries.find((e) => e.cidr === '94.245.112.0/27');
    expect(mail?.evidence).toEqual([
      { kind: 'cas', section: 'mail', dataCenter: 'global', heading: 'Mail server', revision: '2024-02-29', url: `${peer.url}/2024.md` },
    ]);
  });

  test('evidence of an address listed in several sections is merged on one entry', async () => {
    const observation = await observe({ url: '/2024.md', sections: ['portal', 'siem'], dataCenters: ['EU1', 'EU2'] });
    const entry = observation.entries.find((e) => e.cidr === '13.80.125.22/32');
    const evidence = (entry?.evidence ?? []) as CasEvidence[];
    expect(evidence.map((e) => `${e.section}/${e.dataCenter}`).sort()).toEqual(['portal/EU1', 'portal/EU2', 'siem/EU1', 'siem/EU2']);
    expect(new Set(observation.entries.map((e) => e.cidr)).size).toBe(observation.entries.length);
  });

  test('proxy regions are selected by name ("West Europe" in the config)', async () => {
    const observation = await observe({ url: '/2024.md', sections: ['proxy'], dataCenters: ['West Europe'] });
    expect(observation.status).toBe('ok');
    const sessionAndAccess = host(
      '52.157.233.49',
      '52.157.235.27',
      '51.105.164.234',
      '51.105.164.241',
      '20.229.66.63',
      '20.76.151.201',
      '20.76.199.32',
      '20.76.199.126',
      '20.76.199.12',
      '20.76.198.169',
      '20.76.198.91',
      '20.76.199.14',
      '20.76.199.49',
      '20.93.194.151',
      '20.76.198.36',
      '20.160.197.20',
      '13.69.81.118',
      '20.103.48.225',
    );
    expect(observation.entries.map((e) => e.cidr)).toEqual(sortCidrs(sessionAndAccess as Cidr[]));
  });

  test('2018 with "*" everywhere: every section and data center, no warnings', async () => {
    const observation = await observe({ url: '/2018.md', sections: '*', dataCenters: '*' });
    expect(observation.status).toBe('ok');
    expect(observation.warnings).toEqual([]);
    const seen = new Set(observation.entries.flatMap((e) => (e.evidence as CasEvidence[]).map((ev) => `${ev.section}/${ev.dataCenter}`)));
    for (const section of ['portal', 'siem', 'app-connector', 'dlp']) {
      for (const dataCenter of ['US1', 'US2', 'US3', 'EU1', 'EU2']) expect(seen).toContain(`${section}/${dataCenter}`);
    }
    expect(seen).toContain('mail/global');
    // Counted by hand: 9 distinct portal addresses (SIEM repeats them), 20 more for app connector (= DLP), 1 mail.
    expect(observation.entries).toHaveLength(30);
  });

  test('2018 data centers written the old way ("US", "EU") match', async () => {
    const observation = await observe({ url: '/2018.md', sections: ['siem'], dataCenters: ['US', 'eu'] });
    expect(observation.status).toBe('ok');
    expect(observation.entries.map((e) => e.cidr)).toEqual(sortCidrs(host('13.91.91.243', '52.174.56.180') as Cidr[]));
  });

  test('a selected data center the page no longer has: warning, and its old entries must stay (partial)', async () => {
    const observation = await observe({ url: '/2017.md', sections: ['portal'], dataCenters: ['US1', 'US2'] });
    expect(observation.status).toBe('partial');
    expect(codes(observation.warnings)).toEqual(['cas-data-center-missing']);
    expect(observation.warnings[0]?.message).toContain('"US2"');
    // Only US2 is unknown: US1's entries are checked as usual.
    expect(observation.unknownScopes).toEqual([{ kind: 'cas', dataCenter: 'US2' }]);
    expect(observation.entries.map((e) => e.cidr)).toEqual(sortCidrs(host('13.91.91.243', '52.183.75.62') as Cidr[]));
  });

  test('a selected section the page no longer has: warning naming it (partial)', async () => {
    const observation = await observe({ url: '/2024.md', sections: ['dlp', 'mail'], dataCenters: '*' });
    expect(observation.status).toBe('partial');
    expect(codes(observation.warnings)).toEqual(['cas-section-missing']);
    expect(observation.warnings[0]?.message).toContain('"dlp"');
    expect(observation.entries).toHaveLength(6);
    expect(observation.unknownScopes).toEqual([{ kind: 'cas', section: 'dlp' }]);
  });

  test('addresses under an unknown heading, sections listed by name: warning, and partial without scopes (a renamed section must not look like a removal)', async () => {
    const observation = await observe({ url: '/variant.md', sections: ['portal', 'app-connector', 'mail'], dataCenters: ['US1'] });
    expect(observation.status).toBe('partial');
    expect(observation.unknownScopes).toBeUndefined();
    expect(codes(observation.warnings)).toEqual(['cas-section-unrecognised']);
    expect(observation.warnings[0]?.message).toContain('Partner telemetry');
    expect(observation.entries.map((e) => e.cidr)).toEqual(
      sortCidrs(
        host(
          '13.64.26.88',
          '13.64.29.32',
          '20.228.186.0/24',
          '52.183.75.0/24',
          '13.64.196.27',
          '13.64.198.19',
          '65.55.234.192/26',
          '207.46.50.192/26',
        ) as Cidr[],
      ),
    );
  });

  test('addresses under an unknown heading, all sections: observed under "notice", complete', async () => {
    const observation = await observe({ url: '/variant.md', sections: '*', dataCenters: ['US1'] });
    expect(observation.status).toBe('ok');
    expect(codes(observation.warnings)).toEqual(['cas-section-unrecognised']);
    expect(observation.warnings[0]?.message).toContain('observed under section "notice"');
    expect(observation.entries.find((e) => e.cidr === '192.0.2.10/32')?.evidence).toEqual([
      {
        kind: 'cas',
        section: 'notice',
        dataCenter: 'US1',
        heading: 'Partner telemetry',
        revision: '2024-11-04',
        url: `${peer.url}/variant.md`,
      },
    ]);
  });
});

describe('issue 11: what a target sees of each layout that used to defeat the reader', () => {
  test("a typo in one cell: partial, the warning says where and what was read, only that cell's scope is unknown", async () => {
    const observation = await observe({ url: '/glued-letter.md', sections: ['app-connector', 'mail'], dataCenters: ['US1', 'EU1'] });
    expect(observation.status).toBe('partial');
    expect(observation.errors).toEqual([]);
    expect(observation.unknownScopes).toEqual([{ kind: 'cas', section: 'app-connector', dataCenter: 'US1' }]);
    expect(codes(observation.warnings)).toEqual(['cas-unreadable-address']);
    expect(observation.warnings[0]!.message).toBe(
      'line 25 of the CAS page, under "App connector, row US1": "13.64.16.132m" is not an IP address or CIDR; read 13.64.16.130/32 before it and 13.64.16.129/32 after it in the same row ' +
        '(the text reads "13.64.196.27, 13.64.198.19, 13.64.16.134, 13.64.16.130, 13.64.16.132m 13.64.16.129, 13.64.16.138, 13.64.16.135"); ' +
        'until the page is fixed, what it lists for section app-connector in US1 is unknown: approved addresses from there are kept, neither missed nor removed',
    );
    const cidrs = observation.entries.map((e) => e.cidr);
    expect(cidrs).toContain('13.64.16.129/32');
    expect(cidrs).toContain('13.95.30.46/32');
    expect(cidrs).not.toContain('13.64.16.132/32');
  });

  test('a typo outside the selection is no concern of this target', async () => {
    for (const selection of [
      { sections: ['mail'], dataCenters: '*' },
      { sections: '*', dataCenters: ['EU1'] },
    ]) {
      const observation = await observe({ url: '/glued-letter.md', ...selection });
      expect(observation.status).toBe('ok');
      expect(observation.warnings).toEqual([]);
    }
  });

  test('the notice under the title: complete for a list of sections, observed under "notice" with "*"', async () => {
    const listed = await observe({ url: '/title-notice.md', sections: ['portal', 'app-connector'], dataCenters: ['EU1'] });
    expect(listed).toMatchObject({ status: 'ok', warnings: [], errors: [] });
    expect(listed.entries.map((e) => e.cidr)).toEqual(
      sortCidrs(host('13.80.125.22', '40.74.1.235', '40.74.6.204', '13.80.22.71', '13.95.29.177') as Cidr[]),
    );
    const all = await observe({ url: '/title-notice.md', sections: '*', dataCenters: '*' });
    expect(all).toMatchObject({ status: 'ok', warnings: [], errors: [] });
    expect(all.entries.find((e) => e.cidr === '20.105.20.0/24')?.evidence).toEqual([
      {
        kind: 'cas',
        section: 'notice',
        dataCenter: 'global',
        heading: 'Network requirements',
        revision: '2025-03-03',
        url: `${peer.url}/title-notice.md`,
      },
    ]);
    const notice = await observe({ url: '/title-notice.md', sections: ['notice'], dataCenters: ['US1'] });
    expect(notice.status).toBe('ok');
    expect(notice.entries).toHaveLength(5);
  });

  test('the first layout, prose only and no mail section: complete', async () => {
    const observation = await observe({ url: '/prose-only.md', sections: '*', dataCenters: ['US1'] });
    expect(observation).toMatchObject({ status: 'ok', warnings: [], errors: [], facts: { revision: '2017-08-10' } });
    expect(observation.entries.map((e) => e.cidr)).toEqual(
      sortCidrs(host('13.91.91.243', '52.183.75.62', '104.209.35.177', '13.91.98.185', '40.118.211.172', '104.42.231.28') as Cidr[]),
    );
  });

  test('a list continued in an empty-header column: complete, with every address', async () => {
    const observation = await observe({ url: '/continuation-column.md', sections: ['app-connector'], dataCenters: ['US1'] });
    expect(observation).toMatchObject({ status: 'ok', warnings: [] });
    expect(observation.entries).toHaveLength(7);
    expect(observation.entries.map((e) => e.cidr)).toContain('13.64.196.27/32');
  });
});

describe('errors, never an empty success', () => {
  test('a selection with no addresses on a page that parsed', async () => {
    const observation = await observe({ url: '/2024.md', sections: ['dlp'], dataCenters: '*' });
    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation.errors)).toEqual(['cas-selection-empty']);
    expect(codes(observation.warnings)).toEqual(['cas-section-missing']);
  });

  test('a data center the page never had, with no global section selected', async () => {
    const observation = await observe({ url: '/2018.md', sections: ['portal'], dataCenters: ['GCC'] });
    expect(observation.status).toBe('error');
    expect(codes(observation.errors)).toEqual(['cas-selection-empty']);
  });

  test.each([
    ['/half.md', 'cas-truncated'],
    ['/empty.md', 'cas-empty'],
    ['/html-as-text.md', 'cas-not-markdown'],
    ['/blob.html', 'http-content-type'],
    ['/gone.md', 'http-status'],
  ])('%s -> %s', async (url, code) => {
    const observation = await observe({ url, sections: '*', dataCenters: '*' });
    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation.errors)).toEqual([code]);
  });
});
