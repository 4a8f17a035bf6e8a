import type { Link, Nodes } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { toString } from 'mdast-util-to-string';
import { gfmTable } from 'micromark-extension-gfm-table';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Target } from '../../shared/config.js';
import { computeDrift, type TargetDrift } from '../../shared/drift/drift.js';
import { parseCidr } from '../../shared/ipset.js';
import { pullRequestTextFingerprint, renderPullRequest, type FileText } from '../../shared/publish/pr-text.js';
import { parseCasPage } from '../../shared/sources/cas-docs/page.js';
import { selectCasEntries } from '../../shared/sources/cas-docs/index.js';
import type { EntryEvidence, Observation } from '../../shared/sources/source.js';
import { sharedFile } from '../peers/http.js';

/**
 * Issue 13's example: the first run over two OutSystems front-ends and the US1 app-connector row of the CAS page.
 * The body this replaced was 10.6 KB (47 rows repeating one sentence and one timestamp, ten passing verdicts).
 */
const PAGE_URL = 'https://raw.githubusercontent.com/MicrosoftDocs/defender-docs/public/CloudAppSecurityDocs/network-requirements.md';
const NOW = '2025-11-07T10:00:00.000Z';
const RESOLVER = '168.63.129.16:53';

const config = parseConfig({
  name: 'prod',
  targets: [
    { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] },
    { id: 'cas-us1', type: 'cas-docs', url: PAGE_URL, dataCenters: ['US1'], sections: ['app-connector'] },
  ],
});
const target = (id: string): Target => config.targets.find((t) => t.id === id)!;

const dns = (hostname: string, ttl: number, at = NOW): EntryEvidence => ({
  kind: 'dns',
  hostname: `${hostname}.outsystemsenterprise.com`,
  recordType: 'A',
  ttl,
  resolver: RESOLVER,
  at,
});

function outsystems(ttl: number, warnings: Observation['warnings'] = []): Observation {
  return {
    targetId: 'outsystems-prod',
    type: 'outsystems',
    observedAt: NOW,
    status: 'ok',
    entries: [
      { cidr: parseCidr('52.17.1.11'), evidence: [dns('acmefe1', ttl)] },
      { cidr: parseCidr('52.17.1.12'), evidence: [dns('acmefe2', ttl)] },
    ],
    warnings,
    errors: [],
  };
}

function cas(): Observation {
  const page = parseCasPage(sharedFile('fixtures/cas/network-requirements_2024-06-20.md').toString('utf8'));
  const selection = selectCasEntries(page, { sections: ['app-connector'], dataCenters: ['US1'], url: PAGE_URL });
  return { targetId: 'cas-us1', type: 'cas-docs', observedAt: NOW, status: 'ok', entries: selection.entries, warnings: [], errors: [] };
}

const drift = (observation: Observation): TargetDrift =>
  computeDrift({ target: target(observation.targetId), observation, record: undefined, policy: config.policy, now: NOW });

function files(drifts: readonly TargetDrift[]): FileText[] {
  return [
    { path: 'firewall/outsystems.txt', before: null, after: drifts[0]!.proposed.map((cidr) => `${cidr}\n`).join('') },
    { path: 'firewall/cas.json', before: null, after: `${JSON.stringify(drifts[1]!.proposed, null, 2)}\n` },
  ];
}

function firstRun(drifts = [drift(outsystems(300)), drift(cas())]) {
  return renderPullRequest({
    configName: 'prod',
    runId: 'run-7f3a',
    configFingerprint: 'c0ffee1234567890',
    drifts,
    files: files(drifts),
    checkedAt: NOW,
  });
}

const parse = (body: string) => fromMarkdown(body, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
function nodesOf(tree: Nodes, type: string): Nodes[] {
  const found: Nodes[] = tree.type === type ? [tree] : [];
  if ('children' in tree) for (const child of tree.children) found.push(...nodesOf(child, type));
  return found;
}

describe('the first-run PR of issue 13', () => {
  it('tells the story in its first lines, states each evidence once with a link, and is a fraction of 10.6 KB', async () => {
    const drifts = [drift(outsystems(300)), drift(cas())];
    expect(drifts[1]!.report.added).toHaveLength(47);
    const { title, body } = firstRun(drifts);
    // Reviewed by reading it rendered: test/publish/golden/first-run.md.
    await expect(body).toMatchFileSnapshot('golden/first-run.md');

    expect(title).toBe('allowlist: +49 -0 across outsystems-prod, cas-us1');
    const bytes = Buffer.byteLength(body);
    expect(bytes).toBeLessThan(4_500);

    const lines = body.split('\n');
    expect(lines[0]).toBe(
      '**allowlist-drift** proposes **+49 −0** for config prod, checked 7 Nov 2025, 10:00 UTC. Merging approves it as the new baseline; closing declines this exact proposal.',
    );
    expect(lines.slice(2, 6)).toEqual([
      '| Target | Change | Why |',
      '| --- | --- | --- |',
      `| outsystems-prod (outsystems) | +2 −0 | DNS A answer from resolver ${RESOLVER}: acmefe1.outsystemsenterprise.com, acmefe2.outsystemsenterprise.com |`,
      `| cas-us1 (cas-docs) | +47 −0 | [CAS page](${PAGE_URL}) revision 2024-02-29: App connector, US1 |`,
    ]);
    // Nothing needs a look first, so there is no alert; every guard passed, so the verdicts are folded.
    expect(body).not.toContain('[!WARNING]');
    expect(body).toContain('<details><summary>Guard verdicts: all 12 pass</summary>');

    // One line per shared evidence, the 45 addresses folded under it, each address once in the body.
    // A target whose groups share one source names it once, above them.
    expect(body).toContain(
      `**cas-us1** (cas-docs), +47, from [CAS page](${PAGE_URL}) revision 2024-02-29:\n\n- App connector, US1: 47 addresses\n  <details>`,
    );
    expect(body).toContain(`**outsystems-prod** (outsystems), +2, from DNS A answer from resolver ${RESOLVER}:`);
    expect(body).toContain('- acmefe1.outsystemsenterprise.com, TTL 300 s: `52.17.1.11/32`');
    expect(body.split(`resolver ${RESOLVER}`).length - 1).toBe(2);
    for (const cidr of drifts[1]!.report.added) expect(body.split(cidr).length - 1, cidr).toBe(1);
    expect(body.split('revision 2024-02-29').length - 1).toBe(2);
    // Times for people above; the ISO time only in the machine-readable run details.
    const details = body.indexOf('<details><summary>Run details</summary>');
    expect(body.slice(0, details)).not.toContain('2025-11-07T10:00:00.000Z');
    const open = body.indexOf('```json\n', details) + 8;
    const json = body.slice(open, body.indexOf('\n```', open));
    expect(JSON.parse(json)).toMatchObject({
      config: 'prod',
      runId: 'run-7f3a',
      checkedAt: NOW,
      targets: [{ id: 'outsystems-prod' }, { id: 'cas-us1' }],
    });

    // Every link goes to the source, in one click.
    const links = nodesOf(parse(body), 'link') as Link[];
    expect(links.map((link) => [link.url, toString(link)])).toEqual([
      [PAGE_URL, 'CAS page'],
      [PAGE_URL, 'CAS page'],
    ]);
    // The new files get no diff (they are long); the files table says how long they are.
    expect(body).toContain('| firewall/cas.json (new) | +49 −0 |');
  });

  it('keeps its text fingerprint when only the run, the TTL or the base files differ, and changes it for news', () => {
    const input = (observation: Observation) => ({
      configName: 'prod',
      configFingerprint: 'c0ffee1234567890',
      drifts: [drift(observation), drift(cas())],
    });
    const base = pullRequestTextFingerprint(input(outsystems(300)));
    // A caching resolver counts the TTL down; the next run says the same thing.
    expect(pullRequestTextFingerprint(input(outsystems(47)))).toBe(base);
    // LifeTime now counts a third front-end: the body must say so.
    const warned = outsystems(300, [{ code: 'new-front-end', message: 'LifeTime reports 3 front-end servers but 2 are configured.' }]);
    expect(pullRequestTextFingerprint(input(warned))).not.toBe(base);
    const { body } = firstRun([drift(warned), drift(cas())]);
    expect(body.split('\n').slice(7, 10)).toEqual([
      '> [!WARNING]',
      '> **Look at these first:**',
      '> - **outsystems-prod**: LifeTime reports 3 front-end servers but 2 are configured. Its address is not allowlisted until it is added to the config.',
    ]);
  });
});
