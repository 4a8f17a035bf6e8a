import { afterEach, describe, expect, it } from 'vitest';
import { sharedFile } from '../peers/http.js';
import { BRANCH, TOKEN, startHarness, type Harness } from './harness.js';

/**
 * Issue 25: a github-meta target through the whole engine against the GitHub peer, which serves /meta (a sample
 * written from GitHub's schema) beside the repository the PRs go to: baseline, a change, a removal only after the
 * configured misses, and a broken document or a vanished key that changes nothing.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const FILE = 'firewall/github.txt';
const SAMPLE = JSON.parse(sharedFile('fixtures/github-meta/meta_sample.json').toString('utf8')) as Record<string, unknown>;
const DEPENDABOT = SAMPLE.dependabot as string[];
const IMPORTER = SAMPLE.importer as string[];
const lines = (text: string | null) => (text ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

async function metaHarness(): Promise<Harness> {
  return startHarness({
    config: (defaults, { github }) => ({
      ...defaults,
      targets: [{ id: 'github', type: 'github-meta', url: `${github.url}/meta`, keys: ['dependabot', 'importer'] }],
      files: [{ path: FILE, format: 'plain', targets: ['github'] }],
      policy: { removeAfterMisses: 3 },
    }),
  });
}

describe('engine: a github-meta target (issue 25)', () => {
  it('proposes the lists, then a change, and removes an address only after three complete checks without it', async () => {
    h = await metaHarness();
    const first = await h.run();
    expect(first.report.targets[0]).toMatchObject({ status: 'ok', errors: [], warnings: [] });
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    const body = h.github.pullRequest(1).body ?? '';
    expect(body).toMatch(/\[GitHub meta\]\(http:\/\/127\.0\.0\.1:\d+\/meta\) revision sha256:[0-9a-f]{16}/);
    expect(body).toContain('"dependabot"');
    expect(lines(h.github.readFile(BRANCH, FILE))).toHaveLength(DEPENDABOT.length + IMPORTER.length);
    // Every meta read carried the config's token: the document is on the github.apiUrl origin.
    expect(h.github.metaReads.every((read) => read.authorization === `Bearer ${TOKEN}`)).toBe(true);
    h.github.mergePullRequest(1);
    await h.run();
    expect((await h.state()).targets.get('github')!.baseline).toHaveLength(6);

    // GitHub adds a Dependabot address and drops an importer one.
    h.github.metaDocument = { ...SAMPLE, dependabot: [...DEPENDABOT, '35.171.47.199/32'], importer: IMPORTER.slice(1) };
    for (const check of [1, 2, 3]) {
      const { report } = await h.run();
      const [target] = report.targets;
      expect(target!.status).toBe('ok');
      if (check === 1) expect(target!.added).toEqual(['35.171.47.199/32']);
      if (check < 3) expect(target!.pendingRemoval).toEqual([{ cidr: IMPORTER[0], misses: check }]);
      else expect(target!.removed).toEqual([IMPORTER[0]]);
    }
    const file = lines(h.github.readFile(BRANCH, FILE));
    expect(file).toContain('35.171.47.199/32');
    expect(file).not.toContain(IMPORTER[0]);
  });

  it('changes nothing on a broken document or a vanished key, and says why', async () => {
    h = await metaHarness();
    await h.run();
    h.github.mergePullRequest(1);
    await h.run();
    const approved = (await h.state()).targets.get('github')!.baseline;

    h.github.metaDocument = ['not', 'the', 'meta', 'document'];
    const broken = await h.run();
    expect(broken.report.targets[0]).toMatchObject({ status: 'error', added: [], removed: [], pendingRemoval: [] });
    expect(broken.report.targets[0]!.errors.map((problem) => problem.code)).toEqual(['github-meta-shape']);

    const { importer: _gone, ...renamed } = SAMPLE;
    h.github.metaDocument = { ...renamed, importers: IMPORTER };
    for (let check = 0; check < 3; check++) {
      const { report } = await h.run();
      expect(report.targets[0]).toMatchObject({ status: 'partial', added: [], removed: [], pendingRemoval: [] });
      expect(report.targets[0]!.warnings[0]!.message).toMatch(/no key "importer"; the closest keys with addresses are "importers"/);
      expect(report.pullRequest).toEqual({ action: 'none' });
    }
    expect((await h.state()).targets.get('github')!.baseline).toEqual(approved);
    expect(h.github.pullRequests()).toHaveLength(1);
  });
});
