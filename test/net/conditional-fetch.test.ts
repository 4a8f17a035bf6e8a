import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { parseConfig, type Target } from '../../shared/config.js';
import { stageDocuments, type CachedDocument, type DocumentCache } from '../../shared/net/document-cache.js';
import { conditionalHeaders, fetchDocument, type FetchOptions } from '../../shared/net/http.js';
import { AllowlistError } from '../../shared/problem.js';
import { observeTarget } from '../../shared/sources/index.js';
import { citeEvidence, describeEvidence } from '../../shared/sources/registry.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer, type Route } from '../peers/http.js';

/**
 * fetchDocument against a real HTTP server that honours validators: what it sends, what a 304 hands back, and that
 * only the copy of an ok observation is kept. The cache here is this app's own interface over a Map (the Blob
 * Storage one is tested against Azurite in test/state/blob-document-cache.test.ts).
 */

const page = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
const OPTIONS: FetchOptions = { timeoutMs: 5_000, maxBytes: 1_000_000, contentTypes: ['text/plain'] };
const FIRST = new Date('2026-12-01T10:00:00Z');
const LATER = new Date('2026-12-07T10:00:00Z');

class MapCache implements DocumentCache {
  readonly copies = new Map<string, CachedDocument>();
  async get(url: string) {
    return this.copies.get(url);
  }
  async put(document: CachedDocument) {
    this.copies.set(document.url, document);
  }
}

let peer: HttpPeer;
let cache: MapCache;

beforeAll(async () => {
  peer = await startHttpPeer();
});
afterAll(async () => {
  await peer.close();
});
beforeEach(() => {
  cache = new MapCache();
});

function serve(route: Partial<Route> & { body: string | Buffer }): string {
  peer.handle(routes({ '/doc.txt': { contentType: 'text/plain', ...route } }));
  return `${peer.url}/doc.txt`;
}

/** The conditional headers of the last request the peer saw. */
function lastConditions(): { ifNoneMatch?: string; ifModifiedSince?: string } {
  const { headers } = peer.requests.at(-1)!;
  return {
    ...(headers['if-none-match'] ? { ifNoneMatch: headers['if-none-match'] } : {}),
    ...(headers['if-modified-since'] ? { ifModifiedSince: String(headers['if-modified-since']) } : {}),
  };
}

describe('fetchDocument', () => {
  test.each([
    ['an ETag', 'etag' as const, 'ifNoneMatch'],
    ['a Last-Modified date', 'last-modified' as const, 'ifModifiedSince'],
  ])('with %s, the second fetch is a 304 that hands back the cached copy and downloads no body', async (_, validators, header) => {
    const url = serve({ body: 'v1 body\n', validators });
    const first = await fetchDocument(url, OPTIONS, { documents: cache, now: () => FIRST });
    expect(first).toMatchObject({ status: 200, text: 'v1 body\n' });
    expect(first.unchangedSince).toBeUndefined();
    expect(cache.copies.get(url)).toMatchObject({ url, text: 'v1 body\n', contentType: 'text/plain', validatedAt: FIRST.toISOString() });

    const bytes = peer.bodyBytes();
    const second = await fetchDocument(url, OPTIONS, { documents: cache, now: () => LATER });
    expect(Object.keys(lastConditions())).toEqual([header]);
    expect(second).toMatchObject({ status: 304, text: 'v1 body\n', contentType: 'text/plain', unchangedSince: FIRST.toISOString() });
    expect(peer.bodyBytes()).toBe(bytes);
    // A 304 leaves the copy as it was: "unchanged since" stays the time of the full read.
    expect(cache.copies.get(url)?.validatedAt).toBe(FIRST.toISOString());
  });

  test('a server without validators is read in full every time, and nothing is cached', async () => {
    const url = serve({ body: 'plain\n', validators: 'none' });
    await fetchDocument(url, OPTIONS, { documents: cache, now: () => FIRST });
    expect(cache.copies.size).toBe(0);
    const bytes = peer.bodyBytes();
    const second = await fetchDocument(url, OPTIONS, { documents: cache, now: () => LATER });
    expect(lastConditions()).toEqual({});
    expect(second).toMatchObject({ status: 200, text: 'plain\n' });
    expect(peer.bodyBytes() - bytes).toBe(Buffer.byteLength('plain\n'));
  });

  test('a changed document after a 304 is read in full and replaces the copy', async () => {
    const url = serve({ body: 'v1\n' });
    await fetchDocument(url, OPTIONS, { documents: cache, now: () => FIRST });
    expect((await fetchDocument(url, OPTIONS, { documents: cache, now: () => FIRST })).status).toBe(304);

    serve({ body: 'v2, longer\n', lastModified: 'Mon, 07 Dec 2026 09:00:00 GMT' });
    const bytes = peer.bodyBytes();
    const changed = await fetchDocument(url, OPTIONS, { documents: cache, now: () => LATER });
    expect(changed).toMatchObject({ status: 200, text: 'v2, longer\n' });
    expect(changed.unchangedSince).toBeUndefined();
    expect(peer.bodyBytes() - bytes).toBe(Buffer.byteLength('v2, longer\n'));
    expect(cache.copies.get(url)).toMatchObject({ text: 'v2, longer\n', validatedAt: LATER.toISOString() });
  });

  test('a 304 to a request that named no cached copy is a clear error, not an empty document', async () => {
    peer.handle((_request, response) => {
      response.writeHead(304);
      response.end();
    });
    const failure = await fetchDocument(`${peer.url}/doc.txt`, OPTIONS, { documents: cache, now: () => FIRST }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AllowlistError);
    expect(failure).toMatchObject({ code: 'http-not-modified' });
    expect((failure as Error).message).toContain('named no cached copy');
  });

  test('garbage validators from the server are not sent back: the next fetch is a full GET', async () => {
    peer.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain', 'last-modified': 'sometime last week' });
      response.end('odd\n');
    });
    const url = `${peer.url}/doc.txt`;
    await fetchDocument(url, OPTIONS, { documents: cache, now: () => FIRST });
    expect(cache.copies.size).toBe(0);
    const second = await fetchDocument(url, OPTIONS, { documents: cache, now: () => LATER });
    expect(lastConditions()).toEqual({});
    expect(second.status).toBe(200);
  });

  test('validators a tampered or foreign cache holds are checked before they become headers', () => {
    expect(conditionalHeaders({ etag: '"a"\r\nx-injected: 1', lastModified: 'yesterday' })).toEqual({});
    expect(conditionalHeaders({ etag: '"caf\u00e9"', lastModified: 'Thu, 20 Jun 2024 08:00:00 GMT' })).toEqual({
      'if-modified-since': 'Thu, 20 Jun 2024 08:00:00 GMT',
    });
    expect(conditionalHeaders({ etag: 'W/"123-abc"' })).toEqual({ 'if-none-match': 'W/"123-abc"' });
  });

  test('a cached copy of a type the target no longer accepts is not used', async () => {
    const url = serve({ body: 'v1\n' });
    await cache.put({ url, text: 'old html', contentType: 'text/html', etag: 'x', validatedAt: FIRST.toISOString() });
    const fetched = await fetchDocument(url, OPTIONS, { documents: cache, now: () => LATER });
    expect(lastConditions()).toEqual({});
    expect(fetched.text).toBe('v1\n');
  });
});

describe('only a complete read is kept (observeTarget stages the copy)', () => {
  function casTarget(url: string, dataCenters: string[]): { target: Target; config: ReturnType<typeof parseConfig> } {
    const config = parseConfig({ targets: [{ id: 'cas', type: 'cas-docs', url, dataCenters, sections: ['portal'] }] });
    return { target: config.targets[0]!, config };
  }

  test('a partial observation keeps no copy, so the next run downloads the page in full and never reuses that read', async () => {
    const url = serve({ body: page });
    const { target, config } = casTarget(url, ['EU1', 'XX9']);
    const partial = await observeTarget(target, { config, env: {}, now: () => FIRST, documents: cache });
    expect(partial.status).toBe('partial');
    expect(cache.copies.size).toBe(0);

    const bytes = peer.bodyBytes();
    const again = await observeTarget(target, { config, env: {}, now: () => LATER, documents: cache });
    expect(lastConditions()).toEqual({});
    expect(peer.bodyBytes() - bytes).toBe(page.byteLength);
    expect(again.status).toBe('partial');
  });

  test('an ok observation keeps the copy; the next run gets a 304, parses the copy again and says "unchanged since"', async () => {
    const url = serve({ body: page });
    const { target, config } = casTarget(url, ['EU1']);
    const first = await observeTarget(target, { config, env: {}, now: () => FIRST, documents: cache });
    expect(first.status).toBe('ok');
    expect(cache.copies.get(url)?.validatedAt).toBe(FIRST.toISOString());

    const bytes = peer.bodyBytes();
    const second = await observeTarget(target, { config, env: {}, now: () => LATER, documents: cache });
    expect(peer.bodyBytes()).toBe(bytes);
    expect(second.status).toBe('ok');
    expect(second.entries.map((e) => e.cidr)).toEqual(first.entries.map((e) => e.cidr));
    expect(second.entries[0]!.evidence[0]).toMatchObject({ kind: 'cas', unchangedSince: FIRST.toISOString() });

    // Another selection of the same page: the cached body is parsed again for it, not the other target's result.
    const wider = casTarget(url, ['EU1', 'US1']);
    const widened = await observeTarget(wider.target, { config: wider.config, env: {}, now: () => LATER, documents: cache });
    expect(peer.bodyBytes()).toBe(bytes);
    expect(widened.entries.length).toBeGreaterThan(second.entries.length);
  });

  test('a cache that cannot be read or written: the page is fetched in full and a warning says so', async () => {
    const url = serve({ body: page });
    const { target, config } = casTarget(url, ['EU1']);
    const broken: DocumentCache = {
      get: async () => {
        throw new AllowlistError('document-cache-unreadable', 'blob abc is not a cached document');
      },
      put: async () => {
        throw new TypeError('socket hang up at https://acct.blob.core.windows.net/?sig=SECRET');
      },
    };
    const observation = await observeTarget(target, { config, env: {}, now: () => FIRST, documents: broken });
    expect(observation.status).toBe('ok');
    expect(observation.warnings.filter((w) => w.code === 'document-cache').map((w) => w.message)).toEqual([
      expect.stringMatching(/could not be read for .*doc\.txt, so the document was downloaded in full: blob abc is not a cached document/),
      expect.stringMatching(/could not keep .*doc\.txt, so the next run downloads it in full again: TypeError \(unexpected\)/),
    ]);
    expect(JSON.stringify(observation)).not.toContain('SECRET');
  });

  test('stageDocuments drops the held copies of an observation that is not ok', async () => {
    const staged = stageDocuments(cache);
    await staged.documents.put({
      url: 'https://x.test/a',
      text: 'a',
      contentType: 'text/plain',
      etag: '"1"',
      validatedAt: FIRST.toISOString(),
    });
    expect(await staged.documents.get('https://x.test/a')).toMatchObject({ text: 'a' });
    expect(await staged.settle(false)).toEqual([]);
    expect(cache.copies.size).toBe(0);
  });
});

describe('what a reviewer reads of a 304', () => {
  const plain = (text: string) => text;
  const link = (_url: string, text: string) => text;
  const since = '2026-12-01T10:00:00.000Z';

  test.each([
    [{ kind: 'cas', section: 'mail', dataCenter: 'global', heading: 'Mail', revision: '2024-06-20', unchangedSince: since }],
    [{ kind: 'odc', purpose: 'runtime', region: 'eu', stage: 'production', heading: 'EU', revision: 'sha256:ab', unchangedSince: since }],
    [{ kind: 'service-tag', tag: 'MicrosoftCloudAppSecurity', tagChangeNumber: 3, fileChangeNumber: 400, unchangedSince: since }],
    [
      {
        kind: 'aws-ip-range',
        service: 'EC2',
        region: 'eu-west-1',
        syncToken: '1610525658',
        createDate: '2021-01-13-08-14-18',
        url: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
        unchangedSince: since,
      },
    ],
    [{ kind: 'github-meta', key: 'hooks', revision: 'sha256:ab', url: 'https://api.github.com/meta', unchangedSince: since }],
    [{ kind: 'json', url: 'https://www.gstatic.com/ipranges/cloud.json', select: 'prefixes[].ipv4Prefix', unchangedSince: since }],
    [{ kind: 'text', url: 'https://www.cloudflare.com/ips-v4', unchangedSince: since }],
  ] as const)('%o: the citation detail and the description say since when the document is unchanged', (evidence) => {
    expect(citeEvidence(evidence, plain, link).detail).toContain('unchanged since 2026-12-01 10:00 UTC');
    expect(describeEvidence(evidence, plain)).toContain('unchanged since 2026-12-01 10:00 UTC');
    // The source part groups citations and enters the PR's fingerprint: it does not carry the time.
    expect(citeEvidence(evidence, plain, link).source).not.toContain('unchanged');
    const { unchangedSince: _, ...read } = evidence;
    expect(citeEvidence(read, plain, link).detail ?? '').not.toContain('unchanged');
  });
});
