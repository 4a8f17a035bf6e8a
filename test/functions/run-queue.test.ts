import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { poisonQueueOutput, RUN_QUEUE } from '../../functions/lib/run-queue.js';
import { resetSharedRuntime } from '../../functions/lib/runtime.js';
import { runQueuedCheck } from '../../functions/runs.js';
import { DEFAULT_RUN_QUEUE, runQueueName } from '../../shared/queue/queue-name.js';
import { openRequeue, queueServiceOf } from '../../shared/queue/requeue.js';
import { LEASE_ROW_KEY, partitionKeyFor } from '../../shared/state/keys.js';
import { StateStore } from '../../shared/state/store.js';
import { recordedInvocation, staticConfig, type Logged } from './invocation.js';

/** The queue-triggered worker (functions/runs.ts) with real InvocationContexts, against Azurite's tables and queues. */

const TABLE = 'runqueuetest';

let dir: string;
let store: StateStore;
let queue: QueueClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-run-queue-'));
  writeFileSync(join(dir, 'dmz.json'), JSON.stringify(staticConfig('dmz', ['20.60.1.5'])));
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify(staticConfig('proxy', ['20.70.1.5'])));
  writeFileSync(join(dir, 'broken.json'), JSON.stringify({ name: 'broken', targets: [] }));
  const azurite = inject('azuriteConnectionString');
  process.env.ALLOWLIST_STORAGE = azurite;
  process.env.AzureWebJobsStorage = azurite;
  process.env.ALLOWLIST_TABLE = TABLE;
  process.env.ALLOWLIST_CONFIG_DIR = dir;
  delete process.env.ALLOWLIST_CONFIG;
  delete process.env.ALLOWLIST_CONFIG_PATH;
  delete process.env.ALLOWLIST_CONFIG_CONTAINER;
  store = StateStore.fromSetting(azurite, { tableName: TABLE });
  await store.ensureTable();
  queue = new QueueClient(azurite, RUN_QUEUE);
  await queue.createIfNotExists();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  resetSharedRuntime();
  await queue.clearMessages();
});

const invocation = (dequeueCount = 1) => recordedInvocation({ functionName: 'runConfig', dequeueCount });

const tick = '2026-12-07T21:00:00.000Z';
const message = (config: string) => ({ v: 1, config, kind: 'CAS_SCHEDULE', tick });
const errors = (logs: readonly Logged[]) => logs.filter((l) => l.level === 'error').map((l) => l.text);

describe('runConfig: one message, one config', () => {
  it('checks the named config only, under its lease, with a run id naming the invocation and the config', async () => {
    const { context, logs } = invocation();
    const before = (await store.read('proxy')).config.lastRunAt;
    await expect(runQueuedCheck(message('dmz'), context)).resolves.toBeUndefined();
    const dmz = await store.read('dmz');
    expect(dmz.config.lastRunId).toBe(`${context.invocationId}:dmz`);
    expect(dmz.targets.get('partners')?.lastStatus).toBe('ok');
    expect((await store.read('proxy')).config.lastRunAt).toBe(before);
    expect(errors(logs)).toEqual([]);
    expect(logs.some((l) => l.text.startsWith('check done:') && l.text.includes('"configName":"dmz"'))).toBe(true);
    // The lease was given back: nothing stays queued, and the next message runs at once.
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it('takes the message as the text the host hands over when it is not parsed JSON', async () => {
    const { context } = invocation();
    await runQueuedCheck(JSON.stringify(message('proxy')), context);
    expect((await store.read('proxy')).config.lastRunId).toBe(`${context.invocationId}:proxy`);
  });

  it('a held lease is not a failure: a copy goes back on the queue, invisible for a while, and nothing runs', async () => {
    const lease = await store.acquireLease('dmz', 'another-worker', 60_000);
    try {
      const { context, logs } = invocation();
      const before = (await store.read('dmz')).config.lastRunAt;
      await expect(runQueuedCheck(message('dmz'), context)).resolves.toBeUndefined();
      expect(logs).toContainEqual({
        level: 'warning',
        text: expect.stringMatching(
          /^dmz: CAS_SCHEDULE deferred 60 s: another run \(another-worker\) holds its lease; a copy of the message was queued$/,
        ),
      });
      expect(errors(logs)).toEqual([]);
      expect((await store.read('dmz')).config.lastRunAt).toBe(before);
      // On the queue, but not visible yet: no worker sees it before the delay is over.
      expect((await queue.getProperties()).approximateMessagesCount).toBe(1);
      expect((await queue.peekMessages()).peekedMessageItems).toEqual([]);
    } finally {
      await lease.release();
    }
  });

  it('the copy is the same message, base64 as the host reads it', async () => {
    await openRequeue({ env: process.env, queue: RUN_QUEUE })(message('dmz') as never, 0);
    const [received] = (await queue.receiveMessages()).receivedMessageItems;
    expect(JSON.parse(Buffer.from(received!.messageText, 'base64').toString('utf8'))).toEqual(message('dmz'));
    // A fresh message: its dequeue count starts over, so deferrals never count toward the poison queue.
    expect(received!.dequeueCount).toBe(1);
  });
});

describe('runConfig: messages it cannot run', () => {
  it('garbage gets a clear error and goes to the poison queue at once, never retried', async () => {
    const garbage: unknown[] = [
      'not json',
      42,
      null,
      { v: 2, config: 'dmz', kind: 'CAS_SCHEDULE', tick },
      { v: 1, config: '../dmz', kind: 'CAS_SCHEDULE', tick },
      { v: 1, config: 'dmz', kind: 'NIGHTLY', tick },
      { v: 1, config: 'dmz', kind: 'CAS_SCHEDULE', tick: 'yesterday' },
      { ...message('dmz'), extra: true },
      JSON.stringify({ ...message('dmz'), pad: 'x'.repeat(2000) }),
    ];
    for (const entry of garbage) {
      const { context, logs } = invocation();
      await expect(runQueuedCheck(entry, context), JSON.stringify(entry)).resolves.toBeUndefined();
      expect(errors(logs), JSON.stringify(entry)).toEqual([
        expect.stringMatching(
          /^queue-message-invalid: The queue message is not a run message \{v:1, config, kind, tick\}: .+; moved to allowlist-drift-runs-poison without retrying$/,
        ),
      ]);
      expect(context.extraOutputs.get(poisonQueueOutput)).toBe(typeof entry === 'string' ? entry : JSON.stringify(entry));
    }
    const { context, logs } = invocation();
    await runQueuedCheck({ v: 1, config: 'dmz', kind: 'NIGHTLY', tick: 'soon' }, context);
    expect(errors(logs)[0]).toContain('kind: ');
    expect(errors(logs)[0]).toContain('tick: ');
  });

  it('a config that is gone or invalid is an error line naming it, not a retry (the next tick asks again)', async () => {
    for (const [name, code] of [
      ['gone', 'unknown-config'],
      ['broken', 'config-invalid'],
    ] as const) {
      const { context, logs } = invocation();
      await expect(runQueuedCheck(message(name), context)).resolves.toBeUndefined();
      expect(errors(logs)).toEqual([expect.stringMatching(new RegExp(`^${name}: CAS_SCHEDULE not run: ${code}: `))]);
      expect(context.extraOutputs.get(poisonQueueOutput)).toBeUndefined();
    }
  });

  it('a run that fails otherwise is thrown, so the host retries it and poisons it after maxDequeueCount', async () => {
    // A lease row without a holder: the run stops with state-corrupt, which no retry hides and no deferral covers.
    const table = TableClient.fromConnectionString(inject('azuriteConnectionString'), TABLE, { allowInsecureConnection: true });
    await table.upsertEntity({ partitionKey: partitionKeyFor('proxy'), rowKey: LEASE_ROW_KEY, kind: 'lease' }, 'Replace');
    try {
      const { context, logs } = invocation(2);
      await expect(runQueuedCheck(message('proxy'), context)).rejects.toMatchObject({ code: 'state-corrupt' });
      expect(logs.some((l) => l.text.includes('deferred'))).toBe(false);
      expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
      expect(errors(logs)).toEqual([
        expect.stringMatching(
          /^proxy: CAS_SCHEDULE failed \(attempt 2 of 5\): state-corrupt: State row "lease" cannot be read .*; the host retries it$/,
        ),
      ]);
      // The last attempt's line names the config, its last error and the poison queue it now goes to.
      const last = invocation(5);
      await expect(runQueuedCheck(message('proxy'), last.context)).rejects.toMatchObject({ code: 'state-corrupt' });
      expect(errors(last.logs)).toEqual([
        expect.stringMatching(
          /^proxy: CAS_SCHEDULE failed \(attempt 5 of 5\): state-corrupt: .*; that was the last attempt: the host moves the message to allowlist-drift-runs-poison$/,
        ),
      ]);
    } finally {
      await table.deleteEntity(partitionKeyFor('proxy'), LEASE_ROW_KEY);
    }
  });
});

describe('run queue settings', () => {
  it('ALLOWLIST_QUEUE defaults, and a name Storage would refuse is a clear error', () => {
    expect(runQueueName({})).toBe(DEFAULT_RUN_QUEUE);
    expect(runQueueName({ ALLOWLIST_QUEUE: ' team-runs ' })).toBe('team-runs');
    for (const bad of ['Runs', 'a', 'runs--x', '-runs', 'r'.repeat(57), 'runs_1']) {
      expect(() => runQueueName({ ALLOWLIST_QUEUE: bad }), bad).toThrow(/^ALLOWLIST_QUEUE ".*" is not a queue name: 3-56 lowercase/);
    }
  });

  it('the deferral reaches the queue as the host does: a connection string, or the account with the managed identity', () => {
    expect(queueServiceOf({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' })).toEqual({
      connectionString: 'UseDevelopmentStorage=true',
    });
    expect(queueServiceOf({ AzureWebJobsStorage__accountName: 'stabc' })).toEqual({ url: 'https://stabc.queue.core.windows.net' });
    expect(() => queueServiceOf({})).toThrow('No run queue connection: set AzureWebJobsStorage');
  });
});

describe('runConfig over a Blob container of configs (ALLOWLIST_CONFIG_CONTAINER, Azurite)', () => {
  it('the messages of one tick share one listing of the container; a config uploaded before the next tick runs on it', async () => {
    const container = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString')).getContainerClient('queue-configs');
    await container.createIfNotExists();
    const upload = async (name: string, value: unknown) => {
      const text = JSON.stringify(value);
      await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    };
    await upload('lab.json', staticConfig('lab', ['20.80.1.5']));
    await upload('branch.json', staticConfig('branch', ['20.90.1.5']));
    delete process.env.ALLOWLIST_CONFIG_DIR;
    process.env.ALLOWLIST_CONFIG_CONTAINER = 'queue-configs';
    resetSharedRuntime();
    // Counts the listings the app makes; the calls go through to Azurite unchanged.
    const listings = vi.spyOn(ContainerClient.prototype, 'listBlobsFlat');
    try {
      const now = new Date().toISOString();
      const run = async (name: string, at: string) => {
        const { context, logs } = invocation();
        await runQueuedCheck({ ...message(name), tick: at }, context);
        return errors(logs);
      };
      const results = await Promise.all(['lab', 'branch', 'lab', 'branch', 'lab', 'branch'].map((name) => run(name, now)));
      expect(results.flat()).toEqual([]);
      expect(listings).toHaveBeenCalledTimes(1);
      // A config a team uploads now is not in this tick's listing: its message of this tick is an error line, not a listing.
      await upload('late.json', staticConfig('late', ['20.100.1.5']));
      expect(await run('late', now)).toEqual([expect.stringMatching(/^late: CAS_SCHEDULE not run: unknown-config: /)]);
      expect(listings).toHaveBeenCalledTimes(1);
      // The next tick lists the container again, and the uploaded config runs.
      expect(await run('late', new Date().toISOString())).toEqual([]);
      expect(listings).toHaveBeenCalledTimes(2);
      expect((await store.read('late')).targets.get('partners')?.lastStatus).toBe('ok');
    } finally {
      listings.mockRestore();
      delete process.env.ALLOWLIST_CONFIG_CONTAINER;
      process.env.ALLOWLIST_CONFIG_DIR = dir;
    }
  });
});
