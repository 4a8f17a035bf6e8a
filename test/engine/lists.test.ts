import { afterEach, describe, expect, it } from 'vitest';
import { approveHeld } from '../../shared/engine/approve.js';
import type { TargetReport } from '../../shared/report.js';
import { sharedFile } from '../peers/http.js';
import { BRANCH, startHarness, type Harness } from './harness.js';

/**
 * The generic list sources (issue 25) through the whole engine, against Azurite, the GitHub peer and an HTTP peer
 * serving the README recipes' samples: a first PR, a change, removal only after the configured misses, and a broken
 * document (shape changed, an HTML page, an empty list) that changes nothing.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const GCP_PATH = '/ipranges/cloud.json';
const CLOUDFLARE_PATH = '/ips-v4';
const FILES = { gcp: 'firewall/gcp.txt', cloudflare: 'firewall/cloudflare.txt' } as const;
const GCP_SELECT = "prefixes[?scope=='europe-west1'].[ipv4Prefix || ipv6Prefix]";

interface CloudJson {
  prefixes: Array<{ ipv4Prefix?: string; ipv6Prefix?: string; service?: string; scope?: string }>;
  [key: string]: unknown;
}
const cloudSample = (): CloudJson => JSON.parse(sharedFile('fixtures/recipes/google-cloud.json').toString('utf8')) as CloudJson;
const cloudflareSample = (): string => sharedFile('fixtures/recipes/cloudflare-ips-v4.txt').toString('utf8');

const GCP_V4 = ['34.22.112.0/20', '34.76.0.0/14', '35.187.0.0/17'];
const GCP_V6 = ['2600:1900:4010::/44'];
const CLOUDFLARE_COUNT = 15;

const ruleLines = (branch: string, path: string) =>
  (h.github.readFile(branch, path) ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

/** A json target (the Google Cloud recipe) and a text target (Cloudflare's IPv4 list), each in its own plain file. */
async function listsHarness(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      targets: [
        { id: 'gcp', type: 'json', url: `${http.url}${GCP_PATH}`, select: GCP_SELECT, version: 'creationTime' },
        { id: 'cloudflare', type: 'text', url: `${http.url}${CLOUDFLARE_PATH}` },
      ],
      files: [
        { path: FILES.gcp, format: 'plain', targets: ['gcp'] },
        { path: FILES.cloudflare, format: 'plain', targets: ['cloudflare'] },
      ],
      policy: { removeAfterMisses: 3 },
    }),
  });
  serveGcp(harness, cloudSample());
  harness.serve(CLOUDFLARE_PATH, cloudflareSample(), 'text/plain; charset=utf-8');
  return harness;
}

function serveGcp(harness: Harness, document: unknown): void {
  harness.serve(GCP_PATH, JSON.stringify(document), 'application/json');
}

const target = (report: { targets: readonly TargetReport[] }, id: string) => report.targets.find((t) => t.id === id)!;

/**
 * The first check is held: Google's /14 and Cloudflare's /13s are broader than the default policy's /16, so a person
 * approves each target once (the README recipes say so); then the first PR opens, is merged and promoted.
 */
async function approvedBaseline(): Promise<void> {
  const first = await h.run();
  expect(first.report.errors).toEqual([]);
  expect(first.report.targets.map((t) => [t.id, t.status])).toEqual([
    ['gcp', 'held'],
    ['cloudflare', 'held'],
  ]);
  expect(target(first.report, 'gcp').verdicts.find((v) => v.outcome === 'hold')).toMatchObject({
    guard: 'broad-prefix',
    message: expect.stringContaining('34.76.0.0/14'),
  });
  for (const targetId of ['gcp', 'cloudflare']) await approveHeld({ config: h.config, store: h.store, env: {}, targetId, source: 'cli' });
  const approved = await h.run();
  expect(approved.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
  h.github.mergePullRequest(1);
  await h.run();
}

/** Serves a broken document, checks that the run changes nothing, and serves the good one again. */
async function expectNothingChanges(
  id: 'gcp' | 'cloudflare',
  serveBroken: () => void,
  code: string,
  before: { baseline: readonly string[]; prNumber: number | undefined },
): Promise<void> {
  serveBroken();
  const { report } = await h.run();
  const broken = target(report, id);
  expect(broken.status).toBe('error');
  expect(broken.errors.map((e) => e.code)).toEqual([code]);
  expect(broken.added).toEqual([]);
  expect(broken.removed).toEqual([]);
  expect(broken.pendingRemoval ?? []).toEqual([]);
  expect(report.pullRequest.action === 'none' || report.pullRequest.action === 'unchanged').toBe(true);
  expect(h.github.pullRequests().length).toBe(before.prNumber ?? 0);
  const stored = (await h.state()).targets.get(id)!;
  expect(stored.baseline).toEqual(before.baseline);
  expect(stored.misses).toEqual({});
}

describe('engine: a json target (Google Cloud, one region)', () => {
  it('proposes the region, then a new range; a broken document changes nothing; a dropped range goes after three misses', async () => {
    h = await listsHarness();
    await approvedBaseline();
    const baseline = (await h.state()).targets.get('gcp')!.baseline!;
    expect(baseline).toEqual([...GCP_V4, ...GCP_V6]);
    expect(ruleLines('main', FILES.gcp)).toEqual([...GCP_V4, ...GCP_V6]);
    const pr1 = h.github.pullRequest(1).body ?? '';
    expect(pr1).toMatch(
      /\*\*gcp\*\* \(json\), \+4, from \[JSON document\]\(http:\/\/127\.0\.0\.1:\d+\/ipranges\/cloud\.json\) version 2026-12-07T07:00:00\.000000:$/m,
    );
    // The expression is cited as written, made inert for markdown (brackets and pipes escaped).
    expect(pr1).toContain("- select prefixes\\[?scope=='europe-west1'\\].\\[ipv4Prefix \\|\\| ipv6Prefix\\] (seen since");

    // A change: one more europe-west1 range is proposed, the other regions still ignored.
    const grown = cloudSample();
    grown.prefixes.push({ ipv4Prefix: '34.1.212.0/24', service: 'Google Cloud', scope: 'europe-west1' });
    grown.prefixes.push({ ipv4Prefix: '34.2.0.0/24', service: 'Google Cloud', scope: 'us-east1' });
    serveGcp(h, grown);
    const change = await h.run();
    expect(target(change.report, 'gcp')).toMatchObject({ status: 'ok', added: ['34.1.212.0/24'], removed: [] });
    expect(change.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    h.github.mergePullRequest(2);
    await h.run();
    const approved = (await h.state()).targets.get('gcp')!.baseline!;
    expect(approved).toContain('34.1.212.0/24');

    // Broken documents: the shape changed (prefixes renamed), the region gone, an HTML page, not JSON. Nothing moves.
    const before = { baseline: approved, prNumber: 2 };
    const renamed = { ...grown, ranges: grown.prefixes } as Record<string, unknown>;
    delete renamed.prefixes;
    await expectNothingChanges('gcp', () => serveGcp(h, renamed), 'json-shape', before);
    const noRegion = { ...grown, prefixes: grown.prefixes.filter((p) => p.scope !== 'europe-west1') };
    await expectNothingChanges('gcp', () => serveGcp(h, noRegion), 'json-shape', before);
    await expectNothingChanges(
      'gcp',
      () => h.serve(GCP_PATH, '<!doctype html><title>Sign in</title>', 'text/html'),
      'http-content-type',
      before,
    );
    await expectNothingChanges('gcp', () => h.serve(GCP_PATH, '{"prefixes": [', 'application/json'), 'json-not-json', before);

    // A range dropped from the region: missed, missed, then proposed for removal.
    const shrunk = { ...grown, prefixes: grown.prefixes.filter((p) => p.ipv4Prefix !== '35.187.0.0/17') };
    serveGcp(h, shrunk);
    for (const check of [1, 2]) {
      const { report } = await h.run();
      expect(target(report, 'gcp')).toMatchObject({
        status: 'ok',
        removed: [],
        pendingRemoval: [{ cidr: '35.187.0.0/17', misses: check }],
      });
      expect(report.pullRequest).toEqual({ action: 'none' });
    }
    const third = await h.run();
    expect(target(third.report, 'gcp')).toMatchObject({ status: 'ok', removed: ['35.187.0.0/17'] });
    expect(third.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(ruleLines(BRANCH, FILES.gcp)).not.toContain('35.187.0.0/17');
    expect(ruleLines(BRANCH, FILES.gcp)).toContain('34.76.0.0/14');
  }, 120_000);

  it('keeps every approved address while the document yields a value that is not an address', async () => {
    h = await listsHarness();
    await approvedBaseline();
    // One entry lost its address key and another was dropped: the null is named, and the dropped range is not missed.
    const odd = cloudSample();
    odd.prefixes = odd.prefixes.filter((p) => p.ipv4Prefix !== '35.187.0.0/17');
    odd.prefixes.push({ service: 'Google Cloud', scope: 'europe-west1' });
    serveGcp(h, odd);
    for (let check = 0; check < 3; check++) {
      const { report } = await h.run();
      const gcp = target(report, 'gcp');
      expect(gcp.status).toBe('partial');
      expect(gcp.warnings.map((w) => w.code)).toEqual(['json-not-address']);
      expect(gcp.removed).toEqual([]);
      expect(report.pullRequest).toEqual({ action: 'none' });
    }
    expect((await h.state()).targets.get('gcp')!.misses).toEqual({});
  }, 120_000);
});

describe('engine: a text target (Cloudflare IPv4)', () => {
  it('proposes the list, then a new line; an empty list or a web page changes nothing; a dropped line goes after three misses', async () => {
    h = await listsHarness();
    await approvedBaseline();
    const baseline = (await h.state()).targets.get('cloudflare')!.baseline!;
    expect(baseline).toHaveLength(CLOUDFLARE_COUNT);
    expect(ruleLines('main', FILES.cloudflare)).toHaveLength(CLOUDFLARE_COUNT);
    expect(h.github.pullRequest(1).body ?? '').toMatch(
      /\*\*cloudflare\*\* \(text\), \+15, from \[text list\]\(http:\/\/127\.0\.0\.1:\d+\/ips-v4\)/,
    );

    const grown = `${cloudflareSample()}\n# added 2026-12\n104.28.0.0/24 ; new POP`;
    h.serve(CLOUDFLARE_PATH, grown, 'text/plain');
    const change = await h.run();
    expect(target(change.report, 'cloudflare')).toMatchObject({ status: 'ok', added: ['104.28.0.0/24'], removed: [] });
    expect(change.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    h.github.mergePullRequest(2);
    await h.run();
    const approved = (await h.state()).targets.get('cloudflare')!.baseline!;
    expect(approved).toHaveLength(CLOUDFLARE_COUNT + 1);

    const before = { baseline: approved, prNumber: 2 };
    await expectNothingChanges('cloudflare', () => h.serve(CLOUDFLARE_PATH, '', 'text/plain'), 'text-empty', before);
    await expectNothingChanges('cloudflare', () => h.serve(CLOUDFLARE_PATH, '# maintenance\n', 'text/plain'), 'text-empty', before);
    await expectNothingChanges(
      'cloudflare',
      () => h.serve(CLOUDFLARE_PATH, '<!DOCTYPE html><html><body>IP Ranges</body></html>', 'text/html; charset=utf-8'),
      'text-html',
      before,
    );
    await expectNothingChanges(
      'cloudflare',
      () => h.serve(CLOUDFLARE_PATH, '<html><body>503</body></html>', 'text/plain'),
      'text-html',
      before,
    );

    const shrunk = grown
      .split('\n')
      .filter((line) => line !== '131.0.72.0/22')
      .join('\n');
    h.serve(CLOUDFLARE_PATH, shrunk, 'text/plain');
    for (const check of [1, 2]) {
      const { report } = await h.run();
      expect(target(report, 'cloudflare')).toMatchObject({ status: 'ok', pendingRemoval: [{ cidr: '131.0.72.0/22', misses: check }] });
    }
    const third = await h.run();
    expect(target(third.report, 'cloudflare')).toMatchObject({ status: 'ok', removed: ['131.0.72.0/22'] });
    expect(third.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(ruleLines(BRANCH, FILES.cloudflare)).toHaveLength(CLOUDFLARE_COUNT);
    expect(ruleLines(BRANCH, FILES.cloudflare)).not.toContain('131.0.72.0/22');
  }, 120_000);
});
