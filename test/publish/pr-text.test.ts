import fc from 'fast-check';
import type { Nodes, Root, Table } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { toString } from 'mdast-util-to-string';
import { gfmTable } from 'micromark-extension-gfm-table';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Target } from '../../shared/config.js';
import { computeDrift, type TargetDrift } from '../../shared/drift.js';
import { parseCidr } from '../../shared/ipset.js';
import type { Problem } from '../../shared/problem.js';
import { escapeMarkdown, MAX_BODY_CHARS, MAX_TITLE_CHARS, renderPullRequest } from '../../shared/publish/pr-text.js';
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

function render(drifts: TargetDrift[], files = ['firewall/outsystems.txt', 'firewall/cas.tfvars.json']) {
  return renderPullRequest({ configName: 'prod', runId: 'run-7f3a', configFingerprint: 'c0ffee1234567890', drifts, files });
}

function parse(body: string): Root {
  return fromMarkdown(body, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
}

function nodesOf(tree: Nodes, type: string): Nodes[] {
  const found: Nodes[] = tree.type === type ? [tree] : [];
  if ('children' in tree) for (const child of tree.children) found.push(...nodesOf(child, type));
  return found;
}

/** Our own HTML is the collapsed run-details block; anything else would have come from outside. */
const OWN_HTML = ['<details>\n<summary>Run details</summary>', '</details>'];

const smallCase = () => [
  drift({
    id: 'outsystems-prod',
    baseline: ['52.1.1.1', '52.2.2.2', '52.4.4.4'],
    misses: { '52.2.2.2/32': 2 },
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

/** Exact expected body for smallCase(); String.raw keeps the markdown escapes as written. */
const GOLDEN_BODY = String.raw`## Allowlist drift: prod

This pull request was opened by **allowlist-drift**, which regularly re-checks the public addresses that this repository’s firewall rules allow (OutSystems Cloud front-ends, Microsoft Defender for Cloud Apps, Azure service tags). Every address added below was confirmed by its source in this check; every address removed was missing from several complete checks in a row. Merging approves the change: the merged lists become the new baseline. Closing the PR declines this exact proposal.

> [!WARNING]
> **New OutSystems front-end server.** Its address is not allowlisted until it is added to the config:
> - **outsystems-prod**: LifeTime reports 3 front-end servers in environment prod but 2 are configured.

### Changes

#### outsystems-prod (outsystems): 1 added, 1 removed

| Added | Evidence | First seen |
| --- | --- | --- |
| 52.3.3.3/32 | DNS A record of prodfe2.outsystemsenterprise.com, TTL 60 s, from resolver 127.0.0.1:5353 | 2025-11-07T10:00:00.000Z |

| Removed | Missing from consecutive complete checks |
| --- | --- |
| 52.2.2.2/32 | 3 |

Missing but not removed yet (kept until they miss enough complete checks in a row):

- 52.4.4.4/32: missed 1 check

#### cas-us1 (cas-docs): 1 added, 0 removed

| Added | Evidence | First seen |
| --- | --- | --- |
| 13.107.228.0/23 | Defender for Cloud Apps page, section portal, data center US1, under “US1 portal”, page revision 2024-06-20 | 2025-11-07T10:00:00.000Z |

### Held back, not in this PR

A guard stopped these targets; their files keep what this PR already proposed for them, or the approved baseline, until someone looks:

- **mcas-tags** (service-tags): held back, not in this PR. special-range: 1 entry from a public source is in special-purpose address space: 192.168.7.0/24 \(private\)

### Checks that failed

Nothing is removed for these targets because of this check; addresses they did return are proposed above:

- **office-vpn**: dns-timeout: no answer within 2000 ms

### Guard verdicts

| Target | Guard | Outcome | Detail |
| --- | --- | --- | --- |
| mcas-tags | special-range | **hold** | 1 entry from a public source is in special-purpose address space: 192.168.7.0/24 \(private\) |
| outsystems-prod | empty-observation | pass | 2 entries observed |
| outsystems-prod | mass-removal | pass | 2 ranges no longer observed; the limit is 30% of a family's baseline addresses or ranges, in more than 3 ranges |
| outsystems-prod | mass-addition | pass | 1 new range; any number of ranges up to /24 for IPv4 may be added, broader ones up to 100% of a family's baseline addresses |
| outsystems-prod | broad-prefix | pass | no /0, and public sources may not publish prefixes shorter than /16 \(IPv4\) or /32 \(IPv6\) |
| outsystems-prod | special-range | pass | no entry from a public source is in special-purpose address space \(configured static and VPN entries are exempt\) |
| cas-us1 | empty-observation | pass | 1 entry observed |
| cas-us1 | mass-removal | pass | 0 ranges no longer observed; the limit is 30% of a family's baseline addresses or ranges, in more than 3 ranges |
| cas-us1 | mass-addition | pass | no approved baseline yet: the first proposal adds every observed address |
| cas-us1 | broad-prefix | pass | no /0, and public sources may not publish prefixes shorter than /16 \(IPv4\) or /32 \(IPv6\) |
| cas-us1 | special-range | pass | no entry from a public source is in special-purpose address space \(configured static and VPN entries are exempt\) |
| mcas-tags | empty-observation | pass | 2 entries observed |
| mcas-tags | mass-removal | pass | 0 ranges no longer observed; the limit is 30% of a family's baseline addresses or ranges, in more than 3 ranges |
| mcas-tags | mass-addition | pass | 1 new range; any number of ranges up to /24 for IPv4 may be added, broader ones up to 100% of a family's baseline addresses |
| mcas-tags | broad-prefix | pass | no /0, and public sources may not publish prefixes shorter than /16 \(IPv4\) or /32 \(IPv6\) |

### Files

- firewall/outsystems.txt
- firewall/cas.tfvars.json

<details>
<summary>Run details</summary>

- Config: prod
- Run id: run-7f3a
- Config fingerprint: c0ffee1234567890

</details>
`;

describe('renderPullRequest', () => {
  it('renders a small case exactly', () => {
    const text = render(smallCase());
    expect(text.title).toBe('allowlist: +2 -1 across outsystems-prod, cas-us1');
    expect(text.body).toBe(GOLDEN_BODY);
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
    expect(section('### Warnings')).toContain('13.64.16.132m');
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

  it('keeps every table row intact and lets no HTML, link or mention through', () => {
    const { body } = render(hostile());
    const tree = parse(body);
    const tables = nodesOf(tree, 'table') as Table[];
    const added = tables.filter((table) => toString(table.children[0]!).startsWith('Added'));
    expect(added).toHaveLength(2);
    for (const table of added) {
      expect(table.children).toHaveLength(2); // header + the one added range
      for (const row of table.children) expect(row.children).toHaveLength(3);
    }
    expect(nodesOf(tree, 'html').map((node) => (node as { value: string }).value)).toEqual(OWN_HTML);
    expect(nodesOf(tree, 'link')).toEqual([]);
    expect(nodesOf(tree, 'inlineCode')).toEqual([]);
    expect(nodesOf(tree, 'strong').map((node) => toString(node))).not.toContain('bold');
    for (const raw of ['<script', '<img', '<b>', '@team', '@octocat', 'https://evil', 'www.evil', '#12', '\r', '\u2028'])
      expect(body).not.toContain(raw);

    // The reviewer still reads the upstream text as it was, on one line.
    const cells = added.map((table) => toString(table.children[1]!.children[1]!).replace(/\u200b/g, ''));
    expect(cells[0]).toContain('evil|host<script>alert(1)</script>@team `rm -rf` **bold** | injected | row |');
    expect(cells[1]).toContain(`under “${heading}”`);
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

    const tree = parse(body);
    const table = (nodesOf(tree, 'table') as Table[]).find((t) => toString(t.children[0]!).startsWith('Added') && t.children.length > 2)!;
    const rows = table.children.slice(1);
    for (const row of rows) {
      expect(row.children).toHaveLength(3);
      expect(parseCidr(toString(row.children[0]!))).toBe(toString(row.children[0]!));
    }
    expect(body).toContain(`… and ${20_000 - rows.length} more added ranges, not listed here; the files in this PR hold all of them.`);
    // The other target's change, the verdicts and the run details are all still there.
    expect(body).toContain('| 52.2.2.2/32 | 3 |');
    expect(body).toContain('### Guard verdicts');
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
