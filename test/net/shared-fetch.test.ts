import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText, type FetchOptions } from '../../shared/net/http.js';
import { withSharedFetches } from '../../shared/net/shared-fetch.js';
import { routes, startHttpPeer, type HttpPeer } from '../peers/http.js';

/** The per-run share of fetched documents (shared/net/shared-fetch.ts) against a real HTTP server. */

let http: HttpPeer;

beforeAll(async () => {
  http = await startHttpPeer(
    routes({
      '/page.md': { body: '# page\n', contentType: 'text/plain' },
      '/gone.md': { body: 'gone', contentType: 'text/plain', status: 404 },
    }),
  );
});

afterAll(() => http.close());

const options: FetchOptions = { timeoutMs: 5_000, maxBytes: 1024 * 1024, contentTypes: ['text/plain'] };
const gets = (path: string) => http.requests.filter((r) => r.path === path).length;

describe('one fetch per document and run', () => {
  it('inside a share, five fetches of one URL send one GET and get the same text; a new share fetches again', async () => {
    const before = gets('/page.md');
    const texts = await withSharedFetches(() => Promise.all(Array.from({ length: 5 }, () => fetchText(`${http.url}/page.md`, options))));
    expect(texts.map((t) => t.text)).toEqual(Array(5).fill('# page\n'));
    expect(gets('/page.md') - before).toBe(1);
    await withSharedFetches(() => fetchText(`${http.url}/page.md`, options));
    expect(gets('/page.md') - before).toBe(2);
  });

  it('outside a share every call fetches, as a single config always has', async () => {
    const before = gets('/page.md');
    await fetchText(`${http.url}/page.md`, options);
    await fetchText(`${http.url}/page.md`, options);
    expect(gets('/page.md') - before).toBe(2);
  });

  it('another header (a token), other limits or a caller that may abort are fetched on their own', async () => {
    const before = gets('/page.md');
    await withSharedFetches(async () => {
      await fetchText(`${http.url}/page.md`, options);
      await fetchText(`${http.url}/page.md`, { ...options, headers: { authorization: 'Bearer a' } });
      await fetchText(`${http.url}/page.md`, { ...options, maxBytes: 2048 });
      await fetchText(`${http.url}/page.md`, { ...options, signal: new AbortController().signal });
    });
    expect(gets('/page.md') - before).toBe(4);
  });

  it("a failed fetch is every asker's failure in that run, not a retry per config", async () => {
    const before = gets('/gone.md');
    const outcomes = await withSharedFetches(() =>
      Promise.allSettled([fetchText(`${http.url}/gone.md`, options), fetchText(`${http.url}/gone.md`, options)]),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(outcomes.map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(['http-status', 'http-status']);
    expect(gets('/gone.md') - before).toBe(1);
  });
});
