import { afterEach, describe, expect, it } from 'vitest';
import type { Cidr } from '../../shared/ipset.js';
import { dashboardMarker } from '../../shared/publish/dashboard.js';
import { CONFIG_TRAILER, pullRequestMarker, withdrawnMarker } from '../../shared/publish/github/markers.js';
import { Outsider } from '../peers/github/outsider.js';
import { BRANCH, CONFIG_NAME, FILES, startHarness, type Harness } from './harness.js';
import { lines, serviceTags, tagsWithBaseline } from './held-tags.js';

/**
 * Trust on GitHub: allowlist-drift acts only on what its own identity wrote in the base repository. Eve can open
 * issues and pull requests (from her fork), comment, and edit what she wrote, but cannot push or merge; whatever she
 * writes, markers and branch names included, steers nothing, and is reported once per run as `foreign-marker`.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const RULES = 'firewall/outsystems.json';
const entries = (branch: string) => JSON.parse(h.github.readFile(branch, RULES) ?? '[]') as string[];
const tick = (body: string) => body.replace('- [ ] **mcas-tags**', '- [x] **mcas-tags**');
const foreign = (warnings: readonly { code: string; message: string }[]) => warnings.filter((w) => w.code === 'foreign-marker');

/** One OutSystems front-end written to one JSON file; its first PR merged, so the next drift opens PR #2. */
async function oneFrontEnd(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults) => ({
      ...defaults,
      targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] }],
      files: [{ path: RULES, format: 'json', targets: ['acme-prod'] }],
    }),
  });
  harness.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1'] });
  await harness.run();
  harness.github.mergePullRequest(1);
  await harness.run();
  return harness;
}

/** Eve's fork PR dressed as the tool's: its branch name, its marker, and its trailer in her commit. */
function disguisedForkPull(eve: Outsider, branch: string): number {
  return eve.openForkPullRequest({
    branch,
    title: 'allowlist: +1 -0 across acme-prod',
    body: `${pullRequestMarker(CONFIG_NAME, [RULES])}\nLooks like the bot's.`,
    files: { [RULES]: JSON.stringify(['0.0.0.0/1']) },
    message: `allowlist: +1 -0\n\n${CONFIG_TRAILER}: ${CONFIG_NAME}\n`,
  });
}

describe('trust: pull requests', () => {
  it('a first run on a fresh repository opens its PR without asking who it is', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] }],
        files: [{ path: RULES, format: 'json', targets: ['acme-prod'] }],
      }),
    });
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1'] });
    const first = await h.run();
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(h.github.countRequests('GET /user')).toBe(0);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 1, author: h.github.botLogin });
    // The record names its author: later runs know the PR is the tool's own without GET /user.
    expect((await h.run()).githubRequests).toBe(1);
    expect(h.github.countRequests('GET /user')).toBe(0);
  });

  it('a fork PR on branch allowlist-drift/<config> with marker and trailer is never taken for the tool’s own', async () => {
    h = await oneFrontEnd();
    const eve = new Outsider(h.github, 'eve');
    const hers = disguisedForkPull(eve, BRANCH);
    const before = { ...h.github.pullRequest(hers), comments: [...h.github.pullRequest(hers).comments] };

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    const opened = await h.run();
    expect(opened.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(foreign(opened.report.warnings)).toEqual([
      { code: 'foreign-marker', message: expect.stringMatching(new RegExp(`^Pull request #${hers} by eve carries`)) },
    ]);
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32']);

    // The tool's PR keeps receiving drift; hers is not commented on, retitled, or closed.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    const updated = await h.run();
    expect(updated.report.pullRequest).toMatchObject({ action: 'updated', number: 3 });
    expect(h.github.pullRequest(3).title).toBe('allowlist: +2 -0 across acme-prod');
    expect(h.github.pullRequest(hers)).toEqual(before);
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32', '52.1.1.4/32']);

    // Her closing her own PR declines nothing of the tool's.
    h.github.closePullRequest(hers);
    await h.run();
    expect((await h.state()).config).toMatchObject({ declined: [], pullRequest: { number: 3, state: 'open' } });
  });

  it('a fork PR from a branch named like a base branch (release) never gets the base repository’s branch deleted', async () => {
    h = await oneFrontEnd();
    const release = h.github.pushCommit('release', { 'RELEASE.md': 'v1\n' }, 'Release branch');
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    const eve = new Outsider(h.github, 'eve');
    const hers = disguisedForkPull(eve, 'release');

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(h.github.refSha('release')).toBe(release);
    expect(h.github.pullRequest(hers)).toMatchObject({ state: 'open', comments: [] });
    expect(foreign(run.report.warnings).map((w) => w.message)).toEqual([expect.stringContaining(`#${hers} by eve`)]);
  });

  it('an outsider PR whose marker names a config with backticks and a team gets no comment, so no mention', async () => {
    h = await oneFrontEnd();
    const eve = new Outsider(h.github, 'eve');
    const hers = eve.openForkPullRequest({
      branch: 'patch-1',
      title: 'Tidy up',
      body: `<!-- allowlist-drift:pull-request config=x\`@contoso/network-admins\` files=${encodeURIComponent(RULES)} -->`,
      files: { [RULES]: JSON.stringify(['0.0.0.0/1']) },
    });

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: hers + 1 });
    expect(h.github.pullRequest(hers)).toMatchObject({ state: 'open', comments: [] });
    expect(h.github.pullRequests().flatMap((p) => p.comments)).toEqual([]);
    // A name no config may carry makes no marker at all (shared/publish/github/markers.ts MARKER_PATTERN), so not even a warning echoes it.
    expect(foreign(run.report.warnings)).toEqual([]);
  });

  it('an outsider’s comment carrying the withdrawn marker does not turn a maintainer’s close into a withdrawal', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    new Outsider(h.github, 'eve').comment(2, `Closing this.\n\n${withdrawnMarker(CONFIG_NAME)}`);
    h.github.closePullRequest(2);

    const run = await h.run();
    expect(run.report.pullRequest.action).toBe('declined');
    expect((await h.state()).config.declined).toHaveLength(1);
    expect(foreign(run.report.warnings).map((w) => w.message)).toEqual([expect.stringMatching(/^A comment on #2 by eve carries/)]);
    // The declined change does not come back.
    expect((await h.run()).report.pullRequest.action).toBe('declined');
    expect(h.github.pullRequests()).toHaveLength(2);
  });

  it('a fork PR an earlier release recorded as its own is dropped with a warning, and the tool opens its own', async () => {
    h = await oneFrontEnd();
    const eve = new Outsider(h.github, 'eve');
    const hers = disguisedForkPull(eve, BRANCH);
    const pull = h.github.pullRequest(hers);
    const state = await h.state();
    // As the previous release recorded a PR it matched by branch name alone: no author.
    await h.store.write(CONFIG_NAME, {
      config: {
        ...state.config,
        pullRequest: {
          number: hers,
          url: `https://github.com/contoso/network/pull/${hers}`,
          branch: BRANCH,
          headSha: pull.headSha,
          fingerprint: '0123456789abcdef',
          state: 'open',
          proposal: { 'acme-prod': ['52.1.1.1/32', '0.0.0.0/1'] as Cidr[] },
          updatedAt: '2025-01-01T00:00:00Z',
        },
      },
      targets: [],
    });

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    const run = await h.run();
    expect(run.report.warnings).toContainEqual({
      code: 'foreign-pull-request-dropped',
      message: expect.stringContaining(`Pull request #${hers} by eve from eve/network`),
    });
    expect(run.report.pullRequest).toMatchObject({ action: 'created', number: hers + 1 });
    expect(h.github.pullRequest(hers)).toMatchObject({ state: 'open', comments: [], title: 'allowlist: +1 -0 across acme-prod' });
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32']);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: hers + 1, author: h.github.botLogin });
  });

  it('a PR an earlier release opened under other credentials (a token, now an App) stays the tool’s own', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    // Opened by octocat's token, who may push; recorded by the previous release without an author.
    h.github.pullRequest(2).user = 'octocat';
    const state = await h.state();
    const { author: _unrecorded, ...legacy } = state.config.pullRequest!;
    await h.store.write(CONFIG_NAME, { config: { ...state.config, pullRequest: legacy }, targets: [] });

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    const run = await h.run();
    expect(run.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(run.report.warnings).toEqual([]);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 2, author: 'octocat' });
  });
});

describe('trust: the dashboard and approvals', () => {
  it('an outsider’s issue carrying the dashboard marker is not adopted, and her tick there releases nothing', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    const eve = new Outsider(h.github, 'eve');
    const hers = eve.openIssue({ title: 'Dashboard', body: `${dashboardMarker(CONFIG_NAME)}\nmine now` });

    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    const held = await h.run();
    const own = h.github.issues().find((i) => i.number !== hers)!;
    expect(own).toMatchObject({ user: h.github.botLogin });
    expect(h.github.issue(hers).body).toBe(`${dashboardMarker(CONFIG_NAME)}\nmine now`);
    expect((await h.state()).config.dashboard).toMatchObject({ number: own.number, author: h.github.botLogin });
    expect(foreign(held.report.warnings)).toEqual([
      { code: 'foreign-marker', message: expect.stringMatching(new RegExp(`^Issue #${hers} by eve carries`)) },
    ]);

    // She copies the tool's dashboard into her own issue, box ticked.
    eve.editIssue(hers, () => tick(own.body!));
    const still = await h.run();
    expect(still.report.targets[0]).toMatchObject({ status: 'held' });
    expect((await h.state()).targets.get('mcas-tags')!.approval).toBeUndefined();
    expect(h.github.pullRequests().filter((p) => p.state === 'open')).toEqual([]);
  });

  it('a closed outsider issue with the marker does not switch the dashboard off', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    const eve = new Outsider(h.github, 'eve');
    const hers = eve.openIssue({ title: 'Dashboard', body: dashboardMarker(CONFIG_NAME) });
    eve.closeIssue(hers);

    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const own = h.github.issues().find((i) => i.number !== hers);
    expect(own).toMatchObject({ state: 'open', user: h.github.botLogin });
    expect((await h.state()).config.dashboard).toMatchObject({ number: own!.number, state: 'open' });
  });

  it('an outsider’s issue an earlier release recorded as the dashboard is dropped with a warning', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    const eve = new Outsider(h.github, 'eve');
    const hers = eve.openIssue({ title: 'Dashboard', body: `${dashboardMarker(CONFIG_NAME)}\n- [x] anything` });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run({ config: { ...h.config, github: { ...h.config.github!, dashboard: false } } });
    const state = await h.state();
    // As the previous release recorded it: adopted by its marker, no author.
    await h.store.write(CONFIG_NAME, { config: { ...state.config, dashboard: { number: hers, state: 'open' } }, targets: [] });

    const run = await h.run();
    expect(run.report.warnings).toContainEqual({
      code: 'foreign-dashboard-dropped',
      message: expect.stringContaining(`Issue #${hers} by eve was recorded as the drift dashboard`),
    });
    const own = h.github.issues().find((i) => i.number !== hers)!;
    expect(own.user).toBe(h.github.botLogin);
    expect(h.github.issue(hers).body).toBe(`${dashboardMarker(CONFIG_NAME)}\n- [x] anything`);
    expect((await h.state()).config.dashboard).toMatchObject({ number: own.number, author: h.github.botLogin });
  });

  it('a maintainer’s tick in the tool’s dashboard releases the hold and records who ticked; "unknown" without GraphQL', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    h.github.noGraphql = true;
    h.github.editIssue(issue!.number, tick, 'mona');
    const released = await h.run();
    expect(released.report.targets[0]).toMatchObject({ status: 'ok', approval: { source: 'github', by: 'unknown' } });
    expect(h.github.pullRequest(released.report.pullRequest.number!).body).toMatch(/approved by unknown via github at /);
    expect(lines(h.github.readFile(BRANCH, FILES.tags))).toContain('20.0.0.0/16');
  });

  it('a box ticked while a run edits the dashboard is read again before the edit and kept', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    const route = `/repos/${h.github.owner}/${h.github.repo}/issues/${issue!.number}`;
    // Closed and reopened: the next run writes the dashboard again, while the same change stays held.
    h.github.closeIssue(issue!.number);
    await h.run();
    h.github.reopenIssue(issue!.number);
    // Right after the run reads the issue for ticks, before anything else reaches GitHub, octocat ticks the box.
    h.github.onNext({ method: 'GET', route }, () => h.github.onNext({}, () => h.github.editIssue(issue!.number, tick)));
    const racing = await h.run();
    expect(racing.report.targets[0]).toMatchObject({ status: 'held' });
    expect(h.github.issue(issue!.number).body).toMatch(/^- \[x\] \*\*mcas-tags\*\*: approve this change/m);

    const released = await h.run();
    expect(released.report.targets[0]).toMatchObject({ status: 'ok', approval: { source: 'github', by: 'octocat' } });
    expect(released.report.pullRequest).toMatchObject({ action: 'created' });
  });

  it('a dashboard an earlier release opened under other credentials stays the tool’s own', async () => {
    h = await tagsWithBaseline({ dashboard: true });
    h.serveServiceTags(serviceTags(['20.0.0.0/16']));
    await h.run();
    const [issue] = h.github.issues();
    issue!.user = 'octocat';
    const state = await h.state();
    const { author: _unrecorded, ...legacy } = state.config.dashboard!;
    await h.store.write(CONFIG_NAME, { config: { ...state.config, dashboard: legacy }, targets: [] });

    h.serveServiceTags(serviceTags(['21.0.0.0/16']));
    const run = await h.run();
    expect(run.report.warnings).toEqual([]);
    expect(h.github.issues()).toHaveLength(1);
    expect(h.github.issue(issue!.number).body).toContain('would add: 21.0.0.0/16');
    expect((await h.state()).config.dashboard).toMatchObject({ number: issue!.number, author: 'octocat' });
  });
});
