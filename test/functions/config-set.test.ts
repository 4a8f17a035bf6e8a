import { HttpRequest, type HttpResponseInit, type Timer } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { approveHandler } from '../../functions/approve.js';
import { checkHandler } from '../../functions/check.js';
import { doctorHandler } from '../../functions/doctor.js';
import { resetSharedRuntime } from '../../functions/lib/runtime.js';
import { statusHandler } from '../../functions/status.js';
import { runQueueOutput } from '../../functions/lib/run-queue.js';
import { runQueuedCheck } from '../../functions/runs.js';
import { scheduledCheck } from '../../functions/timers.js';
import type { StatusReport } from '../../shared/engine/status.js';
import type { ConfigSetStatus } from '../../shared/engine/status-set.js';
import type { QueuedAll } from '../../shared/queue/queue-all.js';
import { parseRunMessage, type RunMessage } from '../../shared/queue/run-message.js';
import type { Report } from '../../shared/report.js';
import { StateStore } from '../../shared/state/store.js';
import { recordedInvocation, staticConfig } from './invocation.js';

/** An app with a folder of configs (ALLOWLIST_CONFIG_DIR): two valid ones and one invalid one, through the real handlers. */

const TABLE = 'configsettest';
const BASE = 'https://allowlist-drift.azurewebsites.net/api';

let dir: string;
let store: StateStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-handlers-set-'));
  writeFileSync(join(dir, 'dmz.json'), JSON.stringify(staticConfig('dmz', ['20.60.1.5'])));
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify(staticConfig('proxy', ['20.70.1.5', '20.70.2.0/28'])));
  writeFileSync(join(dir, 'broken.json'), JSON.stringify({ name: 'broken', targets: [] }));
  writeFileSync(join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  process.env.ALLOWLIST_STORAGE = inject('azuriteConnectionString');
  process.env.ALLOWLIST_TABLE = TABLE;
  process.env.ALLOWLIST_CONFIG_DIR = dir;
  delete process.env.ALLOWLIST_CONFIG;
  delete process.env.ALLOWLIST_CONFIG_PATH;
  delete process.env.ALLOWLIST_CONFIG_CONTAINER;
  delete process.env.AzureWebJobsStorage;
  store = StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: TABLE });
  await store.ensureTable();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  resetSharedRuntime();
});

const invocation = (functionName: string) => recordedInvocation({ functionName });

const request = (method: 'GET' | 'POST', path: string) => new HttpRequest({ method, url: `${BASE}/${path}` });
const check = (method: 'GET' | 'POST', path: string) => checkHandler(request(method, path), invocation('check').context);
const status = (path: string) => statusHandler(request('GET', path), invocation('status').context);
const errorOf = (response: HttpResponseInit) =>
  (response.jsonBody as { error: { code: string; message: string; problems?: string[] } }).error;

describe('POST /api/check?config=NAME', () => {
  it('checks the named config only, in its own state partition', async () => {
    const response = await check('POST', 'check?config=dmz');
    expect(response.status).toBe(200);
    const report = response.jsonBody as Report;
    expect(report).toMatchObject({ configName: 'dmz', dryRun: false, errors: [] });
    expect(report.targets.map((t) => [t.id, t.observed])).toEqual([['partners', ['20.60.1.5/32']]]);
    expect((await store.read('dmz')).targets.get('partners')?.lastStatus).toBe('ok');
    expect((await store.read('proxy')).config.lastRunAt).toBeUndefined();
  });

  it('target= names a target of that config', async () => {
    const response = await check('GET', 'check?config=proxy&target=partners');
    expect(response.status).toBe(200);
    expect((response.jsonBody as Report).targets.map((t) => t.observed)).toEqual([['20.70.1.5/32', '20.70.2.0/28']]);
  });

  it('an unknown name is a 404 naming the configs there are', async () => {
    const unknown = await check('POST', 'check?config=nope');
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown)).toEqual({ code: 'unknown-config', message: 'No config is named "nope"; the configs are broken, dmz, proxy' });
  });

  it('garbage in config= is a 400 before anything is loaded', async () => {
    for (const path of ['check?config=DMZ%2F..', 'check?config=dmz&config=proxy', `check?config=${'a'.repeat(70)}`]) {
      const response = await check('POST', path);
      expect(response.status, path).toBe(400);
      expect(errorOf(response).code).toBe('bad-request');
    }
  });

  it('an invalid config answers its own config error, naming its file; the other configs still check', async () => {
    const broken = await check('POST', 'check?config=broken');
    expect(broken.status).toBe(500);
    expect(errorOf(broken).code).toBe('config-invalid');
    expect(errorOf(broken).problems).toEqual(['targets: list at least one target to watch']);
    expect((await check('POST', 'check?config=proxy')).status).toBe(200);
  });

  it('approve takes config= too, and needs it when the app has several configs', async () => {
    const response = await approveHandler(request('POST', 'approve?target=partners'), invocation('approve').context);
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('config-required');
    const named = await approveHandler(request('POST', 'approve?target=partners&config=dmz'), invocation('approve').context);
    expect(errorOf(named).code).toBe('approve-nothing-held');
  });
});

describe('/api/check without config= on a folder of configs', () => {
  const queued = (response: HttpResponseInit) => response.jsonBody as QueuedAll;

  it('POST queues a full check of every valid config, one message per kind, and answers 202 with where the results show', async () => {
    const { context, logs } = invocation('check');
    const before = (await store.read('proxy')).config.lastRunAt;
    const response = await checkHandler(request('POST', 'check'), context);
    expect(response.status).toBe(202);
    expect(response.headers).toMatchObject({ location: `${BASE}/status` });
    const answer = queued(response);
    expect(answer).toEqual({
      queue: 'allowlist-drift-runs',
      tick: expect.any(String),
      queued: [
        { config: 'dmz', kinds: ['OUTSYSTEMS_SCHEDULE', 'CAS_SCHEDULE'], status: `${BASE}/status?config=dmz` },
        { config: 'proxy', kinds: ['OUTSYSTEMS_SCHEDULE', 'CAS_SCHEDULE'], status: `${BASE}/status?config=proxy` },
      ],
      notQueued: [
        {
          config: 'broken',
          origin: join(dir, 'broken.json'),
          error: expect.objectContaining({ code: 'config-invalid', problems: ['targets: list at least one target to watch'] }),
        },
      ],
      status: `${BASE}/status`,
    });
    // The timers' messages: the worker's own schema, one tick, written through the output binding when this answers.
    const messages = context.extraOutputs.get(runQueueOutput) as RunMessage[];
    expect(messages.map(({ config, kind }) => [config, kind])).toEqual([
      ['dmz', 'OUTSYSTEMS_SCHEDULE'],
      ['proxy', 'OUTSYSTEMS_SCHEDULE'],
      ['dmz', 'CAS_SCHEDULE'],
      ['proxy', 'CAS_SCHEDULE'],
    ]);
    for (const message of messages) expect(parseRunMessage(message)).toEqual({ ...message, tick: answer.tick });
    // Queued, not run.
    expect((await store.read('proxy')).config.lastRunAt).toBe(before);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.text)).toEqual([
      expect.stringMatching(/^broken: not queued: config-invalid: /),
    ]);
    expect(logs).toContainEqual({
      level: 'information',
      text: 'check: 4 run messages for 2 of 3 configs queued on allowlist-drift-runs',
    });
  });

  it('the queued messages are ones the worker runs: each config then shows its run in GET /api/status', async () => {
    const { context } = invocation('check');
    await checkHandler(request('POST', 'check'), context);
    for (const message of context.extraOutputs.get(runQueueOutput) as RunMessage[]) {
      const worker = invocation('runConfig');
      await runQueuedCheck(message, worker.context);
      expect(worker.logs.filter((l) => l.level === 'error')).toEqual([]);
    }
    const lines = ((await status('status')).jsonBody as ConfigSetStatus).configs;
    expect(lines.map((c) => [c.name, c.lastRunAt !== null])).toEqual([
      ['broken', false],
      ['dmz', true],
      ['proxy', true],
    ]);
  });

  it('never echoes the function key: the status URLs are the route without the query', async () => {
    const response = await checkHandler(request('POST', 'check?code=s3cr3t-function-key'), invocation('check').context);
    expect(response.status).toBe(202);
    expect(JSON.stringify(response)).not.toContain('s3cr3t');
    expect(response.headers).toMatchObject({ location: `${BASE}/status` });
  });

  it('a POST that names targets without config= is a 400, and nothing is queued: target ids belong to one config', async () => {
    for (const [path, body] of [
      ['check?target=partners', undefined],
      ['check', JSON.stringify({ targets: ['partners'] })],
    ] as const) {
      const { context } = invocation('check');
      const response = await checkHandler(
        new HttpRequest({ method: 'POST', url: `${BASE}/${path}`, ...(body ? { body: { string: body } } : {}) }),
        context,
      );
      expect(response.status, path).toBe(400);
      expect(errorOf(response)).toEqual({
        code: 'bad-request',
        message:
          'target ids belong to one config: name it with config=<name>, or POST without targets to queue a full check of every config',
      });
      expect(context.extraOutputs.get(runQueueOutput)).toBeUndefined();
    }
  });

  it('garbage is refused before anything is queued', async () => {
    for (const [path, body] of [
      ['check?config=', undefined],
      ['check?configs=all', undefined],
      ['check', '[1,2]'],
      ['check', '{"config":"dmz"}'],
      ['check', 'x'.repeat(5000)],
    ] as const) {
      const { context } = invocation('check');
      const response = await checkHandler(
        new HttpRequest({ method: 'POST', url: `${BASE}/${path}`, ...(body ? { body: { string: body } } : {}) }),
        context,
      );
      expect(response.status, `${path} ${body?.slice(0, 20)}`).toBe(400);
      expect(errorOf(response).code).toBe('bad-request');
      expect(context.extraOutputs.get(runQueueOutput)).toBeUndefined();
    }
  });

  it('a folder of one config: POST still queues (the answer keeps its shape as configs are added), GET dry-runs it', async () => {
    const one = mkdtempSync(join(tmpdir(), 'allowlist-drift-handlers-one-'));
    writeFileSync(join(one, 'lab.json'), JSON.stringify(staticConfig('lab', ['20.80.1.5'])));
    process.env.ALLOWLIST_CONFIG_DIR = one;
    resetSharedRuntime();
    try {
      const { context } = invocation('check');
      const posted = await checkHandler(request('POST', 'check'), context);
      expect(posted.status).toBe(202);
      expect(queued(posted).queued.map((q) => q.config)).toEqual(['lab']);
      expect((context.extraOutputs.get(runQueueOutput) as RunMessage[]).length).toBe(2);
      const dry = await check('GET', 'check');
      expect(dry.status).toBe(200);
      expect(dry.jsonBody as Report).toMatchObject({ configName: 'lab', dryRun: true });
    } finally {
      process.env.ALLOWLIST_CONFIG_DIR = dir;
      rmSync(one, { recursive: true, force: true });
    }
  });

  it('a set without one valid config queues nothing: 500 config-invalid with every problem, by file', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'allowlist-drift-handlers-bad-'));
    writeFileSync(join(bad, 'a.json'), JSON.stringify({ name: 'a', targets: [] }));
    writeFileSync(join(bad, 'b.json'), '{"targets": ');
    process.env.ALLOWLIST_CONFIG_DIR = bad;
    resetSharedRuntime();
    try {
      const { context } = invocation('check');
      const response = await checkHandler(request('POST', 'check'), context);
      expect(response.status).toBe(500);
      expect(errorOf(response).code).toBe('config-invalid');
      expect(errorOf(response).problems).toEqual([
        `${join(bad, 'a.json')}: targets: list at least one target to watch`,
        expect.stringMatching(new RegExp(`^${join(bad, 'b.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `)),
      ]);
      expect(context.extraOutputs.get(runQueueOutput)).toBeUndefined();
    } finally {
      process.env.ALLOWLIST_CONFIG_DIR = dir;
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('GET (a dry run) still needs config= when the set has several configs, and says why', async () => {
    const { context } = invocation('check');
    const response = await checkHandler(request('GET', 'check'), context);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toEqual({
      code: 'config-required',
      message:
        "This app has 3 configs: a dry run (GET) answers with one config's report, so name one with config=<name> (broken, dmz, proxy); POST without config= queues a full check of every config",
    });
    expect(context.extraOutputs.get(runQueueOutput)).toBeUndefined();
  });
});

describe('GET /api/status', () => {
  it('one line per config: last run, last good check, held, partial, failed, open PR, or its config error', async () => {
    await check('POST', 'check?config=dmz');
    const response = await status('status');
    expect(response.status).toBe(200);
    const body = response.jsonBody as ConfigSetStatus;
    expect(body.warnings).toEqual([]);
    expect(body.configs.map((c) => c.name)).toEqual(['broken', 'dmz', 'proxy']);
    const [broken, dmz] = body.configs;
    expect(broken).toMatchObject({
      origin: join(dir, 'broken.json'),
      targets: 0,
      error: { code: 'config-invalid', problems: ['targets: list at least one target to watch'] },
    });
    const stored = await store.read('dmz');
    expect(dmz).toEqual({
      name: 'dmz',
      origin: join(dir, 'dmz.json'),
      lastRunAt: stored.config.lastRunAt,
      lastGoodCheckAt: stored.targets.get('partners')!.lastGoodCheckAt,
      targets: 1,
      held: [],
      partial: [],
      failed: [],
      pullRequest: null,
    });
  });

  it('config=NAME gives that config full status; an unknown name is a 404, another parameter a 400', async () => {
    const response = await status('status?config=dmz');
    expect(response.status).toBe(200);
    expect(response.jsonBody as StatusReport).toMatchObject({ configName: 'dmz', targets: [expect.objectContaining({ id: 'partners' })] });
    expect((await status('status?config=nope')).status).toBe(404);
    const extra = await status('status?target=partners');
    expect(extra.status).toBe(400);
    expect(errorOf(extra).message).toBe('unknown query parameter "target"; status takes only "config"');
  });
});

describe('GET /api/doctor?config=NAME', () => {
  const doctor = (path: string) => doctorHandler(request('GET', path), invocation('doctor').context);
  const configCheck = (response: HttpResponseInit) =>
    (response.jsonBody as { checks: Array<{ name: string; ok: boolean; detail: string }> }).checks.find((c) => c.name === 'config');

  it('checks the named config; without a name an app with several fails its config check naming them', async () => {
    const named = await doctor('doctor?config=dmz');
    expect(configCheck(named)).toMatchObject({ ok: true });
    const storage = (named.jsonBody as { checks: Array<{ name: string; ok: boolean; detail: string }> }).checks.find(
      (c) => c.name === 'storage',
    );
    expect(storage?.detail).toContain('partition "dmz"');
    const unnamed = await doctor('doctor');
    expect(unnamed.status).toBe(503);
    expect(configCheck(unnamed)).toMatchObject({
      ok: false,
      detail: expect.stringContaining('This app has 3 configs: name one with config=<name> (broken, dmz, proxy)'),
    });
    expect(configCheck(await doctor('doctor?config=broken'))).toMatchObject({
      ok: false,
      detail: expect.stringContaining('targets: list at least one target'),
    });
    expect((await doctor('doctor?verbose=1')).status).toBe(400);
  });
});

describe('the timers', () => {
  it('fan a set out: one run message per valid config through the queue output binding; an invalid one is an error line', async () => {
    const { context, logs } = invocation('casCheck');
    const now = new Date().toISOString();
    const timer: Timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: now, next: now, lastUpdated: now } };
    const before = (await store.read('proxy')).config.lastRunAt;
    await expect(scheduledCheck('CAS_SCHEDULE')(timer, context)).resolves.toBeUndefined();
    const messages = context.extraOutputs.get(runQueueOutput) as Array<{ v: number; config: string; kind: string; tick: string }>;
    expect(messages.map(({ v, config, kind }) => ({ v, config, kind }))).toEqual([
      { v: 1, config: 'dmz', kind: 'CAS_SCHEDULE' },
      { v: 1, config: 'proxy', kind: 'CAS_SCHEDULE' },
    ]);
    // One tick, one timestamp; the worker checks each message with the same schema.
    expect(new Set(messages.map((m) => m.tick)).size).toBe(1);
    for (const message of messages) expect(parseRunMessage(message)).toEqual(message);
    // Nothing ran in the timer itself.
    expect((await store.read('proxy')).config.lastRunAt).toBe(before);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.text)).toEqual([
      expect.stringMatching(/^broken: config-invalid: The configuration in .*broken\.json is not valid:/),
    ]);
    expect(logs).toContainEqual({ level: 'information', text: 'fan-out: 2 of 3 configs queued on allowlist-drift-runs for CAS_SCHEDULE' });
  });
});

describe('a Blob container of configs (ALLOWLIST_CONFIG_CONTAINER, Azurite)', () => {
  it('is read on every request, so a config a team uploads is served without a restart', async () => {
    const container = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString')).getContainerClient('team-configs');
    await container.createIfNotExists();
    const upload = async (name: string, value: unknown) => {
      const text = JSON.stringify(value);
      await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    };
    await upload('lab.json', staticConfig('lab', ['20.80.1.5']));
    delete process.env.ALLOWLIST_CONFIG_DIR;
    process.env.ALLOWLIST_CONFIG_CONTAINER = 'team-configs';
    resetSharedRuntime();
    try {
      const first = (await status('status')).jsonBody as ConfigSetStatus;
      expect(first.configs.map((c) => [c.name, c.origin])).toEqual([['lab', 'team-configs/lab.json']]);
      await upload('branch.json', staticConfig('branch', ['20.90.1.5']));
      const checked = await check('POST', 'check?config=branch');
      expect(checked.status).toBe(200);
      expect((checked.jsonBody as Report).targets[0]!.observed).toEqual(['20.90.1.5/32']);
      const second = (await status('status')).jsonBody as ConfigSetStatus;
      expect(second.configs.map((c) => [c.name, c.lastRunAt !== null])).toEqual([
        ['branch', true],
        ['lab', false],
      ]);
      // The timers fan the container's configs out as they are now, the uploaded one too.
      const { context } = invocation('outsystemsCheck');
      const now = new Date().toISOString();
      const timer: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: true },
        scheduleStatus: { last: now, next: now, lastUpdated: now },
      };
      await scheduledCheck('OUTSYSTEMS_SCHEDULE')(timer, context);
      expect((context.extraOutputs.get(runQueueOutput) as Array<{ config: string; kind: string }>).map((m) => [m.config, m.kind])).toEqual([
        ['branch', 'OUTSYSTEMS_SCHEDULE'],
        ['lab', 'OUTSYSTEMS_SCHEDULE'],
      ]);
    } finally {
      delete process.env.ALLOWLIST_CONFIG_CONTAINER;
      process.env.ALLOWLIST_CONFIG_DIR = dir;
    }
  });
});
