import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import { routes, sharedFile } from '../peers/http.js';
import { BRANCH, FE1_V4, FE1_V6, FE2_V4, FILES, NEW_V4, OTHER_V4, startHarness, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const cidr = (text: string): Cidr => parseCidr(text);
const lines = (text: string | null) => (text ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

/** Opens the first PR, merges it and lets the next run promote it: the baseline is then what DNS and the page say. */
async function approvedBaseline(): Promise<void> {
  await h.run();
  h.github.mergePullRequest(1);
  await h.run();
}

describe('engine: first run and updates', () => {
  it('opens one PR adding everything in one commit touching the three files, in nine GitHub requests, and records it', async () => {
    h = await startHarness();
    const base = h.github.refSha('main')!;

    const { report, githubRequests, tableRequests } = await h.run();

    expect(report.errors).toEqual([]);
    expect(report.targets.map((t) => [t.id, t.status])).toEqual([
      ['acme-prod', 'ok'],
      ['cas-eu', 'ok'],
    ]);
    const added = report.targets.reduce((sum, t) => sum + t.added.length, 0);
    expect(added).toBeGreaterThan(10);
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 1, url: 'https://github.com/contoso/network/pull/1' });

    // One commit on the base head, touching exactly the configured files.
    const [head, parent] = h.github.history(BRANCH);
    expect(head!.parents).toEqual([base]);
    expect(parent!.sha).toBe(base);
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`, `${FE1_V6}/128`]);
    const cas = JSON.parse(h.github.readFile(BRANCH, FILES.cas)!) as string[];
    expect(cas).toContain('13.80.125.22/32');
    const tfvars = JSON.parse(h.github.readFile(BRANCH, FILES.tfvars)!) as Record<string, string[]>;
    expect(tfvars.allowlist_ipv4).toEqual(expect.arrayContaining([`${FE1_V4}/32`, '13.80.125.22/32']));
    expect(tfvars.allowlist_ipv6).toEqual([`${FE1_V6}/128`]);
    expect(h.github.readFile(BRANCH, 'firewall/other-rules.txt')).toBe('keep me\n');

    const pull = h.github.pullRequest(1);
    expect(pull.title).toBe(`allowlist: +${added} -0 across acme-prod, cas-eu`);
    // The front-ends answer A and AAAA, two sources: each group names its own. The CAS page, one source, is named once above its groups.
    expect(pull.body).toMatch(/^\*\*acme-prod\*\* \(outsystems\), \+\d+:$/m);
    expect(pull.body).toMatch(/^- DNS A answer from resolver 127\.0\.0\.1:\d+, fe1\.acme\.test, TTL \d+ s: `/m);
    expect(pull.body).toMatch(
      /^\*\*cas-eu\*\* \(cas-docs\), \+\d+, from \[CAS page\]\(http:\/\/127\.0\.0\.1:\d+\/[^)]+\) revision 2024-02-29:$/m,
    );
    expect(pull.body).toMatch(/^- Mail server, global: 6 addresses$/m);
    expect(pull.body).not.toContain('seen since');

    // First run: no PR record to check, so the publish protocol alone: base, the three files on it (what the tool
    // keeps and what it may remove is decided against them), list, tree, commit, ref, pull.
    expect(githubRequests).toBe(9);
    expect(h.github.countRequests('POST /repos/contoso/network/git/commits')).toBe(1);
    // Lease (read + create), state read, fenced write, lease release.
    expect(tableRequests).toBe(5);

    const state = await h.state();
    expect(state.config.pullRequest).toMatchObject({ number: 1, state: 'open', branch: BRANCH, headSha: head!.sha });
    expect(state.config.pullRequest!.proposal['acme-prod']).toEqual([cidr(`${FE1_V4}/32`), cidr(`${FE2_V4}/32`), cidr(`${FE1_V6}/128`)]);
    expect(state.config.pullRequest!.proposal['cas-eu']).toEqual(cas);
    expect(state.targets.get('acme-prod')!.baseline).toBeNull();
  });

  it('puts new drift in a new commit on the current base head and updates the same PR', async () => {
    h = await startHarness();
    await h.run();
    const first = h.github.refSha(BRANCH)!;
    const movedBase = h.github.moveBase({ 'docs/unrelated.md': 'unrelated\n' });
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });

    const { report, githubRequests } = await h.run();

    expect(report.pullRequest).toMatchObject({ action: 'updated', number: 1 });
    const [head] = h.github.history(BRANCH);
    expect(head!.sha).not.toBe(first);
    expect(head!.parents).toEqual([movedBase]);
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toContain(`${NEW_V4}/32`);
    expect(h.github.pullRequests()).toHaveLength(1);
    expect(h.github.pullRequest(1).headSha).toBe(head!.sha);
    // PR state check, base and its three files, list, head commit, tree, commit, ref update, PR text.
    expect(githubRequests).toBe(11);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 1, headSha: head!.sha });
  });

  it('checks the PR once and pushes nothing when nothing changed', async () => {
    h = await startHarness();
    await h.run();
    const head = h.github.refSha(BRANCH);
    const mark = h.github.requests.length;

    const { report, githubRequests, tableRequests } = await h.run();

    expect(report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
    expect(githubRequests).toBe(1);
    expect(h.github.requests.slice(mark).map((r) => `${r.method} ${r.route}`)).toEqual(['GET /repos/contoso/network/pulls/1']);
    expect(h.github.refSha(BRANCH)).toBe(head);
    expect(tableRequests).toBe(5);
  });

  it('sends one conditional GitHub request, answered 304, when there is no PR and no drift', async () => {
    h = await startHarness();
    await approvedBaseline();

    const { report, githubRequests } = await h.run();

    expect(report.pullRequest).toEqual({ action: 'none' });
    expect(report.targets.every((t) => t.status === 'ok' && t.added.length === 0 && t.removed.length === 0)).toBe(true);
    // Whether the base branch moved, for base-differs: If-None-Match with the stored ETag, answered 304.
    expect(githubRequests).toBe(1);
    expect(h.github.requests.at(-1)).toMatchObject({ method: 'GET', status: 304 });
  });
});

describe('engine: the PR after people act on it', () => {
  it('promotes a merged PR’s proposal to the baseline and opens nothing more', async () => {
    h = await startHarness();
    await h.run();
    const proposal = (await h.state()).config.pullRequest!.proposal;
    h.github.mergePullRequest(1);

    const { report, githubRequests } = await h.run();

    expect(report.pullRequest).toEqual({ action: 'none' });
    // The PR, then the base and its three files: the baseline is what the merge put there.
    expect(githubRequests).toBe(5);
    const state = await h.state();
    expect(state.config.pullRequest).toBeUndefined();
    expect(state.targets.get('acme-prod')!.baseline).toEqual(proposal['acme-prod']);
    expect(state.targets.get('cas-eu')!.baseline).toEqual(proposal['cas-eu']);
    expect(report.targets.map((t) => t.baseline)).toEqual([proposal['acme-prod'], proposal['cas-eu']]);
    expect(h.github.pullRequests()).toHaveLength(1);
  });

  it('closes the PR with a comment and deletes the branch when the drift goes away before merge', async () => {
    h = await startHarness();
    await approvedBaseline();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    const opened = await h.run();
    expect(opened.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.refSha(BRANCH)).toBeDefined();

    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    const { report } = await h.run();

    expect(report.pullRequest).toMatchObject({ action: 'closed', number: 2 });
    const pull = h.github.pullRequest(2);
    expect(pull.state).toBe('closed');
    expect(pull.merged).toBe(false);
    expect(pull.comments).toHaveLength(1);
    expect(pull.comments[0]!.body).toContain('match the approved baseline again');
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    expect((await h.state()).config.pullRequest).toBeUndefined();

    const after = await h.run();
    expect(after.report.pullRequest).toEqual({ action: 'none' });
    // Only whether the base branch moved (base-differs).
    expect(after.githubRequests).toBe(1);
  });

  it('keeps the open PR when the host behind its addition times out: a failed check is no reason to withdraw', async () => {
    h = await startHarness();
    await approvedBaseline();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    await h.run();
    const head = h.github.refSha(BRANCH);

    h.dns.set('fe2.acme.test', { kind: 'silence' });
    const { report, githubRequests } = await h.run();

    expect(report.targets[0]!.errors.map((e) => e.code)).toEqual(['dns-timeout']);
    expect(report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    // The files stay; the description now says fe2 was not read: the PR state, the base and its three files, the PR text.
    expect(githubRequests).toBe(6);
    expect(h.github.countRequests('PATCH /repos/contoso/network/pulls/2')).toBe(1);
    expect(h.github.pullRequest(2).body).toContain('> - **acme-prod** was checked only in part');
    expect(h.github.pullRequest(2).body).toContain('dns-timeout: Front-end fe2.acme.test');
    expect(h.github.pullRequest(2).state).toBe('open');
    expect(h.github.refSha(BRANCH)).toBe(head);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 2, state: 'open' });
    // Still silent: the description already says so, so the run costs the one PR read and the base head's 304.
    const again = await h.run();
    expect(again.report.pullRequest).toMatchObject({ action: 'unchanged', number: 2 });
    expect(again.githubRequests).toBe(2);

    // While fe2 stays silent, what fe1 newly shows joins the PR beside fe2's pending addition.
    h.dns.set('fe1.acme.test', { kind: 'answer', a: [FE1_V4, OTHER_V4], aaaa: [FE1_V6] });
    const partial = await h.run();
    expect(partial.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([
      `${FE1_V4}/32`,
      `${FE2_V4}/32`,
      `${NEW_V4}/32`,
      `${OTHER_V4}/32`,
      `${FE1_V6}/128`,
    ]);

    // A complete check decides again: fe2's extra address is gone, so it leaves the PR.
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    const clean = await h.run();
    expect(clean.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`, `${OTHER_V4}/32`, `${FE1_V6}/128`]);
  });

  it('declines a proposal closed without merging, and opens a new PR only for a different drift', async () => {
    h = await startHarness();
    await h.run();
    const declined = (await h.state()).config.pullRequest!.fingerprint;
    h.github.closePullRequest(1);

    const closedRun = await h.run();
    expect(closedRun.report.pullRequest.action).toBe('declined');
    expect((await h.state()).config.declined).toEqual([declined]);
    const again = await h.run();
    expect(again.report.pullRequest.action).toBe('declined');
    // The declined PR is read once per run, so that a reopen or a merge of it is seen.
    expect(again.githubRequests).toBe(1);
    expect(h.github.countRequests('POST /repos/contoso/network/pulls')).toBe(1);

    h.dns.set('fe1.acme.test', { kind: 'answer', a: [FE1_V4, OTHER_V4], aaaa: [FE1_V6] });
    const different = await h.run();
    expect(different.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.pullRequests().map((p) => [p.number, p.state])).toEqual([
      [1, 'closed'],
      [2, 'open'],
    ]);
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toContain(`${OTHER_V4}/32`);
  });

  it('never pushes over a person’s commit on the branch: blocked, branch untouched, one comment across two runs', async () => {
    h = await startHarness();
    await h.run();
    const human = h.github.pushCommit(BRANCH, { [FILES.outsystems]: '# edited by hand\n52.16.9.9/32\n' }, 'Hand edit', 'octocat');
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });

    const first = await h.run();
    const second = await h.run();

    for (const { report } of [first, second]) {
      expect(report.pullRequest).toMatchObject({ action: 'blocked', number: 1 });
      expect(report.errors).toEqual([]);
    }
    expect(h.github.refSha(BRANCH)).toBe(human);
    expect(h.github.readFile(BRANCH, FILES.outsystems)).toBe('# edited by hand\n52.16.9.9/32\n');
    expect(h.github.pullRequest(1).comments).toHaveLength(1);
    expect(h.github.pullRequest(1).comments[0]!.body).toContain('did not push them');
    expect(h.github.countRequests({ method: 'POST', route: /\/git\/commits$/ })).toBe(1);
  });
  it('takes a PR merged with people’s commits as approval of what the merge put in every file; the next run proposes the rest and keeps their entry', async () => {
    h = await startHarness();
    await h.run();
    const proposal = (await h.state()).config.pullRequest!.proposal;
    h.github.pushCommit(BRANCH, { [FILES.outsystems]: '# edited by hand\n52.16.9.9/32\n' }, 'Hand edit', 'octocat');
    expect((await h.run()).report.pullRequest.action).toBe('blocked');
    h.github.mergePullRequest(1);

    const after = await h.run();
    const state = await h.state();
    // The hand edit emptied the OutSystems file of the front-ends: not approved there, so proposed again.
    expect(state.targets.get('acme-prod')?.baseline).toEqual([]);
    expect(state.targets.get('cas-eu')?.baseline).toEqual(proposal['cas-eu']);
    expect(after.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    // The person's entry stays under their comment, after the generated entries.
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`, `${FE1_V6}/128`, '52.16.9.9/32']);
    expect(h.github.pullRequest(2).title).toBe('allowlist: +3 -0 across acme-prod');
    expect(after.report.warnings).toEqual([
      expect.objectContaining({ code: 'unmanaged-entries', message: expect.stringContaining('52.16.9.9/32') }),
    ]);
    expect(h.github.pullRequest(2).body).toContain('Kept, not managed here');
  });
  it('leaves a PR that people pushed to open when its drift goes away: closing it would delete their commits', async () => {
    h = await startHarness();
    await approvedBaseline();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    await h.run();
    const human = h.github.pushCommit(BRANCH, { [FILES.outsystems]: '# edited by hand\n' }, 'Hand edit', 'octocat');
    expect((await h.run()).report.pullRequest.action).toBe('blocked');

    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4] });
    const reverted = await h.run();
    expect(reverted.report.pullRequest).toMatchObject({ action: 'blocked', number: 2 });
    expect(h.github.pullRequest(2).state).toBe('open');
    expect(h.github.refSha(BRANCH)).toBe(human);
  });

  it('publishes nothing while a target sharing a file has no known addresses, then everything once it is known', async () => {
    h = await startHarness();
    const dnsOnly = await h.run({ targetTypes: ['outsystems'] });
    expect(dnsOnly.report.pullRequest.action).toBe('none');
    expect(dnsOnly.report.pullRequest.message).toContain('cas-eu');
    expect(dnsOnly.githubRequests).toBe(0);

    const all = await h.run();
    expect(all.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
  });

  it('publishes nothing while a target sharing a file has only failed checks, not even after a second failure', async () => {
    h = await startHarness();
    h.http.handle((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/plain' });
      response.end('unavailable');
    });
    for (let run = 0; run < 2; run++) {
      const { report, githubRequests } = await h.run();
      expect(report.targets.find((t) => t.id === 'cas-eu')!.status).toBe('error');
      expect(report.pullRequest.action).toBe('none');
      expect(report.pullRequest.message).toContain('cas-eu');
      expect(githubRequests).toBe(0);
    }
  });

  it('describes in the PR every target whose stored proposal changes the files, not only those checked in this run', async () => {
    h = await startHarness();
    await approvedBaseline();
    // The CAS page gains an EU1 portal address; only the CAS timer sees it.
    const page = sharedFile('fixtures/cas/network-requirements_2024-06-20.md')
      .toString('utf8')
      .replace('|EU1|13.80.125.22, ', '|EU1|13.80.125.22, 51.4.4.4, ');
    h.http.handle(routes({ '/network-requirements.md': { body: page, contentType: 'text/plain; charset=utf-8' } }));
    const casOnly = await h.run({ targetTypes: ['cas-docs'] });
    expect(casOnly.report.pullRequest).toMatchObject({ action: 'created', number: 2 });

    // The OutSystems timer then finds a new front-end address and updates the same PR.
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    const dnsOnly = await h.run({ targetTypes: ['outsystems'] });
    expect(dnsOnly.report.targets.map((t) => t.id)).toEqual(['acme-prod']);
    expect(dnsOnly.report.pullRequest).toMatchObject({ action: 'updated', number: 2 });
    const pull = h.github.pullRequest(2);
    expect(pull.title).toBe('allowlist: +2 -0 across acme-prod, cas-eu');
    expect(pull.body).toContain('51.4.4.4/32');
    expect(pull.body).toContain(`${NEW_V4}/32`);
  });
});
