import { TableClient } from '@azure/data-tables';
import type { InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { LEASE_ROW_KEY, partitionKeyFor } from '../../shared/state/keys.js';
import { StateStore } from '../../shared/state/store.js';
import { startHttpPeer, type HttpPeer } from './http.js';
import { hostQueueSettings, runTimerFunction, startQueueHost, type QueueHost, type QueueHostEvent } from './queue-host.js';
import { runTimerProcess, spawnQueueWorkers, stopQueueWorkers, type QueueWorker } from './queue-workers.js';

/**
 * The in-repo queue driver (queue-host.ts) and its worker processes (queue-workers.ts) against Azurite's queues:
 * what they emulate of the Functions host (dequeue count, visibility, retries, the poison move, output bindings).
 */

const TABLE = 'queuehosttest';
const QUEUE = 'queue-host-runs';
const LIST_PATH = '/partners.txt';

let azurite: string;
let dir: string;
let http: HttpPeer;
let store: StateStore;
let runs: QueueClient;
let poison: QueueClient;
let runQueuedCheck: (entry: unknown, context: InvocationContext) => Promise<void>;
let hosts: QueueHost[] = [];
let workers: QueueWorker[] = [];

function staticConfig(name: string, entries: string[]) {
  return {
    name,
    targets: [{ id: 'partners', type: 'static', entries }],
    files: [{ path: `edl/${name}.txt`, format: 'plain', targets: ['partners'] }],
  };
}

/** Answers the list at once, or (gate set) only once the gate is opened: a run that is held mid-way. */
let gate: Promise<void> | undefined;
function serveList(response: ServerResponse): void {
  void (gate ?? Promise.resolve()).then(() => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('20.80.1.5\n');
  });
}

beforeAll(async () => {
  azurite = inject('azuriteConnectionString');
  http = await startHttpPeer((_request, response) => serveList(response));
  dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-queue-host-'));
  writeFileSync(join(dir, 'dmz.json'), JSON.stringify(staticConfig('dmz', ['20.60.1.5'])));
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify(staticConfig('proxy', ['20.70.1.5'])));
  writeFileSync(
    join(dir, 'slow.json'),
    JSON.stringify({
      name: 'slow',
      targets: [{ id: 'partners', type: 'text', url: `${http.url}${LIST_PATH}` }],
      files: [{ path: 'edl/slow.txt', format: 'plain', targets: ['partners'] }],
    }),
  );
  Object.assign(process.env, {
    ALLOWLIST_STORAGE: azurite,
    AzureWebJobsStorage: azurite,
    ALLOWLIST_TABLE: TABLE,
    ALLOWLIST_CONFIG_DIR: dir,
    ALLOWLIST_QUEUE: QUEUE,
  });
  for (const name of ['ALLOWLIST_CONFIG', 'ALLOWLIST_CONFIG_PATH', 'ALLOWLIST_CONFIG_CONTAINER']) delete process.env[name];
  // After ALLOWLIST_QUEUE is set: the functions read the run queue's name when they are registered.
  ({ runQueuedCheck } = await import('../../functions/runs.js'));
  store = StateStore.fromSetting(azurite, { tableName: TABLE });
  await store.ensureTable();
  runs = new QueueClient(azurite, QUEUE);
  poison = new QueueClient(azurite, `${QUEUE}-poison`);
  for (const queue of [runs, poison]) await queue.createIfNotExists();
});

afterAll(async () => {
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  gate = undefined;
  for (const queue of [runs, poison]) await queue.clearMessages();
});

afterEach(async () => {
  await Promise.all(hosts.map((host) => host.stop()));
  for (const worker of workers) worker.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  hosts = [];
  workers = [];
});

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const fromBase64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');
const tick = '2026-12-07T21:00:00.000Z';
const message = (config: string) => ({ v: 1, config, kind: 'CAS_SCHEDULE', tick });

function host(options: Omit<Parameters<typeof startQueueHost>[0], 'connectionString'>): QueueHost {
  const started = startQueueHost({ connectionString: azurite, pollMs: 50, ...options });
  hosts.push(started);
  return started;
}

/** Polls until `read` gives a value that is not undefined. */
async function eventually<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await sleep(50);
  }
}

const poisoned = () =>
  eventually(async () => {
    const [first] = (await poison.peekMessages()).peekedMessageItems;
    return first;
  });

describe('the queue driver', () => {
  it('reads its defaults from host.json extensions.queues', () => {
    expect(hostQueueSettings()).toEqual({ batchSize: 2, newBatchThreshold: 2, maxDequeueCount: 5, visibilityTimeout: 60 });
  });

  it('runs a message through runConfig with the host trigger metadata, and deletes it', async () => {
    const events: QueueHostEvent[] = [];
    const sent = await runs.sendMessage(base64(JSON.stringify(message('dmz'))));
    const driver = host({ queue: QUEUE, handler: runQueuedCheck, functionName: 'runConfig', onEvent: (e) => events.push(e) });
    await driver.drained();
    const done = events.find((e) => e.event === 'done');
    expect(done?.event === 'done' && done.invocation).toMatchObject({ dequeueCount: 1, messageId: sent.messageId, entry: message('dmz') });
    const { context } = (done as Extract<QueueHostEvent, { event: 'done' }>).invocation;
    expect(context.functionName).toBe('runConfig');
    expect(context.triggerMetadata).toMatchObject({
      dequeueCount: 1,
      id: sent.messageId,
      insertionTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      expirationTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      nextVisibleTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      popReceipt: expect.any(String),
    });
    expect((await store.read('dmz')).config.lastRunId).toBe(`${context.invocationId}:dmz`);
    expect((await runs.getProperties()).approximateMessagesCount).toBe(0);
    expect(events.map((e) => e.event)).toEqual(['start', 'done']);
  });

  it('keeps a message hidden while its run lasts longer than holdSeconds, renewing it as the host does', async () => {
    const events: QueueHostEvent[] = [];
    await runs.sendMessage(base64('long run'));
    // Two instances on one queue: without the renewal the second would take the message once the first hold lapsed.
    const [one, two] = [1, 2].map(() =>
      host({ queue: QUEUE, holdSeconds: 2, handler: () => sleep(4_000), onEvent: (e) => events.push(e) }),
    );
    await eventually(async () => (events.some((e) => e.event === 'done') ? true : undefined));
    await Promise.all([one!.drained(), two!.drained()]);
    expect(events.map((e) => [e.event, 'invocation' in e && e.invocation.dequeueCount])).toEqual([
      ['start', 1],
      ['done', 1],
    ]);
  });

  it('retries a handler that throws with dequeue counts 1, 2, 3, then moves the message to <queue>-poison intact', async () => {
    const seen: Array<{ entry: unknown; dequeueCount: unknown }> = [];
    const events: QueueHostEvent[] = [];
    const text = base64('not { json');
    await runs.sendMessage(text);
    host({
      queue: QUEUE,
      settings: { maxDequeueCount: 3, visibilityTimeout: 1 },
      handler: async (entry, context) => {
        seen.push({ entry, dequeueCount: context.triggerMetadata?.dequeueCount });
        throw new Error('upstream said 503');
      },
      onEvent: (e) => events.push(e),
    });
    await eventually(async () => events.find((e) => e.event === 'failed' && e.poisoned));
    const moved = await poisoned();
    expect(moved.messageText).toBe(text);
    expect(fromBase64(moved.messageText)).toBe('not { json');
    expect(seen).toEqual([1, 2, 3].map((dequeueCount) => ({ entry: 'not { json', dequeueCount })));
    expect(events.filter((e) => e.event === 'failed').map((e) => e.event === 'failed' && [e.poisoned, e.error])).toEqual([
      [false, 'Error: upstream said 503'],
      [false, 'Error: upstream said 503'],
      [true, 'Error: upstream said 503'],
    ]);
    await eventually(async () => ((await runs.getProperties()).approximateMessagesCount === 0 ? true : undefined));
  });

  it('writes the poison output binding runConfig sets for garbage, and completes the message without a retry', async () => {
    const events: QueueHostEvent[] = [];
    const { poisonQueueOutput } = await import('../../functions/lib/run-queue.js');
    expect(poisonQueueOutput.queueName).toBe(`${QUEUE}-poison`);
    await runs.sendMessage(base64('{"v":1,"config":"../dmz"}'));
    const driver = host({ queue: QUEUE, handler: runQueuedCheck, outputs: [poisonQueueOutput], onEvent: (e) => events.push(e) });
    const moved = await poisoned();
    expect(fromBase64(moved.messageText)).toBe('{"v":1,"config":"../dmz"}');
    expect(moved.dequeueCount).toBe(0);
    await driver.drained();
    expect(events.map((e) => e.event)).toEqual(['start', 'done']);
  });

  it('a message that is not base64 goes to the poison queue without running, as the host does', async () => {
    const events: QueueHostEvent[] = [];
    await runs.sendMessage('not base64!');
    let ran = false;
    const driver = host({ queue: QUEUE, handler: async () => void (ran = true), onEvent: (e) => events.push(e) });
    expect((await poisoned()).messageText).toBe('not base64!');
    await driver.idle();
    expect(driver.inFlight()).toBe(0);
    expect(ran).toBe(false);
    expect(events).toEqual([expect.objectContaining({ event: 'poisoned', reason: 'not base64' })]);
  });

  it('a timer fans out through its queue output binding, and the driver runs one message per valid config', async () => {
    const [{ scheduledCheck }, { runQueueOutput }] = await Promise.all([
      import('../../functions/timers.js'),
      import('../../functions/lib/run-queue.js'),
    ]);
    const { written } = await runTimerFunction({
      connectionString: azurite,
      handler: scheduledCheck('CAS_SCHEDULE'),
      outputs: [runQueueOutput],
      functionName: 'casCheck',
    });
    expect(written).toBe(3);
    const events: QueueHostEvent[] = [];
    const driver = host({ queue: QUEUE, handler: runQueuedCheck, onEvent: (e) => events.push(e) });
    await driver.drained();
    const done = events.flatMap((e) => (e.event === 'done' ? [e.invocation.entry as { config: string }] : []));
    expect(done.map((entry) => entry.config).sort()).toEqual(['dmz', 'proxy', 'slow']);
  });
});

describe('worker processes', () => {
  it('a worker killed mid-run leaves the message to reappear after holdSeconds; another worker finishes it', async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const requests = http.requests.length;
    await runs.sendMessage(base64(JSON.stringify(message('slow'))));
    const hold = { holdSeconds: 2, pollMs: 50 };
    const [first] = await spawnQueueWorkers({ count: 1, host: hold });
    workers.push(first!);
    const started = await first!.waitFor((e) => e.event === 'start');
    expect(started).toMatchObject({ config: 'slow', kind: 'CAS_SCHEDULE', dequeueCount: 1, pid: first!.pid });
    // Mid-run: it holds the config's lease and waits on the list.
    await eventually(async () => (http.requests.length > requests ? true : undefined));
    first!.kill('SIGKILL');
    expect(await first!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The lease of the lost run expires on its own (after 11 minutes): here it is aged instead of waited for.
    const table = TableClient.fromConnectionString(azurite, TABLE, { allowInsecureConnection: true });
    await table.updateEntity(
      { partitionKey: partitionKeyFor('slow'), rowKey: LEASE_ROW_KEY, expiresAt: '2000-01-01T00:00:00.000Z' },
      'Merge',
    );
    open();

    const [second] = await spawnQueueWorkers({ count: 1, host: hold });
    workers.push(second!);
    const done = await second!.waitFor((e) => e.event === 'done' || e.event === 'failed');
    expect(done).toMatchObject({ event: 'done', config: 'slow', dequeueCount: 2, pid: second!.pid });
    expect((await store.read('slow')).config.lastRunId).toBe(`${done.invocationId}:slow`);
    expect(second!.lines.filter((e) => e.event === 'log' && e.level === 'error')).toEqual([]);
    await stopQueueWorkers([second!]);
    expect(second!.lines.at(-1)).toMatchObject({ event: 'stopped' });
    expect((await runs.getProperties()).approximateMessagesCount).toBe(0);
  });

  it('a timer process fans out one message per valid config, and two worker processes run each config once', async () => {
    const timer = await runTimerProcess({ kind: 'CAS_SCHEDULE' });
    expect(timer.failed).toBeUndefined();
    expect(timer.written).toBe(3);
    const pair = await spawnQueueWorkers({ count: 2, host: { pollMs: 50 } });
    workers.push(...pair);
    const done = () => pair.flatMap((worker) => worker.lines.filter((e) => e.event === 'done'));
    await eventually(async () => (done().length >= 3 ? true : undefined));
    expect(
      done()
        .map((e) => [e.config, e.dequeueCount])
        .sort(),
    ).toEqual([
      ['dmz', 1],
      ['proxy', 1],
      ['slow', 1],
    ]);
    await stopQueueWorkers(pair);
    expect(done()).toHaveLength(3);
    expect((await runs.getProperties()).approximateMessagesCount).toBe(0);
  });
});
