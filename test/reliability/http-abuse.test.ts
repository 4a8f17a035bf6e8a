import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkHandler } from '../../functions/check.js';
import { statusHandler } from '../../functions/status.js';
import { MAX_QUERY_LENGTH, MAX_TARGET_PARAMS } from '../../functions/lib/http-api.js';
import { resetSharedRuntime } from '../../functions/lib/runtime.js';
import type { StateStore } from '../../shared/state/store.js';
import { startHttpPeer, type HttpPeer } from '../peers/http.js';
import { registrations } from '../setup/functions-core.js';
import { configInput, openStore, startPeers, uniqueTableName, type Peers } from './scenario.js';

const connectionString = inject('azuriteConnectionString');
const NAME = 'abuse';
const SETTINGS = ['ALLOWLIST_CONFIG', 'ALLOWLIST_STORAGE', 'ALLOWLIST_TABLE', 'GITHUB_TOKEN'] as const;

let peers: Peers;
/** A server nothing is configured to reach: requests try to point the app at it. */
let canary: HttpPeer;
let store: StateStore;
const saved: Partial<Record<string, string>> = {};

beforeAll(async () => {
  peers = await startPeers();
  canary = await startHttpPeer();
  const tableName = uniqueTableName('abuse');
  store = await openStore(connectionString, tableName);
  for (const key of SETTINGS) saved[key] = process.env[key];
  Object.assign(process.env, {
    ALLOWLIST_CONFIG: JSON.stringify(configInput(NAME, peers, { cas: true })),
    ALLOWLIST_STORAGE: connectionString,
    ALLOWLIST_TABLE: tableName,
    GITHUB_TOKEN: 'ghp_AbuseTestToken000000000000000000000000',
  });
  resetSharedRuntime();
});

afterAll(async () => {
  for (const key of SETTINGS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  resetSharedRuntime();
  await canary.close();
  await peers.close();
});

afterEach(async () => {
  // No check started and nothing reached anything: not DNS, not the upstream, not GitHub, not the canary.
  expect(peers.dns.queries).toEqual([]);
  expect(peers.upstream.requests).toEqual([]);
  expect(peers.github.requests).toEqual([]);
  expect(canary.requests).toEqual([]);
  // No state written, no lease left.
  const state = await store.read(NAME);
  expect(state.targets.size).toBe(0);
  expect(state.config.lastRunId).toBeUndefined();
  await expect(store.acquireLease(NAME, 'probe', 1000).then((lease) => lease.release())).resolves.toBeUndefined();
});

function context(functionName: string): InvocationContext {
  return new InvocationContext({ invocationId: `abuse-${functionName}`, functionName, logHandler: () => undefined });
}

function request(method: string, pathAndQuery: string, init: { body?: string; headers?: Record<string, string> } = {}): HttpRequest {
  return new HttpRequest({
    method,
    url: `https://allowlist-drift.azurewebsites.net${pathAndQuery}`,
    ...(init.body === undefined ? {} : { body: { string: init.body } }),
    ...(init.headers ? { headers: init.headers } : {}),
  });
}

function errorCode(response: HttpResponseInit): string {
  return (response.jsonBody as { error: { code: string } }).error.code;
}

function triggerOf(name: string) {
  const found = registrations.find((r) => r.metadata.name === name);
  expect(found, `function "${name}" registered`).toBeDefined();
  const trigger = Object.values(found!.metadata.bindings).find((b) => b.direction === 'in' && b.type === 'httpTrigger');
  return { trigger: trigger!, handler: found!.handler };
}

describe('issue 6 group 6: HTTP endpoint abuse', () => {
  describe('what the host enforces (registration metadata)', () => {
    it('both HTTP functions require a function key', () => {
      expect(triggerOf('check').trigger.authLevel).toBe('function');
      expect(triggerOf('status').trigger.authLevel).toBe('function');
    });

    it('check is registered for GET and POST only, status for GET only: PUT, DELETE and PATCH never reach them', () => {
      expect((triggerOf('check').trigger.methods as string[]).slice().sort()).toEqual(['GET', 'POST']);
      expect(triggerOf('status').trigger.methods).toEqual(['GET']);
      for (const method of ['PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']) {
        expect(triggerOf('check').trigger.methods).not.toContain(method);
        expect(triggerOf('status').trigger.methods).not.toContain(method);
      }
    });

    it('the registered handlers are the ones tested here', () => {
      expect(triggerOf('check').handler).toBe(checkHandler);
      expect(triggerOf('status').handler).toBe(statusHandler);
    });
  });

  describe('requests refused before any check starts', () => {
    it('an unknown target: 404 naming it', async () => {
      const response = await checkHandler(request('GET', '/api/check?target=no-such-target'), context('check'));
      expect(response.status).toBe(404);
      expect(errorCode(response)).toBe('unknown-target');
      expect((response.jsonBody as { error: { message: string } }).error.message).toContain('"no-such-target"');
    });

    it('an unknown target among known ones, by POST: 404, and the known ones are not checked either', async () => {
      const response = await checkHandler(
        request('POST', '/api/check?target=partners', { body: JSON.stringify({ targets: ['outsystems-prod', 'ghost'] }) }),
        context('check'),
      );
      expect(response.status).toBe(404);
      expect(errorCode(response)).toBe('unknown-target');
    });

    it(`hundreds of target parameters: 400 (at most ${MAX_TARGET_PARAMS})`, async () => {
      const query = Array.from({ length: 300 }, (_, i) => `target=t${i}`).join('&');
      const response = await checkHandler(request('POST', `/api/check?${query}`), context('check'));
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('bad-request');
    });

    it('the same target repeated hundreds of times in a short query: still 400', async () => {
      const response = await checkHandler(request('GET', `/api/check?${'target=partners&'.repeat(120)}`), context('check'));
      expect(response.status).toBe(400);
    });

    it('a very long query string: 400', async () => {
      const response = await checkHandler(request('GET', `/api/check?target=${'a'.repeat(MAX_QUERY_LENGTH * 20)}`), context('check'));
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('bad-request');
    });

    for (const [what, body] of [
      ['a non-JSON body', 'target=partners'],
      ['truncated JSON', '{"targets": ["partners"'],
      ['a JSON array', '["partners"]'],
      ['a JSON string', '"partners"'],
      ['an object with other fields', JSON.stringify({ targets: ['partners'], url: 'http://127.0.0.1:1/' })],
      ['targets that are not ids', JSON.stringify({ targets: ['../../etc/passwd'] })],
      ['a body of 1 MB', JSON.stringify({ targets: ['partners'], padding: 'x'.repeat(1024 * 1024) })],
    ] as const) {
      it(`POST with ${what}: 400`, async () => {
        const response = await checkHandler(
          request('POST', '/api/check', { body, headers: { 'content-type': 'application/json' } }),
          context('check'),
        );
        expect(response.status).toBe(400);
        expect(errorCode(response)).toBe('bad-request');
      });
    }

    it('a request trying to name a host or URL to fetch: 400, and nothing is fetched from it', async () => {
      for (const query of [
        `url=${encodeURIComponent(canary.url)}`,
        `target=${encodeURIComponent(canary.url)}`,
        `host=${encodeURIComponent('127.0.0.1')}`,
      ]) {
        const response = await checkHandler(
          request('POST', `/api/check?${query}`, { headers: { 'x-forwarded-host': canary.url.slice(7), host: canary.url.slice(7) } }),
          context('check'),
        );
        expect(response.status).toBe(400);
      }
      const body = JSON.stringify({ targets: [canary.url] });
      expect((await checkHandler(request('POST', '/api/check', { body }), context('check'))).status).toBe(400);
    });

    it('status with query parameters: 400', async () => {
      const response = await statusHandler(request('GET', '/api/status?target=partners'), context('status'));
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('bad-request');
    });

    it('the handler the host registered refuses the same way', async () => {
      const response = (await triggerOf('check').handler(request('GET', '/api/check?target=BAD_ID'), context('check'))) as HttpResponseInit;
      expect(response.status).toBe(400);
    });
  });

  describe('methods the host would not route, invoked on the handlers anyway', () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      it(`${method} /api/check is 405 with Allow, before anything else is looked at`, async () => {
        for (const url of ['/api/check?target=no-such-target', '/api/check']) {
          const response = await checkHandler(request(method, url, { body: '{}' }), context('check'));
          expect(response.status).toBe(405);
          expect(errorCode(response)).toBe('method-not-allowed');
          expect((response.headers as Record<string, string>).allow).toBe('GET, POST');
        }
      });

      it(`${method} /api/status is 405 with Allow: GET`, async () => {
        const response = await statusHandler(request(method, '/api/status', { body: 'x' }), context('status'));
        expect(response.status).toBe(405);
        expect((response.headers as Record<string, string>).allow).toBe('GET');
      });
    }
  });
});
