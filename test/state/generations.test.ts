import type { TableClient } from '@azure/data-tables';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseCidr } from '../../shared/ipset.js';
import type { ConfigRecord, Snapshot, TargetRecord } from '../../shared/state/records.js';
import { StateConflictError, StateStore } from '../../shared/state/store.js';
import { startInterceptingProxy, throughProxy, type InterceptingProxy, type SeenRequest } from '../reliability/intercepting-proxy.js';
import { rejection } from '../support.js';
import { writeAsFirstRelease } from './first-release.js';
import { dnsTarget, emptyConfig, freshStore, randomPublicHosts, typicalTarget, withoutEtag } from './records.js';

const connectionString = inject('azuriteConnectionString');
const AZURITE_ORIGIN = /TableEndpoint=(http:\/\/127\.0\.0\.1:\d+)\//.exec(connectionString)![1]!;
const UNAVAILABLE = {
  status: 503,
  body: JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { lang: 'en-US', value: 'The server is busy.' } } }),
};
const isBatch = (request: SeenRequest) => request.method === 'POST' && request.path.includes('/$batch');

const COUNT = 1_000;
const ids = Array.from({ length: COUNT }, (_, index) => `t-${String(index).padStart(4, '0')}`);

/** A realistic target record whose `version` can be told apart after reading it back. */
function versioned(targetId: string, version: number): TargetRecord {
  return { ...typicalTarget(targetId), lastWarnings: [{ code: 'version', message: String(version) }] };
}

function versionOf(record: TargetRecord | undefined): number | undefined {
  const message = record?.lastWarnings.find((warning) => warning.code === 'version')?.message;
  return message === undefined ? undefined : Number(message);
}

/** Records read earlier, changed to `version`, keeping their ETags. */
function bumped(snapshot: Snapshot, targetIds: readonly string[], version: number): TargetRecord[] {
  return targetIds.map((id) => ({ ...versioned(id, version), etag: snapshot.targets.get(id)!.etag! }));
}

function versions(snapshot: Snapshot): Map<number | undefined, number> {
  const counts = new Map<number | undefined, number>();
  for (const record of snapshot.targets.values()) counts.set(versionOf(record), (counts.get(versionOf(record)) ?? 0) + 1);
  return counts;
}

async function rowKeys(raw: TableClient): Promise<string[]> {
  const keys: string[] = [];
  for await (const entity of raw.listEntities({ queryOptions: { select: ['RowKey'] } })) keys.push(entity.rowKey!);
  return keys;
}

/** A store that has seen nothing yet: no remembered view, so each read and write stands on its own. */
function another(tableName: string, options: { maxRetries?: number; now?: () => Date; through?: InterceptingProxy } = {}): StateStore {
  const setting = options.through ? throughProxy(connectionString, options.through) : connectionString;
  return StateStore.fromSetting(setting, {
    tableName,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}

async function committedState(version: number): Promise<{ store: StateStore; raw: TableClient; tableName: string; config: ConfigRecord }> {
  const fresh = await freshStore();
  const config = { ...emptyConfig('prod'), lastRunId: `run-${version}` };
  await fresh.store.write('prod', { config, targets: ids.map((id) => versioned(id, version)) });
  return { ...fresh, config };
}

let proxy: InterceptingProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('state of 1,000 targets', () => {
  it('round-trips 1,000 targets, updates a few in one transaction and many as a new generation, leaving no stale rows', async () => {
    const { store, raw, tableName } = await freshStore();
    const config = { ...emptyConfig('prod'), lastRunId: 'run-1' };
    const first = ids.map((id) => versioned(id, 1));

    let before = store.requestCount();
    await store.write('prod', { config, targets: first });
    // 1,001 rows, 99 to a transaction besides the config row: 10 staging transactions and the commit.
    expect(store.requestCount() - before).toBe(11);

    const reader = another(tableName);
    const read = await reader.read('prod');
    // Two pages, and the check that no write committed between them.
    expect(reader.requestCount()).toBe(3);
    expect(withoutEtag(read.config)).toEqual(config);
    expect(read.targets.size).toBe(COUNT);
    for (const record of first) expect(withoutEtag(read.targets.get(record.targetId))).toEqual(record);

    before = reader.requestCount();
    const few = bumped(read, [ids[0]!, ids[500]!, ids[999]!], 2);
    await reader.write('prod', { config: { ...read.config, lastRunId: 'run-2' }, targets: few });
    expect(reader.requestCount() - before).toBe(1);
    const afterFew = await another(tableName).read('prod');
    expect(afterFew.config.lastRunId).toBe('run-2');
    expect(versions(afterFew)).toEqual(
      new Map([
        [1, COUNT - 3],
        [2, 3],
      ]),
    );
    for (const record of few) expect(withoutEtag(afterFew.targets.get(record.targetId))).toEqual(withoutEtag(record));

    const many = bumped(afterFew, ids.slice(0, 600), 3);
    await reader.write('prod', { config: { ...afterFew.config, lastRunId: 'run-3' }, targets: many });
    const afterMany = await another(tableName).read('prod');
    expect(afterMany.config.lastRunId).toBe('run-3');
    expect(versions(afterMany)).toEqual(
      new Map([
        [3, 600],
        [1, COUNT - 600 - 1],
        [2, 1],
      ]),
    );
    expect(versionOf(afterMany.targets.get(ids[999]!))).toBe(2);

    // The rows the new generation replaced are gone: one row per target and the config row.
    const keys = await rowKeys(raw);
    expect(keys).toHaveLength(COUNT + 1);
    expect(keys.filter((key) => key.startsWith('target-g2~')).length).toBeGreaterThan(400);
  }, 120_000);

  it('keeps the state of one transaction per write for a small config, with no extra query', async () => {
    const { store } = await freshStore();
    const targets = ['a', 'b', 'c'].map((id) => versioned(id, 1));
    let before = store.requestCount();
    await store.write('prod', { config: emptyConfig('prod'), targets });
    expect(store.requestCount() - before).toBe(1);
    before = store.requestCount();
    const read = await store.read('prod');
    expect(store.requestCount() - before).toBe(1);
    before = store.requestCount();
    await store.write('prod', { config: { ...read.config, lastRunId: 'run-2' }, targets: bumped(read, ['a', 'b', 'c'], 2) });
    expect(store.requestCount() - before).toBe(1);
  });
});

describe('a write of several transactions that does not commit', () => {
  it('leaves the previous state readable when it dies between transactions; later writes never read its rows and remove them', async () => {
    const { tableName, raw } = await committedState(1);
    proxy = await startInterceptingProxy(AZURITE_ORIGIN);
    const dying = another(tableName, { maxRetries: 0, through: proxy });
    const read = await dying.read('prod');
    let batches = 0;
    proxy.intercept((request) => (isBatch(request) && ++batches === 3 ? { forward: false, replaceWith: UNAVAILABLE } : undefined));
    const error = await rejection(dying.write('prod', { config: { ...read.config, lastRunId: 'run-2' }, targets: bumped(read, ids, 2) }));
    expect(error.code).toBe('state-unavailable');
    expect(batches).toBe(3);

    // Two staging transactions were applied: 198 rows of a generation that never committed.
    expect((await rowKeys(raw)).filter((key) => key.startsWith('target-g2~'))).toHaveLength(198);
    const between = await another(tableName).read('prod');
    expect(between.config.lastRunId).toBe('run-1');
    expect(versions(between)).toEqual(new Map([[1, COUNT]]));

    // A small write commits in one transaction and removes as many leftover rows as it has room for.
    const small = another(tableName);
    const smallRead = await small.read('prod');
    await small.write('prod', {
      config: { ...smallRead.config, lastRunId: 'run-3' },
      targets: bumped(smallRead, [ids[100]!, ids[700]!], 3),
    });
    expect(versions(await another(tableName).read('prod'))).toEqual(
      new Map([
        [1, COUNT - 2],
        [3, 2],
      ]),
    );
    expect((await rowKeys(raw)).filter((key) => key.startsWith('target-g2~')).length).toBeLessThan(198);

    // A large write of other targets raises the generation above the dead one's, so it first removes the rest.
    const large = another(tableName);
    const largeRead = await large.read('prod');
    await large.write('prod', { config: { ...largeRead.config, lastRunId: 'run-4' }, targets: bumped(largeRead, ids.slice(500), 4) });
    const after = await another(tableName).read('prod');
    expect(after.config.lastRunId).toBe('run-4');
    expect(versions(after)).toEqual(
      new Map([
        [1, 499],
        [3, 1],
        [4, 500],
      ]),
    );
    // The dead write had staged targets 99-296: they still read as committed before it.
    expect(versionOf(after.targets.get(ids[150]!))).toBe(1);
    expect(versionOf(after.targets.get(ids[100]!))).toBe(3);
    expect(await rowKeys(raw)).toHaveLength(COUNT + 1);
  }, 120_000);

  it('cannot commit after losing its lease between transactions', async () => {
    const { tableName } = await committedState(1);
    let now = Date.parse('2025-11-07T10:00:00.000Z');
    proxy = await startInterceptingProxy(AZURITE_ORIGIN);
    const slow = another(tableName, { now: () => new Date(now), through: proxy });
    const lease = await slow.acquireLease('prod', 'slow-run', 60_000);
    const read = await slow.read('prod');
    let batches = 0;
    let taken = false;
    proxy.intercept((request) => {
      if (!isBatch(request) || ++batches !== 2) return undefined;
      return {
        afterForward: async () => {
          // The lease runs out while the slow run is between transactions, and another run takes it.
          now += 10 * 60_000;
          await another(tableName, { now: () => new Date(now) }).acquireLease('prod', 'next-run', 60_000);
          taken = true;
        },
      };
    });
    const error = await rejection(
      slow.write('prod', { config: { ...read.config, lastRunId: 'run-2' }, targets: bumped(read, ids, 2) }, { lease }),
    );
    expect(taken).toBe(true);
    expect(error.code).toBe('lease-lost');
    expect(batches).toBe(3);
    const after = await another(tableName).read('prod');
    expect(after.config.lastRunId).toBe('run-1');
    expect(versions(after)).toEqual(new Map([[1, COUNT]]));
  }, 120_000);

  it('recognises a transaction whose answer was lost and goes on without applying it twice', async () => {
    const { tableName } = await committedState(1);
    proxy = await startInterceptingProxy(AZURITE_ORIGIN);
    const store = another(tableName, { maxRetries: 1, through: proxy });
    const lease = await store.acquireLease('prod', 'run-2', 60_000);
    const read = await store.read('prod');
    let batches = 0;
    proxy.intercept((request) => (isBatch(request) && ++batches === 2 ? { replaceWith: UNAVAILABLE } : undefined));
    const receipt = await store.write('prod', { config: { ...read.config, lastRunId: 'run-2' }, targets: bumped(read, ids, 2) }, { lease });
    const after = await another(tableName).read('prod');
    expect(after.config.lastRunId).toBe('run-2');
    expect(versions(after)).toEqual(new Map([[2, COUNT]]));
    // Target 250 was in the transaction whose answer was lost.
    expect(receipt.targetEtags.get(ids[250]!)).toBe(after.targets.get(ids[250]!)?.etag);
    // The lease followed the renewals the write made, so it can still be given back.
    await lease.release();
    await expect(another(tableName).acquireLease('prod', 'run-3', 60_000)).resolves.toBeDefined();
  }, 120_000);
});

describe('overlapping writers of a large config', () => {
  it('two writers from the same read: one commits, the other gets state-conflict, and nothing of the two mixes', async () => {
    const { tableName } = await committedState(1);
    const [one, two] = [another(tableName), another(tableName)];
    const [readOne, readTwo] = await Promise.all([one.read('prod'), two.read('prod')]);
    const results = await Promise.allSettled([
      one.write('prod', { config: { ...readOne.config, lastRunId: 'one' }, targets: bumped(readOne, ids, 2) }),
      two.write('prod', { config: { ...readTwo.config, lastRunId: 'two' }, targets: bumped(readTwo, ids, 3) }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const failure = results.find((result) => result.status === 'rejected');
    expect(failure?.status === 'rejected' && failure.reason).toBeInstanceOf(StateConflictError);
    const after = await another(tableName).read('prod');
    const winner = results[0]!.status === 'fulfilled' ? 2 : 3;
    expect(after.config.lastRunId).toBe(winner === 2 ? 'one' : 'two');
    expect(versions(after)).toEqual(new Map([[winner, COUNT]]));
  }, 120_000);

  it('a small writer and a large writer of the same targets at once: exactly one of them writes', async () => {
    const { tableName } = await committedState(1);
    const [large, small] = [another(tableName), another(tableName)];
    const [readLarge, readSmall] = await Promise.all([large.read('prod'), small.read('prod')]);
    const results = await Promise.allSettled([
      large.write('prod', { targets: bumped(readLarge, ids, 2) }),
      small.write('prod', { targets: bumped(readSmall, [ids[3]!, ids[900]!], 3) }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const after = await another(tableName).read('prod');
    expect(versions(after)).toEqual(
      results[0]!.status === 'fulfilled'
        ? new Map([[2, COUNT]])
        : new Map([
            [1, COUNT - 2],
            [3, 2],
          ]),
    );
  }, 120_000);

  it('writers of different targets both write, as they did before generations', async () => {
    const { store, tableName } = await freshStore();
    await store.write('prod', { targets: [versioned('a', 1), versioned('b', 1)] });
    const [one, two] = [another(tableName), another(tableName)];
    const [readOne, readTwo] = await Promise.all([one.read('prod'), two.read('prod')]);
    await one.write('prod', { targets: bumped(readOne, ['a'], 2) });
    await two.write('prod', { targets: bumped(readTwo, ['b'], 3) });
    const after = await another(tableName).read('prod');
    expect([versionOf(after.targets.get('a')), versionOf(after.targets.get('b'))]).toEqual([2, 3]);
  });
});

describe('state written by the first release', () => {
  const pullRequest = {
    number: 42,
    url: 'https://github.com/contoso/network/pull/42',
    branch: 'allowlist-drift/prod',
    headSha: '9f2c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e',
    fingerprint: 'sha256:1f2e3d',
    state: 'open' as const,
    proposal: { fe: [parseCidr('20.50.1.10')], many: [parseCidr('198.51.100.7')] },
    updatedAt: '2025-11-07T10:30:00.000Z',
  };
  const config: ConfigRecord = {
    configName: 'prod',
    pullRequest,
    declined: ['sha256:old'],
    lastRunId: 'run-41',
    lastRunAt: '2025-11-07T11:00:00.000Z',
  };
  // `fe` has miss counts and a last good observation apart from its failed one; `many` stores lastGood as the
  // first release's "same-as-observation".
  const legacyTargets = (): TargetRecord[] => [typicalTarget('fe'), dnsTarget('many', randomPublicHosts(500, 3))];

  it('reads the baseline, the open PR record and the miss counts, then writes and reads again, small and large', async () => {
    const { raw, tableName } = await freshStore();
    await writeAsFirstRelease(raw, 'prod', {
      config,
      targets: legacyTargets(),
      lease: { holder: 'old-run', expiresAt: '2025-11-07T11:10:00.000Z' },
    });

    const store = another(tableName);
    const read = await store.read('prod');
    expect(withoutEtag(read.config)).toEqual(config);
    expect(read.config.etag).toBeTruthy();
    for (const record of legacyTargets()) expect(withoutEtag(read.targets.get(record.targetId))).toEqual(record);
    expect(read.targets.get('fe')?.misses).toEqual({ '20.50.1.11/32': 2 });
    expect(read.targets.get('fe')?.baseline).toEqual(['20.50.1.10/32', '20.50.1.11/32']);

    // The lease row of the first release is the same row: an expired one is taken over.
    const lease = await store.acquireLease('prod', 'new-run', 60_000);

    // A run of the new release: one transaction, rows stay where they are.
    const fe = { ...read.targets.get('fe')!, misses: { '20.50.1.11/32': 3 } };
    const before = store.requestCount();
    await store.write('prod', { config: { ...read.config, lastRunId: 'run-42' }, targets: [fe] }, { lease });
    expect(store.requestCount() - before).toBe(1);
    const second = await another(tableName).read('prod');
    expect(second.config).toMatchObject({ lastRunId: 'run-42', pullRequest, declined: ['sha256:old'] });
    expect(second.targets.get('fe')?.misses).toEqual({ '20.50.1.11/32': 3 });
    expect(withoutEtag(second.targets.get('many'))).toEqual(legacyTargets()[1]);
    expect((await rowKeys(raw)).sort()).toEqual(['config', 'lease', 'target~fe', 'target~many']);

    // The config grows past one transaction: a new generation; the rows of the first release not written stay read.
    const added = Array.from({ length: 150 }, (_, index) => versioned(`added-${index}`, 1));
    await store.write(
      'prod',
      { config: { ...second.config, lastRunId: 'run-43' }, targets: [{ ...second.targets.get('fe')!, lastStatus: 'ok' }, ...added] },
      { lease },
    );
    const third = await another(tableName).read('prod');
    expect(third.config).toMatchObject({ lastRunId: 'run-43', pullRequest });
    expect(third.targets.size).toBe(152);
    expect(third.targets.get('fe')).toMatchObject({ lastStatus: 'ok', misses: { '20.50.1.11/32': 3 } });
    expect(withoutEtag(third.targets.get('many'))).toEqual(legacyTargets()[1]);
    await lease.release();
  });

  it('keeps a first-release config record current through a write of targets only', async () => {
    const { raw, tableName } = await freshStore();
    await writeAsFirstRelease(raw, 'prod', { config, targets: legacyTargets() });
    const read = await another(tableName).read('prod');
    // A target-only write (accept) by another run changes the config row's ETag, not the config record's.
    const accept = another(tableName);
    const acceptRead = await accept.read('prod');
    await accept.write('prod', { targets: [{ ...acceptRead.targets.get('fe')!, baseline: [parseCidr('20.50.1.10')] }] });
    const writer = another(tableName);
    await writer.write('prod', { config: { ...read.config, lastRunId: 'run-42' }, targets: [] });
    const after = await another(tableName).read('prod');
    expect(after.config.lastRunId).toBe('run-42');
    expect(after.targets.get('fe')?.baseline).toEqual(['20.50.1.10/32']);
  });
});
