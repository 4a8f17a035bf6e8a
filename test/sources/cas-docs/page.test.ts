import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { AllowlistError } from '../../../shared/problem.js';
import { casSectionsOfHeading, parseCasPage, type CasPage, type CasPageIssue } from '../../../shared/sources/cas-docs/page.js';
import type { CasSection } from '../../../shared/sources/cas-docs/schema.js';
import { sharedFile } from '../../peers/http.js';

const page2017 = sharedFile('fixtures/cas/network-requirements_2017-09-27.md').toString('utf8');
const page2018 = sharedFile('fixtures/cas/network-requirements_2018-05-14.md').toString('utf8');
const page2024 = sharedFile('fixtures/cas/network-requirements_2024-06-20.md').toString('utf8');
const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cas/${name}`, import.meta.url), 'utf8');
const variant = fixture('numbered-list-layout.md');

/** Addresses of one section and data center (optionally under headings containing `under`), sorted, unique. */
function addresses(page: CasPage, section: CasSection, dataCenter: string, under?: string): string[] {
  const found = page.entries
    .filter((e) => e.section === section && e.dataCenter === dataCenter && (under === undefined || e.heading.includes(under)))
    .map((e) => e.cidr as string);
  return [...new Set(found)].sort();
}

/** The expected lists below are copied by hand from the documents; bare addresses are host routes. */
function cidrs(...list: string[]): string[] {
  return [...new Set(list.map((a) => (a.includes('/') ? a : `${a}/32`)))].sort();
}

function parseError(markdown: string): AllowlistError {
  try {
    parseCasPage(markdown);
  } catch (error) {
    if (error instanceof AllowlistError) return error;
    throw error;
  }
  throw new Error('expected parseCasPage to fail');
}

describe('2017-09-27 page (seed)', () => {
  const page = parseCasPage(page2017);

  test('reads the revision from ms.date', () => {
    expect(page.revision).toBe('2017-09-27');
  });

  test('the combined portal heading counts for portal, SIEM and log collector', () => {
    const us1 = cidrs('13.91.91.243', '52.183.75.62');
    const eu1 = cidrs('52.174.56.180', '13.80.125.22');
    for (const section of ['portal', 'siem', 'log-collector'] as const) {
      expect(addresses(page, section, 'US1')).toEqual(us1);
      expect(addresses(page, section, 'EU1')).toEqual(eu1);
    }
  });

  test('the table right after the directive line (no blank line) is read; app connector and DLP share it', () => {
    const us1 = cidrs(
      '104.209.35.177',
      '13.91.98.185',
      '40.118.211.172',
      '13.93.216.68',
      '13.91.61.249',
      '13.93.233.42',
      '13.64.196.27',
      '13.64.198.97',
      '13.64.199.41',
      '13.64.198.19',
    );
    const eu1 = cidrs('13.80.22.71', '13.95.29.177', '13.95.30.46');
    expect(addresses(page, 'app-connector', 'US1')).toEqual(us1);
    expect(addresses(page, 'app-connector', 'EU1')).toEqual(eu1);
    expect(addresses(page, 'dlp', 'US1')).toEqual(us1);
    expect(addresses(page, 'dlp', 'EU1')).toEqual(eu1);
  });

  test('the mail server sentence is global', () => {
    expect(addresses(page, 'mail', 'global')).toEqual(cidrs('198.2.134.139'));
    expect(page.entries.filter((e) => e.section === 'mail').map((e) => e.heading)).toEqual(['Email server']);
  });

  test('sections and data centers present', () => {
    expect(page.sections).toEqual(new Set(['portal', 'siem', 'log-collector', 'app-connector', 'dlp', 'mail']));
    expect(page.dataCenters).toEqual(new Set(['US1', 'EU1', 'global']));
    expect(page.unrecognised).toEqual([]);
  });
});

describe('2018-05-14 page (quoted tables)', () => {
  const page = parseCasPage(page2018);

  test('revision, sections and data centers (US and EU become US1 and EU1)', () => {
    expect(page.revision).toBe('2018-05-14');
    expect(page.sections).toEqual(new Set(['portal', 'siem', 'app-connector', 'dlp', 'mail']));
    expect(page.dataCenters).toEqual(new Set(['US1', 'US2', 'US3', 'EU1', 'EU2', 'global']));
    expect(page.unrecognised).toEqual([]);
  });

  test('portal: IP column only, DNS names ignored', () => {
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '13.91.91.243'));
    expect(addresses(page, 'portal', 'US2')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '52.184.165.82'));
    expect(addresses(page, 'portal', 'US3')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '40.90.218.198', '40.90.218.196'));
    expect(addresses(page, 'portal', 'EU1')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '52.174.56.180'));
    expect(addresses(page, 'portal', 'EU2')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '40.81.156.154', '40.81.156.156'));
  });

  test('SIEM: <br> and <br></br> separators', () => {
    expect(addresses(page, 'siem', 'US1')).toEqual(cidrs('13.91.91.243'));
    expect(addresses(page, 'siem', 'US2')).toEqual(cidrs('52.184.165.82'));
    expect(addresses(page, 'siem', 'US3')).toEqual(cidrs('40.90.218.198', '40.90.218.196'));
    expect(addresses(page, 'siem', 'EU1')).toEqual(cidrs('52.174.56.180'));
    expect(addresses(page, 'siem', 'EU2')).toEqual(cidrs('40.81.156.154', '40.81.156.156'));
  });

  test('app connector and third-party DLP: same lists, irregular spacing', () => {
    const expected: Record<string, string[]> = {
      US1: cidrs(
        '13.91.91.243',
        '104.209.35.177',
        '13.91.98.185',
        '40.118.211.172',
        '13.93.216.68',
        '13.91.61.249',
        '13.93.233.42',
        '13.64.196.27',
        '13.64.198.97',
        '13.64.199.41',
        '13.64.198.19',
      ),
      US2: cidrs('52.184.165.82', '40.84.4.93', '40.84.4.119', '40.84.2.83'),
      US3: cidrs('40.90.218.197', '40.90.218.203'),
      EU1: cidrs('52.174.56.180', '13.80.22.71', '13.95.29.177', '13.95.30.46'),
      EU2: cidrs('40.81.156.155', '40.81.156.153'),
    };
    for (const [dataCenter, list] of Object.entries(expected)) {
      expect(addresses(page, 'app-connector', dataCenter)).toEqual(list);
      expect(addresses(page, 'dlp', dataCenter)).toEqual(list);
    }
    expect(new Set(page.entries.filter((e) => e.section === 'dlp').map((e) => e.heading))).toEqual(
      new Set(['Third-party DLP integration']),
    );
  });

  test('mail server, and no log-collector addresses (its table lists URLs)', () => {
    expect(addresses(page, 'mail', 'global')).toEqual(cidrs('198.2.134.139'));
    expect(page.entries.filter((e) => e.section === 'log-collector')).toEqual([]);
  });
});

describe('2024-06-20 page (comma lists, proxy regions, Government tables)', () => {
  const page = parseCasPage(page2024);

  test('revision, sections, data centers', () => {
    expect(page.revision).toBe('2024-02-29');
    expect(page.sections).toEqual(new Set(['portal', 'proxy', 'siem', 'app-connector', 'mail']));
    for (const code of ['US1', 'US2', 'US3', 'EU1', 'EU2', 'GOV-US1', 'GCC', 'west-europe', 'us-gov-virginia', 'global']) {
      expect(page.dataCenters).toContain(code);
    }
    expect(page.unrecognised).toEqual([]);
  });

  test('portal US1, GCC (leading space in the cell) and Gov US1', () => {
    expect(addresses(page, 'portal', 'US1')).toEqual(
      cidrs(
        '13.64.26.88',
        '13.64.29.32',
        '13.80.125.22',
        '13.91.91.243',
        '40.74.1.235',
        '40.74.6.204',
        '51.143.58.207',
        '52.137.89.147',
        '52.183.75.62',
        '23.101.201.123',
        '20.228.186.154',
      ),
    );
    expect(addresses(page, 'portal', 'GCC')).toEqual(cidrs('52.227.23.181', '52.227.180.126'));
    expect(addresses(page, 'portal', 'GOV-US1')).toEqual(cidrs('13.72.19.4', '52.227.143.223'));
  });

  test('SIEM EU2', () => {
    expect(addresses(page, 'siem', 'EU2')).toEqual(
      cidrs(
        '13.80.125.22',
        '40.74.1.235',
        '40.74.6.204',
        '40.81.156.154',
        '40.81.156.156',
        '51.143.58.207',
        '52.137.89.147',
        '52.183.75.62',
        '20.0.210.84',
        '20.90.9.64',
      ),
    );
  });

  test('app connector US2: 3-column separator under a 2-column header, duplicates, "20.221.93.52 ,20.12.128.152"', () => {
    const us2 = addresses(page, 'app-connector', 'US2');
    expect(us2).toEqual(
      cidrs(
        '13.68.76.47',
        '20.36.222.59',
        '20.36.222.60',
        '40.67.152.91',
        '40.67.154.160',
        '40.67.155.146',
        '40.67.159.55',
        '40.84.2.83',
        '40.84.4.93',
        '40.84.4.119',
        '52.184.165.82',
        '52.232.224.227',
        '52.232.225.84',
        '104.42.54.148',
        '104.46.116.211',
        '104.46.121.72',
        '104.46.122.189',
        '20.57.54.192',
        '20.57.54.193',
        '20.57.54.194',
        '20.57.54.195',
        '20.57.54.196',
        '20.57.54.197',
        '20.57.54.198',
        '20.57.54.199',
        '20.57.54.200',
        '20.57.54.201',
        '20.57.54.202',
        '20.57.54.203',
        '20.57.54.204',
        '20.57.54.205',
        '20.57.54.206',
        '20.57.54.207',
        '20.85.63.179',
        '20.85.63.177',
        '20.85.63.185',
        '20.85.63.183',
        '20.85.63.180',
        '20.85.63.184',
        '20.85.63.182',
        '20.85.63.178',
        '20.85.63.181',
        '20.85.63.186',
        '20.96.151.151',
        '20.96.151.147',
        '20.96.151.153',
        '20.96.151.149',
        '20.96.151.148',
        '20.96.151.145',
        '20.96.151.144',
        '20.96.151.146',
        '20.96.151.152',
        '20.96.151.150',
        '20.96.83.110',
        '20.96.87.32',
        '20.7.102.52',
        '20.22.87.7',
        '20.7.102.59',
        '20.7.101.234',
        '20.7.102.51',
        '20.7.102.40',
        '20.7.96.98',
        '20.7.102.54',
        '52.154.237.66',
        '52.154.234.32',
        '20.12.128.213',
        '20.12.130.50',
        '20.12.130.20',
        '20.221.93.63',
        '20.12.128.239',
        '20.221.93.52',
        '20.12.128.152',
        '20.12.130.57',
      ),
    );
    expect(us2).toHaveLength(73);
    expect(page.entries.filter((e) => e.section === 'app-connector' && e.dataCenter === 'US2')).toHaveLength(73);
  });

  test('mail server bullet list: six CIDRs', () => {
    expect(addresses(page, 'mail', 'global')).toEqual(
      cidrs('65.55.234.192/26', '207.46.50.192/26', '65.55.52.224/27', '94.245.112.0/27', '111.221.26.0/27', '207.46.200.0/27'),
    );
  });

  test('proxy: West Europe session controls of commercial customers', () => {
    expect(addresses(page, 'proxy', 'west-europe', 'Commercial customers > Session controls')).toEqual(
      cidrs(
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
      ),
    );
    const headings = new Set(page.entries.filter((e) => e.dataCenter === 'west-europe').map((e) => e.heading));
    expect(headings).toEqual(
      new Set([
        'Access and session controls > Commercial customers > Session controls',
        'Access and session controls > Commercial customers > Access controls',
      ]),
    );
  });

  test('proxy: GCC High and GCC tables stay apart (lead-in caption in the heading)', () => {
    expect(addresses(page, 'proxy', 'us-gov-virginia', 'GCC High customers > Session controls')).toEqual(
      cidrs('13.72.27.223', '13.72.27.219', '13.72.27.220', '13.72.27.222', '20.141.230.137', '52.235.179.167', '52.235.184.112'),
    );
    expect(addresses(page, 'proxy', 'us-gov-virginia', 'GCC High customers > Access controls')).toEqual(
      cidrs(
        '13.72.27.216',
        '13.72.27.215',
        '52.127.50.130',
        '52.235.179.123',
        '52.245.252.18',
        '52.245.252.131',
        '52.245.252.191',
        '52.245.253.12',
        '52.245.253.58',
        '52.245.253.229',
        '52.245.254.39',
        '52.245.254.51',
        '52.245.254.212',
        '52.245.254.245',
        '52.235.184.112',
      ),
    );
    expect(addresses(page, 'proxy', 'us-gov-arizona', 'GCC High customers > Session controls')).toEqual(
      cidrs('52.244.144.65', '52.244.43.90', '52.244.43.225', '52.244.215.117', '52.235.134.195', '52.126.54.167', '52.126.55.65'),
    );
    expect(addresses(page, 'proxy', 'us-gov-arizona', 'For US Government GCC customers > Session controls')).toEqual(
      cidrs('52.235.147.86', '52.126.49.55', '52.126.48.233'),
    );
    // A single <br /> between regions (GCC SAML proxy row).
    expect(addresses(page, 'proxy', 'us-gov-virginia', 'For US Government GCC customers > SAML proxy')).toEqual(
      cidrs('52.227.216.80', '52.126.48.233', '52.227.3.207'),
    );
  });
});

describe('newer layout variant (test/fixtures/cas/numbered-list-layout.md)', () => {
  const page = parseCasPage(variant);

  test('a table indented in a numbered list, <br/> and <br />, IPv6, /24 CIDRs', () => {
    expect(page.revision).toBe('2024-11-04');
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('13.64.26.88', '13.64.29.32', '20.228.186.0/24'));
    expect(addresses(page, 'portal', 'EU1')).toEqual(cidrs('13.80.125.22', '40.74.1.235', '2603:1020:206::/48'));
    expect(addresses(page, 'app-connector', 'US1')).toEqual(cidrs('13.64.196.27', '13.64.198.19'));
  });

  test('CIDRs in a note belong to the section they stand under, for every data center', () => {
    expect(addresses(page, 'portal', 'global')).toEqual(cidrs('20.228.186.0/24', '52.183.75.0/24'));
    expect(addresses(page, 'mail', 'global')).toEqual(cidrs('65.55.234.192/26', '207.46.50.192/26'));
  });

  test('addresses under an unknown heading are reported, and attributed to no known section (only to notice)', () => {
    expect(page.unrecognised).toEqual(['Partner telemetry']);
    expect(page.entries.filter((e) => e.cidr === '192.0.2.10/32').map((e) => [e.section, e.dataCenter, e.heading])).toEqual([
      ['notice', 'US1', 'Partner telemetry'],
    ]);
  });
});

test('a delimiter row with fewer cells than the header is padded, as DocFX renders it', () => {
  const page = parseCasPage(
    [
      '## Portal access',
      '|Data center|IP addresses|DNS name|',
      '|----|----|',
      '|US1|198.51.100.7|portal.example|',
      '## App connector',
      '|Data center|IP addresses|',
      '|----|----|',
      '|US1|198.51.100.8|',
      '## Mail server',
      '- 203.0.113.0/27',
      '## Next steps',
    ].join('\n'),
  );
  expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('198.51.100.7'));
  expect(page.revision).toBeUndefined();
});

describe('heading mapping', () => {
  test.each([
    ['Portal access', ['portal']],
    ['Portal access, SIEM agent, authentication gateway, and log collector', ['portal', 'siem', 'log-collector']],
    ['SIEM agent connection', ['siem']],
    ['App connector access and external DLP integration', ['app-connector', 'dlp']],
    ['Third-party DLP integration', ['dlp']],
    ['Email server', ['mail']],
    ['Mail server', ['mail']],
    ['Log collector', ['log-collector']],
    ['Access and session controls', ['proxy']],
    ['Commercial customers', []],
    ['View your data center', []],
  ] as const)('%s', (heading, sections) => {
    expect(casSectionsOfHeading(heading)).toEqual(sections);
  });
});

describe('errors instead of empty results', () => {
  test('HTML instead of markdown', () => {
    expect(
      parseError('<!DOCTYPE html><html><head><title>Network requirements</title></head><body><p>13.91.91.243</p></body></html>').code,
    ).toBe('cas-not-markdown');
    expect(parseError('\n<html lang="en"><body>|US1|13.91.91.243|</body></html>').code).toBe('cas-not-markdown');
  });

  test('empty body', () => {
    expect(parseError('').code).toBe('cas-empty');
    expect(parseError(' \n\n\t\n').code).toBe('cas-empty');
  });

  test.each([
    ['2017', page2017],
    ['2018', page2018],
    ['2024', page2024],
  ])('the %s page cut in half', (_name, text) => {
    expect(parseError(text.slice(0, Math.floor(text.length / 2))).code).toBe('cas-truncated');
  });

  test('cut inside the front matter', () => {
    const error = parseError(page2017.slice(0, page2017.indexOf('ms.topic')));
    expect(error.code).toBe('cas-truncated');
    expect(error.message).toMatch(/front matter/);
  });

  test('cut in the middle of the last table row, after every address section', () => {
    const error = parseError(page2024.slice(0, page2024.indexOf('prod03use2console1')));
    expect(error.code).toBe('cas-truncated');
    expect(error.message).toMatch(/table row/);
  });

  test('cut right after a cell of the last table row', () => {
    const cut = page2024.indexOf('|     US2     |') + '|     US2     |'.length;
    expect(parseError(page2024.slice(0, cut)).code).toBe('cas-truncated');
  });

  test('cut just before the mail server section', () => {
    const error = parseError(page2018.slice(0, page2018.indexOf('## Email server')));
    expect(error.code).toBe('cas-truncated');
    expect(error.message).toMatch(/closing section/);
  });

  test('cut after the last address section, before the closing section', () => {
    expect(parseError(page2024.slice(0, page2024.indexOf('## Next steps'))).code).toBe('cas-truncated');
    expect(parseError(page2017.slice(0, page2017.indexOf('## See Also'))).code).toBe('cas-truncated');
  });

  test('cut inside a code block or an HTML comment', () => {
    const fence = parseError(page2024.slice(0, page2024.indexOf('*.msecnd.net')));
    expect(fence.code).toBe('cas-truncated');
    expect(fence.message).toMatch(/code block opened on line 30/);
    const comment = page2018.replace('## Email server', '<!-- editors: keep in sync\n\n## Email server');
    expect(parseError(comment).message).toMatch(/HTML comment that never ends \(line 131\)/);
  });

  test('a page whose only IP table is under an unknown heading', () => {
    expect(
      parseError('# Network requirements\n\n## Something new\n\n|Data center|IP addresses|\n|--|--|\n|US1|192.0.2.1|\n\n## Next steps\n')
        .code,
    ).toBe('cas-no-addresses');
  });
});

describe('pages with their tables removed are read for what they still list', () => {
  test.each([
    ['2017', page2017],
    ['2018', page2018],
    ['2024', page2024],
  ])('the %s page: only the mail server (in prose) remains', (_name, text) => {
    const withoutTables = text
      .split('\n')
      .filter((line) => !/^\s*(>\s*)?\|/.test(line))
      .join('\n');
    const page = parseCasPage(withoutTables);
    expect(page.sections).toEqual(new Set(['mail']));
    expect(page.issues).toEqual([]);
  });
});

describe('a defect blinds only its own cell: a warning, and the rest of the page read as usual', () => {
  test('a typo in an IP cell: the other addresses of the row are read', () => {
    const broken = page2018.replace('13.91.91.243|\n> |US2|', '13.91.91.2433|\n> |US2|');
    expect(broken).not.toBe(page2018);
    const page = parseCasPage(broken);
    expect(page.issues).toEqual([
      expect.objectContaining({
        code: 'cas-unreadable-address',
        line: 79,
        tokens: ['13.91.91.2433'],
        text: '13.91.91.2433',
        scopes: [{ section: 'siem', dataCenter: 'US1' }],
      }),
    ]);
    expect(page.issues[0]!.message).toBe(
      'line 79 of the CAS page, under "SIEM agent connection, row US": "13.91.91.2433" is not an IP address or CIDR; read no other address in the same row (the text reads "13.91.91.2433")',
    );
    expect(addresses(page, 'siem', 'US1')).toEqual([]);
    // The same address elsewhere, and every other row, is read as before.
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '13.91.91.243'));
    expect(page.entries).toHaveLength(parseCasPage(page2018).entries.length - 1);
  });

  test('a range in an IP cell names both ends', () => {
    const range = page2018.replace('40.81.156.155<br>40.81.156.153', '40.81.156.153-40.81.156.155');
    expect(range).not.toBe(page2018);
    const page = parseCasPage(range);
    expect(page.issues.map((issue) => [issue.code, issue.line, issue.tokens, issue.scopes])).toEqual([
      ['cas-unreadable-address', 103, ['40.81.156.153-40.81.156.155'], [{ section: 'app-connector', dataCenter: 'EU2' }]],
    ]);
    expect(addresses(page, 'app-connector', 'EU2')).toEqual([]);
    expect(addresses(page, 'dlp', 'EU2')).toEqual(cidrs('40.81.156.155', '40.81.156.153'));
    const spaced = parseCasPage(page2018.replace('40.81.156.155<br>40.81.156.153', '40.81.156.153 – 40.81.156.155'));
    expect(spaced.issues.map((issue) => issue.tokens)).toEqual([['40.81.156.153', '–', '40.81.156.155']]);
  });

  test('a row without a data-center name: its addresses are named, the section is unknown in every data center', () => {
    const unnamed = page2018.replace('> |US2|52.184.165.82|', '> ||52.184.165.82|');
    expect(unnamed).not.toBe(page2018);
    const page = parseCasPage(unnamed);
    expect(page.issues.map((issue) => [issue.code, issue.tokens, issue.scopes])).toEqual([
      ['cas-unlabelled-row', ['52.184.165.82'], [{ section: 'siem' }]],
    ]);
    expect(addresses(page, 'siem', 'US3')).toEqual(cidrs('40.90.218.198', '40.90.218.196'));
  });
});

/**
 * Issue 11: the four ways real revisions defeated the reader, each on a fixture of the same shape
 * (test/fixtures/cas/, written for these tests).
 */
describe('issue 11: every real layout is read, and nothing is dropped without a warning', () => {
  test('an empty-header column continuing the IP list: both columns are read', () => {
    const page = parseCasPage(fixture('continuation-column.md'));
    expect(page.issues).toEqual([]);
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '13.91.91.243'));
    expect(addresses(page, 'portal', 'EU1')).toEqual(cidrs('13.80.125.22', '52.183.75.62', '52.174.56.180'));
    expect(addresses(page, 'app-connector', 'US1')).toEqual(
      cidrs('104.209.35.177', '13.91.98.185', '40.118.211.172', '13.93.216.68', '13.91.61.249', '13.93.233.42', '13.64.196.27'),
    );
    expect(addresses(page, 'app-connector', 'US2')).toEqual(cidrs('52.184.165.82', '40.84.4.93', '40.84.4.119', '40.84.2.83'));
    expect(addresses(page, 'app-connector', 'EU1')).toEqual(cidrs('52.174.56.180', '13.80.22.71', '13.95.29.177', '13.95.30.46'));
    expect(addresses(page, 'mail', 'global')).toEqual(cidrs('198.2.134.139'));
  });

  test('a letter glued to an address (and the comma lost): a warning for that cell, the rest read', () => {
    const page = parseCasPage(fixture('glued-letter.md'));
    expect(page.issues).toHaveLength(1);
    const [issue] = page.issues as [CasPageIssue];
    expect(issue).toMatchObject({ code: 'cas-unreadable-address', line: 25, tokens: ['13.64.16.132m'], heading: 'App connector, row US1' });
    expect(issue.scopes).toEqual([{ section: 'app-connector', dataCenter: 'US1' }]);
    expect(issue.text).toContain('13.64.16.130, 13.64.16.132m 13.64.16.129, 13.64.16.138');
    expect(issue.message).toContain(
      '"13.64.16.132m" is not an IP address or CIDR; read 13.64.16.130/32 before it and 13.64.16.129/32 after it in the same row',
    );
    // Everything else in the cell, the row and the page is read.
    expect(addresses(page, 'app-connector', 'US1')).toEqual(
      cidrs('13.64.196.27', '13.64.198.19', '13.64.16.134', '13.64.16.130', '13.64.16.129', '13.64.16.138', '13.64.16.135'),
    );
    expect(addresses(page, 'app-connector', 'EU1')).toEqual(cidrs('13.80.22.71', '13.95.29.177', '13.95.30.46'));
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('13.64.26.88', '13.64.29.32', '13.80.125.22'));
    expect(addresses(page, 'mail', 'global')).toEqual(cidrs('65.55.234.192/26', '207.46.50.192/26'));
  });

  test('the first layout: prose and bullets under their headings, no table, no mail section, not taken as cut short', () => {
    const page = parseCasPage(fixture('prose-only.md'));
    expect(page.revision).toBe('2017-08-10');
    expect(page.issues).toEqual([]);
    expect(page.sections).toEqual(new Set(['portal', 'app-connector', 'siem', 'log-collector']));
    expect(addresses(page, 'portal', 'global')).toEqual(cidrs('13.91.91.243', '52.183.75.62'));
    expect(addresses(page, 'app-connector', 'global')).toEqual(cidrs('104.209.35.177', '13.91.98.185', '40.118.211.172'));
    expect(addresses(page, 'siem', 'global')).toEqual(cidrs('104.42.231.28'));
    expect(addresses(page, 'log-collector', 'global')).toEqual(cidrs('104.42.231.28'));
    expect(page.entries.find((e) => e.section === 'siem')?.heading).toBe('SIEM agent and Log collector');
  });

  test('a notice under the title: its ranges are observed under "notice", and nothing is unrecognised', () => {
    const page = parseCasPage(fixture('title-notice.md'));
    expect(page.issues).toEqual([]);
    expect(page.unrecognised).toEqual([]);
    expect(addresses(page, 'notice', 'global')).toEqual(
      cidrs('20.14.49.0/24', '20.41.76.0/24', '20.64.231.0/24', '20.105.20.0/24', '20.113.228.0/24'),
    );
    expect(page.entries.filter((e) => e.section === 'notice').map((e) => e.heading)).toEqual(Array(5).fill('Network requirements'));
    expect(addresses(page, 'portal', 'EU1')).toEqual(cidrs('13.80.125.22', '40.74.1.235', '40.74.6.204'));
  });

  test('a heading no rule maps, holding only a typo, still counts as unrecognised (it may be a renamed section)', () => {
    const page = parseCasPage(
      [
        '# Network requirements',
        '## Portal access',
        '- 52.183.75.62',
        '## Connector egress',
        '|Data center|IP addresses|',
        '|--|--|',
        '|US1|52.183.75.6x|',
        '## Next steps',
      ].join('\n'),
    );
    expect(page.unrecognised).toEqual(['Connector egress']);
    expect(page.issues.map((issue) => [issue.code, issue.line, issue.tokens, issue.scopes])).toEqual([
      ['cas-unreadable-address', 7, ['52.183.75.6x'], [{ section: 'notice', dataCenter: 'US1' }]],
    ]);
  });

  test('address-like text the reader does not read as a list is still named: raw HTML, a link target, a comment', () => {
    const page = parseCasPage(
      [
        '# Network requirements',
        '## Portal access',
        '|Data center|IP addresses|',
        '|--|--|',
        '|US1|52.183.75.62|',
        '',
        '<div>52.183.75.63</div>',
        '',
        'See [the list](https://52.183.75.64/list) and ![diagram 52.183.75.65](media/x.png).',
        '',
        '<!-- removed in June: 52.183.75.66 -->',
        '## Next steps',
      ].join('\n'),
    );
    expect(page.issues.map((issue) => [issue.code, issue.line, issue.tokens, issue.scopes])).toEqual([
      ['cas-address-not-read', 7, ['52.183.75.63'], [{ section: 'portal' }]],
      ['cas-address-not-read', 9, ['https://52.183.75.64/list', '52.183.75.65'], [{ section: 'portal' }]],
      ['cas-address-commented-out', 11, ['52.183.75.66'], []],
    ]);
    expect(addresses(page, 'portal', 'US1')).toEqual(cidrs('52.183.75.62'));
  });
});

/**
 * Metamorphic tests: rewriting a page's tables in ways a person editing it might (an empty-header column, a long
 * list continued in a second column) changes nothing that is observed.
 */
describe('same observation after layout-only edits', () => {
  const pages: Array<[string, string]> = [
    ['2017', page2017],
    ['2018', page2018],
    ['2024', page2024],
    ['numbered-list-layout', variant],
    ['glued-letter', fixture('glued-letter.md')],
    ['title-notice', fixture('title-notice.md')],
  ];

  /** One key per (cidr, section, data center, heading): the whole observation, order aside. */
  const observed = (markdown: string) => {
    const page = parseCasPage(markdown);
    return {
      entries: new Set(page.entries.map((e) => `${e.cidr} ${e.section} ${e.dataCenter} ${e.heading}`)),
      issues: page.issues.map((i) => [i.code, i.tokens, i.scopes]),
    };
  };

  test.each(pages)('%s: an empty-header column after the IP column', (_name, markdown) => {
    const edited = editIpTables(markdown, (cell) => [cell, '']);
    expect(edited).not.toBe(markdown);
    expect(observed(edited)).toEqual(observed(markdown));
  });

  test.each(pages)('%s: an empty-header column at the end of every table', (_name, markdown) => {
    const edited = editIpTables(markdown, (cell) => [cell], true);
    expect(edited).not.toBe(markdown);
    expect(observed(edited)).toEqual(observed(markdown));
  });

  test.each(pages)('%s: each IP cell split across two columns', (_name, markdown) => {
    let split = 0;
    const edited = editIpTables(markdown, (cell) => {
      const [first, second] = splitList(cell);
      if (second !== '') split++;
      return [first, second];
    });
    expect(split).toBeGreaterThan(0);
    expect(observed(edited)).toEqual(observed(markdown));
  });
});

const CONTAINER = /^[ \t]*(?:>[ \t]?)*[ \t]*/;
const DELIMITER = /^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/**
 * Rewrites every table with an "IP addresses" column, line by line: the IP cell of each row becomes the cells
 * `edit` returns (the header gets an empty cell for each extra one); with `atEnd`, every row also gets one more,
 * empty, cell at its end.
 */
function editIpTables(markdown: string, edit: (cell: string) => string[], atEnd = false): string {
  const lines = markdown.split('\n');
  let column = -1;
  let width = 0;
  return lines
    .map((line, index) => {
      const prefix = CONTAINER.exec(line)?.[0] ?? '';
      const row = line.slice(prefix.length);
      if (!row.startsWith('|')) {
        column = -1;
        return line;
      }
      const cells = row.split(/(?<!\\)\|/);
      const next = lines[index + 1]?.replace(CONTAINER, '') ?? '';
      if (column === -1 && DELIMITER.test(next.trim())) {
        column = cells.findIndex((cell) => /ip addresses/i.test(cell));
        if (column === -1) return line;
        width = edit('x').length;
        cells.splice(column, 1, cells[column]!, ...Array<string>(width - 1).fill(''));
      } else if (column !== -1 && DELIMITER.test(row.trim())) {
        cells.splice(column, 1, ...Array<string>(width).fill('----'));
      } else if (column !== -1) {
        cells.splice(column, 1, ...edit(cells[column] ?? ''));
      } else {
        return line;
      }
      if (atEnd) cells.splice(cells.length - 1, 0, DELIMITER.test(row.trim()) ? '----' : '');
      return prefix + cells.join('|');
    })
    .join('\n');
}

/** Splits a list cell in two at a separator near its middle (a comma or a <br> variant), never inside an address. */
function splitList(cell: string): [string, string] {
  const separators = [...cell.matchAll(/\s*(,|<br\s*\/?>(<\/br>)?(\s*<br\s*\/?>)?)\s*/g)];
  if (separators.length === 0) return [cell, ''];
  const middle = separators[Math.floor(separators.length / 2)]!;
  return [cell.slice(0, middle.index), cell.slice(middle.index! + middle[0].length)];
}
