import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { GitHubConfig } from '../../shared/config.js';
import { renderDashboard, tickedBy, type IssueRevision } from '../../shared/publish/dashboard.js';
import { createGitHubPublisher } from '../../shared/publish/github/publisher.js';
import { faults, startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { Outsider } from '../peers/github/outsider.js';
import { FAST_GITHUB, rejection } from '../support.js';

/** Who the tool is on GitHub, whose items it takes for its own, and who ticked a box of its dashboard. */

const TOKEN = 'ghp_Identity0Test0Token0123456789abcdef';
let peer: GitHubPeer;

afterEach(async () => {
  expect(peer.violations).toEqual([]);
  await peer.close();
});

function githubConfig(apiUrl = peer.url): GitHubConfig {
  return {
    owner: 'contoso',
    repo: 'network',
    base: 'main',
    apiUrl,
    branchPrefix: 'allowlist-drift/',
    labels: [],
    reviewers: [],
    teamReviewers: [],
    dashboard: true,
  };
}

const publisher = (env: Record<string, string> = { GITHUB_TOKEN: TOKEN }, apiUrl?: string) =>
  createGitHubPublisher({ github: githubConfig(apiUrl), configName: 'prod', env, tuning: FAST_GITHUB });

const routes = () => peer.requests.map((r) => `${r.method} ${r.route}`);

/** A dashboard body with one held change of target mcas-tags. */
const DASHBOARD = renderDashboard({
  configName: 'prod',
  targets: [
    {
      id: 'mcas-tags',
      type: 'service-tags',
      status: 'held',
      pendingRemoval: [],
      errors: [],
      warnings: [],
      held: { added: ['20.0.0.0/16' as never], removed: [], fingerprint: '0123456789abcdef', since: '2025-01-01T00:00:00Z', verdicts: [] },
    },
  ],
});
const TICK = { targetId: 'mcas-tags', fingerprint: '0123456789abcdef' };
const ticked = (body: string) => body.replace('- [ ] **mcas-tags**', '- [x] **mcas-tags**');

describe('the identity', () => {
  it('a token is its GET /user login, asked once per publisher', async () => {
    peer = await startGitHubPeer({ token: TOKEN, botLogin: 'drift-bot' });
    const github = await publisher();
    expect(await github.identity()).toBe('drift-bot');
    expect(await github.identity()).toBe('drift-bot');
    expect(routes()).toEqual(['GET /user']);
  });

  it('a GitHub App is its bot user <slug>[bot], from GET /app signed with the App’s JWT', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    peer = await startGitHubPeer({ app: { id: 4242, installationId: 77, publicKey }, appSlug: 'acme-drift' });
    const github = await publisher({ GITHUB_APP_ID: '4242', GITHUB_APP_INSTALLATION_ID: '77', GITHUB_APP_PRIVATE_KEY: privateKey });
    expect(await github.identity()).toBe('acme-drift[bot]');
    expect(await github.identity()).toBe('acme-drift[bot]');
    expect(routes()).toEqual(['GET /app']);
  });

  it('finds only its own issue by the dashboard marker; an outsider’s is reported once', async () => {
    peer = await startGitHubPeer({ token: TOKEN });
    const github = await publisher();
    const eve = new Outsider(peer, 'eve');
    eve.openIssue({ title: 'x', body: '<!-- allowlist-drift:dashboard config=prod -->' });
    expect(await github.findIssue('<!-- allowlist-drift:dashboard config=prod -->')).toBeUndefined();
    expect(await github.findIssue('<!-- allowlist-drift:dashboard config=prod -->')).toBeUndefined();
    expect(github.takeWarnings()).toEqual([{ code: 'foreign-marker', message: expect.stringMatching(/^Issue #1 by eve carries/) }]);
    expect(github.takeWarnings()).toEqual([]);
    const own = await github.createIssue({ title: 'Dashboard', body: '<!-- allowlist-drift:dashboard config=prod -->\n' });
    expect(await github.findIssue('<!-- allowlist-drift:dashboard config=prod -->')).toMatchObject({ number: own.number });
    expect(peer.countRequests('GET /user')).toBe(1);
  });

  it('an item recorded without an author (an earlier release) stays its own only when its author may push', async () => {
    peer = await startGitHubPeer({ token: TOKEN, permissions: { alice: 'write', eve: 'read' } });
    const github = await publisher();
    const byAlice = { number: 1, state: 'open' as const, body: '', author: 'alice' };
    const byEve = { ...byAlice, author: 'eve' };
    expect(await github.ownsIssue(byAlice, {})).toBe(true);
    expect(await github.ownsIssue(byEve, {})).toBe(false);
    // Found, not recorded: only the identity counts.
    expect(await github.ownsIssue(byAlice)).toBe(false);
    // Recorded with its author: that author, and nobody else.
    expect(await github.ownsIssue(byAlice, { author: 'alice' })).toBe(true);
    expect(await github.ownsIssue(byEve, { author: 'alice' })).toBe(false);
  });
});

describe('who ticked a box', () => {
  it('reads the editor from the issue’s edit history over GraphQL, mapped to /api/graphql on Enterprise Server', async () => {
    peer = await startGitHubPeer({ token: TOKEN });
    const github = await publisher({ GITHUB_TOKEN: TOKEN }, peer.enterpriseUrl);
    const issue = await github.createIssue({ title: 'Dashboard', body: DASHBOARD.body });
    peer.editIssue(issue.number, ticked, 'mona');
    expect(await github.approver(issue.number, TICK)).toBe('mona');
    const graphql = peer.requests.filter((r) => r.route === '/graphql');
    expect(graphql.map((r) => r.path)).toEqual(['/api/graphql']);
  });

  it('is "unknown" when GraphQL is not there, or the history does not show the tick', async () => {
    peer = await startGitHubPeer({ token: TOKEN, noGraphql: true });
    const github = await publisher();
    const issue = await github.createIssue({ title: 'Dashboard', body: DASHBOARD.body });
    peer.editIssue(issue.number, ticked, 'mona');
    expect(await github.approver(issue.number, TICK)).toBe('unknown');
    peer.noGraphql = false;
    peer.issue(issue.number).edits = [];
    expect(await github.approver(issue.number, TICK)).toBe('unknown');
    // A history cut short so that the tool's own rewrite is the oldest edit showing the tick: not the tool's approval.
    peer.issue(issue.number).edits = [{ editor: peer.botLogin, editedAt: '2025-01-01T00:00:09Z', body: ticked(DASHBOARD.body) }];
    expect(await github.approver(issue.number, TICK)).toBe('unknown');
  });

  it('is "unknown" when the GraphQL answer is garbage, and a garbage identity answer is a clear error, asked again next time', async () => {
    peer = await startGitHubPeer({ token: TOKEN });
    const github = await publisher();
    const issue = await github.createIssue({ title: 'Dashboard', body: DASHBOARD.body });
    peer.editIssue(issue.number, ticked, 'mona');
    peer.failNext({ method: 'POST', route: '/graphql' }, faults.html());
    expect(await github.approver(issue.number, TICK)).toBe('unknown');
    peer.failNext(
      { method: 'POST', route: '/graphql' },
      { status: 200, body: { data: { repository: { issue: { userContentEdits: { nodes: 'x' } } } } } },
    );
    expect(await github.approver(issue.number, TICK)).toBe('unknown');
    expect(await github.approver(issue.number, TICK)).toBe('mona');

    const fresh = await publisher();
    peer.failNext('GET /user', { status: 200, body: { name: 'no login here' } });
    expect(await rejection(fresh.identity())).toMatchObject({ code: 'github-bad-response' });
    expect(await fresh.identity()).toBe(peer.botLogin);
  });

  it('is the editor of the edit that ticked it, not of a later edit that kept it ticked', () => {
    const at = (second: number) => `2025-01-01T00:00:${String(second).padStart(2, '0')}Z`;
    const revisions: IssueRevision[] = [
      { editor: 'bot', editedAt: at(1), body: DASHBOARD.body },
      { editor: 'eve-cannot', editedAt: at(2), body: ticked(DASHBOARD.body) },
      { editor: 'bot', editedAt: at(3), body: DASHBOARD.body },
      { editor: 'mona', editedAt: at(4), body: ticked(DASHBOARD.body) },
      { editor: 'bot', editedAt: at(5), body: `${ticked(DASHBOARD.body)}\nmore` },
    ];
    // Listed newest first, as GitHub does; the order given does not matter.
    expect(tickedBy([...revisions].reverse(), TICK)).toBe('mona');
    expect(tickedBy(revisions, TICK)).toBe('mona');
    expect(tickedBy(revisions.slice(0, 1), TICK)).toBeUndefined();
    expect(tickedBy(revisions, { ...TICK, fingerprint: 'fedcba9876543210' })).toBeUndefined();
  });
});
