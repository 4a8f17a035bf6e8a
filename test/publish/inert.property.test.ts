import fc from 'fast-check';
import type { Nodes, Root } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { toString } from 'mdast-util-to-string';
import { gfmTable } from 'micromark-extension-gfm-table';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import { computeDrift, type TargetDrift } from '../../shared/drift/drift.js';
import { parseCidr } from '../../shared/ipset.js';
import { renderDashboard, tickedApprovals } from '../../shared/publish/dashboard.js';
import { readPullRequestMarker } from '../../shared/publish/github/markers.js';
import { codeSpan, escapeMarkdown } from '../../shared/publish/inert.js';
import { renderPullRequest } from '../../shared/publish/pr-text.js';
import type { EntryEvidence } from '../../shared/sources/source.js';

/**
 * Nothing echoed is live: whatever text a config, an upstream page or GitHub itself hands the tool, what it writes to
 * GitHub holds no mention, link, issue reference, task box or marker that the same rendering of plain text does not.
 * CommonMark (with GFM tables) finds links, autolinks and HTML; GitHub's own extras (bare URLs, mentions, references,
 * task boxes) are looked for in the text nodes it would act on, outside code.
 */

const NOW = '2025-11-07T10:00:00.000Z';

const hostileParts = fc.constantFrom(
  '`',
  '``',
  '```',
  ' ` ',
  '@octocat',
  '@org/team',
  '#123',
  'GH-42',
  'user/repo#7',
  'a@b.example',
  'https://evil.example/x',
  'HTTP://evil.example',
  'www.evil.example',
  '[x](https://evil.example)',
  '<https://evil.example>',
  '[ ]',
  '[x]',
  '- [ ] ',
  '* [x] ',
  '<!--',
  '-->',
  '<!-- allowlist-drift:approve target=t fingerprint=0123456789abcdef -->',
  '<!-- allowlist-drift:dashboard config=prod -->',
  '<img src=x onerror=alert(1)>',
  '<a href="https://evil.example">',
  '&lt;',
  '\n',
  '\r\n',
  '\n\n- [ ] ',
  '\u200b',
  '\u200d',
  '\u2028',
  '\ufeff',
  '\u202e',
  '|',
  '\\',
  ' ',
);
const hostile = fc
  .array(fc.oneof(hostileParts, fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 24 })
  .map((parts) => parts.join(''));

function parse(markdown: string): Root {
  return fromMarkdown(markdown, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
}

function nodesOf(tree: Nodes, type: string): Nodes[] {
  const found: Nodes[] = [];
  const visit = (node: Nodes) => {
    if (node.type === type) found.push(node);
    if ('children' in node) for (const child of node.children) visit(child as Nodes);
  };
  visit(tree);
  return found;
}

/** What GitHub would act on, as "kind: text": compared as a sorted list between a hostile and a plain rendering. */
function live(markdown: string): string[] {
  const tree = parse(markdown);
  const found: string[] = [];
  for (const node of nodesOf(tree, 'link')) found.push(`link: ${(node as { url: string }).url}`);
  for (const node of nodesOf(tree, 'image')) found.push(`image: ${(node as { url: string }).url}`);
  for (const node of nodesOf(tree, 'html')) found.push(`html: ${(node as { value: string }).value}`);
  // A task box is the literal "[ ]" or "[x]" opening a list item (an escaped bracket is text), and any list item
  // that the rendered text did not open is structure taken from outside: both count.
  for (const node of nodesOf(tree, 'listItem')) {
    const first = (node as { children: Nodes[] }).children[0];
    const at = first?.position?.start.offset;
    const raw = at === undefined ? '' : markdown.slice(at, at + 3);
    found.push(/^\[[ xX]\]$/.test(raw) ? `task: ${raw}` : 'list item');
  }
  for (const node of nodesOf(tree, 'text')) {
    const text = (node as { value: string }).value;
    const patterns: Array<[string, RegExp]> = [
      ['mention', /(?<![\w`])@[A-Za-z0-9]/g],
      ['reference', /(?<![\w&])#\d/g],
      ['reference', /\bGH-\d/gi],
      ['autolink', /https?:\/\/|\bwww\./gi],
      ['email', /[\w.+-]+@[A-Za-z0-9-]+\.[A-Za-z]/g],
    ];
    for (const [kind, pattern] of patterns) for (const match of text.matchAll(pattern)) found.push(`${kind}: ${match[0]}`);
  }
  return found.sort();
}

const config = parseConfig({
  name: 'prod',
  targets: [
    { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] },
    {
      id: 'cas-us1',
      type: 'cas-docs',
      url: 'https://docs.example.test/network-requirements.md',
      dataCenters: ['US1'],
      sections: ['portal'],
    },
  ],
});

/** Drifts whose every piece of outside text (host, resolver, heading, warning, error, approver) is `text`. */
function drifts(text: string): TargetDrift[] {
  const dnsEvidence: EntryEvidence = { kind: 'dns', hostname: text, recordType: 'A', ttl: 300, resolver: text, at: NOW };
  const casEvidence: EntryEvidence = { kind: 'cas', section: 'portal', dataCenter: 'US1', heading: text, revision: text };
  const [outsystems, cas] = config.targets;
  const acme = computeDrift({
    target: outsystems!,
    observation: {
      targetId: 'acme-prod',
      type: 'outsystems',
      observedAt: NOW,
      status: 'ok',
      entries: [{ cidr: parseCidr('52.9.9.9'), evidence: [dnsEvidence] }],
      warnings: [{ code: text, message: text }],
      errors: [],
    },
    record: undefined,
    policy: config.policy,
    now: NOW,
  });
  const failed = computeDrift({
    target: cas!,
    observation: {
      targetId: 'cas-us1',
      type: 'cas-docs',
      observedAt: NOW,
      status: 'partial',
      entries: [{ cidr: parseCidr('52.8.8.8'), evidence: [casEvidence] }],
      warnings: [{ code: 'cas-layout', message: text }],
      errors: [{ code: text, message: text }],
    },
    record: undefined,
    policy: config.policy,
    now: NOW,
  });
  const approval = { fingerprint: '0123456789abcdef', at: NOW, source: 'github' as const, by: text };
  return [{ ...acme, report: { ...acme.report, approval } }, failed];
}

function pullRequestBody(text: string): string {
  return renderPullRequest({
    configName: 'prod',
    runId: 'run',
    configFingerprint: '0000000000000000',
    drifts: drifts(text),
    files: [{ path: 'firewall/outsystems.txt', before: null, after: '52.9.9.9/32\n' }],
    attention: [{ subject: text, message: text }],
    checkedAt: NOW,
  }).body;
}

function dashboardBody(text: string): string {
  return renderDashboard({
    configName: 'prod',
    pullRequest: { number: 1, url: 'https://github.com/contoso/network/pull/1' },
    targets: [
      {
        id: 'acme-prod',
        type: 'outsystems',
        status: 'held',
        since: text,
        pendingRemoval: [{ cidr: parseCidr('52.1.1.1'), misses: 1 }],
        errors: [{ code: text, message: text }],
        warnings: [{ code: 'w', message: text }],
        held: {
          added: [parseCidr('20.0.0.0/16')],
          removed: [],
          fingerprint: '0123456789abcdef',
          since: text,
          verdicts: [{ guard: 'mass-addition', outcome: 'hold', message: text }],
        },
        approval: { fingerprint: 'fedcba9876543210', at: text, source: 'github', by: text },
      },
    ],
    refused: [{ targetId: 'acme-prod', fingerprint: '1111111111111111' }],
  }).body;
}

/** How the publisher writes a name into a comment (shared/publish/github/publisher.ts). */
const comment = (text: string) =>
  `allowlist-drift now proposes its changes from branch ${codeSpan('allowlist-drift/prod')}; this pull request from ${codeSpan(text)} is superseded.`;

describe('nothing echoed is live', () => {
  const plain = 'plain text';
  it.each([
    ['the pull request body', pullRequestBody],
    ['the dashboard issue body', dashboardBody],
    ['a comment naming a branch', comment],
  ])('%s holds no mention, link, reference, task box or marker from hostile text', (_where, render) => {
    const expected = live(render(plain));
    fc.assert(
      fc.property(hostile, (text) => {
        const body = render(text);
        expect(live(body)).toEqual(expected);
        expect(tickedApprovals(body)).toEqual(tickedApprovals(render(plain)));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a code span whole whatever backticks the text holds, and shows the text as it was', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const tree = parse(`before ${codeSpan(text)} after\n`);
        const code = nodesOf(tree, 'inlineCode');
        expect(code).toHaveLength(1);
        const shown = text
          .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ')
          .replace(/\s+/g, ' ')
          .trim();
        // Text of spaces alone is kept as they are; otherwise the one space each side of the fence is stripped.
        const value = (code[0] as { value: string }).value;
        expect(shown === '' ? value.trim() : value).toBe(shown.length > 300 ? value : shown);
        expect(toString(tree).startsWith('before ')).toBe(true);
        expect(toString(tree).endsWith(' after')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('answers a text it escaped before as it did then, each length limit on its own', () => {
    const text = '@team - see #7 '.repeat(30);
    const short = escapeMarkdown(text, 20);
    const full = escapeMarkdown(text);
    expect(short.length).toBeLessThan(full.length);
    expect(escapeMarkdown(text, 20)).toBe(short);
    expect(escapeMarkdown(text)).toBe(full);
    expect(live(full)).toEqual([]);
  });

  it('breaks the patterns GitHub acts on in escaped text, examples', () => {
    expect(live(escapeMarkdown('see GH-42 and #7, ask @octocat or @org/team, www.evil.example, https://evil.example'))).toEqual([]);
    expect(live(escapeMarkdown('- [ ] <!-- allowlist-drift:approve target=t fingerprint=0123456789abcdef -->'))).toEqual([]);
  });

  it('reads a config name from a PR marker only as the config accepts names, so none can carry a backtick or end the marker', () => {
    expect(readPullRequestMarker('<!-- allowlist-drift:pull-request config=prod-eu files=a.txt -->')).toEqual({
      configName: 'prod-eu',
      paths: ['a.txt'],
    });
    for (const name of ['x`@org/team`', 'x-->@org/team<!--', 'Prod', '-x']) {
      expect(readPullRequestMarker(`<!-- allowlist-drift:pull-request config=${name} files=a.txt -->`), name).toBeUndefined();
    }
  });
});
