import { afterEach, describe, expect, it } from 'vitest';
import { dashboardMarker } from '../../shared/publish/dashboard.js';
import { BRANCH, CONFIG_NAME, FILES, type Harness } from './harness.js';
import { lines, serviceTags, tagsWithBaseline } from './held-tags.js';

/**
 * The drift dashboard issue: a held change shows there with a checkbox, ticking it releases exactly that change into
 * the PR, a person's close is final, and the issue costs nothing on a quiet run and at most one read on a held one.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const tick = (body: string) => body.replace('- [ ] **mcas-tags**', '- [x] **mcas-tags**');

/** The GitHub requests of one run, as "METHOD route" with the repository prefix cut off. */
async function requestsOf(run: () => Promise<unknown>): Promise<string[]> {
  const before = h.github.requests.length;
  await run();
  return h.github.requests.slice(before).map((r) => `${r.method} ${r.route.replace(`/repos/${h.github.owner}/${h.github.repo}`, '')}`);
}

describe('engine: the drift dashboard issue', () => {
  it('costs nothing on a quiet run, opens once something is held, and a ticked box releases that change into the PR', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    // A quiet run's one request: whether the base branch moved (answered 304), for base-differs.
    expect(await requestsOf(() => h.run())).toEqual(['GET /branches/main']);
    expect(h.github.requests.at(-1)!.status).toBe(304);
    expect(h.github.issues()).toEqual([]);

    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    const opening = await requestsOf(() => h.run());
    expect(opening).toEqual(['GET /branches/main', 'GET /issues', 'POST /issues']);
    const [issue] = h.github.issues();
    expect(issue!.body).toContain(dashboardMarker(CONFIG_NAME));
    expect(issue!.body).toMatch(/^- \[ \] \*\*mcas-tags\*\*: approve this change/m);
    expect(issue!.body).toContain('  - would add: 20.0.0.0/16');
    expect(issue!.body).toContain('  - held by mass-addition: ');
    expect(issue!.body).toContain('| mcas-tags | service-tags | **held** |');
    expect((await h.state()).config.dashboard).toMatchObject({ number: issue!.number, state: 'open' });

    // Held again, nothing new to say: one read for ticked boxes, no edit.
    expect(await requestsOf(() => h.run())).toEqual([`GET /issues/${issue!.number}`, 'GET /branches/main']);

    h.github.editIssue(issue!.number, tick);
    const released = await h.run();
    const target = released.report.targets[0]!;
    // The approver is read from the issue's edit history: octocat, who may edit the tool's issue, ticked it.
    expect(target).toMatchObject({ status: 'ok', added: ['20.0.0.0/16'], approval: { source: 'github', by: 'octocat' } });
    expect(released.report.pullRequest).toMatchObject({ action: 'created' });
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toContain('20.0.0.0/16');
    expect(h.github.pullRequest(released.report.pullRequest.number!).body).toMatch(/approved by octocat via github at /);
    // The dashboard confirms it, and names the PR it went into.
    const confirmed = h.github.issue(issue!.number).body!;
    expect(confirmed).toMatch(/^- \*\*mcas-tags\*\*: approved via github by octocat at .*; released into the pull request$/m);
    expect(confirmed).toContain(`Open pull request: #${released.report.pullRequest.number}`);
    expect(confirmed).not.toContain('- [ ]');

    // Nothing held any more and nothing new: the dashboard is not read or edited (the open PR is checked as usual).
    expect((await requestsOf(() => h.run())).filter((r) => r.includes('/issues'))).toEqual([]);
    expect(h.github.issues()).toHaveLength(1);
  });

  it('refuses a ticked box for a held change that has since changed, and says so', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    const shown = issue!.body!;

    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    const changed = await h.run();
    expect(changed.report.targets[0]!.held).toMatchObject({ added: ['21.0.0.0/16'] });
    expect(h.github.issue(issue!.number).body).toContain('would add: 21.0.0.0/16');

    // A person saves the page they opened before the change, with its box ticked.
    h.github.editIssue(issue!.number, () => tick(shown));
    const refused = await h.run();
    expect(refused.report.targets[0]).toMatchObject({ status: 'held', held: { added: ['21.0.0.0/16'] } });
    expect(refused.report.pullRequest.action).toBe('none');
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
    const body = h.github.issue(issue!.number).body!;
    expect(body).toContain('### Approvals refused');
    expect(body).toMatch(/the ticked change [0-9a-f]{16} is no longer the one held/);
    expect(body).toMatch(/^- \[ \] \*\*mcas-tags\*\*: approve this change/m);
  });

  it('leaves a dashboard a person closed closed, opens no other, and picks it up again once reopened', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    h.github.closeIssue(issue!.number);

    // Held, and something new to show: the read finds it closed, and nothing is written.
    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    expect(await requestsOf(() => h.run())).toEqual([`GET /issues/${issue!.number}`, 'GET /branches/main']);
    expect(h.github.issues()).toHaveLength(1);
    expect(h.github.issue(issue!.number)).toMatchObject({ state: 'closed' });
    expect(h.github.issue(issue!.number).body).toContain('would add: 20.0.0.0/16');
    expect((await h.state()).config.dashboard).toMatchObject({ number: issue!.number, state: 'closed' });

    h.github.reopenIssue(issue!.number);
    const back = await requestsOf(() => h.run());
    // Read for ticked boxes, and again right before the edit, so that a box ticked in between is not lost.
    expect(back).toEqual([
      `GET /issues/${issue!.number}`,
      'GET /branches/main',
      `GET /issues/${issue!.number}`,
      `PATCH /issues/${issue!.number}`,
    ]);
    expect(h.github.issue(issue!.number).body).toContain('would add: 21.0.0.0/16');
    expect(h.github.issues()).toHaveLength(1);
  });

  it('forgets a dashboard that was deleted, without a warning on every run', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    // The hold goes away, so the dashboard would be edited: the issue was deleted in the meantime.
    h.serveServiceTags(serviceTags());
    h.github.failNext(`PATCH /repos/${h.github.owner}/${h.github.repo}/issues/${issue!.number}`, {
      status: 404,
      body: { message: 'Not Found' },
    });
    const gone = await h.run();
    expect(gone.report.warnings).toEqual([]);
    expect((await h.state()).config.dashboard).toBeUndefined();
    // Nothing held, nothing recorded: the next run does not ask about the dashboard at all.
    expect((await requestsOf(() => h.run())).filter((r) => r.includes('/issues'))).toEqual([]);
  });

  it('finds its issue again by the marker when the state lost it, instead of opening a second one', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    const state = await h.state();
    const { dashboard: _lost, ...config } = state.config;
    await h.store.write(CONFIG_NAME, { config, targets: [] });

    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    // An issue carrying the marker is taken back only once it is known to be the tool's own: one GET /user.
    expect(await requestsOf(() => h.run())).toEqual(['GET /branches/main', 'GET /issues', 'GET /user', `PATCH /issues/${issue!.number}`]);
    expect(h.github.issues()).toHaveLength(1);
    expect((await h.state()).config.dashboard).toMatchObject({ number: issue!.number, state: 'open' });
  });

  it('a dry run never reads or writes the dashboard', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    h.github.editIssue(h.github.issues()[0]!.number, tick);
    const dry = await requestsOf(async () => expect((await h.run({ dryRun: true })).report.targets[0]!.status).toBe('held'));
    expect(dry.filter((r) => r.includes('/issues'))).toEqual([]);
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
  });
});
