import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { checkHandler } from '../../functions/check.js';
import { scheduledCheck } from '../../functions/timers.js';
import type { Config } from '../../shared/config.js';
import { DEFAULT_TABLE_NAME, StateUnavailableError, type StateStore } from '../../shared/state/store.js';
import { rejection } from '../support.js';
import { ensureBuilt, startCli, writeConfigFile } from './cli-process.js';
import { startInterceptingProxy, type InterceptingProxy } from './intercepting-proxy.js';
import {
  FRONT_END_IP,
  TOKEN,
  branchOf,
  casPage,
  configInput,
  failNextCalls,
  fullRun,
  makeConfig,
  openStore,
  pullsOn,
  startPeers,
  uniqueTableName,
  type Peers,
} from './scenario.js';

const connectionString = inject('azuriteConnectionString');
/** Past the CLI's 11-minute lease: how a later run sees the lease of a process that died holding it. */
const AFTER_LEASE_EXPIRY = () => new Date(Date.now() + 12 * 60 * 1000);

let peers: Peers;
let tableName: string;
let store: StateStore;
let config: Config;
let seq = 0;

beforeEach(async () => {
  peers = await startPeers();
  tableName = uniqueTableName();
  store = await openStore(connectionString, tableName);
  config = makeConfig(`conc-${++seq}`, peers);
});

afterEach(async () => {
  expect(peers.github.violations).toEqual([]);
  await peers.close();
});

function expectOneRecordedPr(state: Awaited<ReturnType<StateStore['read']>>, branch: string) {
  const pulls = pullsOn(peers.github, branch);
  expect(pulls).toHaveLength(1);
  expect(state.config.pullRequest).toMatchObject({ number: pulls[0]!.number, state: 'open', headSha: pulls[0]!.headSha });
  return pulls[0]!;
}

describe('issue 6 group 3: overlapping and interrupted runs', () => {
  describe('overlapping runs publish at most once', () => {
    it('two runCheck calls started at once: one publishes, the other is refused with run-in-progress', async () => {
      const outcomes = await Promise.allSettled([fullRun(config, store), fullRun(config, store)]);
      const published = outcomes.filter((o) => o.status === 'fulfilled');
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(published).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'run-in-progress' });
      expect((published[0] as PromiseFulfilledResult<{ pullRequest: { action: string } }>).value.pullRequest.action).toBe('created');
      expect(peers.github.countRequests('POST /repos/contoso/network/pulls')).toBe(1);
      expectOneRecordedPr(await store.read(config.name), branchOf(config));
    });

    it('a lease left by a run that died is honoured until it expires, then a later run proceeds', async () => {
      await store.acquireLease(config.name, 'run-that-died', 200);
      expect(await rejection(fullRun(config, store))).toMatchObject({ code: 'run-in-progress' });
      expect(peers.github.requests).toHaveLength(0);
      expect(peers.dns.queries).toHaveLength(0);

      const later = await openStore(connectionString, tableName, { now: () => new Date(Date.now() + 1000) });
      const report = await fullRun(config, later);
      expect(report.pullRequest.action).toBe('created');
      expectOneRecordedPr(await store.read(config.name), branchOf(config));
    });
  });

  describe('a run interrupted at each step is rolled forward by the next one', () => {
    it('POST pulls failing for a whole run: observations are stored, and the next run opens exactly one PR', async () => {
      peers.github.failNext('POST /repos/contoso/network/pulls', { status: 502, body: { message: 'Server Error' } }, { times: 4 });
      const failed = await fullRun(config, store);
      expect(failed.errors.map((e) => e.code)).toEqual(['github-error']);
      expect(failed.pullRequest.action).toBe('none');
      const between = await store.read(config.name);
      expect(between.config.pullRequest).toBeUndefined();
      expect(between.targets.get('outsystems-prod')?.lastCheckAt).toBeDefined();
      expect(peers.github.refSha(branchOf(config))).toBeDefined();
      expect(pullsOn(peers.github, branchOf(config))).toHaveLength(0);

      const next = await fullRun(config, store);
      expect(next.errors).toEqual([]);
      expect(next.pullRequest.action).toBe('created');
      expectOneRecordedPr(await store.read(config.name), branchOf(config));
    });

    it('a PR created whose response was lost is adopted in the same run, not duplicated', async () => {
      peers.github.failNext(
        'POST /repos/contoso/network/pulls',
        { status: 502, body: { message: 'Server Error' } },
        { afterHandling: true },
      );
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('created');
      expect(peers.github.countRequests('POST /repos/contoso/network/pulls')).toBe(2);
      expectOneRecordedPr(await store.read(config.name), branchOf(config));
    });

    it('a run that dies after opening the PR and before recording it: the next run adopts the PR', async () => {
      const write = failNextCalls(
        store,
        'write',
        () => new StateUnavailableError('Table storage at 127.0.0.1 failed to write the state: connection reset'),
      );
      expect(await rejection(fullRun(config, store))).toMatchObject({ code: 'state-unavailable' });
      expect(write.calls()).toBe(1);
      expect(pullsOn(peers.github, branchOf(config))).toHaveLength(1);
      const between = await store.read(config.name);
      expect(between.config.pullRequest).toBeUndefined();
      expect(between.config.lastRunId).toBeUndefined();

      const next = await fullRun(config, store);
      expect(next.errors).toEqual([]);
      expect(next.pullRequest.action).toBe('unchanged');
      expect(peers.github.countRequests('POST /repos/contoso/network/pulls')).toBe(1);
      expectOneRecordedPr(await store.read(config.name), branchOf(config));
    });

    it('a PR merged while its record was lost: the next run promotes it instead of opening an empty duplicate', async () => {
      failNextCalls(
        store,
        'write',
        () => new StateUnavailableError('Table storage at 127.0.0.1 failed to write the state: connection reset'),
      );
      expect(await rejection(fullRun(config, store))).toMatchObject({ code: 'state-unavailable' });
      const [orphan] = pullsOn(peers.github, branchOf(config));
      peers.github.mergePullRequest(orphan!.number);

      const next = await fullRun(config, store);
      expect(next.errors).toEqual([]);
      expect(next.pullRequest.action).toBe('none');
      expect(peers.github.pullRequests()).toHaveLength(1);
      const state = await store.read(config.name);
      expect(state.targets.get('outsystems-prod')?.baseline).toEqual(['52.17.44.10/32']);
      expect(state.targets.get('partners')?.baseline).toEqual(['198.51.100.10/32']);
      expect(state.config.pullRequest).toBeUndefined();

      const quiet = peers.github.requests.length;
      expect((await fullRun(config, store)).pullRequest.action).toBe('none');
      // Only whether the base branch moved (base-differs), answered 304.
      expect(peers.github.requests.length).toBe(quiet + 1);
      expect(peers.github.requests.at(-1)).toMatchObject({ method: 'GET', status: 304 });
    });

    it('a merge promoted by a run whose state write failed is promoted again by the next run', async () => {
      const first = await fullRun(config, store);
      const number = first.pullRequest.number!;
      peers.github.mergePullRequest(number);
      failNextCalls(
        store,
        'write',
        () => new StateUnavailableError('Table storage at 127.0.0.1 failed to write the state: connection reset'),
      );
      expect(await rejection(fullRun(config, store))).toMatchObject({ code: 'state-unavailable' });
      const between = await store.read(config.name);
      expect(between.config.pullRequest).toMatchObject({ number, state: 'open' });
      expect(between.targets.get('outsystems-prod')?.baseline ?? null).toBeNull();

      const next = await fullRun(config, store);
      expect(next.pullRequest.action).toBe('none');
      const after = await store.read(config.name);
      expect(after.targets.get('outsystems-prod')?.baseline).toEqual(['52.17.44.10/32']);
      expect(after.targets.get('partners')?.baseline).toEqual(['198.51.100.10/32']);
      expect(after.config.pullRequest).toBeUndefined();
      expect(peers.github.pullRequests()).toHaveLength(1);
    });
  });
});

describe('issue 6 group 3: overlapping entry points (Functions handlers)', () => {
  const name = 'conc-handlers';
  const saved = { ...process.env };

  beforeAll(() => {
    Object.assign(process.env, { ALLOWLIST_STORAGE: connectionString, GITHUB_TOKEN: TOKEN });
  });

  afterAll(() => {
    for (const key of ['ALLOWLIST_STORAGE', 'GITHUB_TOKEN', 'ALLOWLIST_CONFIG']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  it('the timer and an HTTP POST at the same moment: one publishes, the other is told a run is in progress', async () => {
    process.env.ALLOWLIST_CONFIG = JSON.stringify(configInput(name, peers));
    const warnings: string[] = [];
    const context = (functionName: string) =>
      new InvocationContext({
        invocationId: `${functionName}-${seq}`,
        functionName,
        logHandler: (level, ...args) => {
          if (level === 'warning') warnings.push(args.map(String).join(' '));
        },
      });
    const timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } } as Timer;
    const [timerOutcome, http] = await Promise.all([
      scheduledCheck(['outsystems', 'static'])(timer, context('outsystemsCheck')).then(
        () => 'ok',
        (error: unknown) => error,
      ),
      checkHandler(new HttpRequest({ method: 'POST', url: 'http://localhost/api/check' }), context('check')),
    ]);
    expect(timerOutcome).toBe('ok');
    const timerSkipped = warnings.some((w) => w.startsWith('skipped:') && /holds the lease/.test(w));
    if (http.status === 409) {
      expect(timerSkipped).toBe(false);
      expect((http.jsonBody as { error: { code: string } }).error.code).toBe('run-in-progress');
      expect(Number((http.headers as Record<string, string>)['retry-after'])).toBeGreaterThanOrEqual(1);
    } else {
      expect(http.status).toBe(200);
      expect(timerSkipped).toBe(true);
    }
    expect(peers.github.countRequests('POST /repos/contoso/network/pulls')).toBe(1);
    const runtimeStore = await openStore(connectionString, DEFAULT_TABLE_NAME);
    const state = await runtimeStore.read(name);
    expect(pullsOn(peers.github, `allowlist-drift/${name}`)).toHaveLength(1);
    expect(state.config.pullRequest?.number).toBe(pullsOn(peers.github, `allowlist-drift/${name}`)[0]!.number);
  });
});

describe('issue 6 group 3: overlapping and killed CLI processes', () => {
  let proxy: InterceptingProxy;
  let cliStore: StateStore;

  beforeAll(() => {
    ensureBuilt();
  }, 120_000);

  beforeEach(async () => {
    proxy = await startInterceptingProxy(peers.github.url);
    cliStore = await openStore(connectionString, DEFAULT_TABLE_NAME);
  });

  afterEach(async () => {
    await proxy.close();
  });

  function cliSetup() {
    const input = configInput(`conc-cli-${++seq}`, peers, { cas: true, githubUrl: proxy.url });
    return {
      name: input.name!,
      branch: `allowlist-drift/${input.name}`,
      path: writeConfigFile(input),
      config: makeConfig(input.name!, peers, { cas: true, githubUrl: proxy.url }),
    };
  }

  const cliEnv = { ALLOWLIST_STORAGE: connectionString, GITHUB_TOKEN: TOKEN };

  it('two CLI processes at once: exactly one PR; the other exits 1 saying a run is in progress', async () => {
    const setup = cliSetup();
    const runs = await Promise.all([
      startCli(['check', '--config', setup.path], cliEnv).done,
      startCli(['check', '--config', setup.path], cliEnv).done,
    ]);
    const codes = runs.map((r) => r.code).sort();
    expect(codes).toEqual([0, 1]);
    const loser = runs.find((r) => r.code === 1)!;
    expect(loser.stderr).toContain('run-in-progress');
    expect(loser.stderr).not.toMatch(/\n\s+at /);
    expect(pullsOn(peers.github, setup.branch)).toHaveLength(1);
    expect((await cliStore.read(setup.name)).config.pullRequest?.number).toBe(pullsOn(peers.github, setup.branch)[0]!.number);
  }, 60_000);

  it('a CLI killed while observing: its lease blocks runs until it expires, then the next run does all the work', async () => {
    const setup = cliSetup();
    const cli = startCli(['check', '--config', setup.path], cliEnv);
    peers.upstream.handle((_request, response) => {
      cli.child.kill('SIGKILL');
      response.writeHead(503).end();
    });
    expect((await cli.done).signal).toBe('SIGKILL');
    expect(proxy.requests).toHaveLength(0);
    expect((await cliStore.read(setup.name)).targets.size).toBe(0);

    expect(await rejection(fullRun(setup.config, cliStore))).toMatchObject({ code: 'run-in-progress' });

    peers.upstream.handle(casPage());
    const later = await openStore(connectionString, DEFAULT_TABLE_NAME, { now: AFTER_LEASE_EXPIRY });
    const report = await fullRun(setup.config, later);
    expect(report.pullRequest.action).toBe('created');
    expect(report.targets.map((t) => t.status)).toEqual(['ok', 'ok', 'ok']);
    expectOneRecordedPr(await cliStore.read(setup.name), setup.branch);
  }, 60_000);

  for (const step of [
    { name: 'after pushing the branch', method: 'POST', path: '/repos/contoso/network/git/refs', expected: 'created' },
    {
      name: 'after creating the PR, before reading the answer',
      method: 'POST',
      path: '/repos/contoso/network/pulls',
      expected: 'unchanged',
    },
  ]) {
    it(`a CLI killed ${step.name}: the next run completes it with exactly one PR`, async () => {
      const setup = cliSetup();
      const cli = startCli(['check', '--config', setup.path], cliEnv);
      proxy.intercept((request) =>
        request.method === step.method && request.path.startsWith(step.path)
          ? { afterForward: () => void cli.child.kill('SIGKILL'), hang: true }
          : undefined,
      );
      expect((await cli.done).signal).toBe('SIGKILL');
      proxy.intercept(() => undefined);
      expect((await cliStore.read(setup.name)).config.pullRequest).toBeUndefined();

      const later = await openStore(connectionString, DEFAULT_TABLE_NAME, { now: AFTER_LEASE_EXPIRY });
      const report = await fullRun(setup.config, later);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe(step.expected);
      const pull = expectOneRecordedPr(await cliStore.read(setup.name), setup.branch);
      expect(peers.github.readFile(pull.headSha, 'edl/outsystems.txt')).toContain(FRONT_END_IP);
    }, 60_000);
  }
});
