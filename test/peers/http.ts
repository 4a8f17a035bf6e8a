import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve, sep } from 'node:path';

const TEST_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

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
  /** Replace the handler between tests. */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 with a free port, for upstream documents and APIs. */
export async function startHttpPeer(handler: Handler = notFound): Promise<HttpPeer> {
  let current = handler;
  const requests: HttpPeer['requests'] = [];
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers });
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

/** Serves fixed bodies by path; anything else is 404. */
export function routes(table: Record<string, { body: string | Buffer; contentType: string; status?: number }>): Handler {
  return (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const route = table[path];
    if (!route) return notFound(request, response);
    response.writeHead(route.status ?? 200, { 'content-type': route.contentType });
    response.end(route.body);
  };
}
