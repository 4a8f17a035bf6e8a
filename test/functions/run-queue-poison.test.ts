import { TableClient } from '@azure/data-tables';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { formatSetStatus } from '../../bin/set-report.js';
import { formatStatus } from '../../bin/text-report.js';
import { resetSharedRuntime, sharedRuntime } from '../../functions/lib/runtime.js';
import { runQueuedCheck } from '../../functions/runs.js';
import { configOf, configSetSourceFromEnv, loadConfigSet, selectConfig } from '../../shared/config-set.js';
import { runDoctorFromEnv } from '../../shared/doctor/probes.js';
import { runCheck } from '../../shared/engine/check.js';
import { configStatus, type ConfigSetStatus } from '../../shared/engine/status-set.js';
import type { StatusReport } from '../../shared/engine/status.js';
import { LEASE_ROW_KEY, partitionKeyFor } from '../../shared/state/keys.js';
import { AllowlistError } from '../../shared/problem.js';
import { runQueuedMessage } from '../../shared/queue/worker.js';
import { LeaseBusyError } from '../../shared/state/errors.js';
import type { Report } from '../../shared/report.js';
import { typesOnSchedule } from '../../shared/sources/registry.js';
import { QUEUE_FAILURES_PARTITION } from '../../shared/state/queue-failures.js';
import { StateStore } from '../../shared/state/store.js';
import { recordedInvocation, staticConfig } from './invocation.js';

/**
 * A run message that fails its last attempt (functions/runs.ts with real InvocationContexts, against Azurite):
 * recorded for status and doctor, which stop naming it once a later run of that config and kind completes.
 */

const TABLE = 'runpoisontest';

let dir: string;
let store: StateStore;
let table: TableClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'allowlist-drift-run-poison-'));
  writeFileSync(join(dir, 'dmz.json'), JSON.stringify(staticConfig('dmz', ['20.60.1.5'])));
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify(staticConfig('proxy', ['20.70.1.5'])));
  const azurite = inject('azuriteConnectionString');
  process.env.ALLOWLIST_STORAGE = azurite;
  process.env.AzureWebJobsStorage = azurite;
  process.env.ALLOWLIST_TABLE = TABLE;
  process.env.ALLOWLIST_CONFIG_DIR = dir;
  delete process.env.ALLOWLIST_CONFIG;
  delete process.env.ALLOWLIST_CONFIG_PATH;
  delete process.env.ALLOWLIST_CONFIG_CONTAINER;
  delete process.env.ALLOWLIST_QUEUE;
  store = StateStore.fromSetting(azurite, { tableName: TABLE });
  await store.ensureTable();
  table = TableClient.fromConnectionString(azurite, TABLE, { allowInsecureConnection: true });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  resetSharedRuntime();
});

const invocation = (dequeueCount: number) => recordedInvocation({ functionName: 'runConfig', dequeueCount });

const tick = '2026-12-07T21:00:00.000Z';
const message = (config: string, kind = 'CAS_SCHEDULE') => ({ v: 1, config, kind, tick });

async function statusOf(name?: string): Promise<StatusReport | ConfigSetStatus> {
  const set = await loadConfigSet(configSetSourceFromEnv(process.env), process.env);
  return configStatus(set, store, name);
}

async function setStatusOf(name: string) {
  return ((await statusOf()) as ConfigSetStatus).configs.find((c) => c.name === name);
}

async function queueCheck(name: string) {
  const report = await runDoctorFromEnv(process.env, { configName: name });
  return report.checks.find((c) => c.name === 'queue')!;
}

/** A lease row without a holder: every run of the config stops with state-corrupt until it is deleted. */
async function breakConfig(name: string): Promise<void> {
  await table.upsertEntity({ partitionKey: partitionKeyFor(name), rowKey: LEASE_ROW_KEY, kind: 'lease' }, 'Replace');
}

async function repairConfig(name: string): Promise<void> {
  await table.deleteEntity(partitionKeyFor(name), LEASE_ROW_KEY);
}

describe('a message that fails its last attempt', () => {
  it('is recorded on the 5th attempt only; status and doctor name it until a later good run of its kind', async () => {
    await breakConfig('proxy');
    for (const attempt of [1, 2, 3, 4]) {
      await expect(runQueuedCheck(message('proxy'), invocation(attempt).context)).rejects.toMatchObject({ code: 'state-corrupt' });
    }
    expect(await store.queueFailures().list('proxy', () => {})).toEqual([]);

    const last = invocation(5);
    await expect(runQueuedCheck(message('proxy'), last.context)).rejects.toMatchObject({ code: 'state-corrupt' });
    expect(last.logs.filter((l) => l.level === 'warning')).toEqual([]);
    const poisoned = /^CAS_SCHEDULE at 2026-12-07T21:00:00\.000Z: state-corrupt: State row "lease" cannot be read/;

    const set = (await statusOf()) as ConfigSetStatus;
    const byName = new Map(set.configs.map((c) => [c.name, c]));
    expect(byName.get('proxy')!.poisoned).toEqual([expect.stringMatching(poisoned)]);
    expect(byName.get('dmz')!.poisoned).toBeUndefined();
    expect(formatSetStatus(set)).toMatch(/\nproxy: poisoned: CAS_SCHEDULE at 2026-12-07T21:00:00\.000Z: state-corrupt: /);
    const one = (await statusOf('proxy')) as StatusReport;
    expect(one.poisoned).toEqual([expect.stringMatching(poisoned)]);
    expect(formatStatus(one)).toContain('\n  poisoned: CAS_SCHEDULE at 2026-12-07T21:00:00.000Z: state-corrupt: ');

    const failed = await queueCheck('proxy');
    expect(failed.ok).toBe(false);
    expect(failed.detail).toMatch(/^config "proxy" has a run message in allowlist-drift-runs-poison: CAS_SCHEDULE at .*state-corrupt: /);
    expect(failed.fix).toMatch(/move the message from allowlist-drift-runs-poison back to allowlist-drift-runs/);
    expect((await queueCheck('dmz')).ok).toBe(true);

    await repairConfig('proxy');
    // A good run of the other kind leaves it: only a run of the kind that was poisoned shows that kind works again.
    await runQueuedCheck(message('proxy', 'OUTSYSTEMS_SCHEDULE'), invocation(1).context);
    expect(((await statusOf('proxy')) as StatusReport).poisoned).toHaveLength(1);
    const good = invocation(1);
    await runQueuedCheck(message('proxy'), good.context);
    expect(good.logs.filter((l) => l.level === 'error' || /poisoned/.test(l.text))).toEqual([]);
    expect(((await statusOf('proxy')) as StatusReport).poisoned).toBeUndefined();
    expect((await setStatusOf('proxy'))!.poisoned).toBeUndefined();
    expect((await queueCheck('proxy')).detail).toBe(
      'no run message of config "proxy" went to allowlist-drift-runs-poison since its last good run',
    );
    // The good run wrote nothing for it: the record is still stored, and only the state says a run came after it.
    expect(await store.queueFailures().list('proxy', () => {})).toEqual([expect.objectContaining({ kind: 'CAS_SCHEDULE', tick })]);

    // Poisoned again: the new record replaces the old one, and is named again although the old was outdated.
    await breakConfig('proxy');
    await expect(runQueuedCheck(message('proxy'), invocation(5).context)).rejects.toMatchObject({ code: 'state-corrupt' });
    await repairConfig('proxy');
    expect(((await statusOf('proxy')) as StatusReport).poisoned).toEqual([expect.stringMatching(poisoned)]);
    expect((await queueCheck('proxy')).ok).toBe(false);
    await runQueuedCheck(message('proxy'), invocation(1).context);
    expect(((await statusOf('proxy')) as StatusReport).poisoned).toBeUndefined();
  });

  it('reads a record as the current release writes it: named unless a run of its kind completed after it', async () => {
    await runQueuedCheck(message('dmz'), invocation(1).context);
    const before = await store.read('dmz');
    const checkedAt = Date.parse(before.targets.get('partners')!.lastCheckAt!);
    // The row as the release before this one writes it (queue-failures.ts record()), with a column a later one may add.
    const row = (at: number) => ({
      partitionKey: QUEUE_FAILURES_PARTITION,
      rowKey: 'dmz~CAS_SCHEDULE',
      config: 'dmz',
      kind: 'CAS_SCHEDULE',
      tick,
      code: 'fetch-failed',
      message: 'upstream said 503',
      at: new Date(at).toISOString(),
      addedLater: 'x',
    });
    try {
      // Written after the last run: that release names it, and so does this one.
      await table.upsertEntity(row(checkedAt + 60_000), 'Replace');
      const after = await store.read('dmz');
      expect(after.config.lastRunId).toBe(before.config.lastRunId);
      expect([...after.targets.keys()]).toEqual(['partners']);
      expect(((await statusOf('dmz')) as StatusReport).poisoned).toEqual([
        'CAS_SCHEDULE at 2026-12-07T21:00:00.000Z: fetch-failed: upstream said 503',
      ]);
      expect((await setStatusOf('dmz'))!.poisoned).toEqual(['CAS_SCHEDULE at 2026-12-07T21:00:00.000Z: fetch-failed: upstream said 503']);
      expect((await queueCheck('dmz')).ok).toBe(false);

      // Written before the last good run (that release deleted it then, unless the delete failed): named by neither.
      await table.upsertEntity(row(checkedAt - 60_000), 'Replace');
      expect(((await statusOf('dmz')) as StatusReport).poisoned).toBeUndefined();
      expect((await setStatusOf('dmz'))!.poisoned).toBeUndefined();
      expect((await queueCheck('dmz')).ok).toBe(true);

      // A state the doctor cannot read cannot show that later run: the record stands there (the storage check says why).
      await table.upsertEntity({ partitionKey: partitionKeyFor('dmz'), rowKey: 'not-ours' });
      try {
        expect((await queueCheck('dmz')).detail).toMatch(/^config "dmz" has a run message in .*: CAS_SCHEDULE at .*: fetch-failed: /);
      } finally {
        await table.deleteEntity(partitionKeyFor('dmz'), 'not-ours');
      }
    } finally {
      await table.deleteEntity(QUEUE_FAILURES_PARTITION, 'dmz~CAS_SCHEDULE');
    }
  });

  it('keeps no secret: the storage key and a SAS signature in an error are scrubbed before they are stored', async () => {
    const key = /AccountKey=([^;]+)/.exec(inject('azuriteConnectionString'))![1]!;
    await store.queueFailures().record({
      config: 'dmz',
      kind: 'OUTSYSTEMS_SCHEDULE',
      tick,
      code: 'state-unavailable',
      message: `key ${key} and https://x.blob.core.windows.net/c?sv=2024&sig=abcdefghijklmnop`,
      at: tick,
    });
    try {
      const [stored] = await store.queueFailures().list('dmz', () => {});
      expect(stored!.message).not.toContain(key);
      expect(stored!.message).not.toContain('abcdefghijklmnop');
    } finally {
      await table.deleteEntity(QUEUE_FAILURES_PARTITION, 'dmz~OUTSYSTEMS_SCHEDULE');
    }
  });

  it('a record that does not read as one is shown as unreadable, never a failed status', async () => {
    const garbage = [
      { rowKey: 'dmz~CAS_SCHEDULE', config: 'dmz', kind: 'CAS_SCHEDULE', tick: 42 },
      { rowKey: 'dmz~OUTSYSTEMS_SCHEDULE', config: 'proxy', kind: 'OUTSYSTEMS_SCHEDULE', tick, code: 'x', message: 'y', at: tick },
    ];
    for (const row of garbage) await table.upsertEntity({ partitionKey: QUEUE_FAILURES_PARTITION, ...row });
    try {
      const status = (await statusOf('dmz')) as StatusReport;
      expect(status.poisoned).toEqual([
        `The poisoned-message record "dmz~CAS_SCHEDULE" cannot be read and is ignored: delete that row of partition ${QUEUE_FAILURES_PARTITION}.`,
        `The poisoned-message record "dmz~OUTSYSTEMS_SCHEDULE" cannot be read and is ignored: delete that row of partition ${QUEUE_FAILURES_PARTITION}.`,
      ]);
      expect(status.targets.map((t) => t.id)).toEqual(['partners']);
      expect((await queueCheck('dmz')).ok).toBe(false);
    } finally {
      for (const row of garbage) await table.deleteEntity(QUEUE_FAILURES_PARTITION, row.rowKey);
    }
  });

  it('a store that cannot take the record is a warning: the run failure still goes to the host', async () => {
    const down = StateStore.fromSetting(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5a2V5a2V5a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1',
      { tableName: TABLE, maxRetries: 0 },
    );
    const set = await loadConfigSet(configSetSourceFromEnv(process.env), process.env);
    const warnings: string[] = [];
    const common = {
      set,
      queue: 'allowlist-drift-runs',
      requeue: async () => {},
      failed: () => {},
      failures: { store: down.queueFailures(), warn: (line: string) => warnings.push(line), now: () => new Date(tick) },
    };
    const cause = new AllowlistError('fetch-failed', 'upstream said 503');
    const run = () => Promise.reject(cause);
    await expect(runQueuedMessage({ ...common, entry: message('dmz'), dequeueCount: 5, run })).rejects.toBe(cause);
    expect(warnings).toEqual([
      expect.stringMatching(/^dmz: CAS_SCHEDULE poisoned, but status and doctor cannot show it: state-unavailable: /),
    ]);
    // A good run asks nothing of the store that is down: it writes nothing for the record.
    const ran = await runQueuedMessage({ ...common, entry: message('dmz'), dequeueCount: 1, run: async () => ({}) as Report });
    expect(ran.outcome).toBe('ran');
    expect(warnings).toHaveLength(1);
  });

  it('a set that cannot be read, or a deferral that cannot be queued, is a failed attempt: named, and recorded on the last', async () => {
    const lines: string[] = [];
    const common = {
      queue: 'allowlist-drift-runs',
      failed: (line: string) => lines.push(line),
      failures: { store: store.queueFailures(), warn: (line: string) => lines.push(line), now: () => new Date(tick) },
      run: async () => ({}) as Report,
    };
    const unlisted = new AllowlistError('config-container-unreadable', 'the container could not be listed: 403');
    await expect(
      runQueuedMessage({ ...common, entry: message('dmz'), dequeueCount: 5, requeue: async () => {}, set: () => Promise.reject(unlisted) }),
    ).rejects.toBe(unlisted);
    expect(lines).toEqual([
      expect.stringMatching(/^dmz: CAS_SCHEDULE failed \(attempt 5 of 5\): config-container-unreadable: .+ allowlist-drift-runs-poison$/),
    ]);
    expect(await store.queueFailures().list('dmz', () => {})).toContainEqual(
      expect.objectContaining({ kind: 'CAS_SCHEDULE', code: 'config-container-unreadable' }),
    );

    const set = await loadConfigSet(configSetSourceFromEnv(process.env), process.env);
    const queueDown = new AllowlistError('queue-unavailable', 'the run queue answered 503');
    const held = () => Promise.reject(new LeaseBusyError('another-run', new Date(Date.parse(tick) + 30_000).toISOString(), 30));
    await expect(
      runQueuedMessage({ ...common, entry: message('proxy'), dequeueCount: 2, set, run: held, requeue: () => Promise.reject(queueDown) }),
    ).rejects.toBe(queueDown);
    expect(lines.at(-1)).toMatch(/^proxy: CAS_SCHEDULE failed \(attempt 2 of 5\): queue-unavailable: .+; the host retries it$/);
  });

  it('costs a good run nothing: a message run through the worker makes the Table requests of its check alone', async () => {
    await runQueuedCheck(message('dmz'), invocation(1).context);
    const runtime = await sharedRuntime();
    const requests = async (work: () => Promise<unknown>) => {
      const before = runtime.store.requestCount();
      await work();
      return runtime.store.requestCount() - before;
    };
    const viaWorker = await requests(() => runQueuedCheck(message('dmz'), invocation(1).context));
    const set = await loadConfigSet(configSetSourceFromEnv(process.env), process.env);
    const alone = await requests(() =>
      runCheck({
        config: configOf(selectConfig(set, 'dmz')),
        store: runtime.store,
        documents: runtime.documents,
        env: process.env,
        trigger: 'timer',
        dryRun: false,
        targetTypes: typesOnSchedule('CAS_SCHEDULE'),
        leaseTtlMs: runtime.leaseTtlMs,
      }),
    );
    // The check's own: the lease (3, figure 5b), one query and one batch (figure 5).
    expect(alone).toBe(5);
    expect(viaWorker).toBe(alone);
  });
});
