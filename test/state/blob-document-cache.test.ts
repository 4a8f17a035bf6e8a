import { randomBytes } from 'node:crypto';
import { BlobClient, BlobServiceClient } from '@azure/storage-blob';
import { afterEach, describe, expect, inject, test, vi } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import type { CachedDocument } from '../../shared/net/document-cache.js';
import { observeTarget } from '../../shared/sources/index.js';
import { blobName, blobTargetOf, lockName, openDocumentCache } from '../../shared/state/blob-document-cache.js';
import { DocumentMemo } from '../../shared/state/document-memo.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';

/** The Blob Storage document cache against the Azurite blob service the test set-up starts beside the table one. */

const connectionString = inject('azuriteConnectionString');
const COPY: CachedDocument = {
  url: 'https://docs.example.test/network-requirements.md?ref=main',
  text: 'Ünïcode page body\n| a | b |\n',
  contentType: 'text/plain',
  etag: 'W/"abc"',
  lastModified: 'Thu, 20 Jun 2024 08:00:00 GMT',
  validatedAt: '2026-12-01T10:00:00.000Z',
};

const containerName = () => `documents-${randomBytes(4).toString('hex')}`;

describe('the Blob Storage document cache', () => {
  test('a copy round-trips through a container the first write creates, keyed by URL', async () => {
    const container = containerName();
    const cache = openDocumentCache(connectionString, { container });
    expect(await cache.get(COPY.url)).toBeUndefined();
    await cache.put(COPY);
    expect(await cache.get(COPY.url)).toEqual(COPY);
    // Another URL is another blob, even one that differs only in its query.
    expect(await cache.get('https://docs.example.test/network-requirements.md?ref=other')).toBeUndefined();

    const blobs = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
    const names: string[] = [];
    for await (const blob of blobs.listBlobsFlat()) names.push(blob.name);
    expect(names).toEqual([blobName(COPY.url)]);

    const newer = { ...COPY, text: 'v2\n', etag: '"v2"', validatedAt: '2026-12-07T10:00:00.000Z' };
    await cache.put(newer);
    expect(await cache.get(COPY.url)).toEqual(newer);
  });

  test('a confirmation is blob metadata: read back as confirmedAt, dropped by the next full copy, a no-op for a missing blob', async () => {
    const cache = openDocumentCache(connectionString, { container: containerName() });
    await expect(cache.confirm!(COPY.url, '2026-12-07T10:00:00.000Z')).resolves.toBeUndefined();
    await cache.put(COPY);
    await cache.confirm!(COPY.url, '2026-12-07T10:00:00.000Z');
    expect(await cache.get(COPY.url)).toEqual({ ...COPY, confirmedAt: '2026-12-07T10:00:00.000Z' });
    // A confirmation older than the full read says nothing new.
    await cache.confirm!(COPY.url, '2026-11-30T10:00:00.000Z');
    expect(await cache.get(COPY.url)).toEqual(COPY);
    await cache.confirm!(COPY.url, '2026-12-07T10:00:00.000Z');
    const newer = { ...COPY, text: 'v2\n', etag: '"v2"', validatedAt: '2026-12-07T11:00:00.000Z' };
    await cache.put(newer);
    expect(await cache.get(COPY.url)).toEqual(newer);
  });

  test('a blob that is not a copy this app wrote is refused with a clear error, naming neither key nor URL secrets', async () => {
    const container = containerName();
    const cache = openDocumentCache(connectionString, { container });
    await cache.put(COPY);
    const blob = BlobServiceClient.fromConnectionString(connectionString)
      .getContainerClient(container)
      .getBlockBlobClient(blobName(COPY.url));

    await blob.upload('not gzip at all', 15);
    await expect(cache.get(COPY.url)).rejects.toMatchObject({
      code: 'document-cache',
      message: expect.stringContaining('is not a cached document'),
    });

    // A well-formed copy of another URL under this URL's name (a hash collision or a tampered blob) is not used either.
    const { gzipSync } = await import('node:zlib');
    const foreign = gzipSync(JSON.stringify({ v: 1, ...COPY, url: 'https://elsewhere.test/' }));
    await blob.upload(foreign, foreign.byteLength);
    await expect(cache.get(COPY.url)).rejects.toMatchObject({ message: expect.stringContaining('holds a copy of another URL') });
  });

  test('an unreadable blob: the target is observed from a full download, with a warning, and the copy is replaced', async () => {
    const peer: HttpPeer = await startHttpPeer();
    try {
      const page = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
      peer.handle(routes({ '/page.md': { body: page, contentType: 'text/plain' } }));
      const url = `${peer.url}/page.md`;
      const container = containerName();
      const cache = openDocumentCache(connectionString, { container });
      await cache.put({ ...COPY, url });
      const blob = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).getBlockBlobClient(blobName(url));
      await blob.upload('garbage', 7);

      const config = parseConfig({ targets: [{ id: 'cas', type: 'cas-docs', url, dataCenters: ['EU1'], sections: ['portal'] }] });
      const context = { config, env: {}, now: () => new Date('2026-12-07T10:00:00Z'), documents: cache };
      const observation = await observeTarget(config.targets[0]!, context);
      expect(observation.status).toBe('ok');
      expect(observation.warnings.filter((w) => w.code === 'document-cache').map((w) => w.message)).toEqual([
        expect.stringMatching(
          /^The document cache could not be read for http:\/\/127\.0\.0\.1:\d+\/page\.md, so the document was downloaded in full: blob \w+\.json\.gz is not a cached document/,
        ),
      ]);
      expect(peer.requests.at(-1)!.headers['if-none-match']).toBeUndefined();
      // The full read replaced the unreadable blob: the next run is a 304.
      expect((await cache.get(url))?.text).toBe(page.toString('utf8'));
      const bytes = peer.bodyBytes();
      const again = await observeTarget(config.targets[0]!, context);
      expect(again.warnings).toEqual([]);
      expect(peer.bodyBytes()).toBe(bytes);
    } finally {
      await peer.close();
    }
  });

  test('a storage account that does not answer: every read fails with a warning-ready error, never a crash at open', async () => {
    const cache = openDocumentCache(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;',
    );
    const failure = await cache.get(COPY.url).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'document-cache', message: expect.stringContaining('Blob Storage could not be reached') });
    expect(String((failure as Error).message)).not.toContain('a2V5');
  });
});

describe('the per-process memo in front of the Blob document cache', () => {
  /** Counts body downloads (the SDK's own download, called through): what the memo is there to save. */
  function countDownloads() {
    const spy = vi.spyOn(BlobClient.prototype, 'download');
    return { count: () => spy.mock.calls.length };
  }
  afterEach(() => vi.restoreAllMocks());

  test('an unchanged blob is read once: later reads reuse the decoded copy after a HEAD', async () => {
    const downloads = countDownloads();
    const container = containerName();
    const writer = openDocumentCache(connectionString, { container, memo: new DocumentMemo() });
    const reader = openDocumentCache(connectionString, { container, memo: new DocumentMemo() });
    await writer.put(COPY);
    const first = await reader.get(COPY.url);
    expect(first).toEqual(COPY);
    expect(await reader.get(COPY.url)).toBe(first);
    expect(await reader.get(COPY.url)).toBe(first);
    expect(downloads.count()).toBe(1);
    // The writer holds what it wrote: no download at all.
    expect(await writer.get(COPY.url)).toEqual(COPY);
    expect(downloads.count()).toBe(1);
  });

  test('a copy rewritten or deleted by another worker is seen, and a confirmation is read without the body', async () => {
    const downloads = countDownloads();
    const container = containerName();
    const other = openDocumentCache(connectionString, { container, memo: new DocumentMemo() });
    const cache = openDocumentCache(connectionString, { container, memo: new DocumentMemo() });
    await other.put(COPY);
    expect(await cache.get(COPY.url)).toEqual(COPY);

    // A metadata write changes the ETag, not the body (Content-MD5 says so): the confirmation is taken from the HEAD.
    await other.confirm!(COPY.url, '2026-12-07T10:00:00.000Z');
    const before = downloads.count();
    expect(await cache.get(COPY.url)).toEqual({ ...COPY, confirmedAt: '2026-12-07T10:00:00.000Z' });
    expect(downloads.count()).toBe(before);

    const newer = { ...COPY, text: 'v2\n', etag: '"v2"', validatedAt: '2026-12-07T11:00:00.000Z' };
    await other.put(newer);
    expect(await cache.get(COPY.url)).toEqual(newer);
    expect(downloads.count()).toBe(before + 1);

    // Another body of the very same length is still another body.
    const same = { ...newer, text: 'v3\n' };
    await other.put(same);
    expect(await cache.get(COPY.url)).toEqual(same);

    await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).deleteBlob(blobName(COPY.url));
    expect(await cache.get(COPY.url)).toBeUndefined();
  });

  test('a blob overwritten with garbage is refused even though an older copy is remembered', async () => {
    const container = containerName();
    const cache = openDocumentCache(connectionString, { container, memo: new DocumentMemo() });
    await cache.put(COPY);
    expect(await cache.get(COPY.url)).toEqual(COPY);
    const blob = BlobServiceClient.fromConnectionString(connectionString)
      .getContainerClient(container)
      .getBlockBlobClient(blobName(COPY.url));
    await blob.upload('not gzip at all', 15);
    await expect(cache.get(COPY.url)).rejects.toMatchObject({ message: expect.stringContaining('is not a cached document') });
  });

  test('the memo is bounded: the least recently used copy goes first, and a copy over the size cap is not kept', () => {
    const memo = new DocumentMemo({ documents: 2, textChars: 10 });
    const entry = (text: string) => ({ document: { ...COPY, text }, etag: `"${text}"` });
    memo.remember('a', entry('aaa'));
    memo.remember('b', entry('bbb'));
    expect(memo.match('a', { etag: '"aaa"' })?.document.text).toBe('aaa');
    memo.remember('c', entry('ccc'));
    expect(memo.keys()).toEqual(['a', 'c']);
    memo.remember('d', entry('dddddddd'));
    expect(memo.keys()).toEqual(['d']);
    memo.remember('e', entry('eeeeeeeeeee'));
    expect(memo.keys()).toEqual(['d']);
    expect(memo.match('d', { etag: '"other"' })).toBeUndefined();
  });
});

describe('the blob endpoint of the storage setting', () => {
  test.each([
    ['UseDevelopmentStorage=true', 'http://127.0.0.1:10000/devstoreaccount1'],
    [
      'DefaultEndpointsProtocol=https;AccountName=stacme;AccountKey=a2V5;EndpointSuffix=core.windows.net',
      'https://stacme.blob.core.windows.net/',
    ],
    ['AccountName=stacme;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn', 'https://stacme.blob.core.chinacloudapi.cn/'],
    ['BlobEndpoint=https://cache.example.test/;SharedAccessSignature=sv=2024&sig=x', 'https://cache.example.test/'],
    ['https://stacme.table.core.windows.net', 'https://stacme.blob.core.windows.net/'],
    ['https://stacme.table.core.usgovcloudapi.net/', 'https://stacme.blob.core.usgovcloudapi.net/'],
  ])('%s', (setting, endpoint) => {
    expect(blobTargetOf(setting).endpoint.href).toBe(endpoint);
  });

  test('the managed-identity form reaches the blob service with the identity, not a key', () => {
    expect(blobTargetOf('https://stacme.table.core.windows.net').kind).toBe('identity');
  });

  test.each([
    ['http://127.0.0.1:10002/devstoreaccount1', /cannot be told from the table endpoint/],
    ['DefaultEndpointsProtocol=http;AccountName=stacme;AccountKey=a2V5', /must use https/],
    ['TableEndpoint=https://stacme.table.core.windows.net/;SharedAccessSignature=sig', /neither BlobEndpoint nor AccountName/],
    [';;;', /neither a connection string nor an http\(s\) URL/],
  ])('%s is refused with the reason', (setting, reason) => {
    expect(() => blobTargetOf(setting)).toThrow(reason);
  });

  test('a claim is a lease on locks/<hash> of the URL: one holder at a time, released for the next; the copy stays writable', async () => {
    const container = containerName();
    const one = openDocumentCache(connectionString, { container, claimSeconds: 15 });
    const two = openDocumentCache(connectionString, { container, claimSeconds: 15 });
    expect(one.leases!.seconds).toBe(15);
    // The first claim creates the container and the lock blob.
    const held = await one.leases!.take(COPY.url);
    expect(held).toBeDefined();
    expect(await two.leases!.take(COPY.url)).toBeUndefined();
    // Another URL is another claim.
    const other = await two.leases!.take(`${COPY.url}&other`);
    expect(other).toBeDefined();
    // Writing and confirming the copy needs no lease id while its claim is held.
    await two.put(COPY);
    await two.confirm!(COPY.url, '2026-12-07T10:00:00.000Z');
    await held!.release();
    const next = await two.leases!.take(COPY.url);
    expect(next).toBeDefined();
    await next!.release();
    await other!.release();

    const names: string[] = [];
    for await (const blob of BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).listBlobsFlat())
      names.push(blob.name);
    expect(names.sort()).toEqual([blobName(COPY.url), lockName(COPY.url), lockName(`${COPY.url}&other`)].sort());
    expect(lockName(COPY.url)).toMatch(/^locks\/[0-9a-f]{64}$/);
  });

  test.each([[14], [61], [30.5], [Number.NaN]])('a claim lease of %j s is refused (Blob Storage grants 15 to 60)', (claimSeconds) => {
    expect(() => openDocumentCache(connectionString, { claimSeconds })).toThrow(/claimSeconds must be 15 to 60/);
  });

  test('a container name Blob Storage would refuse is reported on use', async () => {
    const cache = openDocumentCache(connectionString, { container: 'Not_A_Container' });
    await expect(cache.get(COPY.url)).rejects.toMatchObject({ message: expect.stringContaining('is not a container name') });
  });
});
