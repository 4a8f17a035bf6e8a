import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { parseConfig, type Config } from '../../shared/config.js';
import type { Report } from '../../shared/report.js';
import type { StateStore } from '../../shared/state/store.js';
import { faults, type FaultResponse } from '../peers/github/index.js';
import {
  FRONT_END,
  FRONT_END_IP,
  branchOf,
  configInput,
  fullRun,
  makeConfig,
  openStore,
  pullsOn,
  startPeers,
  type Peers,
} from './scenario.js';
import { startInterceptingProxy, type InterceptingProxy } from './intercepting-proxy.js';

const connectionString = inject('azuriteConnectionString');
const REPO = '/repos/contoso/network';
/** Not adjacent to FRONT_END_IP, so the rendered files list it as it is rather than merged into a /31. */
const SECOND_IP = '52.17.44.20';

let peers: Peers;
/** Between the publisher and the GitHub peer, for failures that last until the test heals them. */
let proxy: InterceptingProxy;
let store: StateStore;
let config: Config;
let seq = 0;

beforeEach(async () => {
  peers = await startPeers();
  proxy = await startInterceptingProxy(peers.github.url);
  store = await openStore(connectionString);
  config = makeConfig(`gh-${++seq}`, peers, { githubUrl: proxy.url });
});

afterEach(async () => {
  expect(peers.github.violations).toEqual([]);
  await proxy.close();
  await peers.close();
});

/** Every request matching `route` ("METHOD /path") gets `fault` until heal(). */
function failUntilHealed(route: string, fault: FaultResponse): () => number {
  const [method, path] = route.split(' ') as [string, string];
  const matching = (r: { method: string; path: string }) => r.method === method && decodeURIComponent(r.path.split('?')[0]!) === path;
  const body = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body ?? {});
  proxy.intercept((r) =>
    matching(r)
      ? {
          forward: false,
          replaceWith: {
            status: fault.status,
            headers: { 'content-type': fault.contentType ?? 'application/json; charset=utf-8', ...fault.headers },
            body,
          },
        }
      : undefined,
  );
  return () => proxy.requests.filter(matching).length;
}

function heal(): void {
  proxy.intercept(() => undefined);
}

/** The invariant after a failing run and one clean run: exactly one PR, and the state records it at its head. */
async function expectOneRecordedPr(): Promise<Report> {
  const report = await fullRun(config, store);
  expect(report.errors).toEqual([]);
  const pulls = pullsOn(peers.github, branchOf(config));
  expect(pulls).toHaveLength(1);
  const state = await store.read(config.name);
  expect(state.config.pullRequest).toMatchObject({ number: pulls[0]!.number, headSha: pulls[0]!.headSha, state: 'open' });
  expect(peers.github.readFile(pulls[0]!.headSha, 'edl/outsystems.txt')).toContain(FRONT_END_IP);
  return report;
}

/** A failed run leaves no PR without a record: either no PR, or a recorded one. */
async function expectNoUnrecordedPr(report: Report) {
  const pulls = pullsOn(peers.github, branchOf(config));
  const recorded = (await store.read(config.name)).config.pullRequest;
  if (pulls.length === 0) expect(recorded).toBeUndefined();
  else expect(recorded?.number).toBe(pulls[0]!.number);
  expect(report.targets.every((t) => t.status === 'ok')).toBe(true);
  expect((await store.read(config.name)).targets.get('outsystems-prod')?.lastStatus).toBe('ok');
}

describe('issue 6 group 5: GitHub failures', () => {
  describe('transient failures are retried within limits', () => {
    for (const route of [
      `GET ${REPO}/pulls`,
      `POST ${REPO}/git/trees`,
      `POST ${REPO}/git/commits`,
      `POST ${REPO}/git/refs`,
      `POST ${REPO}/pulls`,
    ]) {
      it(`one 502 on ${route}: retried, one PR`, async () => {
        peers.github.failNext(route, faults.serverError());
        const report = await fullRun(config, store);
        expect(report.errors).toEqual([]);
        expect(report.pullRequest.action).toBe('created');
        expect(peers.github.countRequests(route)).toBe(2);
        await expectOneRecordedPr();
      });
    }

    it('403 with rate-limit headers resetting in a second: waited out and retried', async () => {
      peers.github.failNext(`GET ${REPO}/pulls`, faults.rateLimited(1));
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(peers.github.countRequests(`GET ${REPO}/pulls`)).toBe(2);
      await expectOneRecordedPr();
    });

    it('a secondary rate limit with Retry-After: waited out and retried', async () => {
      peers.github.failNext(`POST ${REPO}/pulls`, faults.secondaryRateLimit(1));
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('created');
      await expectOneRecordedPr();
    });

    it('one 409 on the ref update of an open PR: retried, PR updated', async () => {
      await fullRun(config, store);
      peers.dns.set(FRONT_END, { kind: 'answer', a: [FRONT_END_IP, SECOND_IP] });
      peers.github.failNext(`PATCH ${REPO}/git/refs/heads/${branchOf(config)}`, faults.conflict());
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('updated');
      const pull = (await expectOneRecordedPr()).pullRequest;
      expect(pull.action).toBe('unchanged');
      expect(peers.github.readFile(branchOf(config), 'edl/outsystems.txt')).toContain(SECOND_IP);
    });
  });

  describe('persistent failures are reported, and the next run completes the work', () => {
    /** `tries`: the first attempt and the retries the publisher allows for that kind of failure. */
    const persistent: Array<{ name: string; route: string; fault: FaultResponse; code: string; tries: number }> = [
      { name: '5xx on creating the tree', route: `POST ${REPO}/git/trees`, fault: faults.serverError(), code: 'github-error', tries: 4 },
      { name: '5xx on opening the PR', route: `POST ${REPO}/pulls`, fault: faults.serverError(), code: 'github-error', tries: 4 },
      {
        name: 'a rate limit resetting in an hour',
        route: `GET ${REPO}/pulls`,
        fault: faults.rateLimited(3600),
        code: 'github-rate-limited',
        tries: 1,
      },
      {
        name: 'a secondary rate limit that does not clear',
        route: `POST ${REPO}/git/commits`,
        fault: faults.secondaryRateLimit(1),
        code: 'github-rate-limited',
        tries: 3,
      },
      {
        name: 'an HTML page instead of JSON',
        route: `GET ${REPO}/branches/main`,
        fault: faults.html(200),
        code: 'github-bad-response',
        tries: 1,
      },
    ];
    for (const { name, route, fault, code, tries } of persistent) {
      it(`${name}: '${code}', observations stored, no PR without a record`, async () => {
        const attempts = failUntilHealed(route, fault);
        const failed = await fullRun(config, store);
        expect(failed.errors.map((e) => e.code)).toEqual([code]);
        expect(failed.pullRequest.action).toBe('none');
        expect(attempts()).toBe(tries);
        await expectNoUnrecordedPr(failed);

        heal();
        const next = await expectOneRecordedPr();
        expect(next.pullRequest.action).toBe('created');
      });
    }

    it('409 on every ref update of an open PR: reported; the record keeps the old head; the next run updates it', async () => {
      const first = await fullRun(config, store);
      const oldHead = pullsOn(peers.github, branchOf(config))[0]!.headSha;
      peers.dns.set(FRONT_END, { kind: 'answer', a: [FRONT_END_IP, SECOND_IP] });
      const attempts = failUntilHealed(`PATCH ${REPO}/git/refs/heads/${branchOf(config)}`, faults.conflict());
      const failed = await fullRun(config, store);
      expect(attempts()).toBe(4);
      heal();
      expect(failed.errors.map((e) => e.code)).toEqual(['github-error']);
      expect(failed.pullRequest).toMatchObject({ action: 'none', number: first.pullRequest.number });
      expect((await store.read(config.name)).config.pullRequest?.headSha).toBe(oldHead);
      expect(peers.github.refSha(branchOf(config))).toBe(oldHead);

      const next = await expectOneRecordedPr();
      expect(next.pullRequest.action).toBe('updated');
      expect(peers.github.readFile(branchOf(config), 'edl/outsystems.txt')).toContain(SECOND_IP);
    });
  });

  describe('"A pull request already exists"', () => {
    it('when the PR was opened by a request whose answer says it already exists: adopted in the same run', async () => {
      peers.github.failNext(`POST ${REPO}/pulls`, faults.pullRequestExists('contoso', branchOf(config)), { afterHandling: true });
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('created');
      expect(peers.github.countRequests(`POST ${REPO}/pulls`)).toBe(1);
      await expectOneRecordedPr();
    });

    it('when GitHub says one exists but lists none: reported, and the next run opens exactly one', async () => {
      peers.github.failNext(`POST ${REPO}/pulls`, faults.pullRequestExists('contoso', branchOf(config)));
      const failed = await fullRun(config, store);
      expect(failed.errors.map((e) => e.code)).toEqual(['github-error']);
      await expectNoUnrecordedPr(failed);
      expect((await expectOneRecordedPr()).pullRequest.action).toBe('created');
    });
  });

  describe('a PR created whose follow-up requests fail', () => {
    it('labels that cannot be set: the PR is still recorded by the run that opened it, with the problem reported', async () => {
      config = parseConfig({
        ...configInput(config.name, peers, { githubUrl: proxy.url }),
        github: { ...configInput(config.name, peers, { githubUrl: proxy.url }).github, labels: ['allowlist-drift'] },
      });
      const attempts = failUntilHealed(`POST ${REPO}/issues/1/labels`, faults.serverError());
      const failed = await fullRun(config, store);
      expect(attempts()).toBe(4);
      const pulls = pullsOn(peers.github, branchOf(config));
      expect(pulls).toHaveLength(1);
      expect(failed.pullRequest).toMatchObject({ action: 'created', number: pulls[0]!.number });
      expect(failed.pullRequest.message).toMatch(/labels or reviewers could not be set/);
      expect((await store.read(config.name)).config.pullRequest?.number).toBe(pulls[0]!.number);
      heal();
      await expectOneRecordedPr();
    });
  });

  describe('the base branch moved during the run', () => {
    it('a commit merged into main between reading it and opening the PR: the PR is opened and recorded; the next drift builds on the new base', async () => {
      let moved: string | undefined;
      proxy.intercept((request) =>
        request.method === 'GET' && request.path.startsWith(`${REPO}/branches/main`) && moved === undefined
          ? { afterForward: () => void (moved = peers.github.moveBase({ 'docs/owners.md': 'network team\n' })) }
          : undefined,
      );
      const first = await fullRun(config, store);
      expect(first.errors).toEqual([]);
      expect(first.pullRequest.action).toBe('created');
      const stale = pullsOn(peers.github, branchOf(config))[0]!;
      expect(peers.github.commit(stale.headSha).parents).not.toEqual([moved]);

      // Not rebased for its own sake: GitHub merges a PR on an older base, and the files do not overlap.
      expect((await expectOneRecordedPr()).pullRequest.action).toBe('unchanged');
      // The next drift is committed on the base as it is now.
      peers.dns.set(FRONT_END, { kind: 'answer', a: [FRONT_END_IP, SECOND_IP] });
      expect((await expectOneRecordedPr()).pullRequest.action).toBe('updated');
      const head = pullsOn(peers.github, branchOf(config))[0]!.headSha;
      expect(peers.github.commit(head).parents).toEqual([moved]);
      expect(peers.github.readFile(head, 'docs/owners.md')).toBe('network team\n');
    });
  });
});
