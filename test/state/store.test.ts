import { randomBytes } from 'node:crypto';
import { brotliCompressSync } from 'node:zlib';
import { createServer } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { parseCidr } from '../../shared/ipset.js';
import { startEmbeddedAzurite } from '../../shared/state/embedded-azurite.js';
import { AllowlistError } from '../../shared/problem.js';
import type { TargetRecord } from '../../shared/state/records.js';
import { StateConflictError, StateStore, StateUnavailableError } from '../../shared/state/store.js';
import {
  cloudAppSecurityTarget,
  dnsTarget,
  emptyConfig,
  emptyTarget,
  freshStore,
  randomPublicHosts,
  typicalTarget,
  withoutEtag,
} from './records.js';
import { rejection } from '../support.js';
import { writeAsFirstRelease } from './first-release.js';

describe('StateStore round trips', () => {
  it('reads a config that was never written as empty defaults, in one request', async () => {
    const { store } = await freshStore();
    const before = store.requestCount();
    const snapshot = await store.read('prod');
    expect(store.requestCount() - before).toBe(1);
    expect(snapshot.config).toEqual({ configName: 'prod', declined: [] });
    expect(snapshot.config.etag).toBeUndefined();
    expect(snapshot.targets.size).toBe(0);
  });

  it('creates the table idempotently', async () => {
    const { store } = await freshStore();
    await store.ensureTable();
    await expect(store.read('prod')).resolves.toBeDefined();
  });

  it('writes empty and typical records in one request and reads them back equal, in one request', async () => {
    const { store } = await freshStore();
    const config = {
      ...emptyConfig('prod'),
      lastRunId: 'run-1',
      lastRunAt: '2025-11-07T11:00:00.000Z',
      dashboard: { number: 7, state: 'open' as const, bodyHash: 'a1b2c3d4e5f60718' },
    };
    const empty = emptyTarget('empty');
    const typical = typicalTarget('typical');

    const before = store.requestCount();
    const receipt = await store.write('prod', { config, targets: [empty, typical] });
    expect(store.requestCount() - before).toBe(1);

    const afterWrite = store.requestCount();
    const snapshot = await store.read('prod');
    expect(store.requestCount() - afterWrite).toBe(1);

    expect(withoutEtag(snapshot.config)).toEqual(config);
    expect(withoutEtag(snapshot.targets.get('empty'))).toEqual(empty);
    expect(withoutEtag(snapshot.targets.get('typical'))).toEqual(typical);
    expect([...snapshot.targets.keys()].sort()).toEqual(['empty', 'typical']);
    expect(snapshot.config.etag).toBeTruthy();
    expect(receipt.configEtag).toBe(snapshot.config.etag);
    expect(receipt.targetEtags.get('typical')).toBe(snapshot.targets.get('typical')?.etag);
  });

  it('keeps configs apart by partition', async () => {
    const { store } = await freshStore();
    await store.write('prod', { targets: [typicalTarget('shared-id')] });
    const other = await store.read('staging');
    expect(other.targets.size).toBe(0);
  });

  it('updates a record read earlier and returns ETags that allow writing again without a read', async () => {
    const { store } = await freshStore();
    await store.write('prod', { config: emptyConfig('prod'), targets: [emptyTarget('a')] });
    const first = await store.read('prod');
    const record = first.targets.get('a')!;
    const changed: TargetRecord = { ...record, baseline: [parseCidr('198.51.100.7')], baselineAt: '2025-11-07T12:00:00.000Z' };
    const receipt = await store.write('prod', { targets: [changed] });
    const again: TargetRecord = { ...changed, etag: receipt.targetEtags.get('a')!, lastStatus: 'ok' };
    await store.write('prod', { targets: [again] });
    const second = await store.read('prod');
    expect(withoutEtag(second.targets.get('a'))).toEqual(withoutEtag(again));
  });

  it('round-trips the 2,302-prefix MicrosoftCloudAppSecurity tag with service-tag evidence on every entry', async () => {
    const { store } = await freshStore();
    const record = cloudAppSecurityTarget('mcas');
    expect(record.observation?.entries.length).toBeGreaterThan(1_000);
    await store.write('prod', { targets: [record] });
    const snapshot = await store.read('prod');
    expect(withoutEtag(snapshot.targets.get('mcas'))).toEqual(record);
  });

  it('round-trips 20,000 random public /32s with DNS evidence', async () => {
    const { store } = await freshStore();
    const record = dnsTarget('many', randomPublicHosts(20_000, 7));
    await store.write('prod', { targets: [record] });
    const snapshot = await store.read('prod');
    const read = snapshot.targets.get('many')!;
    expect(withoutEtag(read)).toEqual(record);
    // The copy of an observation that is also the last good one must not be shared with it.
    expect(read.lastGood).not.toBe(read.observation);
  });

  it('reads a PR record of the current release (no withdrawal) as it was, and keeps a withdrawal written beside it', async () => {
    const { store, raw } = await freshStore();
    // As the current release writes it: open, blocked once, its text fingerprint, no withdrawal field. A config of at
    // most 98 targets keeps the first release's row layout, so only the record's body is the current release's.
    const pullRequest = {
      number: 7,
      url: 'https://github.com/contoso/network/pull/7',
      branch: 'allowlist-drift/prod',
      headSha: 'a'.repeat(40),
      fingerprint: '0123456789abcdef',
      state: 'open' as const,
      proposal: { 'acme-prod': [parseCidr('52.16.1.10')] },
      updatedAt: '2025-11-07T11:00:00.000Z',
      blockedNotice: 'b'.repeat(40),
      textFingerprint: 'fedcba9876543210',
    };
    const current = { configName: 'prod', pullRequest, declined: ['1111111111111111'], lastRunId: 'run-1' };
    await writeAsFirstRelease(raw, 'prod', { config: current, targets: [] });

    const read = await store.read('prod');
    expect(withoutEtag(read.config)).toEqual(current);
    expect(read.config.pullRequest!.withdrawal).toBeUndefined();

    const withdrawal = { number: 7, headSha: 'a'.repeat(40), at: '2025-11-08T00:00:00.000Z' };
    await store.write('prod', { config: { ...read.config, pullRequest: { ...pullRequest, withdrawal } }, targets: [] });
    expect((await store.read('prod')).config.pullRequest).toEqual({ ...pullRequest, withdrawal });
  });

  it('keeps only the 20 most recent declined fingerprints, without duplicates', async () => {
    const { store } = await freshStore();
    const declined = [...Array.from({ length: 25 }, (_, index) => `fp-${index}`), 'fp-10'];
    await store.write('prod', { config: { ...emptyConfig('prod'), declined }, targets: [] });
    const { config } = await store.read('prod');
    const kept = [5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 10].map((index) => `fp-${index}`);
    expect(config.declined).toEqual(kept);
  });
});

describe('StateStore write conflicts', () => {
  it('lets only one of two writers that read the same target win; the other gets state-conflict', async () => {
    const { store } = await freshStore();
    await store.write('prod', { targets: [emptyTarget('a')] });
    const readerA = (await store.read('prod')).targets.get('a')!;
    const readerB = (await store.read('prod')).targets.get('a')!;

    await store.write('prod', { targets: [{ ...readerA, lastStatus: 'ok' }] });
    const error = await rejection(store.write('prod', { targets: [{ ...readerB, lastStatus: 'error' }] }));
    expect(error).toBeInstanceOf(StateConflictError);
    expect(error.code).toBe('state-conflict');
    expect(error.message).toContain('target "a"');
    expect((await store.read('prod')).targets.get('a')?.lastStatus).toBe('ok');
  });

  it('decides concurrent writers of the same target with exactly one winner', async () => {
    const { store } = await freshStore();
    await store.write('prod', { targets: [emptyTarget('a')] });
    const snapshot = await store.read('prod');
    const record = snapshot.targets.get('a')!;
    const results = await Promise.allSettled(
      ['w1', 'w2', 'w3'].map((writer) =>
        store.write('prod', { targets: [{ ...record, lastErrors: [{ code: writer, message: writer }] }] }),
      ),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    expect(failures.every((failure) => failure instanceof StateConflictError)).toBe(true);
  });

  it('lets only one of two runs create the same new target', async () => {
    const { store } = await freshStore();
    const results = await Promise.allSettled([
      store.write('prod', { targets: [{ ...emptyTarget('new'), lastStatus: 'ok' }] }),
      store.write('prod', { targets: [{ ...emptyTarget('new'), lastStatus: 'held' }] }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((result) => result.status === 'rejected');
    expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(StateConflictError);
  });

  it('writes nothing when one record of a transaction is stale', async () => {
    const { store } = await freshStore();
    await store.write('prod', { config: emptyConfig('prod'), targets: [emptyTarget('a'), emptyTarget('b')] });
    const stale = await store.read('prod');
    await store.write('prod', { targets: [{ ...stale.targets.get('b')!, lastStatus: 'held' }] });

    const error = await rejection(
      store.write('prod', {
        config: { ...stale.config, lastRunId: 'stale-run' },
        targets: [
          { ...stale.targets.get('a')!, lastStatus: 'ok' },
          { ...stale.targets.get('b')!, lastStatus: 'ok' },
        ],
      }),
    );
    expect(error.code).toBe('state-conflict');
    expect(error.message).toContain('target "b"');
    expect(error.message).not.toContain('target "a"');
    const after = await store.read('prod');
    expect(after.config.lastRunId).toBeUndefined();
    expect(after.targets.get('a')?.lastStatus).toBeUndefined();
    expect(after.targets.get('b')?.lastStatus).toBe('held');
  });
});

describe('StateStore size limits', () => {
  it('refuses a record that does not fit one row, naming the target, before sending anything', async () => {
    const { store } = await freshStore();
    const before = store.requestCount();
    const error = await rejection(store.write('prod', { targets: [withIncompressibleError(emptyTarget('huge'), 1_400_000)] }));
    expect(error.code).toBe('state-too-large');
    expect(error.message).toContain('target "huge"');
    expect(store.requestCount()).toBe(before);
  });

  it('stores a record just under the row limit', async () => {
    const { store } = await freshStore();
    const record = withIncompressibleError(emptyTarget('near-limit'), 1_200_000);
    await store.write('prod', { targets: [record] });
    expect(withoutEtag((await store.read('prod')).targets.get('near-limit'))).toEqual(record);
  });

  it('splits a change above 4 MiB over transactions of at most 4 MiB, committed by the last', async () => {
    const { store, raw } = await freshStore();
    const targets = [1, 2, 3, 4, 5].map((index) => withIncompressibleError(emptyTarget(`big-${index}`), 1_000_000));
    const before = store.requestCount();
    await store.write('prod', { targets });
    // 5 rows of about 1.3 MiB on the wire: three to a transaction at most, so two transactions.
    expect(store.requestCount() - before).toBe(2);
    const snapshot = await StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: raw.tableName }).read('prod');
    for (const target of targets) expect(withoutEtag(snapshot.targets.get(target.targetId))).toEqual(target);
  });

  it('writes 100 targets and the config (101 rows) in two transactions', async () => {
    const { store } = await freshStore();
    const targets = Array.from({ length: 100 }, (_, index) => emptyTarget(`t-${index}`));
    const before = store.requestCount();
    await store.write('prod', { config: emptyConfig('prod'), targets });
    expect(store.requestCount() - before).toBe(2);
    expect((await store.read('prod')).targets.size).toBe(100);
  });

  it('accepts 99 targets and the config (100 rows) in one transaction', async () => {
    const { store } = await freshStore();
    const targets = Array.from({ length: 99 }, (_, index) => emptyTarget(`t-${index}`));
    const before = store.requestCount();
    await store.write('prod', { config: emptyConfig('prod'), targets });
    expect(store.requestCount() - before).toBe(1);
    expect((await store.read('prod')).targets.size).toBe(99);
  });
});

describe('StateStore rows it did not write', () => {
  it('reports a row with corrupt data as state-corrupt naming the row', async () => {
    const { store, raw } = await freshStore();
    await store.write('prod', { targets: [typicalTarget('good')] });
    await raw.createEntity({ partitionKey: 'prod', rowKey: 'target~bad', kind: 'target', schema: 1, parts: 1, d0: randomBytes(300) });
    const error = await rejection(store.read('prod'));
    expect(error.code).toBe('state-corrupt');
    expect(error.message).toContain('target~bad');
  });

  it('reports a row of another schema version as state-corrupt', async () => {
    const { store, raw } = await freshStore();
    await store.write('prod', { targets: [typicalTarget('future')] });
    const { etag: _etag, timestamp: _timestamp, ...columns } = await raw.getEntity<Record<string, unknown>>('prod', 'target~future');
    await raw.updateEntity({ ...columns, partitionKey: 'prod', rowKey: 'target~future', schema: 2 }, 'Replace');
    const error = await rejection(store.read('prod'));
    expect(error.code).toBe('state-corrupt');
    expect(error.message).toContain('target~future');
    expect(error.message).toContain('schema version is 2');
  });

  it('reports valid JSON of the wrong shape, a missing part and an unknown row as state-corrupt', async () => {
    const cases: Array<Record<string, unknown>> = [
      { rowKey: 'target~shape', kind: 'target', schema: 1, parts: 1, d0: brotli({ targetId: 'shape', baseline: ['10.0.0.1/8'] }) },
      { rowKey: 'target~parts', kind: 'target', schema: 1, parts: 2, d0: brotli({}) },
      { rowKey: 'target~other', kind: 'target', schema: 1, parts: 1, d0: brotli({ ...emptyTarget('someone-else') }) },
      { rowKey: 'surprise', kind: 'target', schema: 1 },
    ];
    for (const row of cases) {
      const { store, raw } = await freshStore();
      await raw.createEntity({ partitionKey: 'prod', ...row } as { partitionKey: string; rowKey: string });
      const error = await rejection(store.read('prod'));
      expect(error.code).toBe('state-corrupt');
      expect(error.message).toContain(String(row.rowKey));
    }
  });
});

describe('StateStore keys and settings', () => {
  it('rejects keys the service cannot address, before sending anything', async () => {
    const { store } = await freshStore();
    for (const bad of ['a/b', 'a\\b', 'a#b', 'a?b', 'a\u0000b', 'a\nb', 'a\u007fb', '', 'x'.repeat(600)]) {
      const before = store.requestCount();
      expect((await rejection(store.read(bad))).code).toBe('invalid-state-key');
      expect((await rejection(store.write('prod', { targets: [emptyTarget(bad)] }))).code).toBe('invalid-state-key');
      expect((await rejection(store.acquireLease(bad, 'run', 1_000))).code).toBe('invalid-state-key');
      expect(store.requestCount()).toBe(before);
    }
  });

  it('accepts UseDevelopmentStorage=true, account connection strings and https table URLs', () => {
    expect(StateStore.fromSetting('UseDevelopmentStorage=true')).toBeInstanceOf(StateStore);
    expect(StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: 'other' })).toBeInstanceOf(StateStore);
    expect(StateStore.fromSetting('https://contoso.table.core.windows.net')).toBeInstanceOf(StateStore);
    expect(
      StateStore.fromSetting('DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=a2V5a2V5a2V5;EndpointSuffix=core.windows.net'),
    ).toBeInstanceOf(StateStore);
  });

  it('refuses plain http to a remote host and invalid settings, without echoing the key', () => {
    const key = 'c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M=';
    const settings = [
      `DefaultEndpointsProtocol=http;AccountName=contoso;AccountKey=${key};EndpointSuffix=core.windows.net`,
      `DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=${key};TableEndpoint=not a url`,
      'http://contoso.table.core.windows.net',
      `just-a-key-${key}`,
    ];
    for (const setting of settings) {
      let thrown: unknown;
      try {
        StateStore.fromSetting(setting);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AllowlistError);
      expect((thrown as AllowlistError).code).toBe('state-setting-invalid');
      expect((thrown as AllowlistError).message).not.toContain(key);
    }
    expect(() => StateStore.fromSetting('UseDevelopmentStorage=true', { tableName: 'no-dashes' })).toThrow(/table name/);
  });

  it('refuses a blob (or queue, file) endpoint, naming the table endpoint to give instead', () => {
    const fix = 'state is kept in Table Storage: give the table endpoint, https://contoso.table.core.windows.net';
    expect(() => StateStore.fromSetting('https://contoso.blob.core.windows.net')).toThrow(
      `The storage setting names the blob endpoint of account contoso; ${fix}`,
    );
    expect(() => StateStore.fromSetting('https://contoso.queue.core.windows.net/')).toThrow(`queue endpoint of account contoso; ${fix}`);
    expect(() =>
      StateStore.fromSetting('AccountName=contoso;SharedAccessSignature=sv=x&sig=y;TableEndpoint=https://contoso.blob.core.windows.net'),
    ).toThrow(`blob endpoint of account contoso; ${fix}`);
    expect(StateStore.fromSetting('https://contoso.table.core.windows.net')).toBeInstanceOf(StateStore);
  });
});

describe('StateStore when storage is down', () => {
  it('fails with state-unavailable, free of the account key, when nothing listens', async () => {
    const port = await closedPort();
    const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    const sas = 'sv=2024-01-01&ss=t&srt=sco&sp=rwdlacu&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJlLXNlY3JldA%3D%3D';
    const stores = [
      StateStore.fromSetting(
        `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
        { maxRetries: 0 },
      ),
      StateStore.fromSetting(`TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;SharedAccessSignature=${sas}`, { maxRetries: 0 }),
    ];
    for (const store of stores) {
      const failures = [
        await rejection(store.ensureTable()),
        await rejection(store.read('prod')),
        await rejection(store.write('prod', { targets: [emptyTarget('a')] })),
        await rejection(store.acquireLease('prod', 'run', 1_000)),
      ];
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(StateUnavailableError);
        expect(failure.code).toBe('state-unavailable');
        expect(failure.message).toContain(`127.0.0.1:${port}`);
        expect(failure.message).not.toContain(key);
        expect(failure.message).not.toContain('c2lnbmF0dXJlLXNlY3JldA');
        expect(failure.cause).toBeUndefined();
      }
    }
  });

  it('fails with state-unavailable once a store that worked goes away', async () => {
    const azurite = await startEmbeddedAzurite();
    try {
      const store = StateStore.fromSetting(azurite.connectionString, { tableName: 'goingaway', maxRetries: 0 });
      await store.ensureTable();
      await store.write('prod', { targets: [emptyTarget('a')] });
      const { targets } = await store.read('prod');
      await azurite.stop();
      const error = await rejection(store.write('prod', { targets: [{ ...targets.get('a')!, lastStatus: 'ok' }] }));
      expect(error.code).toBe('state-unavailable');
    } finally {
      await azurite.stop();
    }
  });

  it('reports a missing table as state-unavailable rather than as empty state', async () => {
    const store = StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: 'nevercreated', maxRetries: 0 });
    const error = await rejection(store.read('prod'));
    expect(error.code).toBe('state-unavailable');
    expect(error.message).toContain('ensureTable');
  });
});

/** Random base64 text: brotli cannot shrink it below three quarters of its length. */
function withIncompressibleError(record: TargetRecord, characters: number): TargetRecord {
  const message = randomBytes(Math.ceil((characters * 3) / 4))
    .toString('base64')
    .slice(0, characters);
  return { ...record, lastErrors: [{ code: 'noise', message }] };
}

function brotli(value: unknown): Uint8Array {
  return brotliCompressSync(Buffer.from(JSON.stringify(value)));
}

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
