import { afterEach, describe, expect, it } from 'vitest';
import { approveHeld } from '../../shared/engine/approve.js';
import { readStatus } from '../../shared/engine/status.js';
import { humanTime } from '../../shared/publish/pr-text.js';
import { BRANCH, FILES, type Harness } from './harness.js';
import { lines, serviceTags, tagsWithBaseline } from './held-tags.js';

/**
 * A held change is visible (report, status) and one explicit approval, bound to that exact change, releases it
 * into the normal PR on the next run.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const approve = (fingerprint?: string) =>
  approveHeld({ config: h.config, store: h.store, env: {}, targetId: 'mcas-tags', source: 'cli', ...(fingerprint ? { fingerprint } : {}) });

describe('engine: held changes and their approval', () => {
  it('shows what a held target would change, and an approval publishes exactly that in the PR on the next run', async () => {
    h = await tagsWithBaseline();
    // A /16 in a list of /22s and smaller: broader than anything the tag publishes, held by mass-addition.
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));

    const held = await h.run();
    const target = held.report.targets[0]!;
    expect(target.status).toBe('held');
    expect([target.added, target.removed]).toEqual([[], []]);
    expect(target.held).toMatchObject({ added: ['20.0.0.0/16'], removed: [] });
    expect(target.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard)).toEqual(['mass-addition']);
    expect(held.report.pullRequest.action).toBe('none');
    const fingerprint = target.held!.fingerprint;

    const status = await readStatus(h.config, h.store);
    expect(status.targets[0]!.held).toMatchObject({ added: ['20.0.0.0/16'], removed: [], fingerprint });
    expect(status.targets[0]!.held!.verdicts.map((v) => v.guard)).toEqual(['mass-addition']);
    // Held again by the next check: the same change, still the same fingerprint and the same "since".
    const again = await h.run();
    expect(again.report.targets[0]!.held).toEqual(target.held);

    const approved = await approve(fingerprint);
    expect(approved.approval).toMatchObject({ fingerprint, source: 'cli' });
    expect((await h.state()).targets.get('mcas-tags')!.approval).toEqual(approved.approval);

    const released = await h.run();
    expect(released.report.targets[0]).toMatchObject({ status: 'ok', added: ['20.0.0.0/16'], approval: approved.approval });
    expect(released.report.targets[0]!.held).toBeUndefined();
    expect(released.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toContain('20.0.0.0/16');
    const body = h.github.pullRequest(2).body;
    expect(body).toContain('### Released from a hold');
    expect(body).toContain(
      `- **mcas-tags**: held by mass-addition; approved via cli at ${humanTime(approved.approval.at)} (held change ${fingerprint})`,
    );

    // Merging makes it the baseline; the guards then pass on their own and the approval is spent.
    h.github.mergePullRequest(2);
    const merged = await h.run();
    expect(merged.report.targets[0]).toMatchObject({ status: 'ok', added: [] });
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
  });

  it('refuses an approval when nothing is held, or when the held change differs from the one shown', async () => {
    h = await tagsWithBaseline();
    await expect(approve()).rejects.toMatchObject({ code: 'approve-nothing-held' });

    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    const shown = (await h.run()).report.targets[0]!.held!.fingerprint;
    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    const now = (await h.run()).report.targets[0]!.held!;
    expect(now.fingerprint).not.toBe(shown);

    await expect(approve(shown)).rejects.toMatchObject({ code: 'approve-changed' });
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
  });

  it('refuses to approve a held change that would allow every address (a /0 split around the baseline)', async () => {
    h = await tagsWithBaseline();
    h.serveServiceTags(serviceTags(['0.0.0.0/0']));
    const held = (await h.run()).report.targets[0]!;
    expect(held.status).toBe('held');
    await expect(approve()).rejects.toMatchObject({
      code: 'approve-refused',
      message: expect.stringContaining('would allow every address'),
    });
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
  });

  it('an approval does not release a later, different held change', async () => {
    h = await tagsWithBaseline();
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    await approve();
    // Upstream changes again before the next run: that is another change, held until it is approved in turn.
    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    const next = await h.run();
    expect(next.report.targets[0]).toMatchObject({ status: 'held', held: { added: ['21.0.0.0/16'] } });
    expect(next.report.targets[0]!.approval).toBeUndefined();
    expect(next.report.pullRequest.action).toBe('none');
    expect(h.github.pullRequests().filter((pr) => pr.state === 'open')).toEqual([]);
  });
});
