import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { GitHubConfig } from '../../shared/config.js';
import { AllowlistError } from '../../shared/problem.js';
import { createGitHubPublisher } from '../../shared/publish/github/publisher.js';
import { FAST_GITHUB } from '../support.js';

/** A port on 127.0.0.1 that nothing listens on: bound by the system, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

async function readBaseFrom(apiUrl: string): Promise<{ error: AllowlistError; logs: string[] }> {
  const logs: string[] = [];
  const github: GitHubConfig = {
    owner: 'contoso',
    repo: 'network',
    base: 'main',
    apiUrl,
    branchPrefix: 'allowlist-drift/',
    labels: [],
    reviewers: [],
    teamReviewers: [],
    dashboard: false,
  };
  const publisher = await createGitHubPublisher({
    github,
    configName: 'prod',
    env: { GITHUB_TOKEN: 'ghp_Unreachable0Test0Token0123456789abcd' },
    tuning: { ...FAST_GITHUB, retryDelayUnitMs: 1, retries: 2 },
    log: (level, message) => logs.push(`[${level}] ${message}`),
  });
  const error = await publisher.readBase(['edl/acme.txt']).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AllowlistError);
  return { error: error as AllowlistError, logs };
}

describe('GitHub that cannot be reached is named, not reported as HTTP 500', () => {
  it('a refused connection: github-unreachable with the system error, and a line per attempt', async () => {
    const port = await closedPort();
    const { error, logs } = await readBaseFrom(`http://127.0.0.1:${port}`);
    expect(error.code).toBe('github-unreachable');
    expect(error.message).toMatch(
      new RegExp(`^ECONNREFUSED 127\\.0\\.0\\.1:${port}: GitHub could not be reached on GET branch main; check github\\.apiUrl`),
    );
    expect(error.message).not.toContain('500');
    expect(logs.filter((line) => line.startsWith('[warn]'))).toEqual([
      `[warn] GitHub unreachable on GET /repos/contoso/network/branches/main (ECONNREFUSED 127.0.0.1:${port}): attempt 1 of 3, retrying in 0.001 s`,
      `[warn] GitHub unreachable on GET /repos/contoso/network/branches/main (ECONNREFUSED 127.0.0.1:${port}): attempt 2 of 3, retrying in 0.004 s`,
      `[warn] GitHub unreachable on GET /repos/contoso/network/branches/main (ECONNREFUSED 127.0.0.1:${port}): attempt 3 of 3, giving up`,
    ]);
  });

  it('a name that does not resolve (a .invalid host never does)', async () => {
    const { error } = await readBaseFrom('http://api.github.invalid');
    expect(error.code).toBe('github-unreachable');
    // Without any resolver the system says EAI_AGAIN (try again) rather than ENOTFOUND; either names the host.
    expect(error.message).toMatch(/^(ENOTFOUND|EAI_AGAIN) api\.github\.invalid: GitHub could not be reached on GET branch main/);
  });
});
