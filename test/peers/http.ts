import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve, sep } from 'node:path';

/**
 * The repository's test/ folder: the nearest folder upward holding package.json, then test/. Found this way rather
 * than beside this module because the bench runs a compiled copy of the peers from .bench/test/peers/.
 */
function testDir(): string {
  for (let dir = fileURLToPath(new URL('.', import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'test');
    if (dirname(dir) === dir) throw new Error('test/peers: no package.json above this module');
  }
}

const TEST_DIR = testDir();

/**
 * The upstream documents the tests serve, kept in the repository (test/fixtures/README.md says where each came from):
 * a clone with nothing beside it, as on a GitHub runner, runs its tests.
 */
export const FIXTURES_DIR = join(TEST_DIR, 'fixtures');

/** A fixture by its path under test/, e.g. `fixtures/cas/network-requirements_2024-06-20.md`. */
export function sharedFile(relative: string): Buffer {
  const file = resolve(TEST_DIR, relative);
  if (!file.startsWith(FIXTURES_DIR + sep)) throw new Error(`${relative}: tests read fixtures from test/fixtures/ only`);
  return readFileSync(file);
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export interface HttpPeer {
  /** Base URL, "http://127.0.0.1:<port>" (no trailing slash). */
  readonly url: string;
  /** Every request seen, in order: method and path with query. */
  readonly requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  /** Bytes of response bodies sent so far (every handler, every status); a 304 sends none. */
  bodyBytes(): number;
  /** Replace the handler between tests. */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 with a free port, for upstream documents and APIs. */
export async function startHttpPeer(handler: Handler = notFound): Promise<HttpPeer> {
  let current = handler;
  const requests: HttpPeer['requests'] = [];
  let bodyBytes = 0;
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers });
    countBody(response, (bytes) => (bodyBytes += bytes));
    Promise.resolve(current(request, response)).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    bodyBytes: () => bodyBytes,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

export function notFound(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('not found');
}

/** Counts what the handler writes as the body, as it goes out (write and end, strings in UTF-8). */
function countBody(response: ServerResponse, add: (bytes: number) => void): void {
  const size = (chunk: unknown) =>
    typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  const write = response.write.bind(response) as (...args: unknown[]) => boolean;
  const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
  response.write = ((chunk: unknown, ...rest: unknown[]) => {
    add(size(chunk));
    return write(chunk, ...rest);
  }) as ServerResponse['write'];
  response.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') add(size(chunk));
    return end(chunk, ...rest);
  }) as ServerResponse['end'];
}

export interface Route {
  readonly body: string | Buffer;
  readonly contentType: string;
  readonly status?: number;
  /**
   * Which validators a 200 carries and a conditional request is judged by (default both, as GitHub, Azure Blob
   * and most CDNs send): the ETag is a hash of the body, Last-Modified `lastModified`.
   */
  readonly validators?: 'both' | 'etag' | 'last-modified' | 'none';
  /** Default: a fixed date, so the same body keeps its Last-Modified between runs. */
  readonly lastModified?: string;
}

const LAST_MODIFIED = 'Thu, 20 Jun 2024 08:00:00 GMT';

/**
 * Serves fixed bodies by path; anything else is 404. Conditional requests are answered as RFC 9110 says: 304 when
 * If-None-Match matches the ETag, or (without If-None-Match) when If-Modified-Since is not before Last-Modified.
 */
export function routes(table: Record<string, Route>): Handler {
  return (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const route = table[path];
    if (!route) return notFound(request, response);
    const status = route.status ?? 200;
    const validators = validatorsOf(route);
    if (status === 200 && notModified(request, validators)) {
      response.writeHead(304, validators);
      response.end();
      return;
    }
    response.writeHead(status, { 'content-type': route.contentType, ...(status === 200 ? validators : {}) });
    response.end(route.body);
  };
}

function validatorsOf(route: Route): { etag?: string; 'last-modified'?: string } {
  const kind = route.validators ?? 'both';
  const etag = `"${createHash('sha256').update(route.body).digest('hex').slice(0, 32)}"`;
  return {
    ...(kind === 'both' || kind === 'etag' ? { etag } : {}),
    ...(kind === 'both' || kind === 'last-modified' ? { 'last-modified': route.lastModified ?? LAST_MODIFIED } : {}),
  };
}

function notModified(request: IncomingMessage, validators: { etag?: string; 'last-modified'?: string }): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = ifNoneMatch.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
    return validators.etag !== undefined && (tags.includes('*') || tags.includes(validators.etag));
  }
  const since = Date.parse(request.headers['if-modified-since'] ?? '');
  const modified = Date.parse(validators['last-modified'] ?? '');
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}
