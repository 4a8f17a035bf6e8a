import { HttpRequest, InvocationContext, type LogLevel } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConfigSetStatus } from '../../shared/engine/status-set.js';
import { parseConfig } from '../../shared/config.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import { poisonQueueOf } from '../../shared/queue/queue-name.js';
import { LEASE_ROW_KEY, partitionKeyFor } from '../../shared/state/keys.js';
import { StateStore } from '../../shared/state/store.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';
import { runTimerFunction, startQueueHost, type QueueHostEvent } from '../peers/queue-host.js';

/**
 * The run queue when things go wrong, through the registered handlers (functions/timers.ts fans out,
 * functions/runs.ts's runQueuedCheck runs) and the in-process queue driver (test/peers/queue-host.ts) against
 * Azurite's queues: a config that turns invalid between two ticks, a message that fails every attempt, and a
 * document cache that cannot be read. Each scenario reads its configs from its own Blob container, as teams upload them.
 */

const connectionString = inject('azuriteConnectionString');
const suffix = randomBytes(4).toString('hex');
const QUEUE = `fan-out-${suffix}`;
const TABLE = `fanout${suffix}`;
const PAGE = '/network-requirements.md';

let blobs: BlobServiceClient;
let store: StateStore;
let queue: QueueClient;
let poison: QueueClient;
let functions: {
  scheduledCheck: typeof import('../../functions/timers.js').scheduledCheck;
  runQueueOutput: typeof import('../../functions/lib/run-queue.js').runQueueOutput;
  poisonQueueOutput: typeof import('../../functions/lib/run-queue.js').poisonQueueOutput;
  runQueuedCheck: typeof import('../../functions/runs.js').runQueuedCheck;
  statusHandler: typeof import('../../functions/status.js').statusHandler;
  resetSharedRuntime: typeof import('../../functions/lib/runtime.js').resetSharedRuntime;
};
const containers: ContainerClient[] = [];

beforeAll(async () => {
  // Before the functions are imported: they read the run queue's name when they register.
  Object.assign(process.env, {
    AzureWebJobsStorage: connectionString,
    ALLOWLIST_STORAGE: connectionString,
    ALLOWLIST_TABLE: TABLE,
    ALLOWLIST_QUEUE: QUEUE,
  });
  for (const name of ['ALLOWLIST_CONFIG', 'ALLOWLIST_CONFIG_PATH', 'ALLOWLIST_CONFIG_DIR', 'ALLOWLIST_DOCUMENT_CONTAINER']) {
    delete process.env[name];
  }
  const [timers, runQueue, runs, status, runtime] = await Promise.all([
    import('../../functions/timers.js'),
    import('../../functions/lib/run-queue.js'),
    import('../../functions/runs.js'),
    import('../../functions/status.js'),
    import('../../functions/lib/runtime.js'),
  ]);
  functions = { ...timers, ...runQueue, ...runs, ...status, ...runtime };
  expect(runQueue.RUN_QUEUE).toBe(QUEUE);
  blobs = BlobServiceClient.fromConnectionString(connectionString);
  store = StateStore.fromSetting(connectionString, { tableName: TABLE });
  await store.ensureTable();
  queue = new QueueClient(connectionString, QUEUE);
  poison = new QueueClient(connectionString, poisonQueueOf(QUEUE));
  await Promise.all([queue.createIfNotExists(), poison.createIfNotExists()]);
});

afterAll(async () => {
  await Promise.all([queue?.deleteIfExists(), poison?.deleteIfExists(), ...containers.map((c) => c.deleteIfExists())]);
});

/** A fresh container of configs as the app's config source (read on every call, so an upload takes effect at once). */
async function configContainer(configs: Record<string, unknown>): Promise<ContainerClient> {
  const container = blobs.getContainerClient(`configs-${randomBytes(4).toString('hex')}`);
  await container.create();
  containers.push(container);
  for (const [name, config] of Object.entries(configs)) await upload(container, name, config);
  process.env.ALLOWLIST_CONFIG_CONTAINER = container.containerName;
  functions.resetSharedRuntime();
  return container;
}

async function upload(container: ContainerClient, name: string, config: unknown): Promise<void> {
  const text = JSON.stringify(config);
  await container.getBlockBlobClient(`${name}.json`).upload(text, Buffer.byteLength(text));
}

function staticConfig(name: string, entry: string) {
  return {
    name,
    targets: [{ id: 'partners', type: 'static', entries: [entry] }],
    files: [{ path: `edl/${name}.txt`, format: 'plain', targets: ['partners'] }],
  };
}

interface Logged {
  readonly invocationId: string;
  readonly level: LogLevel;
  readonly text: string;
}

/** One timer occurrence (casCheck): what it logged and how many messages it queued. */
async function tick(): Promise<{ logs: string[]; written: number }> {
  const logs: string[] = [];
  const { written } = await runTimerFunction({
    connectionString,
    handler: functions.scheduledCheck('CAS_SCHEDULE'),
    outputs: [functions.runQueueOutput],
    functionName: 'casCheck',
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
  return { logs, written };
}

/** The worker function on the run queue until it holds nothing; every event and line of every invocation. */
async function drain(): Promise<{ events: QueueHostEvent[]; logs: Logged[] }> {
  const events: QueueHostEvent[] = [];
  const logs: Logged[] = [];
  const host = startQueueHost({
    connectionString,
    queue: QUEUE,
    handler: functions.runQueuedCheck,
    functionName: 'runConfig',
    outputs: [functions.poisonQueueOutput],
    // A failed attempt is visible again at once: the five attempts take no minutes here.
    settings: { visibilityTimeout: 0 },
    pollMs: 50,
    logHandler:
      ({ invocationId }) =>
      (level, ...args) =>
        logs.push({ invocationId, level, text: args.map(String).join(' ') }),
    onEvent: (event) => events.push(event),
  });
  await host.drained();
  await host.stop();
  return { events, logs };
}

/** The config each invocation was started for, in order. */
const started = (events: QueueHostEvent[]) =>
  events.flatMap((e) => (e.event === 'start' ? [(e.invocation.entry as { config?: string }).config] : []));
const starts = (events: QueueHostEvent[], config: string) => started(events).filter((name) => name === config);
const messagesOn = async (client: QueueClient) => (await client.getProperties()).approximateMessagesCount ?? 0;

async function setStatus(): Promise<ConfigSetStatus> {
  const context = new InvocationContext({ functionName: 'status', logHandler: () => {} });
  const response = await functions.statusHandler(new HttpRequest({ method: 'GET', url: 'https://app.test/api/status' }), context);
  expect(response.status).toBe(200);
  return response.jsonBody as ConfigSetStatus;
}

describe('a config that turns invalid between two ticks', () => {
  it('its queued message is skipped with an error naming it (no retry, no poison); the next tick queues none; the others run', async () => {
    const container = await configContainer({
      alpha: staticConfig('alpha', '20.60.1.5'),
      bravo: staticConfig('bravo', '20.60.2.5'),
      charlie: staticConfig('charlie', '20.60.3.5'),
    });
    const first = await tick();
    expect(first.written).toBe(3);
    // A team uploads a broken version while charlie's message waits on the queue.
    await upload(container, 'charlie', { name: 'charlie', targets: [] });

    const one = await drain();
    expect(one.events.filter((e) => e.event === 'start')).toHaveLength(3);
    expect(one.events.filter((e) => e.event === 'failed' || e.event === 'poisoned')).toEqual([]);
    expect(starts(one.events, 'charlie')).toHaveLength(1);
    expect(one.logs.filter((l) => l.level === 'error').map((l) => l.text)).toEqual([
      expect.stringMatching(/^charlie: CAS_SCHEDULE not run: config-invalid: The configuration in .*charlie\.json is not valid/),
    ]);
    for (const name of ['alpha', 'bravo']) expect((await store.read(name)).targets.get('partners')?.lastStatus, name).toBe('ok');
    expect((await store.read('charlie')).config.lastRunAt).toBeUndefined();
    expect(await messagesOn(queue)).toBe(0);
    expect(await messagesOn(poison)).toBe(0);

    const second = await tick();
    expect(second.written).toBe(2);
    expect(second.logs).toContainEqual(expect.stringMatching(/^error: charlie: config-invalid: The configuration in .*charlie\.json/));
    expect(second.logs).toContain(`information: fan-out: 2 of 3 configs queued on ${QUEUE} for CAS_SCHEDULE`);
    const two = await drain();
    expect(started(two.events).sort()).toEqual(['alpha', 'bravo']);

    const lines = new Map((await setStatus()).configs.map((line) => [line.name, line]));
    expect(lines.get('charlie')?.error).toMatchObject({ code: 'config-invalid', problems: ['targets: list at least one target to watch'] });
    expect(lines.get('alpha')?.error).toBeUndefined();
    expect(lines.get('bravo')?.lastRunAt).not.toBeNull();
  });
});

describe('a poison message, end to end', () => {
  it('fails every attempt, lands in the poison queue after maxDequeueCount; status names it; a later good run makes status stop naming it', async () => {
    await configContainer({ delta: staticConfig('delta', '20.60.4.5'), echo: staticConfig('echo', '20.60.5.5') });
    // A lease row without a holder: every run of delta stops with state-corrupt until the row is deleted.
    const table = TableClient.fromConnectionString(connectionString, TABLE, { allowInsecureConnection: true });
    await table.upsertEntity({ partitionKey: partitionKeyFor('delta'), rowKey: LEASE_ROW_KEY, kind: 'lease' }, 'Replace');

    expect((await tick()).written).toBe(2);
    const { events, logs } = await drain();
    const failed = events.filter((e) => e.event === 'failed');
    expect(failed.map((e) => [e.invocation.dequeueCount, e.poisoned])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [5, true],
    ]);
    expect(starts(events, 'echo')).toHaveLength(1);
    // The log names the config, its last error and where the message went.
    expect(logs.filter((l) => l.level === 'error').at(-1)?.text).toMatch(
      new RegExp(
        `^delta: CAS_SCHEDULE failed \\(attempt 5 of 5\\): state-corrupt: .*; that was the last attempt: the host moves the message to ${QUEUE}-poison$`,
      ),
    );
    expect(await messagesOn(queue)).toBe(0);
    const [moved] = (await poison.receiveMessages()).receivedMessageItems;
    expect(JSON.parse(Buffer.from(moved!.messageText, 'base64').toString('utf8'))).toMatchObject({
      v: 1,
      config: 'delta',
      kind: 'CAS_SCHEDULE',
    });
    await poison.deleteMessage(moved!.messageId, moved!.popReceipt);

    const poisoned = new Map((await setStatus()).configs.map((line) => [line.name, line.poisoned]));
    expect(poisoned.get('delta')).toEqual([expect.stringMatching(/^CAS_SCHEDULE at .+: state-corrupt: State row "lease" cannot be read/)]);
    expect(poisoned.get('echo')).toBeUndefined();

    await table.deleteEntity(partitionKeyFor('delta'), LEASE_ROW_KEY);
    await tick();
    const again = await drain();
    expect(again.events.filter((e) => e.event === 'failed')).toEqual([]);
    expect((await store.read('delta')).targets.get('partners')?.lastStatus).toBe('ok');
    expect(new Map((await setStatus()).configs.map((line) => [line.name, line.poisoned])).get('delta')).toBeUndefined();
    // Outdated by the run, not deleted by it: the good run made no request for the record.
    expect(await store.queueFailures().list('delta', () => {})).toEqual([expect.objectContaining({ kind: 'CAS_SCHEDULE' })]);
  });

  it('a message that is not a run message goes to the poison queue at once, without a retry', async () => {
    await queue.sendMessage(Buffer.from('{"v":1,"config":"delta"', 'utf8').toString('base64'));
    const { events, logs } = await drain();
    expect(events.map((e) => e.event)).toEqual(['start', 'done']);
    expect(logs.map((l) => `${l.level}: ${l.text}`)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: queue-message-invalid: The queue message is not a run message .*: it is not JSON; moved to ${QUEUE}-poison without retrying$`,
        ),
      ),
    ]);
    const [moved] = (await poison.receiveMessages()).receivedMessageItems;
    expect(Buffer.from(moved!.messageText, 'base64').toString('utf8')).toBe('{"v":1,"config":"delta"');
    await poison.deleteMessage(moved!.messageId, moved!.popReceipt);
    expect(await messagesOn(queue)).toBe(0);
  });
});

describe('the document cache cannot be read', () => {
  let http: HttpPeer;

  beforeAll(async () => {
    const page = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
    http = await startHttpPeer(routes({ [PAGE]: { body: page, contentType: 'text/plain; charset=utf-8' } }));
  });

  afterAll(async () => {
    delete process.env.ALLOWLIST_DOCUMENT_CONTAINER;
    await http?.close();
  });

  const casConfig = (name: string) => ({
    name,
    targets: [{ id: 'cas-mail', type: 'cas-docs', url: `${http.url}${PAGE}`, dataCenters: '*', sections: ['mail'] }],
    files: [{ path: `teams/${name}.txt`, format: 'plain', targets: ['cas-mail'] }],
  });

  it('configs that share the CAS page each fetch it themselves and say so; no baseline loses an entry', async () => {
    const names = ['fox', 'golf', 'hotel'];
    await configContainer(Object.fromEntries(names.map((name) => [name, casConfig(name)])));
    // Each team accepted the page's mail servers as its baseline (the files already held them).
    for (const name of names) {
      await acceptObservation({ config: parseConfig(casConfig(name)), store, env: {}, targetId: 'cas-mail' });
    }
    const baselines = new Map(
      await Promise.all(names.map(async (name) => [name, (await store.read(name)).targets.get('cas-mail')!.baseline] as const)),
    );
    for (const baseline of baselines.values()) expect(baseline!.length).toBeGreaterThan(0);

    // A container name Blob Storage refuses: every read and write of the cache fails.
    process.env.ALLOWLIST_DOCUMENT_CONTAINER = 'Not_A_Container';
    functions.resetSharedRuntime();
    const before = http.requests.length;
    expect((await tick()).written).toBe(3);
    const { events, logs } = await drain();
    expect(events.filter((e) => e.event === 'failed')).toEqual([]);

    const fetched = http.requests.slice(before).filter((r) => r.path === PAGE);
    expect(fetched).toHaveLength(names.length);
    for (const request of fetched) {
      expect(request.headers['if-none-match']).toBeUndefined();
      expect(request.headers['if-modified-since']).toBeUndefined();
    }
    const targetLines = logs.filter((l) => l.text.startsWith('target cas-mail: ok (document-cache) '));
    expect(targetLines).toHaveLength(names.length);
    for (const name of names) {
      const line = targetLines.find((l) => l.text.includes(`"configName":"${name}"`));
      expect(line?.text, name).toContain('"removed":0');
      const target = (await store.read(name)).targets.get('cas-mail')!;
      expect(target.lastStatus, name).toBe('ok');
      // It could neither read a copy nor keep the one it downloaded: both said, neither a failure.
      expect(
        target.lastWarnings.map((w) => `${w.code}: ${w.message}`),
        name,
      ).toEqual([
        expect.stringMatching(
          /^document-cache: The document cache could not be read for .*, so the document was downloaded in full: .*is not a container name/,
        ),
        expect.stringMatching(
          /^document-cache: The document cache could not keep .*, so the next run downloads it in full again: .*is not a container name/,
        ),
      ]);
      expect(target.baseline, name).toEqual(baselines.get(name));
      expect(target.misses, name).toEqual({});
    }
  });
});
