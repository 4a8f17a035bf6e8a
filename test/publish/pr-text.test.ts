import fc from 'fast-check';
import type { Nodes, Root, Table } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { toString } from 'mdast-util-to-string';
import { gfmTable } from 'micromark-extension-gfm-table';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Target } from '../../shared/config.js';
import { computeDrift, type TargetDrift } from '../../shared/drift/drift.js';
import { parseCidr } from '../../shared/ipset.js';
import type { Problem } from '../../shared/problem.js';
import { escapeMarkdown, markdownLink } from '../../shared/publish/inert.js';
import { humanTime, MAX_BODY_CHARS, MAX_TITLE_CHARS, renderPullRequest, type FileText } from '../../shared/publish/pr-text.js';
import type { EntryEvidence, ObservedEntry, ObservationStatus } from '../../shared/sources/source.js';
import type { TargetRecord } from '../../shared/state/records.js';

const config = parseConfig({
  name: 'prod',
  targets: [
    { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['prodfe1', 'prodfe2'] },
    {
      id: 'cas-us1',
      type: 'cas-docs',
      url: 'https://docs.example.test/network-requirements.md',
      dataCenters: ['US1'],
      sections: ['portal', 'mail'],
    },
    {
      id: 'mcas-tags',
      type: 'service-tags',
      url: 'https://download.example.test/ServiceTags_Public.json',
      tags: ['MicrosoftCloudAppSecurity'],
    },
    { id: 'office-vpn', type: 'static', entries: ['10.20.0.0/16'] },
  ],
});
const targetById = (id: string): Target => config.targets.find((t) => t.id === id)!;
const NOW = '2025-11-07T10:00:00.000Z';

const dns = (hostname: string, ttl = 300): EntryEvidence => ({
  kind: 'dns',
  hostname,
  recordType: 'A',
  ttl,
  resolver: '127.0.0.1:5353',
  at: NOW,
});
const cas = (heading: string): EntryEvidence => ({ kind: 'cas', section: 'portal', dataCenter: 'US1', heading, revision: '2024-06-20' });
const tag: EntryEvidence = { kind: 'service-tag', tag: 'MicrosoftCloudAppSecurity', tagChangeNumber: 42, fileChangeNumber: 351 };

interface Check {
  readonly id: string;
  readonly status?: ObservationStatus;
  readonly entries: ReadonlyArray<readonly [string, EntryEvidence]>;
  readonly baseline?: readonly string[];
  readonly misses?: Record<string, number>;
  readonly warnings?: Problem[];
  readonly errors?: Problem[];
  /** What the previous good check observed, and when: where a missing address last stood. */
  readonly lastGood?: { readonly at: string; readonly entries: ReadonlyArray<readonly [string, EntryEvidence]> };
}

function drift(check: Check): TargetDrift {
  const target = targetById(check.id);
  const entries: ObservedEntry[] = check.entries.map(([cidr, evidence]) => ({ cidr: parseCidr(cidr), evidence: [evidence] }));
  const record: TargetRecord | undefined = check.baseline
    ? {
        targetId: target.id,
        baseline: check.baseline.map(parseCidr),
        misses: check.misses ?? {},
        firstSeen: {},
        lastErrors: [],
        lastWarnings: [],
        verdicts: [],
        ...(check.lastGood
          ? {
              lastGood: {
                observedAt: check.lastGood.at,
                status: 'ok' as const,
                entries: check.lastGood.entries.map(([cidr, evidence]) => ({ cidr: parseCidr(cidr), evidence: [evidence] })),
                warnings: [],
                errors: [],
              },
            }
          : {}),
      }
    : undefined;
  return computeDrift({
    target,
    observation: {
      targetId: target.id,
      type: target.type,
      observedAt: NOW,
      status: check.status ?? 'ok',
      entries,
      warnings: check.warnings ?? [],
      errors: check.errors ?? [],
    },
    record,
    policy: config.policy,
    now: NOW,
  });
}

const FILES: FileText[] = [
  { path: 'firewall/outsystems.txt', before: '52.1.1.1/32\n52.2.2.2/32\n52.4.4.4/32\n', after: '52.1.1.1/32\n52.3.3.3/32\n52.4.4.4/32\n' },
  { path: 'firewall/cas.tfvars.json', before: null, after: '{\n  "allowlist": [\n    "13.107.228.0/23"\n  ]\n}\n' },
];

function render(drifts: TargetDrift[], files = FILES) {
  return renderPullRequest({ configName: 'prod', runId: 'run-7f3a', configFingerprint: 'c0ffee1234567890', drifts, files, checkedAt: NOW });
}

function parse(body: string): Root {
  return fromMarkdown(body, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
}

function nodesOf(tree: Nodes, type: string): Nodes[] {
  const found: Nodes[] = tree.type === type ? [tree] : [];
  if ('children' in tree) for (const child of tree.children) found.push(...nodesOf(child, type));
  return found;
}

/** Our own HTML is the folds (details with a summary); anything else would have come from outside. */
const OWN_HTML = [/^ *<details><summary>[^<>]*<\/summary>$/, /^ *<\/details>$/];

const smallCase = () => [
  drift({
    id: 'outsystems-prod',
    baseline: ['52.1.1.1', '52.2.2.2', '52.4.4.4'],
    misses: { '52.2.2.2/32': 2 },
    lastGood: {
      at: '2025-11-05T10:00:00.000Z',
      entries: [
        ['52.1.1.1', dns('prodfe1.outsystemsenterprise.com')],
        ['52.2.2.2', dns('prodfe2.outsystemsenterprise.com')],
      ],
    },
    entries: [
      ['52.1.1.1', dns('prodfe1.outsystemsenterprise.com')],
      ['52.3.3.3', dns('prodfe2.outsystemsenterprise.com', 60)],
    ],
    warnings: [{ code: 'new-front-end', message: 'LifeTime reports 3 front-end servers in environment prod but 2 are configured.' }],
  }),
  drift({ id: 'cas-us1', entries: [['13.107.228.0/23', cas('US1 portal')]] }),
  drift({
    id: 'mcas-tags',
    baseline: ['20.40.0.0/24'],
    entries: [
      ['20.40.0.0/24', tag],
      ['192.168.7.0/24', tag],
    ],
  }),
  drift({ id: 'office-vpn', status: 'error', entries: [], errors: [{ code: 'dns-timeout', message: 'no answer within 2000 ms' }] }),
];

describe('renderPullRequest', () => {
  it('renders a small case exactly', async () => {
    const text = render(smallCase());
    expect(text.title).toBe('allowlist: +2 -1 across outsystems-prod, cas-us1');
    // Reviewed by reading it rendered: test/publish/golden/small-case.md.
    await expect(text.body).toMatchFileSnapshot('golden/small-case.md');
  });
});

describe('renderPullRequest: partial checks (issue 11)', () => {
  it('lists a partial check apart from failed ones, with its warnings saying what was not read', () => {
    const typo: Problem = {
      code: 'cas-unreadable-address',
      message: 'line 25 of the CAS page, under "App connector, row US1": "13.64.16.132m" is not an IP address or CIDR',
    };
    const partial = drift({
      id: 'cas-us1',
      status: 'partial',
      baseline: ['13.107.228.0/24'],
      entries: [['13.107.228.0/23', cas('US1 portal')]],
      warnings: [typo],
    });
    expect(partial.report.status).toBe('partial');
    const { body } = render([partial, smallCase()[3]!]);
    const section = (title: string) => body.slice(body.indexOf(title), body.indexOf('###', body.indexOf(title) + 3));
    expect(section('### Checks that were partial')).toContain('- **cas-us1** (cas-docs): partial\n');
    expect(section('### Checks that failed')).not.toContain('cas-us1');
    // The warning saying what was not read is at the top, in the alert, beside the partial check.
    const alert = body.slice(body.indexOf('> [!WARNING]'), body.indexOf('\n\n', body.indexOf('> [!WARNING]')));
    expect(alert).toContain('> - **cas-us1** was checked only in part');
    expect(alert).toContain('13.64.16.132m');
  });
});

describe('renderPullRequest with hostile upstream text', () => {
  const hostname = 'evil|host<script>alert(1)</script>@team `rm -rf` **bold**\n| injected | row |';
  const heading = 'Portal [click](https://evil.example/x) www.evil.example #12 <img src=x onerror=alert(1)>';
  const hostile = () => [
    drift({
      id: 'outsystems-prod',
      baseline: ['52.1.1.1'],
      entries: [
        ['52.1.1.1', dns('prodfe1')],
        ['52.9.9.9', dns(hostname)],
      ],
    }),
    drift({
      id: 'cas-us1',
      baseline: ['52.7.7.7'],
      entries: [
        ['52.7.7.7', cas('ok')],
        ['52.8.8.8', cas(heading)],
      ],
      warnings: [{ code: 'cas-layout', message: 'line one\r\nline two | @octocat <b>bold</b>\u2028[x](javascript:alert(1))' }],
    }),
  ];

  it('keeps every list item and table row intact and lets no HTML, link or mention through', () => {
    const { body } = render(hostile());
    const tree = parse(body);
    // One group line per added address, each in its own list item under its target.
    const groups = nodesOf(tree, 'listItem')
      .map((node) => toString(node).replace(/\u200b/g, ''))
      .filter((text) => text.includes('52.9.9.9/32') || text.includes('52.8.8.8/32'));
    expect(groups).toHaveLength(2);
    for (const table of nodesOf(tree, 'table') as Table[]) {
      const width = table.children[0]!.children.length;
      for (const row of table.children) expect(row.children).toHaveLength(width);
    }
    const html = nodesOf(tree, 'html').map((node) => (node as { value: string }).value);
    expect(html.filter((value) => !OWN_HTML.some((own) => own.test(value)))).toEqual([]);
    expect(nodesOf(tree, 'link')).toEqual([]);
    expect(nodesOf(tree, 'inlineCode').map((node) => toString(node))).toEqual(['52.9.9.9/32', '52.8.8.8/32']);
    expect(nodesOf(tree, 'strong').map((node) => toString(node))).not.toContain('bold');
    for (const raw of ['<script', '<img', '<b>', '@team', '@octocat', 'https://evil', 'www.evil', '#12', '\r', '\u2028'])
      expect(body).not.toContain(raw);

    // The reviewer still reads the upstream text as it was, on one line.
    expect(groups[0]).toContain('evil|host<script>alert(1)</script>@team `rm -rf` **bold** | injected | row |');
    expect(groups[1]).toContain(heading);
    const warning = nodesOf(tree, 'listItem')
      .map((node) => toString(node).replace(/\u200b/g, ''))
      .find((text) => text.includes('cas-layout'));
    expect(warning).toBe('cas-us1: cas-layout: line one line two | @octocat <b>bold</b> [x](javascript:alert(1))');
  });

  it('escapes any text into one inert table cell that still reads the same', () => {
    const markdownish = fc.constantFrom(
      ...'|\\`*_{}[]()#!~&$^<>@:/.-+=\n\r\t "\'w1 '.split(''),
      '<script>',
      '@team',
      'https://',
      'www.',
      '&lt;',
      '```',
      '\u202e',
      '\u00a0',
    );
    const text = fc
      .array(fc.oneof(markdownish, fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, (input) => {
        const tree = parse(`| a | b |\n| --- | --- |\n| x | ${escapeMarkdown(input)} |\n`);
        const tables = nodesOf(tree, 'table') as Table[];
        expect(tables).toHaveLength(1);
        expect(tables[0]!.children).toHaveLength(2);
        expect(tables[0]!.children[1]!.children).toHaveLength(2);
        for (const type of ['html', 'link', 'inlineCode', 'emphasis', 'strong', 'delete', 'image']) expect(nodesOf(tree, type)).toEqual([]);
        const shown = toString(tables[0]!.children[1]!.children[1]!).replace(/\u200b/g, '');
        const expected = input
          .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
          .replace(/\s+/g, ' ')
          .trim();
        expect(shown).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('links and times', () => {
  it('links only a plain http(s) URL, encoded so it cannot end the link early', () => {
    const links = (markdown: string) =>
      nodesOf(parse(markdown), 'link').map((node) => [(node as { url: string }).url, toString(node).replace(/\u200b/g, '')]);
    expect(links(markdownLink('https://docs.example.test/a b)(c.md?x=<1>', 'CAS page'))).toEqual([
      ['https://docs.example.test/a%20b%29%28c.md?x=%3C1%3E', 'CAS page'],
    ]);
    for (const url of ['javascript:alert(1)', 'file:///etc/passwd', 'https://user:secret@example.test/x', 'not a url']) {
      expect(links(markdownLink(url, 'page'))).toEqual([]);
      expect(markdownLink(url, 'page')).not.toContain('secret');
    }
    // The label is upstream-safe text too.
    expect(links(markdownLink('https://example.test/', '[x](https://evil.example)'))).toEqual([
      ['https://example.test/', '[x](https://evil.example)'],
    ]);
  });

  it('writes times for people with their zone, and leaves a time it cannot read inert', () => {
    expect(humanTime('2025-11-07T10:00:00.000Z')).toBe('7 Nov 2025, 10:00 UTC');
    expect(humanTime('2026-01-31T23:59:59.999+02:00')).toBe('31 Jan 2026, 21:59 UTC');
    expect(humanTime('yesterday <b>')).toBe('yesterday &lt;b&gt;');
  });
});

describe('renderPullRequest size and stability', () => {
  /** 20,000 public /32s that do not aggregate: 52.a.b.1 and 53.a.b.1. */
  const many = Array.from(
    { length: 20_000 },
    (_, index) => `${52 + Math.floor(index / 10_000)}.${Math.floor((index % 10_000) / 100)}.${index % 100}.1`,
  );

  it('truncates 20,000 additions to fit GitHub’s limit without cutting a row', () => {
    const big = drift({ id: 'mcas-tags', entries: many.map((cidr) => [cidr, tag] as const) });
    expect(big.report.added).toHaveLength(20_000);
    const { body } = render([big, ...smallCase().slice(0, 1)]);
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(MAX_BODY_CHARS).toBeLessThan(65_536);

    // The group line stays whole; its folded list is cut at a whole address and says how many it leaves out.
    expect(body).toContain(
      '**mcas-tags** (service-tags), +20000, from service tags changeNumber 351:\n\n- tag MicrosoftCloudAppSecurity, tag changeNumber 42: 20000 addresses',
    );
    const listed = body.slice(body.indexOf('```text\n') + 8, body.indexOf('\n  …', body.indexOf('```text\n'))).split('\n');
    expect(listed.length).toBeGreaterThan(1_000);
    for (const line of listed) expect(parseCidr(line.trim())).toBe(line.trim());
    expect(body).toContain(
      `  … and ${20_000 - listed.length} more, left out to fit GitHub’s size limit; the files in this PR hold all of them`,
    );
    // The other target's change, the verdicts and the run details are all still there.
    expect(body).toContain('- `52.2.2.2/32`: last listed by');
    expect(body).toContain('Guard verdicts: all');
    expect(body.trimEnd().endsWith('</details>')).toBe(true);
  });

  it('is deterministic: the same input gives the same bytes', () => {
    const first = render(smallCase());
    const second = render(structuredClone(smallCase()));
    expect(second).toEqual(first);
    const big = drift({ id: 'mcas-tags', entries: many.slice(0, 5_000).map((cidr) => [cidr, tag] as const) });
    expect(render([big]).body).toBe(render([big]).body);
  });

  it('keeps the title short and says how many targets it leaves out', () => {
    const ids = Array.from({ length: 12 }, (_, index) => `outsystems-environment-${index}`);
    const drifts = ids.map((id) => ({ ...smallCase()[0]!, report: { ...smallCase()[0]!.report, id } }));
    const { title } = render(drifts);
    expect(title.length).toBeLessThanOrEqual(MAX_TITLE_CHARS);
    expect(title).toMatch(/^allowlist: \+12 -12 across outsystems-environment-0, outsystems-environment-1, .* and \d+ more$/);
    expect(render([smallCase()[3]!]).title).toBe('allowlist: no address changes');
  });
});
