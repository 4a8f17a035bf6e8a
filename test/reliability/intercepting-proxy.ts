import { request as httpRequest, createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An intercepting HTTP proxy: real faults between our code and a real server (GitHub peer, Azurite). */

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
}

/** What the proxy does with one request. */
export interface Interception {
  /** Send it on to the real server (default true). */
  readonly forward?: boolean;
  /** Runs after the real server answered and before the answer is relayed (or replaced). */
  readonly afterForward?: () => void | Promise<void>;
  /** Answer with this instead of the real answer (after forwarding when `forward` is true). */
  readonly replaceWith?: { status: number; headers?: Record<string, string>; body?: string };
  /** Never answer: the caller is left waiting, like a process that died before reading the response. */
  readonly hang?: boolean;
}

export interface InterceptingProxy {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  /** `body` is the request's body as text, for a decision that depends on what is asked (which branch a PR is for). */
  intercept(decide: (request: SeenRequest, body: string) => Interception | undefined): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

/** A real HTTP server that forwards every request to `target` unless the test decides otherwise. */
export async function startInterceptingProxy(target: string): Promise<InterceptingProxy> {
  const upstream = new URL(target);
  let decide: (request: SeenRequest, body: string) => Interception | undefined = () => undefined;
  const requests: SeenRequest[] = [];
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const seen = { method: incoming.method ?? 'GET', path: incoming.url ?? '/' };
      requests.push(seen);
      const body = Buffer.concat(chunks);
      const plan = decide(seen, body.toString('utf8')) ?? {};
      void (async () => {
        const real = plan.forward === false ? undefined : await forward(upstream, seen, incoming.headers, body);
        await plan.afterForward?.();
        if (plan.hang) return;
        const answer = plan.replaceWith
          ? {
              status: plan.replaceWith.status,
              headers: { 'content-type': 'application/json', ...plan.replaceWith.headers } as IncomingHttpHeaders,
              body: Buffer.from(plan.replaceWith.body ?? ''),
            }
          : real!;
        const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
        response.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
        response.end(answer.body);
      })().catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    intercept(next) {
      decide = next;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

function forward(
  upstream: URL,
  seen: SeenRequest,
  headers: IncomingHttpHeaders,
  body: Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolveForward, reject) => {
    const outgoing = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: seen.method, path: seen.path, headers: { ...headers, host: upstream.host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolveForward({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Azurite's development-account connection string with the table endpoint moved to a proxy. */
export function throughProxy(connectionString: string, proxy: InterceptingProxy): string {
  return connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+\//, `TableEndpoint=http://127.0.0.1:${proxy.port}/`);
}
