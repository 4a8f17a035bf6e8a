import { afterEach, describe, expect, it } from 'vitest';
import { readStatus } from '../../shared/engine/status.js';
import { BRANCH, FE2_V4, FILES, NEW_V4, TAGS_PATH, startHarness, type Harness } from './harness.js';
import { TAG, lines, serviceTags } from './held-tags.js';

/**
 * The findings of issue 20 about guards: a count flood passes no guard any more, a held change is stored as a
 * bounded summary, a result that could not be stored is never published, and a held change is not released by
 * renaming the config.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

/**
 * `count` distinct public /32s scattered over 60.0.0.0/6 by a seeded generator, as an attacker would pick them:
 * they neither aggregate nor compress the way a run of neighbouring addresses would.
 */
const flood = (count: number): string[] => {
  let seed = 20;
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const picked = new Set<number>();
  while (picked.size < count) picked.add((60 << 24) + (next() % (1 << 26)));
  return [...picked].map((n) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/32`);
};

/** An OutSystems target and a one-tag service-tags target, each in its own file, both approved. */
async function twoTargetsApproved(options: { dashboard?: boolean } = {}): Promise<void> {
  h = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      // The flooded file is a few MB: room to serve it on a busy machine.
      http: { timeoutMs: 60_000 },
      github: { ...defaults.github!, dashboard: options.dashboard ?? false },
      targets: [defaults.targets[0]!, { id: 'mcas-tags', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
      files: [
        { path: FILES.outsystems, format: 'plain', targets: ['acme-prod'] },
        { path: FILES.tags, format: 'plain', targets: ['mcas-tags'] },
      ],
    }),
  });
  h.serveServiceTags(serviceTags());
  await h.run();
  h.github.mergePullRequest(1);
  await h.run();
}

describe('engine: a flood of new ranges', () => {
  it('holds 100,000 /32s injected into a 7-range tag, stores the hold, shows it, and keeps publishing the other target', async () => {
    await twoTargetsApproved({ dashboard: true });
    const approvedTags = (await h.state()).targets.get('mcas-tags')!.baseline!;
    // The tag's 4 IPv4 and 3 IPv6 ranges: the issue's 7-range tag.
    expect(approvedTags).toHaveLength(7);

    h.serveServiceTags(serviceTags(flood(100_000)));
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    const { report } = await h.run();

    const tags = report.targets.find((t) => t.id === 'mcas-tags')!;
    expect(tags.status).toBe('held');
    expect(tags.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard)).toEqual(['range-flood']);
    expect(report.errors).toEqual([]);
    // The other target's change is published, without any of the flood.
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.pullRequest(2).title).toBe('allowlist: +1 -0 across acme-prod');
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toEqual(approvedTags);
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toContain(`${NEW_V4}/32`);

    // Stored: the hold as a summary (counts, fingerprint, a sample), the approved baseline as it was.
    const stored = (await h.state()).targets.get('mcas-tags')!;
    expect(stored).toMatchObject({ lastStatus: 'held', baseline: approvedTags, held: { addedCount: tags.held!.addedCount, removed: [] } });
    expect(stored.held!.addedCount).toBeGreaterThan(99_000); // a few neighbours merged
    expect(stored.held!.added).toHaveLength(100);
    expect(stored.held!.fingerprint).toBe(tags.held!.fingerprint);
    expect(stored.observation!.entries.map((e) => e.cidr)).toEqual(approvedTags);
    expect((await h.state()).targets.get('acme-prod')!.proposed).toContain(`${NEW_V4}/32`);

    // The dashboard and the status show the hold and its size.
    const [issue] = h.github.issues();
    expect(issue!.body).toContain(`fingerprint=${stored.held!.fingerprint}`);
    expect(issue!.body).toMatch(/would add: (6[0-3]\.\d+\.\d+\.\d+\/32, ){19}6[0-3]\.\d+\.\d+\.\d+\/32 and \d+ more/);
    expect(issue!.body).toContain(`held by range-flood: ${stored.held!.addedCount} new IPv4 ranges against 4 in the baseline`);
    const status = await readStatus(h.config, h.store);
    expect(status.targets.find((t) => t.id === 'mcas-tags')).toMatchObject({
      status: 'held',
      heldBy: [{ guard: 'range-flood', message: expect.stringContaining(`${stored.held!.addedCount} new IPv4 ranges`) }],
    });

    // The next run with the same flood stores again and changes nothing on GitHub.
    const again = await h.run();
    expect(again.report.errors).toEqual([]);
    expect(again.report.targets.find((t) => t.id === 'mcas-tags')!.status).toBe('held');
    expect(again.report.pullRequest.action).toBe('unchanged');
    // Not a time limit on the code: observing and diffing 100,000 ranges is slow on a shared machine.
  }, 300_000);

  it('refuses before publishing a first proposal whose state could not be stored, and stores the rest of the run', async () => {
    h = await startHarness({
      config: (defaults, { http }) => ({
        ...defaults,
        http: { timeoutMs: 60_000 },
        targets: [defaults.targets[0]!, { id: 'mcas-tags', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
        files: [
          { path: FILES.outsystems, format: 'plain', targets: ['acme-prod'] },
          { path: FILES.tags, format: 'plain', targets: ['mcas-tags'] },
        ],
      }),
    });
    // A first proposal is reviewed whole, so no guard holds it; its 120,000 entries cannot be stored.
    h.serveServiceTags(serviceTags(flood(120_000)));
    const { report } = await h.run();

    const tags = report.targets.find((t) => t.id === 'mcas-tags')!;
    expect(tags.status).toBe('error');
    expect(tags.errors).toEqual([
      expect.objectContaining({ code: 'state-too-large', message: expect.stringContaining('nothing of it was published') }),
    ]);
    // Nothing reached GitHub: the tags file waits for a target whose addresses are not known yet, as after a failed check.
    expect(report.pullRequest).toMatchObject({ action: 'none', message: expect.stringContaining('mcas-tags') });
    expect(h.github.pullRequests()).toEqual([]);
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    // Everything else of the run was stored.
    const stored = await h.state();
    expect(stored.targets.get('mcas-tags')).toMatchObject({ lastStatus: 'error', baseline: null });
    expect(stored.targets.get('mcas-tags')!.proposed).toBeUndefined();
    expect(stored.targets.get('acme-prod')!.proposed).toHaveLength(3);

    // Once the list is ordinary again, the first PR opens with both targets.
    h.serveServiceTags(serviceTags());
    const next = await h.run();
    expect(next.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toHaveLength(7);
  }, 300_000);
});

describe('engine: a hold follows the change, not the config name', () => {
  it('holds the change again on the first run under a new name, judged against the files on the base branch', async () => {
    await twoTargetsApproved();
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    const held = await h.run();
    expect(held.report.targets.find((t) => t.id === 'mcas-tags')!.status).toBe('held');
    expect(held.report.pullRequest.action).toBe('none');

    // The same targets and files under another name: a new state partition, no baseline, no record of the hold.
    const renamed = { ...h.config, name: 'prod-renamed' };
    const { report } = await h.run({ config: renamed });
    const tags = report.targets.find((t) => t.id === 'mcas-tags')!;
    expect(tags.status).toBe('held');
    expect(tags.verdicts.find((v) => v.guard === 'mass-addition')).toMatchObject({
      outcome: 'hold',
      message: expect.stringContaining('20.0.0.0/16'),
    });
    expect(report.pullRequest.action).not.toBe('created');
    expect(h.github.pullRequests()).toHaveLength(1);
    expect((await h.store.read('prod-renamed')).targets.get('mcas-tags')).toMatchObject({ lastStatus: 'held' });
  });

  it('still opens the first PR of a config on a repository whose files do not exist yet', async () => {
    h = await startHarness({
      config: (defaults, { http }) => ({
        ...defaults,
        targets: [{ id: 'mcas-tags', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
        files: [{ path: FILES.tags, format: 'plain', targets: ['mcas-tags'] }],
      }),
    });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    const { report } = await h.run();
    expect(report.targets[0]!.status).toBe('ok');
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toContain('20.0.0.0/16');
  });
});
