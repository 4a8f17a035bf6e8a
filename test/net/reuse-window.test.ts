import { randomBytes } from 'node:crypto';
import { BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import type { DocumentCache } from '../../shared/net/document-cache.js';
import { isFresh } from '../../shared/net/http.js';
import { observeTarget } from '../../shared/sources/index.js';
import { blobName, openDocumentCache } from '../../shared/state/blob-document-cache.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';

/**
 * Issue 26, "each upstream document once per tick": a copy the server confirmed (a full read or a 304) less than
 * http.reuseWithinSeconds ago is used without a request, across configs and runs sharing the Blob cache (Azurite).
 */

const connectionString = inject('azuriteConnectionString');
const PAGE = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
const T0 = new Date('2026-12-07T10:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

let peer: HttpPeer;
let url: string;

beforeAll(async () => {
  peer = await startHttpPeer();
  peer.handle(routes({ '/page.md': { body: PAGE, contentType: 'text/plain' } }));
  url = `${peer.url}/page.md`;
});
afterAll(async () => {
  await peer.close();
});

/** One config watching the page (each config of a tick is its own run of observeTarget over the shared cache). */
function casConfig(id: string, http: Record<string, number> = {}) {
  return parseConfig({ targets: [{ id, type: 'cas-docs', url, dataCenters: '*', sections: ['portal'] }], http });
}

/** Observes the config's target at `at`; returns the observation and the requests the page server saw meanwhile. */
async function observe(config: ReturnType<typeof casConfig>, documents: DocumentCache, at: Date) {
  const from = peer.requests.length;
  const bytes = peer.bodyBytes();
  const observation = await observeTarget(config.targets[0]!, { config, env: {}, now: () => at, documents });
  return { observation, requests: peer.requests.slice(from), bytes: peer.bodyBytes() - bytes };
}

const containerName = () => `reuse-${randomBytes(4).toString('hex')}`;

function unchangedSince(observation: Awaited<ReturnType<typeof observeTarget>>): unknown {
  return (observation.entries[0]!.evidence[0] as { unchangedSince?: string }).unchangedSince;
}

describe('http.reuseWithinSeconds', () => {
  test('two configs within the window send one request; after it, one conditional request whose 304 renews the window', async () => {
    const documents = openDocumentCache(connectionString, { container: containerName() });
    const first = await observe(casConfig('cas-a'), documents, T0);
    expect(first.observation.status).toBe('ok');
    expect(first.requests).toHaveLength(1);

    // Another config (and another run, another worker: nothing is shared but the blob) a minute later: no request.
    const second = await observe(casConfig('cas-b'), documents, minutes(1));
    expect(second.observation.status).toBe('ok');
    expect(second.observation.warnings).toEqual([]);
    expect(second.requests).toEqual([]);
    expect(second.observation.entries).toEqual(first.observation.entries.map((e) => ({ ...e, evidence: expect.any(Array) })));
    expect(unchangedSince(second.observation)).toBe(T0.toISOString());

    // After the default window (300 s): a conditional request, a 304, no body.
    const later = await observe(casConfig('cas-a'), documents, minutes(6));
    expect(later.requests).toHaveLength(1);
    expect(later.requests[0]!.headers['if-none-match']).toEqual(expect.any(String));
    expect(later.bytes).toBe(0);
    expect(later.observation.warnings).toEqual([]);
    // The 304 was recorded as blob metadata, not by rewriting the copy: the evidence still names the full read.
    expect(await documents.get(url)).toMatchObject({ validatedAt: T0.toISOString(), confirmedAt: minutes(6).toISOString() });

    const renewed = await observe(casConfig('cas-b'), documents, minutes(10));
    expect(renewed.requests).toEqual([]);
    expect(unchangedSince(renewed.observation)).toBe(T0.toISOString());
  });

  test('0 turns the window off: every run asks the server, as before', async () => {
    const documents = openDocumentCache(connectionString, { container: containerName() });
    const config = casConfig('cas-a', { reuseWithinSeconds: 0 });
    await observe(config, documents, T0);
    const again = await observe(config, documents, T0);
    expect(again.requests).toHaveLength(1);
    expect(again.requests[0]!.headers['if-none-match']).toEqual(expect.any(String));
    expect(again.bytes).toBe(0);
  });

  test('a confirmation the cache cannot record is a warning; the run is fine and the next one asks again', async () => {
    const container = containerName();
    const writable = openDocumentCache(connectionString, { container });
    await observe(casConfig('cas-a'), writable, T0);
    // The same container through a read-only SAS: the copy can be read, the confirmation not written.
    const readOnly = openDocumentCache(readOnlySas(container), { container });
    const later = await observe(casConfig('cas-a'), readOnly, minutes(6));
    expect(later.observation.status).toBe('ok');
    expect(later.requests).toHaveLength(1);
    expect(later.bytes).toBe(0);
    // The SAS cannot lease the claim's lock blob either: said, and the page is fetched without waiting (single flight).
    expect(later.observation.warnings).toEqual([
      expect.objectContaining({
        code: 'document-cache',
        message: expect.stringMatching(/^The document cache could not take the claim .*page\.md.*without waiting.*HTTP 403/),
      }),
      expect.objectContaining({
        code: 'document-cache',
        message: expect.stringMatching(
          /^The document cache could not record that http:\/\/127\.0\.0\.1:\d+\/page\.md was unchanged.*HTTP 403/,
        ),
      }),
    ]);
    expect(JSON.stringify(later.observation.warnings)).not.toMatch(/sig=/);
    const next = await observe(casConfig('cas-a'), readOnly, minutes(7));
    expect(next.requests).toHaveLength(1);
  });

  test('a failed observation records no confirmation (only complete reads count)', async () => {
    const container = containerName();
    const documents = openDocumentCache(connectionString, { container });
    await observe(casConfig('cas-a'), documents, T0);
    // A data center the page does not list: the observation is partial, so its 304 must not renew the window.
    const broken = parseConfig({ targets: [{ id: 'cas-x', type: 'cas-docs', url, dataCenters: ['EU1', 'XX9'], sections: ['portal'] }] });
    const failed = await observe(broken, documents, minutes(6));
    expect(failed.observation.status).toBe('partial');
    expect(failed.requests).toHaveLength(1);
    expect((await documents.get(url))?.confirmedAt).toBeUndefined();
  });

  test('a confirmation time that is garbage or in the future is not trusted', async () => {
    const container = containerName();
    const documents = openDocumentCache(connectionString, { container });
    await observe(casConfig('cas-a'), documents, T0);
    const blob = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).getBlobClient(blobName(url));
    await blob.setMetadata({ confirmedat: 'not a date' });
    expect((await documents.get(url))?.confirmedAt).toBeUndefined();

    const context = (at: Date) => ({ config: casConfig('cas-a'), now: () => at });
    const future = { validatedAt: T0.toISOString(), confirmedAt: minutes(60).toISOString() };
    expect(isFresh(future, context(minutes(6)))).toBe(false);
    expect(isFresh({ validatedAt: T0.toISOString() }, context(minutes(4)))).toBe(true);
    expect(isFresh({ validatedAt: 'garbage' }, context(minutes(4)))).toBe(false);
    // Without a config (a direct caller), nothing is reused.
    expect(isFresh({ validatedAt: T0.toISOString() }, { now: () => minutes(1) })).toBe(false);
  });

  test.each([[-1], [1.5], ['300'], [3_601]])('http.reuseWithinSeconds %j is refused with the reason', (value) => {
    expect(() => casConfig('cas-a', { reuseWithinSeconds: value as number })).toThrow(/reuseWithinSeconds/);
  });
});

/** A connection string to Azurite's blob service with a SAS that may read blobs and nothing else. */
function readOnlySas(container: string): string {
  const parts = new Map(connectionString.split(';').map((part) => part.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const account = parts.get('AccountName') ?? 'devstoreaccount1';
  const endpoint = parts.get('BlobEndpoint') ?? `http://127.0.0.1:10000/${account}`;
  const key = parts.get('AccountKey')!;
  const sas = generateBlobSASQueryParameters(
    {
      containerName: container,
      blobName: blobName(url),
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 3_600_000),
    },
    new StorageSharedKeyCredential(account, key),
  ).toString();
  return `BlobEndpoint=${endpoint};SharedAccessSignature=${sas}`;
}
