import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../shared/config.js';
import { startEmbeddedAzurite } from '../../shared/state/embedded-azurite.js';
import type { StateStore } from '../../shared/state/store.js';
import { rejection } from '../support.js';
import { startInterceptingProxy, throughProxy, type InterceptingProxy, type SeenRequest } from './intercepting-proxy.js';
import { branchOf, casPage, fullRun, makeConfig, openStore, pullsOn, startPeers, uniqueTableName, type Peers } from './scenario.js';

/**
 * What the engine guarantees when Table storage fails (the contract these tests pin down):
 * - The state is written once per run, at its end, in one conditional transaction: it is either the state from
 *   before the run or the complete state after it, never a mix.
 * - A failure before publishing (lease, read) ends the run with 'state-unavailable' before any observation or any
 *   GitHub request: nothing is published without a state to record it in.
 * - A failure of the final write ends the run with 'state-unavailable' or 'state-conflict'. A pull request opened
 *   by that run stays on the config's deterministic branch, and the next successful run finds it, records it, and
 *   opens no second one.
 * - Retries happen only in the storage client (transient 5xx) for requests that are safe to repeat: reads, and the
 *   ETag-conditional transaction, which can never apply twice. A conflict is never retried blindly.
 */

const connectionString = inject('azuriteConnectionString');
const AZURITE_ORIGIN = /TableEndpoint=(http:\/\/127\.0\.0\.1:\d+)\//.exec(connectionString)![1]!;
const UNAVAILABLE = {
  status: 503,
  body: JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { lang: 'en-US', value: 'The server is busy.' } } }),
};

let peers: Peers;
let proxy: InterceptingProxy;
let tableName: string;
/** The run's store, through the proxy. */
let store: StateStore;
/** The same table seen directly, to inspect what was really stored. */
let direct: StateStore;
let config: Config;
let seq = 0;

beforeEach(async () => {
  peers = await startPeers();
  proxy = await startInterceptingProxy(AZURITE_ORIGIN);
  tableName = uniqueTableName();
  direct = await openStore(connectionString, tableName);
  store = await openStore(throughProxy(connectionString, proxy), tableName, { maxRetries: 2 });
  config = makeConfig(`store-${++seq}`, peers);
});

afterEach(async () => {
  expect(peers.github.violations).toEqual([]);
  await proxy.close();
  await peers.close();
});

const isBatch = (r: SeenRequest) => r.method === 'POST' && r.path.includes('/$batch');
const isRead = (r: SeenRequest) => r.method === 'GET' && r.path.includes('$filter=');
const isLease = (r: SeenRequest) =>
  r.path.includes("RowKey='lease'") || (r.method === 'POST' && !r.path.includes('$batch') && !r.path.endsWith('/Tables'));

function expectNothingStarted() {
  expect(peers.dns.queries).toEqual([]);
  expect(peers.upstream.requests).toEqual([]);
  expect(peers.github.requests).toEqual([]);
}

async function expectPristine() {
  const state = await direct.read(config.name);
  expect(state.targets.size).toBe(0);
  expect(state.config.pullRequest).toBeUndefined();
  expect(state.config.lastRunId).toBeUndefined();
}

/** After a failed run and one clean run: exactly one PR, and the state records it. */
async function expectRecoveredWithOnePr() {
  const report = await fullRun(config, direct);
  expect(report.errors).toEqual([]);
  const pulls = pullsOn(peers.github, branchOf(config));
  expect(pulls).toHaveLength(1);
  const state = await direct.read(config.name);
  expect(state.config.pullRequest).toMatchObject({ number: pulls[0]!.number, headSha: pulls[0]!.headSha, state: 'open' });
  expect(state.targets.get('outsystems-prod')?.lastStatus).toBe('ok');
  return report;
}

describe('issue 6 group 4: storage failures', () => {
  describe('before anything is published', () => {
    it('503 on taking the lease: state-unavailable, no check started, nothing written', async () => {
      proxy.intercept((r) => (isLease(r) ? { forward: false, replaceWith: UNAVAILABLE } : undefined));
      const error = await rejection(fullRun(config, store));
      expect(error.code).toBe('state-unavailable');
      expect(error.message).toContain('503');
      expect(error.message).not.toContain('AccountKey');
      expectNothingStarted();
      await expectPristine();
    });

    it('503 on reading the state: state-unavailable, no check started, and the lease is given back', async () => {
      proxy.intercept((r) => (isRead(r) ? { forward: false, replaceWith: UNAVAILABLE } : undefined));
      expect(await rejection(fullRun(config, store))).toMatchObject({ code: 'state-unavailable' });
      // The storage client retried the read (safe), and gave up.
      expect(proxy.requests.filter(isRead)).toHaveLength(3);
      expectNothingStarted();
      await expectPristine();

      proxy.intercept(() => undefined);
      const report = await fullRun(config, store);
      expect(report.pullRequest.action).toBe('created');
    });
  });

  describe('when the final write fails', () => {
    it('one 503 on the transaction is retried by the storage client and the run succeeds', async () => {
      let failed = 0;
      proxy.intercept((r) => (isBatch(r) && failed++ === 0 ? { forward: false, replaceWith: UNAVAILABLE } : undefined));
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(proxy.requests.filter(isBatch)).toHaveLength(2);
      const pulls = pullsOn(peers.github, branchOf(config));
      expect(pulls).toHaveLength(1);
      expect((await direct.read(config.name)).config.pullRequest?.number).toBe(pulls[0]!.number);
    });

    it('a transaction refused with 503 every time: state-unavailable, nothing written, and the next run records the PR', async () => {
      proxy.intercept((r) => (isBatch(r) ? { forward: false, replaceWith: UNAVAILABLE } : undefined));
      const error = await rejection(fullRun(config, store));
      expect(error.code).toBe('state-unavailable');
      expect(error.message).toMatch(/failed to write the state/);
      await expectPristine();
      expect(pullsOn(peers.github, branchOf(config))).toHaveLength(1);

      const report = await expectRecoveredWithOnePr();
      expect(report.pullRequest.action).toBe('unchanged');
    });

    it('a transaction applied whose answer was lost: the retry cannot apply it twice, and the run sees its own write', async () => {
      let lost = 0;
      proxy.intercept((r) => (isBatch(r) && lost++ === 0 ? { replaceWith: UNAVAILABLE } : undefined));
      const report = await fullRun(config, store);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('created');
      expect(proxy.requests.filter(isBatch)).toHaveLength(2);
      const state = await direct.read(config.name);
      expect(state.config.lastRunId).toBe(report.runId);
      expect(state.config.pullRequest?.number).toBe(pullsOn(peers.github, branchOf(config))[0]!.number);
      expect([...state.targets.keys()].sort()).toEqual(['outsystems-prod', 'partners']);

      // The lease was released, not left behind for 11 minutes.
      const next = await fullRun(config, direct);
      expect(next.errors).toEqual([]);
      expect(next.pullRequest.action).toBe('unchanged');
      expect(pullsOn(peers.github, branchOf(config))).toHaveLength(1);
    });

    it('412: another writer changed a record between our read and our write: state-conflict, their change kept, no blind retry', async () => {
      const other = await openStore(connectionString, tableName);
      await other.write(config.name, {
        targets: [{ targetId: 'partners', baseline: null, misses: {}, firstSeen: {}, lastErrors: [], lastWarnings: [], verdicts: [] }],
      });
      const read = store.read.bind(store);
      store.read = async (name: string) => {
        const snapshot = await read(name);
        const theirs = (await other.read(name)).targets.get('partners')!;
        await other.write(name, {
          targets: [{ ...theirs, baseline: ['198.51.100.10/32' as never], baselineAt: '2025-01-01T00:00:00.000Z' }],
        });
        return snapshot;
      };
      const error = await rejection(fullRun(config, store));
      expect(error.code).toBe('state-conflict');
      expect(error.message).toContain('target "partners"');
      expect(proxy.requests.filter(isBatch)).toHaveLength(1);

      const state = await direct.read(config.name);
      expect(state.targets.get('partners')?.baseline).toEqual(['198.51.100.10/32']);
      expect(state.targets.has('outsystems-prod')).toBe(false);
      expect(state.config.pullRequest).toBeUndefined();

      await expectRecoveredWithOnePr();
    });
  });

  it('Azurite stopped mid-run: state-unavailable without secrets; after it is back, the next run records the PR it left', async () => {
    const azurite = await startEmbeddedAzurite();
    let restarted: Awaited<ReturnType<typeof startEmbeddedAzurite>> | undefined;
    try {
      const own = await openStore(azurite.connectionString, tableName, { maxRetries: 1 });
      const withCas = makeConfig(`store-stop-${seq}`, peers, { cas: true });
      const page = casPage();
      peers.upstream.handle(async (request, response) => {
        await azurite.stop();
        await page(request, response);
      });
      const warnings: string[] = [];
      const error = await rejection(fullRun(withCas, own, { log: (level, message) => level === 'warn' && warnings.push(message) }));
      expect(error.code).toBe('state-unavailable');
      expect(error.message).toContain(`127.0.0.1:${azurite.port}`);
      expect(error.message).not.toMatch(/AccountKey|Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/);
      expect(warnings.some((w) => w.startsWith('releasing the lease failed'))).toBe(true);
      expect(pullsOn(peers.github, branchOf(withCas))).toHaveLength(1);

      // An in-memory Azurite comes back empty: the worst case, state lost as well as the PR record.
      peers.upstream.handle(page);
      restarted = await startEmbeddedAzurite({ port: azurite.port });
      const back = await openStore(restarted.connectionString, tableName);
      const report = await fullRun(withCas, back);
      expect(report.errors).toEqual([]);
      expect(report.pullRequest.action).toBe('unchanged');
      const pulls = pullsOn(peers.github, branchOf(withCas));
      expect(pulls).toHaveLength(1);
      expect((await back.read(withCas.name)).config.pullRequest?.number).toBe(pulls[0]!.number);
    } finally {
      await azurite.stop();
      await restarted?.stop();
    }
  }, 60_000);
});
