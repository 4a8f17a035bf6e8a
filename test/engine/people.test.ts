import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import { runCheck } from '../../shared/engine/check.js';
import { readPullRequestMarker, recordedWithdrawalMarker, withdrawnMarker } from '../../shared/publish/github/markers.js';
import { faults } from '../peers/github/index.js';
import { fastPublisher } from '../support.js';
import { BRANCH, TOKEN, startHarness, type Harness } from './harness.js';

/**
 * What people and faults do on GitHub while allowlist-drift works: the PR never drops an entry its text does not
 * name, merging approves what was merged, and the tool's own withdrawal is never read as a person's decline.
 */

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const RULES = 'firewall/outsystems.json';
const templateFile = (path: string) => `server {\n  # BEGIN allowlist-drift:${path}\n  # END allowlist-drift:${path}\n  deny all;\n}\n`;
const entries = (branch: string) => JSON.parse(h.github.readFile(branch, RULES) ?? '[]') as string[];

/** One OutSystems front-end written to one JSON file, removals after three complete misses. */
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

describe('people and faults on GitHub', () => {
  it('1. a merged PR approves what it merged, people’s commits included, and a later miss needs the usual streak', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    h.github.pushCommit(BRANCH, { [RULES]: JSON.stringify(['52.1.1.1/32', '52.1.1.2/32', '198.51.100.77/32']) }, 'Add partner', 'octocat');
    expect((await h.run()).report.pullRequest.action).toBe('blocked');
    h.github.mergePullRequest(2);

    const merged = await h.run();
    expect(merged.report.pullRequest).toEqual({ action: 'none' });
    expect((await h.state()).targets.get('acme-prod')!.baseline).toEqual(['52.1.1.1/32', '52.1.1.2/32']);
    expect(entries('main')).toEqual(['52.1.1.1/32', '52.1.1.2/32', '198.51.100.77/32']);

    // 52.1.1.2 disappears: one complete miss is not a removal, and the person's line is never touched.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1'] });
    const missed = await h.run();
    expect(missed.report.pullRequest).toEqual({ action: 'none' });
    expect(missed.report.targets[0]!.pendingRemoval).toEqual([{ cidr: '52.1.1.2/32', misses: 1 }]);
    expect(h.github.pullRequests().filter((p) => p.state === 'open')).toEqual([]);

    await h.run();
    const third = await h.run();
    expect(third.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(h.github.pullRequest(3).title).toBe('allowlist: +0 -1 across acme-prod');
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '198.51.100.77/32']);
  });

  it('1b. a PR merged while a run is publishing is read by the next run, not answered with a second PR', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    // The run reads the PR as open; it is merged before the run lists PRs to publish its update.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    h.github.onNext('GET /repos/contoso/network/branches/main', () => h.github.mergePullRequest(2));
    const racing = await h.run();
    expect(racing.report.pullRequest.action).toBe('none');
    expect(racing.report.pullRequest.message).toContain('merged during this run');
    expect(h.github.pullRequests()).toHaveLength(2);

    const next = await h.run();
    expect((await h.state()).targets.get('acme-prod')!.baseline).toEqual(['52.1.1.1/32', '52.1.1.2/32']);
    expect(next.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(h.github.pullRequest(3).title).toBe('allowlist: +1 -0 across acme-prod');
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32', '52.1.1.4/32']);
  });

  it('2. a withdrawal cut short (the branch delete fails) is finished by the next run, never taken as a decline', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1'] });
    h.github.failNext({ method: 'DELETE' }, faults.serverError(), { times: 5 });
    const cut = await h.run();
    expect(cut.report.errors.map((e) => e.code)).toEqual(['github-error']);
    expect(h.github.pullRequest(2).state).toBe('closed');
    expect(h.github.pullRequest(2).comments.at(-1)!.body).toContain(recordedWithdrawalMarker('prod'));
    expect(h.github.refSha(BRANCH)).toBeDefined();

    const finished = await h.run();
    expect(finished.report.pullRequest.action).toBe('none');
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    expect((await h.state()).config.declined).toEqual([]);

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    expect((await h.run()).report.pullRequest).toMatchObject({ action: 'created', number: 3 });
  });

  it('2b. a PR a person closed is still a decline', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    h.github.closePullRequest(2);
    expect((await h.run()).report.pullRequest.action).toBe('declined');
  });

  it('3. an entry added on main by hand while a PR is open is kept, listed and warned about', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    h.github.moveBase({ [RULES]: JSON.stringify(['52.1.1.1/32', '52.9.9.9/32']) }, 'Allow a partner by hand');

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    const updated = await h.run();
    expect(updated.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32', '52.1.1.4/32', '52.9.9.9/32']);
    const pull = h.github.pullRequest(2);
    expect(pull.title).toBe('allowlist: +2 -0 across acme-prod');
    expect(pull.body).toContain('### Kept, not managed here');
    expect(pull.body).toContain('- 52.9.9.9/32');
    expect(updated.report.warnings).toEqual([{ code: 'unmanaged-entries', message: expect.stringContaining('52.9.9.9/32') }]);
  });

  it('3b. two configs writing the same file keep each other’s entries, and each says so', async () => {
    h = await oneFrontEnd();
    const other = parseConfig({
      name: 'partners',
      targets: [{ id: 'partners', type: 'static', entries: ['52.7.7.7'] }],
      github: { owner: h.github.owner, repo: h.github.repo, base: h.github.base, apiUrl: h.github.url },
      files: [{ path: RULES, format: 'json', targets: ['partners'] }],
    });
    const env = { GITHUB_TOKEN: TOKEN };
    const partners = await runCheck({ config: other, store: h.store, env, trigger: 'cli', dryRun: false, publisher: fastPublisher(env) });
    expect(partners.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(partners.warnings.map((w) => w.message)).toEqual([expect.stringContaining('52.1.1.1/32')]);
    expect(entries('allowlist-drift/partners')).toEqual(['52.1.1.1/32', '52.7.7.7/32']);
    h.github.mergePullRequest(2);

    const prod = await h.run();
    expect(prod.report.pullRequest).toEqual({ action: 'none' });
    expect(prod.report.targets[0]!.status).toBe('ok');
    expect(entries('main')).toEqual(['52.1.1.1/32', '52.7.7.7/32']);
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    const grown = await h.run();
    expect(entries(BRANCH)).toEqual(['52.1.1.1/32', '52.1.1.2/32', '52.7.7.7/32']);
    expect(grown.report.warnings.map((w) => w.message)).toEqual([expect.stringContaining('52.7.7.7/32')]);
  });

  it('4. an {ip}-only template line gets one line per address: two front-ends in one /31 stay two lines', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: [{ id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test', 'fe2.acme.test'] }],
        files: [{ path: 'firewall/acme.conf', format: 'template', line: 'allow {ip};', targets: ['acme-prod'] }],
      }),
    });
    h.github.moveBase({ 'firewall/acme.conf': templateFile('firewall/acme.conf') });
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.17.1.10'] });
    h.dns.set('fe2.acme.test', { kind: 'answer', a: ['52.17.1.11'] });

    const first = await h.run();
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    const lines = (h.github.readFile(BRANCH, 'firewall/acme.conf') ?? '').split('\n');
    expect(lines.filter((line) => line.includes('allow '))).toEqual(['  allow 52.17.1.10;', '  allow 52.17.1.11;']);
  });

  it('4b. an {ip}-only template over a range wider than maxAddressesPerRange is an error, and nothing is pushed', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        files: [{ path: 'firewall/cas.conf', format: 'template', line: 'allow {ip};', maxAddressesPerRange: 16, targets: ['cas-eu'] }],
      }),
    });
    h.github.moveBase({ 'firewall/cas.conf': templateFile('firewall/cas.conf') });
    const run = await h.run();
    expect(run.report.pullRequest.action).toBe('none');
    expect(run.report.errors).toContainEqual(expect.objectContaining({ code: 'template-range-too-large' }));
    expect(h.github.refSha(BRANCH)).toBeUndefined();
  });

  it('5. a config of 120 targets opens its PR, records every target, and the next run is quiet', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `site-${String(i).padStart(3, '0')}`);
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: ids.map((id, i) => ({ id, type: 'static', entries: [`52.20.${i}.1`] })),
        files: [{ path: RULES, format: 'json', targets: ids }],
      }),
    });
    const first = await h.run();
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(first.report.errors).toEqual([]);
    expect(JSON.parse(JSON.stringify(first.report)).targets).toHaveLength(120);
    expect(entries(BRANCH)).toHaveLength(120);

    const state = await h.state();
    expect(state.targets.size).toBe(120);
    expect(state.config.pullRequest).toMatchObject({ number: 1, state: 'open' });
    expect([...state.targets.values()].every((record) => record.proposed?.length === 1)).toBe(true);

    const again = await h.run();
    expect(again.report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
    expect(again.githubRequests).toBe(1);
  });

  it('6. after github.branchPrefix changes, the old PR is found by its marker and closed as superseded: one open PR', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    const renamed = { ...h.config, github: { ...h.config.github!, branchPrefix: 'firewall-bot/' } };

    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });
    const moved = await h.run({ config: renamed });
    expect(moved.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(
      h.github
        .pullRequests()
        .filter((p) => p.state === 'open')
        .map((p) => [p.number, p.headRef]),
    ).toEqual([[3, 'firewall-bot/prod']]);
    expect(h.github.pullRequest(2).comments.at(-1)!.body).toContain('superseded');
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 3, branch: 'firewall-bot/prod' });

    // The old PR's closing is the tool's own: nothing is declined, and the next run is quiet.
    const quiet = await h.run({ config: renamed });
    expect(quiet.report.pullRequest).toMatchObject({ action: 'unchanged', number: 3 });
    expect((await h.state()).config.declined).toEqual([]);
  });

  it('6b. a PR opened by the previous release (marker without files) is still found after the prefix changes', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    const old = h.github.pullRequest(2);
    old.body = (old.body ?? '').replace(/<!-- allowlist-drift:pull-request [^>]*-->/, '<!-- allowlist-drift:pull-request config=prod -->');
    expect(readPullRequestMarker(old.body)).toEqual({ configName: 'prod' });
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2', '52.1.1.4'] });

    const moved = await h.run({ config: { ...h.config, github: { ...h.config.github!, branchPrefix: 'firewall-bot/' } } });
    expect(moved.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(old.state).toBe('closed');
  });

  it('6c. after the config is renamed, the old name’s PR (same files) is closed as superseded, on behalf of the old name', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();
    expect(readPullRequestMarker(h.github.pullRequest(2).body)).toEqual({ configName: 'prod', paths: [RULES] });

    const renamed = await h.run({ config: { ...h.config, name: 'prod-eu' } });
    expect(renamed.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(
      h.github
        .pullRequests()
        .filter((p) => p.state === 'open')
        .map((p) => [p.number, p.headRef]),
    ).toEqual([[3, 'allowlist-drift/prod-eu']]);
    const closing = h.github.pullRequest(2).comments.at(-1)!.body;
    expect(closing).toContain('renamed from `prod`');
    // A config still running as "prod" would read its PR as withdrawn, never declined.
    expect(closing).toContain(withdrawnMarker('prod'));
    expect(entries('allowlist-drift/prod-eu')).toEqual(['52.1.1.1/32', '52.1.1.2/32']);
  });

  it('6d. another config whose PR writes one of the same files is warned about, and its PR is left open', async () => {
    h = await oneFrontEnd();
    h.dns.set('fe1.acme.test', { kind: 'answer', a: ['52.1.1.1', '52.1.1.2'] });
    await h.run();

    const other = await h.run({
      config: {
        ...h.config,
        name: 'partners',
        files: [...h.config.files, { ...h.config.files[0]!, path: 'firewall/partners.json' }],
      },
    });
    expect(other.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(other.report.warnings).toContainEqual({
      code: 'shared-files',
      message: expect.stringContaining(`Open pull request #2 of config "prod" also writes ${RULES}`),
    });
    expect(h.github.pullRequest(2).state).toBe('open');
  });
});
