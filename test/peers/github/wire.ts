import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reply } from './replies.js';

/** HTTP plumbing: the Enterprise Server prefix, path escaping for the router, bodies in and out. */

export const API_PREFIX = '/api/v3';
/** Path parameters GitHub accepts with unescaped slashes; the OpenAPI router needs them escaped. */
export const GREEDY_PARAMETER = /^(\/repos\/[^/]+\/[^/]+\/(?:contents|git\/refs|git\/ref|git\/matching-refs|branches))\/(.+)$/;

export function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function send(response: ServerResponse, reply: Reply): void {
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  response.writeHead(reply.status, {
    'content-type': reply.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'x-github-media-type': 'github.v3; format=json',
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '4999',
    ...reply.headers,
  });
  response.end(payload);
}
