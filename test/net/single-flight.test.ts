import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import type { CachedDocument, DocumentCache } from '../../shared/net/document-cache.js';
import { AllowlistError } from '../../shared/problem.js';
import { withSharedFetches } from '../../shared/net/shared-fetch.js';
import { observeTarget } from '../../shared/sources/index.js';
import { lockName, openDocumentCache } from '../../shared/state/blob-document-cache.js';
import { routes, sharedFile, startHttpPeer, type Handler, type HttpPeer } from '../peers/http.js';

/**
 * Issue 26, "upstream GETs per tick: one per distinct URL, however many workers run": the cross-worker single flight
 * (shared/net/single-flight.ts) through observeTarget with real configs, two Blob caches against one Azurite container
 * standing for two workers (no in-process share between them), and an HTTP peer whose answers take 300 ms.
 */

const connectionString = inject('azuriteConnectionString');
const PAGE = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
const T0 = new Date('2026-12-07T10:00:00.000Z');
const page = routes({ '/page.md': { body: PAGE, contentType: 'text/plain' } });

let peer: HttpPeer;
/** Each test serves its own path, so concurrent tests count only their own requests. */
const handlers = new Map<string, Handler>();
/** Per test: requests of its page being answered now, and the most at once (two workers fetching side by side: 2). */
const inFlight = new Map<string, { now: number; most: number }>();

beforeAll(async () => {
  peer = await startHttpPeer(async (request, response) => {
    const [, name = '', ...rest] = new URL(request.url ?? '/', 'http://x').pathname.split('/');
    const load = inFlight.get(name) ?? { now: 0, most: 0 };
    inFlight.set(name, load);
    load.most = Math.max(load.most, ++load.now);
    response.on('close', () => load.now--);
    await sleep(300);
    // Every test's route serves the page at its own prefix: /<test>/page.md.
    return (handlers.get(name) ?? page)(withPath(request, `/${rest.join('/')}`), response);
  });
});
afterAll(async () => {
  await peer.close();
});

function withPath(request: IncomingMessage, path: string): IncomingMessage {
  request.url = path;
  return request;
}

/** A fresh URL and container per test: the page under /<name>/page.md, answered by `handler` (default: the page). */
function scenario(handler: Handler = page) {
  const name = `t${randomBytes(4).toString('hex')}`;
  handlers.set(name, handler);
  const url = `${peer.url}/${name}/page.md`;
  const container = `flight-${name}`;
  return {
    url,
    container,
    worker: (claimSeconds?: number) => openDocumentCache(connectionString, { container, ...(claimSeconds ? { claimSeconds } : {}) }),
    requests: () => peer.requests.filter((r) => r.path === `/${name}/page.md`),
    mostAtOnce: () => inFlight.get(name)?.most ?? 0,
  };
}

function casConfig(id: string, url: string, http: Record<string, number> = {}) {
  return parseConfig({ targets: [{ id, type: 'cas-docs', url, dataCenters: '*', sections: ['portal'] }], http });
}

/** One config's observation in a run of its own (a queue-triggered worker), at `at`. */
function observe(config: ReturnType<typeof casConfig>, documents: DocumentCache, at = T0) {
  return observeTarget(config.targets[0]!, { config, env: {}, now: () => at, documents });
}

async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

function unchangedSince(observation: Awaited<ReturnType<typeof observeTarget>>): unknown {
  return (observation.entries[0]!.evidence[0] as { unchangedSince?: string }).unchangedSince;
}

describe('one upstream request per URL across workers', () => {
  test('two workers observing one page at the same moment send one request; both read the page', async () => {
    const s = scenario();
    const [a, b] = await Promise.all([observe(casConfig('cas-a', s.url), s.worker()), observe(casConfig('cas-b', s.url), s.worker())]);
    expect(s.requests()).toHaveLength(1);
    for (const observation of [a, b]) {
      expect(observation.status).toBe('ok');
      expect(observation.warnings).toEqual([]);
    }
    expect(a.entries.length).toBeGreaterThan(0);
    expect(b.entries.map((e) => e.cidr)).toEqual(a.entries.map((e) => e.cidr));
    // The waiter used the claimant's copy: its evidence names the claimant's read.
    expect([unchangedSince(a), unchangedSince(b)]).toContain(T0.toISOString());

    // Past the window, four workers at once: one conditional request, answered 304.
    const later = new Date(T0.getTime() + 10 * 60_000);
    const four = await Promise.all(['w', 'x', 'y', 'z'].map((id) => observe(casConfig(id, s.url), s.worker(), later)));
    expect(s.requests()).toHaveLength(2);
    expect(s.requests()[1]!.headers['if-none-match']).toEqual(expect.any(String));
    expect(four.map((o) => [o.status, o.warnings])).toEqual(Array(4).fill(['ok', []]));
  });

  test('a claimant whose read fails keeps nothing and releases: the waiter fetches itself (two requests)', async () => {
    let answered = 0;
    const s = scenario((request, response) => {
      if (answered++ === 0) {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('upstream trouble');
        return;
      }
      return page(request, response);
    });
    const claimant = observe(casConfig('cas-a', s.url), s.worker());
    await until(() => s.requests().length === 1);
    const waiter = await observe(casConfig('cas-b', s.url), s.worker());
    const failed = await claimant;
    expect(failed.status).toBe('error');
    expect(failed.errors).toEqual([expect.objectContaining({ code: 'http-status' })]);
    expect(waiter.status).toBe('ok');
    expect(waiter.warnings).toEqual([]);
    expect(unchangedSince(waiter)).toBeUndefined();
    expect(s.requests()).toHaveLength(2);
    // The waiter asked only once the claimant's answer was in (and its claim released), not beside it.
    expect(s.mostAtOnce()).toBe(1);
  });

  test('a claimant whose observation is partial keeps nothing either: the waiter fetches itself', async () => {
    const s = scenario();
    const broken = parseConfig({
      targets: [{ id: 'cas-x', type: 'cas-docs', url: s.url, dataCenters: ['EU1', 'XX9'], sections: ['portal'] }],
    });
    const claimant = observe(broken, s.worker());
    await until(() => s.requests().length === 1);
    const waiter = await observe(casConfig('cas-b', s.url), s.worker());
    expect((await claimant).status).toBe('partial');
    expect(waiter.status).toBe('ok');
    expect(s.requests()).toHaveLength(2);
    expect(s.mostAtOnce()).toBe(1);
  });

  test('inside one run the configs share the wait as they share the request; another worker still waits', async () => {
    const s = scenario();
    // The run's Blob cache, counting its claim attempts (each config waiting on its own would try every half second).
    const blob = s.worker();
    let takes = 0;
    const run: DocumentCache = {
      get: (url) => blob.get(url),
      put: (document) => blob.put(document),
      confirm: (url, at) => blob.confirm!(url, at),
      leases: { seconds: blob.leases!.seconds, take: (url) => (takes++, blob.leases!.take(url)) },
    };
    const inRun = withSharedFetches(() => Promise.all(['a', 'b', 'c'].map((id) => observe(casConfig(id, s.url), run))));
    await until(() => s.requests().length === 1);
    const other = await observe(casConfig('d', s.url), s.worker());
    expect([...(await inRun), other].map((o) => [o.status, o.warnings])).toEqual(Array(4).fill(['ok', []]));
    expect(s.requests()).toHaveLength(1);
    // One claim for the three configs of the run: b and c joined a's turn instead of waiting on a's claim.
    expect(takes).toBe(1);
  });

  test('http.reuseWithinSeconds 0 never waits, even on a claim another worker holds', async () => {
    const s = scenario();
    const holder = s.worker();
    const held = await holder.leases!.take(s.url);
    expect(held).toBeDefined();
    const observation = await observe(casConfig('cas-a', s.url, { reuseWithinSeconds: 0 }), s.worker());
    expect(observation.status).toBe('ok');
    expect(observation.warnings).toEqual([]);
    expect(s.requests()).toHaveLength(1);
    // The claim was neither waited for nor taken: it is still the holder's.
    expect(await s.worker().leases!.take(s.url)).toBeUndefined();
    await held!.release();
  });
});

describe('a claim that cannot be used never blocks or fails a run', () => {
  test('a lock the identity may not lease: a document-cache warning, and the page is fetched', async () => {
    const s = scenario();
    const readOnly = openDocumentCache(readOnlySas(s.container), { container: s.container });
    const observation = await observe(casConfig('cas-a', s.url), readOnly);
    expect(observation.status).toBe('ok');
    expect(s.requests()).toHaveLength(1);
    expect(observation.warnings[0]).toEqual({
      code: 'document-cache',
      message: expect.stringMatching(
        /^The document cache could not take the claim that keeps workers from fetching http:\/\/127\.0\.0\.1:\d+\/\w+\/page\.md at once, so it was fetched without waiting for the others: taking the lease on blob locks\/[0-9a-f]{64}: Blob Storage answered HTTP 403 .*Storage Blob Data Contributor/,
      ),
    });
    expect(JSON.stringify(observation.warnings)).not.toMatch(/sig=/);
  });

  test('a cache that cannot be reached at all: one warning for the read, none for the claim, and the page is fetched', async () => {
    const s = scenario();
    const nowhere = openDocumentCache(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1',
      {
        container: s.container,
      },
    );
    const observation = await observe(casConfig('cas-a', s.url), nowhere);
    expect(observation.status).toBe('ok');
    expect(s.requests()).toHaveLength(1);
    expect(observation.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^The document cache could not be read for .*could not be reached/),
      expect.stringMatching(/^The document cache could not keep /),
    ]);
  });
});

// Each waits out a 15 s lease (the shortest Blob Storage grants); they run side by side.
describe.concurrent('the wait is bounded by the claim lease', () => {
  test('a claimant that died (its claim never released) holds the others up until its lease lapses', async () => {
    const s = scenario();
    expect(await s.worker(15).leases!.take(s.url)).toBeDefined();
    const observation = await observe(casConfig('cas-a', s.url), s.worker(15));
    expect(observation.status).toBe('ok');
    // Not a wait that ran out: the lapsed claim was taken, used and released.
    expect(observation.warnings).toEqual([]);
    expect(s.requests()).toHaveLength(1);
    const free = await s.worker(15).leases!.take(s.url);
    expect(free).toBeDefined();
    await free!.release();
  }, 60_000);

  test('a claimant whose read outlasted its lease releases nothing of the worker that took the claim next', async () => {
    const s = scenario();
    const slow = await s.worker(15).leases!.take(s.url);
    expect(slow).toBeDefined();
    const observation = await observe(casConfig('cas-a', s.url), s.worker(15));
    expect(observation.warnings).toEqual([]);
    const next = await s.worker(15).leases!.take(s.url);
    expect(next).toBeDefined();
    // The lapsed lease's release is a no-op (409 from Blob Storage), not an error, and the next holder keeps its claim.
    await expect(slow!.release()).resolves.toBeUndefined();
    expect(await s.worker(15).leases!.take(s.url)).toBeUndefined();
    await next!.release();
  }, 60_000);

  test('a lock leased for good by someone else: the wait runs out, says so, and the page is fetched', async () => {
    const s = scenario();
    const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(s.container);
    await container.createIfNotExists();
    const lock = container.getBlockBlobClient(lockName(s.url));
    await lock.upload('', 0);
    await lock.getBlobLeaseClient().acquireLease(-1);
    const observation = await observe(casConfig('cas-a', s.url), s.worker(15));
    expect(observation.status).toBe('ok');
    expect(s.requests()).toHaveLength(1);
    expect(observation.warnings).toEqual([
      {
        code: 'document-cache',
        message: expect.stringMatching(
          /^The document cache waited 16 s for another worker's read of http:\/\/127\.0\.0\.1:\d+\/\w+\/page\.md, whose claim stayed held, so it was fetched here too$/,
        ),
      },
    ]);
  }, 60_000);
});

describe('the claim, through the DocumentCache port', () => {
  test('a claim that cannot be released is a warning; the observation stands', async () => {
    const s = scenario();
    const copies = new Map<string, CachedDocument>();
    const documents: DocumentCache = {
      get: async (url) => copies.get(url),
      put: async (document) => void copies.set(document.url, document),
      leases: {
        seconds: 30,
        take: async () => ({
          release: async () => {
            throw new AllowlistError('document-cache', 'releasing the lease on blob locks/x: Blob Storage answered HTTP 503 ServerBusy');
          },
        }),
      },
    };
    const observation = await observe(casConfig('cas-a', s.url), documents);
    expect(observation.status).toBe('ok');
    expect(copies.has(s.url)).toBe(true);
    expect(observation.warnings).toEqual([
      {
        code: 'document-cache',
        message: expect.stringMatching(
          /^The document cache could not release the claim on http:\/\/127\.0\.0\.1:\d+\/\w+\/page\.md, so other workers wait for it to lapse \(within 30 s\): releasing the lease .*503/,
        ),
      },
    ]);
  });
});

/** A connection string to Azurite's blob service with a SAS that may read the container's blobs and nothing else. */
function readOnlySas(container: string): string {
  const parts = new Map(connectionString.split(';').map((part) => part.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const account = parts.get('AccountName') ?? 'devstoreaccount1';
  const endpoint = parts.get('BlobEndpoint') ?? `http://127.0.0.1:10000/${account}`;
  const sas = generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3_600_000) },
    new StorageSharedKeyCredential(account, parts.get('AccountKey')!),
  ).toString();
  return `BlobEndpoint=${endpoint};SharedAccessSignature=${sas}`;
}
