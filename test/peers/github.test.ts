import { generateKeyPairSync } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { createAppAuth } from '@octokit/auth-app';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faults, startGitHubPeer, type GitHubPeer } from './github/index.js';

const TOKEN = 'ghp_peer_test_token';
/** A route string without Octokit's parameter types, to send what GitHub would reject. */
const untyped = (route: string): string => route;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('GitHub peer', () => {
  let peer: GitHubPeer;
  let octokit: Octokit;

  beforeAll(async () => {
    peer = await startGitHubPeer({ token: TOKEN, files: { 'firewall/a.txt': 'a\n' } });
    octokit = new Octokit({ auth: TOKEN, baseUrl: peer.url, log: quiet });
  });
  afterAll(() => peer.close());

  const repo = () => ({ owner: peer.owner, repo: peer.repo });

  it('serves the seeded base branch through the Git Data API', async () => {
    const { data: branch } = await octokit.rest.repos.getBranch({ ...repo(), branch: 'main' });
    const { data: file } = await octokit.rest.repos.getContent({ ...repo(), path: 'firewall/a.txt', ref: branch.commit.sha });
    expect('content' in file && Buffer.from(file.content, 'base64').toString()).toBe('a\n');
    const { data: commit } = await octokit.rest.git.getCommit({ ...repo(), commit_sha: branch.commit.sha });
    expect(commit.tree.sha).toBe(branch.commit.commit.tree.sha);
    expect(peer.violations).toEqual([]);
  });

  it('gives identical trees the same sha, like Git', async () => {
    const { data: branch } = await octokit.rest.repos.getBranch({ ...repo(), branch: 'main' });
    const tree = {
      ...repo(),
      base_tree: branch.commit.commit.tree.sha,
      tree: [{ path: 'b.txt', mode: '100644' as const, type: 'blob' as const, content: 'b' }],
    };
    const first = await octokit.rest.git.createTree(tree);
    const second = await octokit.rest.git.createTree(tree);
    expect(first.data.sha).toBe(second.data.sha);
    expect(first.data.sha).not.toBe(branch.commit.commit.tree.sha);
  });

  it('records a violation for a body GitHub would reject', async () => {
    const before = peer.violations.length;
    await expect(
      octokit.request(untyped('POST /repos/{owner}/{repo}/git/trees'), {
        ...repo(),
        tree: [{ path: 'x', mode: '100999', type: 'blob', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 400 });
    expect(peer.violations.slice(before)).toEqual([expect.objectContaining({ method: 'POST', reason: expect.stringContaining('mode') })]);
    peer.violations.splice(before);
  });

  it('records a violation for a route GitHub does not have', async () => {
    const before = peer.violations.length;
    await expect(octokit.request('GET /repos/{owner}/{repo}/no-such-thing', repo())).rejects.toMatchObject({ status: 404 });
    await expect(octokit.request(untyped('GET /repos/{owner}/{repo}/pulls'), { ...repo(), state: 'bogus' })).rejects.toMatchObject({
      status: 400,
    });
    expect(peer.violations.slice(before)).toHaveLength(2);
    peer.violations.splice(before);
  });

  it('answers under the GitHub Enterprise /api/v3 prefix as well', async () => {
    const enterprise = new Octokit({ auth: TOKEN, baseUrl: peer.enterpriseUrl, log: quiet });
    const { data } = await enterprise.rest.repos.getBranch({ ...repo(), branch: 'main' });
    expect(data.commit.sha).toBe(peer.refSha('main'));
    expect(peer.requests.at(-1)).toMatchObject({
      path: '/api/v3/repos/contoso/network/branches/main',
      route: '/repos/contoso/network/branches/main',
    });
  });

  it('refuses unknown tokens with 401 Bad credentials', async () => {
    const stranger = new Octokit({ auth: 'ghp_wrong', baseUrl: peer.url, log: quiet });
    await expect(stranger.rest.repos.getBranch({ ...repo(), branch: 'main' })).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('Bad credentials'),
    });
  });

  it('injects faults once, then behaves again', async () => {
    peer.failNext('GET /repos/contoso/network/branches/main', faults.rateLimited(30));
    await expect(octokit.rest.repos.getBranch({ ...repo(), branch: 'main' })).rejects.toMatchObject({
      status: 403,
      response: { headers: expect.objectContaining({ 'x-ratelimit-remaining': '0' }) },
    });
    await expect(octokit.rest.repos.getBranch({ ...repo(), branch: 'main' })).resolves.toMatchObject({ status: 200 });
  });

  it('keeps an open pull request head on its branch and tracks human merges', async () => {
    const base = peer.refSha('main')!;
    const { data: tree } = await octokit.rest.git.createTree({
      ...repo(),
      base_tree: peer.commit(base).tree,
      tree: [{ path: 'c.txt', mode: '100644', type: 'blob', content: 'c' }],
    });
    const { data: commit } = await octokit.rest.git.createCommit({ ...repo(), message: 'c', tree: tree.sha, parents: [base] });
    await octokit.rest.git.createRef({ ...repo(), ref: 'refs/heads/feature/c', sha: commit.sha });
    await expect(octokit.rest.git.createRef({ ...repo(), ref: 'refs/heads/feature/c', sha: commit.sha })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('Reference already exists'),
    });
    const { data: pull } = await octokit.rest.pulls.create({ ...repo(), title: 'c', head: 'feature/c', base: 'main' });
    await expect(octokit.rest.pulls.create({ ...repo(), title: 'c', head: 'feature/c', base: 'main' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('A pull request already exists for contoso:feature/c'),
    });
    const pushed = peer.pushCommit('feature/c', { 'c.txt': 'c2' });
    const { data: listed } = await octokit.rest.pulls.list({ ...repo(), head: 'contoso:feature/c', state: 'all' });
    expect(listed.map((p) => [p.number, p.head.sha])).toEqual([[pull.number, pushed]]);
    peer.mergePullRequest(pull.number);
    const { data: merged } = await octokit.rest.pulls.get({ ...repo(), pull_number: pull.number });
    expect(merged).toMatchObject({ state: 'closed', merged: true });
    expect(peer.readFile('main', 'c.txt')).toBe('c2');
    expect(peer.violations).toEqual([]);
  });

  it('lists a pull request’s closes, reopens, merge and branch deletions on its timeline, and closes it with its branch', async () => {
    const base = peer.refSha('main')!;
    const branchWith = async (name: string, content: string) => {
      const { data: tree } = await octokit.rest.git.createTree({
        ...repo(),
        base_tree: peer.commit(base).tree,
        tree: [{ path: `${name}.txt`, mode: '100644', type: 'blob', content }],
      });
      const { data: commit } = await octokit.rest.git.createCommit({ ...repo(), message: name, tree: tree.sha, parents: [base] });
      await octokit.rest.git.createRef({ ...repo(), ref: `refs/heads/${name}`, sha: commit.sha });
      return (await octokit.rest.pulls.create({ ...repo(), title: name, head: name, base: 'main' })).data.number;
    };
    const events = async (number: number) =>
      (await octokit.rest.issues.listEventsForTimeline({ ...repo(), issue_number: number, per_page: 100 })).data.map((e) =>
        'event' in e ? [e.event, 'actor' in e ? e.actor?.login : undefined] : [],
      );

    const merged = await branchWith('timeline-merged', 'm');
    peer.closePullRequest(merged);
    await octokit.rest.pulls.update({ ...repo(), pull_number: merged, state: 'open' });
    peer.mergePullRequest(merged);
    expect(await events(merged)).toEqual([
      ['closed', 'octocat'],
      ['reopened', peer.botLogin],
      ['merged', 'octocat'],
      ['closed', 'octocat'],
    ]);

    const deleted = await branchWith('timeline-deleted', 'd');
    peer.deleteBranch('timeline-deleted');
    expect((await octokit.rest.pulls.get({ ...repo(), pull_number: deleted })).data.state).toBe('closed');
    expect(await events(deleted)).toEqual([
      ['head_ref_deleted', 'octocat'],
      ['closed', 'octocat'],
    ]);
    expect(() => peer.reopenPullRequest(deleted)).toThrow(/head branch/);
    await expect(octokit.rest.issues.listEventsForTimeline({ ...repo(), issue_number: 999 })).rejects.toMatchObject({ status: 404 });
    expect(peer.violations).toEqual([]);
  });

  it('creates, reads and edits issues numbered with pull requests, and keeps a person’s close and edits', async () => {
    const before = peer.nextNumber();
    const { data: created } = await octokit.rest.issues.create({ ...repo(), title: 'Dashboard', body: 'one\n- [ ] box' });
    expect(created).toMatchObject({ number: before, state: 'open', body: 'one\n- [ ] box' });
    expect(peer.nextNumber()).toBe(before + 1);
    peer.editIssue(created.number, (body) => body.replace('[ ]', '[x]'));
    const { data: edited } = await octokit.rest.issues.get({ ...repo(), issue_number: created.number });
    expect(edited.body).toBe('one\r\n- [x] box');
    await octokit.rest.issues.update({ ...repo(), issue_number: created.number, body: 'two' });
    peer.closeIssue(created.number);
    const { data: closed } = await octokit.rest.issues.get({ ...repo(), issue_number: created.number });
    expect(closed).toMatchObject({ state: 'closed', body: 'two', closed_by: { login: 'octocat' } });
    await expect(octokit.rest.issues.get({ ...repo(), issue_number: 999 })).rejects.toMatchObject({ status: 404 });
    expect(peer.violations).toEqual([]);
  });

  it('exchanges a GitHub App JWT for an installation token', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const appPeer = await startGitHubPeer({ app: { id: 4242, installationId: 77, publicKey } });
    try {
      const app = new Octokit({
        baseUrl: appPeer.url,
        log: quiet,
        authStrategy: createAppAuth,
        auth: { appId: 4242, privateKey, installationId: 77 },
      });
      await expect(app.rest.repos.getBranch({ owner: appPeer.owner, repo: appPeer.repo, branch: 'main' })).resolves.toMatchObject({
        status: 200,
      });
      expect(appPeer.requests.map((r) => `${r.method} ${r.route} ${r.status}`)).toEqual([
        'POST /app/installations/77/access_tokens 201',
        'GET /repos/contoso/network/branches/main 200',
      ]);
      const impostor = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      const forged = new Octokit({
        baseUrl: appPeer.url,
        log: quiet,
        authStrategy: createAppAuth,
        auth: { appId: 4242, privateKey: impostor.privateKey, installationId: 77 },
      });
      await expect(forged.rest.repos.getBranch({ owner: appPeer.owner, repo: appPeer.repo, branch: 'main' })).rejects.toMatchObject({
        status: 401,
      });
      expect(appPeer.violations).toEqual([]);
    } finally {
      await appPeer.close();
    }
  });
});
