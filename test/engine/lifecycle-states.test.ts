import { afterEach, describe, expect, it } from 'vitest';
import { approveHeld } from '../../shared/engine/approve.js';
import { withdrawnMarker } from '../../shared/publish/github/markers.js';
import { faults } from '../peers/github/index.js';
import { writeAsFirstRelease } from '../state/first-release.js';
import { BRANCH, FE1_V4, FE1_V6, FE2_V4, FILES, NEW_V4, startHarness, type Harness } from './harness.js';
import { lines, serviceTags, tagsWithBaseline } from './held-tags.js';

/**
 * The PR's state follows what people did last on GitHub: a merge after a decline, a block or a withdrawal is an
 * approval; a branch deleted under an open PR is no decline; a close the state does not know as the tool's own is one.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const PULLS = '/repos/contoso/network/pulls';

/** The default config with an approved baseline, then fe2 gains NEW_V4: PR #2 proposes it. */
async function openSecondPullRequest(): Promise<void> {
  h = await startHarness();
  await h.run();
  h.github.mergePullRequest(1);
  await h.run();
  h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
  expect((await h.run()).report.pullRequest).toMatchObject({ action: 'created', number: 2 });
}

describe('lifecycle: a merge promotes whatever came before it', () => {
  it('promotes a declined PR that a maintainer reopens and merges, and forgets the decline', async () => {
    h = await startHarness();
    await h.run();
    const { proposal, fingerprint } = (await h.state()).config.pullRequest!;
    h.github.closePullRequest(1);
    expect((await h.run()).report.pullRequest.action).toBe('declined');
    // While declined, a quiet run looks at the closed PR once, so a later reopen or merge is seen.
    const quiet = await h.run();
    expect(quiet.report.pullRequest.action).toBe('declined');
    expect(quiet.githubRequests).toBe(1);
    expect(h.github.countRequests({ route: /\/timeline$/ })).toBe(1);

    h.github.reopenPullRequest(1);
    h.github.mergePullRequest(1);
    const merged = await h.run();

    expect(merged.report.pullRequest).toEqual({ action: 'none' });
    const state = await h.state();
    expect(state.targets.get('acme-prod')!.baseline).toEqual(proposal['acme-prod']);
    expect(state.targets.get('cas-eu')!.baseline).toEqual(proposal['cas-eu']);
    expect(state.config.declined).not.toContain(fingerprint);
    expect(state.config.pullRequest).toBeUndefined();
    // Nothing open to read: only the base check's conditional request (base-differs), answered 304.
    expect((await h.run()).githubRequests).toBe(1);
  });

  it('follows a declined PR that is reopened: it is the open PR again, and a later drift updates it', async () => {
    h = await startHarness();
    await h.run();
    h.github.closePullRequest(1);
    await h.run();
    h.github.reopenPullRequest(1);

    const reopened = await h.run();
    expect(reopened.report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
    expect((await h.state()).config.declined).toEqual([]);
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'updated', number: 1 });
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toContain(`${NEW_V4}/32`);
  });

  it('promotes a PR merged after its withdrawal was cut short (the close failed)', async () => {
    await openSecondPullRequest();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    h.github.failNext(`PATCH ${PULLS}/2`, faults.serverError(), { times: 4 });
    expect((await h.run()).report.errors.map((e) => e.code)).toEqual(['github-error']);
    expect(h.github.pullRequest(2).state).toBe('open');
    h.github.mergePullRequest(2);

    await h.run();
    expect((await h.state()).targets.get('acme-prod')!.baseline).toContain(`${NEW_V4}/32`);
    expect((await h.state()).config.declined).toEqual([]);
  });
});

describe('lifecycle: held status comes from the change', () => {
  const approve = () => approveHeld({ config: h.config, store: h.store, env: {}, targetId: 'mcas-tags', source: 'cli' });

  it('does not hold a target for a broad range it already approved: additions go ahead and removals are counted', async () => {
    h = await tagsWithBaseline();
    h.serveServiceTags(serviceTags(['20.0.0.0/15']));
    const held = (await h.run()).report.targets[0]!;
    expect(held.status).toBe('held');
    expect(held.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard)).toContain('broad-prefix');
    await approve();
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    h.github.mergePullRequest(2);
    await h.run();
    expect((await h.state()).targets.get('mcas-tags')!.baseline).toContain('20.0.0.0/15');

    const quiet = (await h.run()).report.targets[0]!;
    expect(quiet).toMatchObject({ status: 'ok', added: [], removed: [] });
    expect(quiet.held).toBeUndefined();

    // An ordinary new /24 is proposed at once, though the approved /15 is still in the list.
    h.serveServiceTags(serviceTags(['20.0.0.0/15', '13.107.230.0/24']));
    const grown = await h.run();
    expect(grown.report.targets[0]).toMatchObject({ status: 'ok', added: ['13.107.230.0/24'] });
    expect(grown.report.pullRequest).toMatchObject({ action: 'created', number: 3 });

    // A range gone from the list counts misses, and is proposed for removal after three.
    const shrunk = serviceTags(['20.0.0.0/15', '13.107.230.0/24']);
    const prefixes = shrunk.values[0]!.properties.addressPrefixes;
    shrunk.values[0]!.properties.addressPrefixes = prefixes.filter((p) => p !== '150.171.97.0/24');
    h.serveServiceTags(shrunk);
    expect((await h.run()).report.targets[0]).toMatchObject({ status: 'ok', pendingRemoval: [{ cidr: '150.171.97.0/24', misses: 1 }] });
    await h.run();
    const removed = await h.run();
    expect(removed.report.targets[0]).toMatchObject({ status: 'ok', removed: ['150.171.97.0/24'] });
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).not.toContain('150.171.97.0/24');
  });
});

describe('lifecycle: a deleted branch', () => {
  it('re-proposes the change after a maintainer follows the blocked notice and deletes the branch', async () => {
    h = await startHarness();
    await h.run();
    // A person's commit on the branch: the tool will not push over it, even to restore its own proposal.
    h.github.pushCommit(BRANCH, { [FILES.outsystems]: '# edited by hand\n52.16.9.9/32\n' }, 'Hand edit', 'octocat');
    expect((await h.run()).report.pullRequest.action).toBe('blocked');
    expect(h.github.pullRequest(1).comments.at(-1)!.body).toContain('delete the branch');

    h.github.deleteBranch(BRANCH);
    expect(h.github.pullRequest(1).state).toBe('closed');
    const next = await h.run();

    expect(next.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`, `${FE1_V6}/128`]);
    expect((await h.state()).config.declined).toEqual([]);
    expect(h.github.countRequests({ route: /\/timeline$/ })).toBe(1);
    // Quiet again: the open PR is read, the timeline is not.
    const quiet = await h.run();
    expect(quiet.report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    expect(quiet.githubRequests).toBe(1);
  });

  it('declines a PR a maintainer closed and then deleted the branch of', async () => {
    h = await startHarness();
    await h.run();
    h.github.closePullRequest(1);
    h.github.deleteBranch(BRANCH);

    const next = await h.run();
    expect(next.report.pullRequest.action).toBe('declined');
    expect(h.github.pullRequests()).toHaveLength(1);
    // Found closed, once: the PR, its comments (a withdrawal of another name?) and its timeline.
    expect(next.githubRequests).toBe(3);
  });
});

describe('lifecycle: withdrawals are known by the state', () => {
  it('reads a maintainer’s close of a PR whose withdrawal was cut short, then came back, as a decline', async () => {
    await openSecondPullRequest();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    h.github.failNext(`PATCH ${PULLS}/2`, faults.serverError(), { times: 4 });
    const cut = await h.run();
    expect(cut.report.errors.map((e) => e.code)).toEqual(['github-error']);
    expect(h.github.pullRequest(2).comments.at(-1)!.body).toContain('Closed by allowlist-drift');
    expect((await h.state()).config.pullRequest!.withdrawal).toMatchObject({ number: 2, headSha: h.github.refSha(BRANCH) });

    // The drift comes back: the PR is wanted again, and the state no longer says it is being withdrawn.
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    expect((await h.state()).config.pullRequest!.withdrawal).toBeUndefined();

    h.github.closePullRequest(2);
    const closed = await h.run();
    expect(closed.report.pullRequest.action).toBe('declined');
    expect(h.github.pullRequests()).toHaveLength(2);
    expect((await h.state()).config.declined).toHaveLength(1);
  });

  it('records the withdrawal before its comment, and finishes a withdrawal whose branch delete failed', async () => {
    await openSecondPullRequest();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    const before = h.store.requestCount();
    let atComment = 0;
    h.github.onNext('POST /repos/contoso/network/issues/2/comments', () => (atComment = h.store.requestCount() - before));
    h.github.failNext({ method: 'DELETE' }, faults.serverError(), { times: 4 });
    expect((await h.run()).report.errors.map((e) => e.code)).toEqual(['github-error']);
    // Lease (read + create), state read, then the write that records the withdrawal: all before the comment.
    expect(atComment).toBe(4);
    expect((await h.state()).config.pullRequest!.withdrawal).toMatchObject({ number: 2 });
    expect(h.github.pullRequest(2).state).toBe('closed');

    const finished = await h.run();
    expect(finished.report.pullRequest).toEqual({ action: 'none' });
    // The PR, the delete of the branch still at the recorded head, and the base check's conditional read: no
    // comment or timeline is read.
    expect(finished.githubRequests).toBe(3);
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    expect((await h.state()).config).toMatchObject({ declined: [] });
    expect((await h.state()).config.pullRequest).toBeUndefined();
    expect(h.github.countRequests({ route: /\/timeline$/ })).toBe(0);
  });

  it('withdraws, recording it, a PR whose state the current release wrote (no withdrawal field)', async () => {
    await openSecondPullRequest();
    const { config, targets } = await h.state();
    for await (const row of h.table.listEntities({ queryOptions: { filter: "PartitionKey eq 'prod'" } })) {
      await h.table.deleteEntity(row.partitionKey!, row.rowKey!);
    }
    const { etag: _config, ...record } = config;
    expect(record.pullRequest).not.toHaveProperty('withdrawal');
    await writeAsFirstRelease(h.table, 'prod', { config: record, targets: [...targets.values()].map(({ etag: _etag, ...t }) => t) });

    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    const withdrawn = await h.run();
    expect(withdrawn.report.pullRequest).toMatchObject({ action: 'closed', number: 2 });
    // Lease (read + create), state read, the withdrawal's record, the run's write, lease release.
    expect(withdrawn.tableRequests).toBe(6);
    expect(h.github.pullRequest(2).state).toBe('closed');
    expect((await h.state()).config.pullRequest).toBeUndefined();
  });

  it('still finishes a withdrawal the current release posted and closed without recording it (upgrade)', async () => {
    await openSecondPullRequest();
    // What the current release leaves when it dies after closing: its marker comment, the PR closed, no state.
    const pull = h.github.pullRequest(2);
    pull.comments.push({ id: 9001, body: `No change is needed.\n\n${withdrawnMarker('prod')}`, user: h.github.botLogin });
    h.github.closePullRequest(2, h.github.botLogin);
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });

    const next = await h.run();
    expect(next.report.pullRequest).toEqual({ action: 'none' });
    expect((await h.state()).config.declined).toEqual([]);
    expect(h.github.refSha(BRANCH)).toBeUndefined();
  });
});
