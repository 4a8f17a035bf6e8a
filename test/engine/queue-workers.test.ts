import { QueueClient } from '@azure/storage-queue';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { poisonQueueOf } from '../../shared/queue/queue-name.js';
import { StateStore } from '../../shared/state/store.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { runTimerFunction } from '../peers/queue-host.js';
import { spawnQueueWorkers, stopQueueWorkers, type QueueWorker, type QueueWorkerEvent } from '../peers/queue-workers.js';
import { startInterceptingProxy, type InterceptingProxy } from '../reliability/intercepting-proxy.js';

/**
 * Issue 26's scenario: ten configs of one folder, fanned out by the CAS timer onto Azurite's queue and run by two
 * worker processes (test/peers/queue-workers.ts: the queue driver around functions/runs.ts). One worker is killed
 * (SIGKILL, a lost instance) in the middle of one config's publish, at a moment the test chooses: GitHub has created
 * that config's pull request, and the answer is held back by a proxy, so the dead run recorded nothing. A fresh worker
 * replaces it, as the host replaces a lost instance. The message shows again after the driver's hold; a live worker
 * runs it once the dead run's lease (ALLOWLIST_LEASE_SECONDS=15) has expired (deferring it while the lease is held)
 * and adopts the pull request the dead run opened.
 */

const TOKEN = 'ghp_QueueWorkers0Scenario0Token0123456789';
const NAMES = Array.from({ length: 10 }, (_, i) => `team-${String(i + 1).padStart(2, '0')}`);
const KILLED = 'team-04';
const branchOf = (name: string) => `allowlist-drift/${name}`;
const entryOf = (name: string) => `20.60.${Number(name.slice(-2))}.5`;

let github: GitHubPeer;
let proxy: InterceptingProxy;
let folder: string;
let store: StateStore;
let queue: QueueClient;
let poison: QueueClient;
let workers: QueueWorker[] = [];
const connectionString = inject('azuriteConnectionString');
const suffix = randomBytes(4).toString('hex');
const env = {
  AzureWebJobsStorage: connectionString,
  ALLOWLIST_STORAGE: connectionString,
  ALLOWLIST_TABLE: `queueworkers${suffix}`,
  ALLOWLIST_QUEUE: `queue-workers-${suffix}`,
  ALLOWLIST_DOCUMENT_CONTAINER: `queue-workers-${suffix}`,
  ALLOWLIST_LEASE_SECONDS: '15',
  GITHUB_TOKEN: TOKEN,
};

beforeAll(async () => {
  github = await startGitHubPeer({ token: TOKEN });
  proxy = await startInterceptingProxy(github.url);
  folder = mkdtempSync(join(tmpdir(), 'allowlist-drift-queue-workers-'));
  for (const name of NAMES) {
    const config = {
      name,
      targets: [{ id: 'partners', type: 'static', entries: [entryOf(name)] }],
      files: [{ path: `edl/${name}.txt`, format: 'plain', targets: ['partners'] }],
      github: { owner: github.owner, repo: github.repo, base: github.base, apiUrl: proxy.url, dashboard: false },
    };
    writeFileSync(join(folder, `${name}.json`), JSON.stringify(config));
  }
  // The test process runs the timer; the workers inherit these settings (and add their own lease length).
  Object.assign(process.env, env, { ALLOWLIST_CONFIG_DIR: folder });
  for (const name of ['ALLOWLIST_CONFIG', 'ALLOWLIST_CONFIG_PATH', 'ALLOWLIST_CONFIG_CONTAINER']) delete process.env[name];
  store = StateStore.fromSetting(connectionString, { tableName: env.ALLOWLIST_TABLE });
  await store.ensureTable();
  queue = new QueueClient(connectionString, env.ALLOWLIST_QUEUE);
  poison = new QueueClient(connectionString, poisonQueueOf(env.ALLOWLIST_QUEUE));
  await Promise.all([queue.createIfNotExists(), poison.createIfNotExists()]);
});

afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  await Promise.all([proxy?.close(), github?.close(), queue?.deleteIfExists(), poison?.deleteIfExists()]);
  rmSync(folder, { recursive: true, force: true });
});

/** Messages on a queue, visible or not. */
const messagesOn = async (client: QueueClient) => (await client.getProperties()).approximateMessagesCount ?? 0;

describe('ten configs through the run queue, two worker processes, one killed mid-publish and replaced', () => {
  it('every config ends with exactly one pull request; the dead run\u2019s is adopted, not opened twice', async () => {
    // The killed config's pull request is created on GitHub, but the answer never reaches its worker.
    let pullsOfKilled = 0;
    let createdForKilled: (number: number) => void;
    const created = new Promise<number>((resolve) => (createdForKilled = resolve));
    proxy.intercept((request, body) => {
      if (request.method !== 'POST' || !request.path.endsWith(`/repos/${github.owner}/${github.repo}/pulls`)) return undefined;
      if ((JSON.parse(body) as { head?: string }).head !== branchOf(KILLED)) return undefined;
      pullsOfKilled += 1;
      if (pullsOfKilled > 1) return undefined;
      return {
        afterForward: () => createdForKilled(github.pullRequests().find((p) => p.headRef === branchOf(KILLED))!.number),
        hang: true,
      };
    });

    const spawn = (count: number) =>
      spawnQueueWorkers({
        count,
        env: { ...env, ALLOWLIST_CONFIG_DIR: folder },
        // The host holds a message for 10 minutes, renewed while it runs; 5 s here, so the dead worker's message shows
        // again soon. One config at a time per worker: GitHub writes are paced per process (one a second), and a run
        // shorter than its lease is what production has too (the lease outlasts the function timeout).
        host: { holdSeconds: 5, settings: { batchSize: 1, newBatchThreshold: 0, visibilityTimeout: 1 }, pollMs: 100 },
      });
    workers = await spawn(2);
    const [{ scheduledCheck }, { runQueueOutput }] = await Promise.all([
      import('../../functions/timers.js'),
      import('../../functions/lib/run-queue.js'),
    ]);
    const tick = await runTimerFunction({
      connectionString,
      handler: scheduledCheck('CAS_SCHEDULE'),
      outputs: [runQueueOutput],
      functionName: 'casCheck',
    });
    expect(tick.written).toBe(NAMES.length);

    const adopted = await created;
    const startedKilled = (e: QueueWorkerEvent) => e.event === 'start' && e.config === KILLED;
    await Promise.race(workers.map((w) => w.waitFor(startedKilled)));
    const victim = workers.find((w) => w.lines.some(startedKilled))!;
    const survivor = workers.find((w) => w !== victim)!;
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    // As the host replaces a lost instance: a fresh worker beside the survivor; either may take the message back.
    const alive = [survivor, ...(await spawn(1))];
    workers = alive;
    const lines = () => alive.flatMap((w) => w.lines);

    // Done when every config recorded its pull request and the queue is empty (the deferred copies included).
    for (;;) {
      const records = await Promise.all(NAMES.map(async (name) => (await store.read(name)).config.pullRequest));
      if (records.every(Boolean) && (await messagesOn(queue)) === 0) break;
      await sleep(250);
    }

    // Exactly one pull request per config, each from that config's branch; no other branch was made.
    const pulls = github.pullRequests();
    expect(pulls).toHaveLength(NAMES.length);
    for (const name of NAMES) {
      const own = pulls.filter((p) => p.headRef === branchOf(name));
      expect(own, name).toHaveLength(1);
      expect(own[0]!.state, name).toBe('open');
      expect(github.readFile(branchOf(name), `edl/${name}.txt`), name).toContain(entryOf(name));
      const state = await store.read(name);
      expect(state.config.pullRequest?.number, name).toBe(own[0]!.number);
      const target = state.targets.get('partners')!;
      expect(target.lastStatus, name).toBe('ok');
      // Proposed in the pull request, not approved: the baseline waits for a merge.
      expect(target.baseline, name).toBeNull();
      expect(target.proposed, name).toEqual([`${entryOf(name)}/32`]);
    }
    expect(github.branches().sort()).toEqual([github.base, ...NAMES.map(branchOf)].sort());
    expect(github.violations).toEqual([]);

    // The dead run's pull request is the one kept: the run that finished it found it and asked GitHub for no other.
    expect(pulls.find((p) => p.headRef === branchOf(KILLED))!.number).toBe(adopted);
    expect(pullsOfKilled).toBe(1);
    // The killed message came back (its second delivery) to a live worker, and one run kept that pull request.
    expect(lines()).toContainEqual(expect.objectContaining({ event: 'start', config: KILLED, dequeueCount: 2 }));
    const finished = lines().filter(
      (e) => e.event === 'log' && e.text?.startsWith('check done:') && e.text.includes(`"configName":"${KILLED}"`),
    );
    expect(finished).toEqual([
      expect.objectContaining({ text: expect.stringMatching(new RegExp(`pull request: (unchanged|updated) #${adopted} `)) }),
    ]);
    // Nothing failed, nothing was poisoned: a held lease is a deferral, not a failed attempt.
    expect(lines().filter((e) => e.event === 'failed' || e.event === 'poisoned' || e.event === 'error')).toEqual([]);
    expect(await messagesOn(queue)).toBe(0);
    expect(await messagesOn(poison)).toBe(0);

    await stopQueueWorkers(alive);
    workers = [];
  }, 180_000);
});
