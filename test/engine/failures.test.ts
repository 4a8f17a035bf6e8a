import { afterEach, describe, expect, it } from 'vitest';
import { LeaseBusyError } from '../../shared/state/store.js';
import { AllowlistError } from '../../shared/problem.js';
import { faults } from '../peers/github/index.js';
import { BRANCH, TOKEN, startHarness, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const PULLS = 'POST /repos/contoso/network/pulls';
const COMMITS = 'POST /repos/contoso/network/git/commits';
/** One attempt and the publisher's three retries. */
const ATTEMPTS = 4;

describe('engine: a run that dies half-way', () => {
  it('after pushing the branch but before opening the PR: the next run opens exactly one PR on that branch', async () => {
    h = await startHarness();
    h.github.failNext(PULLS, faults.serverError(), { times: ATTEMPTS });

    const crashed = await h.run();

    expect(crashed.report.errors.map((e) => e.code)).toEqual(['github-error']);
    expect(crashed.report.pullRequest.action).toBe('none');
    expect(h.github.countRequests(PULLS)).toBe(ATTEMPTS);
    expect(h.github.refSha(BRANCH)).toBeDefined();
    expect(h.github.pullRequests()).toHaveLength(0);
    const between = await h.state();
    expect(between.config.pullRequest).toBeUndefined();
    expect(between.targets.get('acme-prod')!.observation!.status).toBe('ok');

    const next = await h.run();

    expect(next.report.errors).toEqual([]);
    expect(next.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(h.github.pullRequests()).toHaveLength(1);
    expect(h.github.pullRequest(1).headSha).toBe(h.github.refSha(BRANCH));
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 1, headSha: h.github.refSha(BRANCH) });
  });

  it('after opening the PR but before writing the state: the next run adopts that PR instead of opening another', async () => {
    h = await startHarness();
    const write = h.store.write.bind(h.store);
    let failures = 1;
    h.store.write = (...args) => {
      if (failures-- > 0) return Promise.reject(new AllowlistError('state-unavailable', 'injected: the table went away before the write'));
      return write(...args);
    };

    const crashed = await h.failedRun();

    expect(crashed).toMatchObject({ code: 'state-unavailable' });
    expect(h.github.pullRequests()).toHaveLength(1);
    expect((await h.state()).config.pullRequest).toBeUndefined();

    const next = await h.run();

    expect(next.report.errors).toEqual([]);
    expect(next.report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
    expect(h.github.countRequests(PULLS)).toBe(1);
    expect(h.github.countRequests(COMMITS)).toBe(1);
    expect(h.github.pullRequests()).toHaveLength(1);
    expect((await h.state()).config.pullRequest).toMatchObject({ number: 1, state: 'open', headSha: h.github.refSha(BRANCH) });
  });
});

describe('engine: GitHub failures', () => {
  it('retries 5xx answers and both kinds of rate limit within the run', async () => {
    h = await startHarness();
    h.github.failNext('GET /repos/contoso/network/branches/main', faults.serverError(), { times: 2 });
    h.github.failNext('POST /repos/contoso/network/git/trees', faults.rateLimited(1));
    h.github.failNext(COMMITS, faults.secondaryRateLimit(1));

    const { report, githubRequests } = await h.run();

    expect(report.errors).toEqual([]);
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    // The nine requests of a first PR, plus two 5xx retries and one retry per rate limit.
    expect(githubRequests).toBe(9 + 2 + 1 + 1);
    expect(h.github.countRequests(COMMITS)).toBe(2);
  });

  it('a persistent 5xx is a run-level github-error: observations stored, nothing half-built on GitHub, nothing recorded', async () => {
    h = await startHarness();
    h.github.failNext(COMMITS, faults.serverError(), { times: ATTEMPTS });

    const { report } = await h.run();

    expect(report.errors.map((e) => e.code)).toEqual(['github-error']);
    expect(report.errors[0]!.message).not.toContain(TOKEN);
    expect(report.pullRequest.action).toBe('none');
    expect(report.targets.map((t) => t.status)).toEqual(['ok', 'ok']);
    expect(h.github.countRequests(COMMITS)).toBe(ATTEMPTS);
    expect(h.github.refSha(BRANCH)).toBeUndefined();
    expect(h.github.pullRequests()).toHaveLength(0);
    const state = await h.state();
    expect(state.config.pullRequest).toBeUndefined();
    expect(state.targets.get('acme-prod')!.observation!.entries.length).toBe(3);
    expect(state.targets.get('cas-eu')!.observation!.status).toBe('ok');

    const next = await h.run();
    expect(next.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
  });
});

describe('engine: overlapping runs', () => {
  it('lets exactly one of two simultaneous runs publish; the other fails with run-in-progress', async () => {
    h = await startHarness({ dnsDelayMs: 50 });

    const outcomes = await Promise.allSettled([h.run(), h.run()]);

    const published = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(published).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(LeaseBusyError);
    expect(refused[0]!.reason).toMatchObject({ code: 'run-in-progress' });
    expect(published[0]!.value.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(h.github.pullRequests()).toHaveLength(1);
    expect(h.github.countRequests(PULLS)).toBe(1);

    // The lease was released: the next run goes ahead.
    const next = await h.run();
    expect(next.report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
  });
});
