import { createHash, generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GitHubConfig } from '../../shared/config.js';
import { AllowlistError } from '../../shared/problem.js';
import { CONFIG_TRAILER } from '../../shared/publish/github/markers.js';
import { createGitHubPublisher } from '../../shared/publish/github/publisher.js';
import type { GitHubPublisherOptions, PublishPlan } from '../../shared/publish/github/types.js';
import { faults, startGitHubPeer, type GitHubPeer, type GitHubPeerOptions } from '../peers/github/index.js';
import { FAST_GITHUB } from '../support.js';

const TOKEN = 'ghp_Publisher0Test0Token0123456789abcdef';
const BRANCH = 'allowlist-drift/prod';
const SEED = {
  'README.md': '# network\n',
  'firewall/outsystems.txt': '# managed by allowlist-drift\n203.0.113.10/32\n',
  'firewall/hosts.tf': 'resource "x" "y" {}\n',
};
/** Retry waits shrunk to milliseconds and writes unpaced; the protocol under test is unchanged. */
const FAST = { ...FAST_GITHUB, retryDelayUnitMs: 5 };

let peer: GitHubPeer;
let logs: string[];

async function start(options: GitHubPeerOptions = { token: TOKEN }): Promise<GitHubPeer> {
  peer = await startGitHubPeer({ files: SEED, ...options });
  return peer;
}

beforeEach(() => {
  logs = [];
});

afterEach(async () => {
  expect(peer.violations).toEqual([]);
  await peer.close();
});

function githubConfig(overrides: Partial<GitHubConfig> = {}): GitHubConfig {
  return {
    owner: 'contoso',
    repo: 'network',
    base: 'main',
    apiUrl: peer.url,
    branchPrefix: 'allowlist-drift/',
    labels: [],
    reviewers: [],
    teamReviewers: [],
    dashboard: true,
    ...overrides,
  };
}

function publisher(overrides: Partial<GitHubPublisherOptions> = {}) {
  return createGitHubPublisher({
    github: githubConfig(),
    configName: 'prod',
    env: { GITHUB_TOKEN: TOKEN },
    tuning: FAST,
    log: (level, m) => logs.push(`[${level}] ${m}`),
    ...overrides,
  });
}

/** A plan writing `files` verbatim (three firewall files unless told otherwise). */
function plan(files: Record<string, string> = drift('198.51.100.7/32'), extra: Partial<PublishPlan> = {}): PublishPlan {
  const fingerprint = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
  return {
    fingerprint,
    title: 'Allowlist drift: prod',
    body: `Fingerprint ${fingerprint}`,
    files: Object.entries(files).map(([path, content]) => ({ path, content })),
    labels: [],
    reviewers: [],
    teamReviewers: [],
    ...extra,
  };
}

function drift(cidr: string): Record<string, string> {
  return {
    'firewall/outsystems.txt': `# managed by allowlist-drift\n${cidr}\n`,
    'firewall/cas.txt': `# Defender for Cloud Apps\n${cidr}\n`,
    'terraform/allowlist.auto.tfvars.json': JSON.stringify({ allowlist: [cidr] }, null, 2),
  };
}

function requestsSince(mark: number): string[] {
  return peer.requests.slice(mark).map((r) => `${r.method} ${r.route}`);
}

async function expectError(promise: Promise<unknown>, code: string): Promise<AllowlistError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AllowlistError);
  expect((error as AllowlistError).code).toBe(code);
  return error as AllowlistError;
}

describe('publish: first pull request', () => {
  it('commits every file in one commit on the base head and opens one pull request with labels and reviewers', async () => {
    await start();
    const base = peer.refSha('main')!;
    const github = await publisher({ github: githubConfig({ labels: ['firewall'], reviewers: ['alice'], teamReviewers: ['netops'] }) });
    const result = await github.publish(
      plan(drift('198.51.100.7/32'), { labels: ['firewall'], reviewers: ['alice'], teamReviewers: ['netops'] }),
    );

    expect(github.branch).toBe(BRANCH);
    expect(result).toMatchObject({
      action: 'created',
      pullRequest: { number: 1, state: 'open', branch: BRANCH, headSha: peer.refSha(BRANCH) },
    });
    const [head, parent] = peer.history(BRANCH);
    expect(parent!.sha).toBe(base);
    expect(head!.message).toContain(`${CONFIG_TRAILER}: prod`);
    expect(peer.readFile(BRANCH, 'firewall/cas.txt')).toBe('# Defender for Cloud Apps\n198.51.100.7/32\n');
    expect(peer.readFile(BRANCH, 'firewall/hosts.tf')).toBe(SEED['firewall/hosts.tf']);
    const pull = peer.pullRequest(1);
    expect(pull).toMatchObject({
      title: 'Allowlist drift: prod',
      body: expect.stringContaining('Fingerprint'),
      headRef: BRANCH,
      baseRef: 'main',
      labels: ['firewall'],
      reviewers: ['alice'],
      teamReviewers: ['netops'],
    });
    expect(result.pullRequest!.url).toBe('https://github.com/contoso/network/pull/1');
    expect(peer.countRequests('POST /repos/contoso/network/git/commits')).toBe(1);
  });

  it('stays within six requests for three files without labels or reviewers', async () => {
    await start();
    const result = await (await publisher()).publish(plan());
    expect(requestsSince(0)).toEqual([
      'GET /repos/contoso/network/pulls',
      'GET /repos/contoso/network/branches/main',
      'POST /repos/contoso/network/git/trees',
      'POST /repos/contoso/network/git/commits',
      'POST /repos/contoso/network/git/refs',
      'POST /repos/contoso/network/pulls',
    ]);
    expect(result.requests).toBe(6);
  });

  it('reads the base head and each file on it (null when missing), and commits on exactly that base', async () => {
    await start();
    const github = await publisher();
    const base = await github.readBase(['firewall/outsystems.txt', 'firewall/new.txt']);
    expect(base.sha).toBe(peer.refSha('main'));
    expect(base.files).toEqual(
      new Map([
        ['firewall/outsystems.txt', SEED['firewall/outsystems.txt']],
        ['firewall/new.txt', null],
      ]),
    );
    expect(requestsSince(0)).toHaveLength(3);
    peer.moveBase({ 'docs/later.md': 'later\n' });
    const result = await github.publish({
      ...plan({ 'firewall/outsystems.txt': `${base.files.get('firewall/outsystems.txt')}198.51.100.7/32\n` }),
      base,
    });
    expect(result.action).toBe('created');
    expect(peer.history(BRANCH)[0]!.parents).toEqual([base.sha]);
    expect(peer.readFile(BRANCH, 'firewall/outsystems.txt')).toBe(`${SEED['firewall/outsystems.txt']}198.51.100.7/32\n`);
  });
});

describe('publish: an open pull request', () => {
  it('pushes nothing for the same plan again', async () => {
    await start();
    const github = await publisher();
    const first = await github.publish(plan());
    const head = peer.refSha(BRANCH);
    const mark = peer.requests.length;
    // The PR's author as the state records it: no GET /user is needed to know the PR is the tool's own.
    const again = await github.publish(plan(), { number: 1, headSha: first.pullRequest!.headSha, author: first.pullRequest!.author });
    expect(again).toMatchObject({ action: 'unchanged', pullRequest: { number: 1, headSha: head }, requests: 4 });
    expect(peer.refSha(BRANCH)).toBe(head);
    expect(requestsSince(mark).filter((r) => !r.startsWith('GET ') && !r.endsWith('/git/trees'))).toEqual([]);
  });

  it('updates the description alone when only the text changed', async () => {
    await start();
    const github = await publisher();
    const first = await github.publish(plan());
    const head = peer.refSha(BRANCH);
    const again = await github.publish(plan(drift('198.51.100.7/32'), { body: 'Reworded' }), {
      number: 1,
      headSha: head!,
      author: first.pullRequest!.author,
    });
    expect(again).toMatchObject({ action: 'unchanged', requests: 5 });
    expect(peer.pullRequest(1).body).toBe('Reworded');
    expect(peer.refSha(BRANCH)).toBe(head);
  });

  it('puts new drift in one new commit on top of the current base head, even after the base moved', async () => {
    await start();
    const github = await publisher();
    const first = await github.publish(plan(drift('198.51.100.7/32')));
    const movedBase = peer.moveBase({ 'docs/other.md': 'unrelated\n' });
    const mark = peer.requests.length;

    const updated = await github.publish(plan(drift('198.51.100.8/32')), {
      number: 1,
      headSha: first.pullRequest!.headSha,
      author: first.pullRequest!.author,
    });

    expect(updated).toMatchObject({ action: 'updated', pullRequest: { number: 1, headSha: peer.refSha(BRANCH) } });
    const [head, parent] = peer.history(BRANCH);
    expect(head!.parents).toEqual([movedBase]);
    expect(parent!.sha).toBe(movedBase);
    expect(peer.readFile(BRANCH, 'docs/other.md')).toBe('unrelated\n');
    expect(peer.readFile(BRANCH, 'firewall/outsystems.txt')).toContain('198.51.100.8/32');
    expect(peer.pullRequest(1).headSha).toBe(head!.sha);
    expect(peer.pullRequests()).toHaveLength(1);
    expect(requestsSince(mark)).toEqual([
      'GET /repos/contoso/network/pulls',
      `GET /repos/contoso/network/git/commits/${first.pullRequest!.headSha}`,
      'GET /repos/contoso/network/branches/main',
      'POST /repos/contoso/network/git/trees',
      'POST /repos/contoso/network/git/commits',
      `PATCH /repos/contoso/network/git/refs/heads/${BRANCH}`,
      'PATCH /repos/contoso/network/pulls/1',
    ]);
    expect(updated.requests).toBe(7);
    expect(peer.pullRequest(1).body).toBe(plan(drift('198.51.100.8/32')).body);
  });

  it('rebases an unchanged plan onto a moved base', async () => {
    await start();
    const github = await publisher();
    await github.publish(plan());
    const movedBase = peer.moveBase({ 'docs/other.md': 'unrelated\n' });
    const again = await github.publish(plan());
    expect(again.action).toBe('updated');
    expect(peer.history(BRANCH)[1]!.sha).toBe(movedBase);
  });

  it('never overwrites a person’s commit: blocks, comments once across runs, leaves the branch alone', async () => {
    await start();
    const github = await publisher();
    const first = await github.publish(plan());
    const human = peer.pushCommit(BRANCH, { 'firewall/cas.txt': 'hand edited\n' }, 'Fix by hand');

    const known = { number: 1, headSha: first.pullRequest!.headSha };
    const blocked = await github.publish(plan(drift('198.51.100.9/32')), known);
    expect(blocked).toMatchObject({
      action: 'blocked',
      pullRequest: { number: 1, headSha: human },
      message: expect.stringContaining(BRANCH),
    });
    const again = await github.publish(plan(drift('198.51.100.9/32')), { ...known, blockedNotice: blocked.pullRequest!.headSha });
    expect(again.action).toBe('blocked');

    expect(peer.refSha(BRANCH)).toBe(human);
    expect(peer.pullRequest(1).comments).toHaveLength(1);
    expect(peer.pullRequest(1).comments[0]!.body).toContain(human);
    expect(peer.countRequests('POST /repos/contoso/network/git/commits')).toBe(1);
  });
});

describe('publish: recovering from interrupted runs', () => {
  it('opens exactly one pull request after a run died between pushing the branch and opening it', async () => {
    await start();
    peer.failNext('POST /repos/contoso/network/pulls', faults.serverError(), { times: 4 });
    const github = await publisher();
    await expectError(github.publish(plan()), 'github-error');
    const orphan = peer.refSha(BRANCH);
    expect(orphan).toBeDefined();
    expect(peer.pullRequests()).toHaveLength(0);

    const result = await github.publish(plan());
    expect(result).toMatchObject({ action: 'created', pullRequest: { number: 1 } });
    expect(peer.pullRequests()).toHaveLength(1);
    expect(peer.history(BRANCH)[1]!.sha).toBe(peer.refSha('main'));
    expect(peer.countRequests('GET /repos/contoso/network/git/ref/heads/allowlist-drift/prod')).toBe(1);
  });

  it("keeps Octokit's own line for the expected 422 on an existing branch at debug: no warning or error is logged", async () => {
    await start();
    peer.failNext('POST /repos/contoso/network/pulls', faults.serverError(), { times: 4 });
    const github = await publisher();
    await expectError(github.publish(plan()), 'github-error');
    logs.length = 0;

    expect((await github.publish(plan())).action).toBe('created');
    expect(peer.requests.filter((r) => r.method === 'POST' && r.route.endsWith('/git/refs')).map((r) => r.status)).toEqual([201, 422]);
    expect(logs).toContainEqual(expect.stringMatching(/^\[debug\] POST \/repos\/contoso\/network\/git\/refs - 422 with id \S+ in \d+ms$/));
    expect(logs.filter((line) => /^\[(warn|error)\]/.test(line))).toEqual([]);
  });

  it('refuses to take over a branch of the same name that a person made', async () => {
    await start();
    peer.pushCommit(BRANCH, { 'notes.txt': 'mine\n' });
    const head = peer.refSha(BRANCH);
    await expectError((await publisher()).publish(plan()), 'github-branch-conflict');
    expect(peer.refSha(BRANCH)).toBe(head);
    expect(peer.pullRequests()).toHaveLength(0);
  });

  it('adopts the pull request when the create response was lost and the retry says it already exists', async () => {
    await start();
    peer.failNext('POST /repos/contoso/network/pulls', faults.serverError(), { afterHandling: true });
    const result = await (await publisher()).publish(plan(drift('198.51.100.7/32'), { labels: ['firewall'] }));
    expect(result).toMatchObject({ action: 'created', pullRequest: { number: 1, branch: BRANCH } });
    expect(peer.pullRequests()).toHaveLength(1);
    expect(peer.pullRequest(1).labels).toEqual(['firewall']);
    expect(peer.requests.filter((r) => r.method === 'POST' && r.route.endsWith('/pulls')).map((r) => r.status)).toEqual([502, 422]);
  });
});

describe('withdraw', () => {
  it('comments with the reason, closes the pull request and deletes the branch', async () => {
    await start();
    const github = await publisher();
    const first = await github.publish(plan());
    const result = await github.withdraw({ number: 1 }, 'The addresses match the baseline again.');
    expect(result).toMatchObject({
      action: 'closed',
      pullRequest: { number: 1, state: 'closed', headSha: first.pullRequest!.headSha },
      requests: 4,
    });
    expect(peer.pullRequest(1).state).toBe('closed');
    expect(peer.pullRequest(1).comments.map((c) => c.body)).toEqual([expect.stringContaining('The addresses match the baseline again.')]);
    expect(peer.refSha(BRANCH)).toBeUndefined();

    await github.publish(plan());
    const quick = await github.withdraw({ number: 2, headSha: peer.refSha(BRANCH)! }, 'Reverted.');
    expect(quick.requests).toBe(3);
  });

  it('keeps the branch when a person committed to it', async () => {
    await start();
    const github = await publisher();
    await github.publish(plan());
    const human = peer.pushCommit(BRANCH, { 'firewall/cas.txt': 'hand edited\n' });
    await github.withdraw({ number: 1 }, 'Reverted.');
    expect(peer.pullRequest(1).state).toBe('closed');
    expect(peer.refSha(BRANCH)).toBe(human);
  });
});

describe('getPullRequest', () => {
  it('tells open, merged and closed apart in one request', async () => {
    await start();
    const github = await publisher();
    await github.publish(plan());
    expect(await github.getPullRequest(1)).toMatchObject({ number: 1, state: 'open', branch: BRANCH });
    peer.mergePullRequest(1);
    expect(await github.getPullRequest(1)).toMatchObject({ state: 'merged' });
    expect(peer.readFile('main', 'firewall/cas.txt')).toContain('198.51.100.7/32');
    await github.publish(plan(drift('198.51.100.50/32')));
    peer.closePullRequest(2);
    const mark = peer.requests.length;
    expect(await github.getPullRequest(2)).toMatchObject({ state: 'closed' });
    expect(peer.requests.length - mark).toBe(1);
  });
});

describe('when GitHub misbehaves', () => {
  it('retries a 5xx and succeeds', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/branches/main', faults.serverError());
    const result = await (await publisher()).publish(plan());
    expect(result.action).toBe('created');
    expect(peer.countRequests('GET /repos/contoso/network/branches/main')).toBe(2);
    expect(result.requests).toBe(7);
  });

  it('retries a 409 on the ref update', async () => {
    await start();
    const github = await publisher();
    await github.publish(plan());
    peer.failNext(`PATCH /repos/contoso/network/git/refs/heads/${BRANCH}`, faults.conflict());
    const result = await github.publish(plan(drift('198.51.100.8/32')));
    expect(result.action).toBe('updated');
    expect(peer.readFile(BRANCH, 'firewall/cas.txt')).toContain('198.51.100.8/32');
  });

  it('waits out a rate limit that resets soon, and a secondary rate limit with a short retry-after', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/pulls', faults.rateLimited(1));
    peer.failNext('POST /repos/contoso/network/git/commits', faults.secondaryRateLimit(1));
    const result = await (await publisher()).publish(plan());
    expect(result.action).toBe('created');
    expect(peer.countRequests('GET /repos/contoso/network/pulls')).toBe(2);
    expect(peer.countRequests('POST /repos/contoso/network/git/commits')).toBe(2);
    expect(logs.some((l) => /rate limit.*retrying/.test(l))).toBe(true);
  });

  it('gives up on a rate limit that resets in an hour', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/pulls', faults.rateLimited(3600));
    const error = await expectError((await publisher()).publish(plan()), 'github-rate-limited');
    expect(error.message).toContain('rate limit');
    expect(peer.countRequests('GET /repos/contoso/network/pulls')).toBe(1);
  });

  it('reports persistent 5xx as github-error after a bounded number of retries, without the token', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/branches/main', { status: 503, body: { message: `upstream said ${TOKEN}` } }, { times: 100 });
    const error = await expectError((await publisher()).publish(plan()), 'github-error');
    expect(error.message).toContain('503');
    expect(error.message).not.toContain(TOKEN);
    expect(logs.join('\n')).not.toContain(TOKEN);
    expect(peer.countRequests('GET /repos/contoso/network/branches/main')).toBe(4);
    expect(peer.refSha(BRANCH)).toBeUndefined();
  });

  it('turns an HTML page into github-bad-response', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/pulls', faults.html());
    const error = await expectError((await publisher()).publish(plan()), 'github-bad-response');
    expect(error.message).toContain('text instead of JSON');
    expect(peer.refSha(BRANCH)).toBeUndefined();
  });

  it('turns JSON missing the fields it needs into github-bad-response', async () => {
    await start();
    peer.failNext('GET /repos/contoso/network/branches/main', { status: 200, body: { name: 'main', commit: { sha: 'not-a-sha' } } });
    const error = await expectError((await publisher()).publish(plan()), 'github-bad-response');
    expect(error.message).toContain('commit.sha');
    expect(peer.countRequests({ method: 'POST' })).toBe(0);
  });
});

describe('where GitHub is and who we are', () => {
  it('works against GitHub Enterprise Server under /api/v3', async () => {
    await start();
    const result = await (await publisher({ github: githubConfig({ apiUrl: peer.enterpriseUrl }) })).publish(plan());
    expect(result.action).toBe('created');
    expect(peer.requests.every((r) => r.path.startsWith('/api/v3/repos/contoso/network/'))).toBe(true);
  });

  it('authenticates as a GitHub App installation with a key stored with literal \\n escapes', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await start({ app: { id: 123456, installationId: 987, publicKey } });
    const env = {
      GITHUB_APP_ID: '123456',
      GITHUB_APP_INSTALLATION_ID: '987',
      GITHUB_APP_PRIVATE_KEY: privateKey.trim().replace(/\n/g, '\\n'),
    };
    const result = await (await publisher({ env })).publish(plan());
    expect(result).toMatchObject({ action: 'created', requests: 7 });
    expect(`${peer.requests[0]!.method} ${peer.requests[0]!.route}`).toBe('POST /app/installations/987/access_tokens');
    expect(peer.countRequests('POST /app/installations/987/access_tokens')).toBe(1);
  });

  it('names the settings when credentials are missing or incomplete', async () => {
    await start();
    const none = await expectError(publisher({ env: {} }), 'github-credentials-missing');
    expect(none.message).toMatch(/GITHUB_TOKEN.*GITHUB_APP_ID.*GITHUB_APP_PRIVATE_KEY.*GITHUB_APP_INSTALLATION_ID/);
    const partial = await expectError(publisher({ env: { GITHUB_APP_ID: '1', GITHUB_TOKEN: TOKEN } }), 'github-credentials-missing');
    expect(partial.message).toContain('GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID');
    const badKey = await expectError(
      publisher({ env: { GITHUB_APP_ID: '1', GITHUB_APP_INSTALLATION_ID: '2', GITHUB_APP_PRIVATE_KEY: 'hunter2-not-a-key' } }),
      'github-credentials-invalid',
    );
    expect(badKey.message).not.toContain('hunter2');
    expect(peer.requests).toHaveLength(0);
  });

  it('reports a rejected token as github-credentials-invalid without echoing it', async () => {
    await start();
    const wrong = 'ghp_WrongWrongWrongWrong0123456789abcdef';
    const error = await expectError((await publisher({ env: { GITHUB_TOKEN: wrong } })).publish(plan()), 'github-credentials-invalid');
    expect(error.message).not.toContain(wrong);
    expect(peer.requests).toHaveLength(1);
  });
});
