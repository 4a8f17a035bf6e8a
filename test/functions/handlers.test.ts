import { HttpRequest, InvocationContext, type HttpResponseInit, type Timer } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { approveHandler } from '../../functions/approve.js';
import { checkHandler } from '../../functions/check.js';
import { statusHandler } from '../../functions/status.js';
import { scheduledCheck } from '../../functions/timers.js';
import { parseConfig } from '../../shared/config.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import type { Report } from '../../shared/report.js';
import { resetSharedRuntime } from '../../functions/lib/runtime.js';
import type { Snapshot } from '../../shared/state/records.js';
import { StateStore } from '../../shared/state/store.js';
import { registrations } from '../setup/functions-core.js';
import { startGitHubPeer } from '../peers/github/index.js';
import { startDnsPeer, type DnsPeer } from '../peers/dns.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../peers/http.js';
import { recordedInvocation, type Logged } from './invocation.js';

const TABLE = 'handlerstest';
const BASE = 'https://allowlist-drift.azurewebsites.net/api';

let dns: DnsPeer;
let http: HttpPeer;
let store: StateStore;

beforeAll(async () => {
  dns = await startDnsPeer({
    'fe1.acme.test': { kind: 'answer', a: ['20.50.1.10'] },
    'fe2.acme.test': { kind: 'answer', a: ['20.50.1.20'] },
    'fe-gone.acme.test': { kind: 'nxdomain' },
    'fe-doc.acme.test': { kind: 'answer', a: ['192.0.2.10'] },
  });
  http = await startHttpPeer(
    routes({
      '/network-requirements.md': {
        body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'),
        contentType: 'text/plain; charset=utf-8',
      },
    }),
  );
  process.env.ALLOWLIST_STORAGE = inject('azuriteConnectionString');
  process.env.ALLOWLIST_TABLE = TABLE;
  delete process.env.AzureWebJobsStorage;
  delete process.env.ALLOWLIST_CONFIG_PATH;
  store = StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: TABLE });
  await store.ensureTable();
});

afterAll(async () => {
  await Promise.all([dns.close(), http.close()]);
});

beforeEach(() => {
  resetSharedRuntime();
});

/** Each scenario uses its own config name, hence its own partition of the shared table. */
function configJson(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    dns: { servers: [dns.server], timeoutMs: 1_000, tries: 1 },
    targets: [
      { id: 'partners', type: 'static', entries: ['20.60.1.5', '20.60.0.0/28'] },
      { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test', 'fe2.acme.test'] },
      { id: 'acme-broken', type: 'outsystems', frontEnds: ['fe-gone.acme.test'] },
      { id: 'cas-mail', type: 'cas-docs', url: `${http.url}/network-requirements.md`, dataCenters: '*', sections: ['mail'] },
    ],
    files: [{ path: 'edl/acme.txt', format: 'plain', targets: ['acme-prod', 'partners'] }],
    ...extra,
  };
}

function useConfig(name: string): void {
  process.env.ALLOWLIST_CONFIG = JSON.stringify(configJson(name));
}

const invocation = (functionName: string) => recordedInvocation({ functionName });

function get(path: string): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `${BASE}/${path}`, headers: { 'x-functions-key': 'not-checked-here' } });
}

function post(path: string, body?: string): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: `${BASE}/${path}`,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: { string: body } }),
  });
}

async function callCheck(request: HttpRequest): Promise<HttpResponseInit> {
  return checkHandler(request, invocation('check').context);
}

const bodyOf = (response: HttpResponseInit) => response.jsonBody as Record<string, unknown> & { error?: { code: string; message: string } };
const reportOf = (response: HttpResponseInit) => response.jsonBody as Report;

function withoutLease(snapshot: Snapshot): Snapshot {
  return { config: snapshot.config, targets: snapshot.targets };
}

describe('GET /api/check: a dry run', () => {
  it('answers 200 with the JSON report and leaves the stored state exactly as it was', async () => {
    useConfig('dry');
    await callCheck(post('check'));
    const before = withoutLease(await store.read('dry'));
    expect(before.targets.size).toBe(4);

    const response = await callCheck(get('check'));
    expect(response.status).toBe(200);
    expect(response.headers).toMatchObject({ 'cache-control': 'no-store' });
    const report = reportOf(response);
    expect(report).toMatchObject({ configName: 'dry', trigger: 'http', dryRun: true, pullRequest: { action: 'dry-run' } });
    const byId = new Map(report.targets.map((t) => [t.id, t]));
    expect([...byId.keys()].sort()).toEqual(['acme-broken', 'acme-prod', 'cas-mail', 'partners']);
    expect(byId.get('acme-prod')).toMatchObject({ status: 'ok', observed: ['20.50.1.10/32', '20.50.1.20/32'] });
    expect(byId.get('partners')).toMatchObject({ status: 'ok', observed: ['20.60.0.0/28', '20.60.1.5/32'] });
    expect(byId.get('acme-broken')!.status).toBe('error');
    expect(byId.get('cas-mail')!.observed).toContain('94.245.112.0/27');
    expect(report.pullRequest.diff).toContain('+20.50.1.20/32');

    expect(withoutLease(await store.read('dry'))).toEqual(before);
  });

  it('checks only the targets named with ?target=', async () => {
    useConfig('dry-subset');
    const documentFetches = http.requests.length;
    const report = reportOf(await callCheck(get('check?target=partners&target=acme-prod&target=partners')));
    expect(report.targets.map((t) => t.id).sort()).toEqual(['acme-prod', 'partners']);
    expect(http.requests).toHaveLength(documentFetches);
  });

  it('answers 404 naming an id that no target has', async () => {
    useConfig('dry-unknown');
    const response = await callCheck(get('check?target=partners&target=nope'));
    expect(response.status).toBe(404);
    expect(bodyOf(response).error).toMatchObject({ code: 'unknown-target' });
    expect(bodyOf(response).error!.message).toContain('"nope"');
  });
});

describe('malformed requests are refused with 400 before any work', () => {
  const cases: Array<[string, () => HttpRequest, RegExp]> = [
    ['a target id that cannot be one', () => get('check?target=Acme_Prod'), /"target" must be a configured target id/],
    ['an unknown query parameter', () => get('check?host=evil.example'), /unknown query parameter "host"/],
    ['more than 50 targets', () => get(`check?${Array.from({ length: 51 }, (_, i) => `target=t${i}`).join('&')}`), /at most 50/],
    ['a very long query string', () => get(`check?target=${'a'.repeat(3_000)}`), /longer than 2048/],
    ['a body that is not JSON', () => post('check', 'targets=partners'), /JSON object/],
    ['a JSON array body', () => post('check', '["partners"]'), /must be a JSON object/],
    ['a body over 4 KiB', () => post('check', JSON.stringify({ targets: Array(600).fill('partners') })), /larger than 4096 bytes/],
    ['an unknown body field', () => post('check', '{"url":"http://evil.example"}'), /unknown body field "url"/],
    ['status with a query parameter', () => get('status?verbose=1'), /unknown query parameter "verbose"; status takes only "config"/],
  ];
  it.each(cases)('%s', async (_name, request, message) => {
    useConfig('malformed');
    const req = request();
    const handler = new URL(req.url).pathname.endsWith('/status') ? statusHandler : checkHandler;
    const response = await handler(req, invocation('check').context);
    expect(response.status).toBe(400);
    expect(bodyOf(response).error).toMatchObject({ code: 'bad-request', message: expect.stringMatching(message) });
    expect((await store.read('malformed')).targets.size).toBe(0);
  });
});

describe('request bodies are read only up to the limit', () => {
  /**
   * A real HttpRequest over a streamed body, as the host builds it when it streams: 20 MB of JSON that is produced
   * only as it is pulled, so the count of bytes produced is what the handler read.
   */
  function hugeRequest(path: string, headers: Record<string, string> = {}): { request: HttpRequest; pulled: () => number } {
    const total = 20 * 1024 * 1024;
    const chunk = new TextEncoder().encode(`{"targets":["partners"],"padding":"${'x'.repeat(64 * 1024)}`);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= total) return controller.close();
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const nativeRequest = new Request(`${BASE}/${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      duplex: 'half',
    } as RequestInit);
    // The host hands the handler an HttpRequest around such a Request; the typed init leaves that field out.
    return { request: new HttpRequest({ nativeRequest } as never), pulled: () => pulled };
  }

  it('refuses a 20 MB chunked check body after reading little more than 4 KiB of it', async () => {
    useConfig('huge-body');
    const { request, pulled } = hugeRequest('check');
    const response = await checkHandler(request, invocation('check').context);
    expect(response.status).toBe(400);
    expect(bodyOf(response).error).toMatchObject({ code: 'bad-request', message: 'the body is larger than 4096 bytes' });
    // One chunk past the limit, plus what the stream buffers ahead (its high-water mark is one chunk).
    expect(pulled()).toBeLessThanOrEqual(3 * 64 * 1024);
    expect((await store.read('huge-body')).targets.size).toBe(0);
  });

  it('refuses a body whose Content-Length is over the limit without reading any of it', async () => {
    useConfig('huge-body');
    const { request, pulled } = hugeRequest('check', { 'content-length': String(20 * 1024 * 1024) });
    const response = await checkHandler(request, invocation('check').context);
    expect(response.status).toBe(400);
    expect(bodyOf(response).error).toMatchObject({ code: 'bad-request', message: 'the body is larger than 4096 bytes' });
    expect(pulled()).toBeLessThanOrEqual(64 * 1024 + 100);
  });

  it('approve reads no body at all', async () => {
    useConfig('huge-body');
    const { request, pulled } = hugeRequest('approve?target=partners');
    const response = await approveHandler(request, invocation('approve').context);
    expect(response.status).toBe(409);
    expect(pulled()).toBeLessThanOrEqual(64 * 1024 + 100);
  });
});

describe('POST /api/check: a full run', () => {
  it('stores what it observed and reports it', async () => {
    useConfig('full');
    const { context, logs } = invocation('check');
    const response = await checkHandler(post('check', '{"targets":["partners","acme-prod"]}'), context);
    expect(response.status).toBe(200);
    // Found drift with nowhere to publish it is a warning; the summary follows.
    expect(logs.filter((l) => l.level !== 'information' && l.level !== 'debug').map((l) => l.text)).toEqual([
      expect.stringMatching(/^pull request none: waits for a person \{"event":"allowlist-drift\.pull-request",.*"github\\" block/),
    ]);
    expect(logs.at(-1)!.text).toMatch(/^check done: 2 target\(s\): 2 ok, 0 partial, 0 held, 0 error; pull request: none \{/);
    const report = reportOf(response);
    expect(report).toMatchObject({ dryRun: false, trigger: 'http', errors: [] });
    expect(report.pullRequest).toMatchObject({ action: 'none', message: expect.stringContaining('no "github" block') });
    const state = await store.read('full');
    expect(state.config.lastRunId).toBe(report.runId);
    expect([...state.targets.keys()].sort()).toEqual(['acme-prod', 'partners']);
    expect(state.targets.get('acme-prod')!.proposed).toEqual(['20.50.1.10/32', '20.50.1.20/32']);
  });

  it('answers 409 with Retry-After while another run holds the lease, and a dry run still works', async () => {
    useConfig('busy');
    const lease = await store.acquireLease('busy', 'timer-run-elsewhere', 90_000);
    try {
      const response = await callCheck(post('check'));
      expect(response.status).toBe(409);
      expect(bodyOf(response).error).toMatchObject({ code: 'run-in-progress' });
      const retryAfter = Number((response.headers as Record<string, string>)['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(90);
      expect((await store.read('busy')).targets.size).toBe(0);
      expect((await callCheck(get('check?target=partners'))).status).toBe(200);
    } finally {
      await lease.release();
    }
    expect((await callCheck(post('check'))).status).toBe(200);
  });
});

describe('GET /api/status', () => {
  it('shows last check time, status, counts, last errors, pending removals and the PR, without running a check', async () => {
    useConfig('status');
    const fresh = await statusHandler(get('status'), invocation('status').context);
    expect(fresh.status).toBe(200);
    expect(bodyOf(fresh)).toMatchObject({ configName: 'status', lastRunAt: null, pullRequest: null });
    expect((bodyOf(fresh).targets as Array<{ status: string }>).map((t) => t.status)).toEqual(Array(4).fill('never-checked'));

    const config = parseConfig(configJson('status'));
    await acceptObservation({ config, store, env: {}, targetId: 'acme-prod' });
    dns.set('fe2.acme.test', { kind: 'answer', a: ['20.50.1.21'] });
    try {
      const run = reportOf(await callCheck(post('check')));
      const queriesBefore = dns.queries.length;

      const response = await statusHandler(get('status?code=function-key'), invocation('status').context);
      expect(response.status).toBe(200);
      const status = bodyOf(response) as unknown as {
        lastRunAt: string;
        pullRequest: unknown;
        targets: Array<{
          id: string;
          status: string;
          lastCheckAt: string | null;
          lastGoodCheckAt: string | null;
          heldBy: unknown[];
          baselineCount: number;
          observedCount: number;
          pendingRemoval: unknown[];
          lastErrors: Array<{ code: string }>;
        }>;
      };
      expect(Date.parse(status.lastRunAt)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
      expect(Date.parse(status.lastRunAt)).toBeLessThanOrEqual(Date.parse(run.finishedAt));
      expect(status.pullRequest).toBeNull();
      const acme = status.targets.find((t) => t.id === 'acme-prod')!;
      expect(acme).toMatchObject({
        status: 'ok',
        baselineCount: 2,
        observedCount: 2,
        pendingRemoval: [{ cidr: '20.50.1.20/32', misses: 1 }],
        lastErrors: [],
      });
      expect(Date.parse(acme.lastCheckAt!)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
      expect(acme).toMatchObject({ lastGoodCheckAt: acme.lastCheckAt, heldBy: [] });
      const broken = status.targets.find((t) => t.id === 'acme-broken')!;
      expect(broken.status).toBe('error');
      expect(broken.lastGoodCheckAt).toBeNull();
      expect(broken.lastErrors.length).toBeGreaterThan(0);
      expect(broken.lastErrors[0]!.code).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(dns.queries.length).toBe(queriesBefore);
    } finally {
      dns.set('fe2.acme.test', { kind: 'answer', a: ['20.50.1.20'] });
    }
  });
});

describe('GET /api/status with an open pull request', () => {
  it('shows the PR a full run opened through the GitHub API', async () => {
    const token = 'ghp_HandlerTest0Token0123456789abcdef0';
    const github = await startGitHubPeer({ token, files: { 'README.md': '# network\n' } });
    process.env.GITHUB_TOKEN = token;
    try {
      process.env.ALLOWLIST_CONFIG = JSON.stringify(
        configJson('status-pr', { github: { owner: github.owner, repo: github.repo, apiUrl: github.url } }),
      );
      const run = reportOf(await callCheck(post('check', '{"targets":["partners","acme-prod"]}')));
      expect(run.errors).toEqual([]);
      expect(run.pullRequest).toMatchObject({ action: 'created', number: expect.any(Number) });

      const status = bodyOf(await statusHandler(get('status'), invocation('status').context));
      expect(status.pullRequest).toEqual({
        number: run.pullRequest.number,
        url: run.pullRequest.url,
        state: 'open',
        fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
      expect(JSON.stringify(status)).not.toContain(token);
      expect(github.violations).toEqual([]);
    } finally {
      delete process.env.GITHUB_TOKEN;
      await github.close();
    }
  });
});

describe('an invalid configuration', () => {
  it('answers 500 listing every problem, with no stack trace, on both endpoints', async () => {
    process.env.ALLOWLIST_CONFIG = JSON.stringify({
      name: 'broken',
      targets: [
        { id: 'Bad Id', type: 'static', entries: ['192.0.2.1'] },
        { id: 'os', type: 'outsystems', frontEnds: [] },
      ],
      files: [{ path: 'edl/x.txt', format: 'plain', targets: ['missing'] }],
    });
    const logs: Logged[] = [];
    for (const response of [
      await checkHandler(
        get('check'),
        new InvocationContext({ logHandler: (level, ...args) => logs.push({ level, text: args.join(' ') }) }),
      ),
      await statusHandler(
        get('status'),
        new InvocationContext({ logHandler: (level, ...args) => logs.push({ level, text: args.join(' ') }) }),
      ),
    ]) {
      expect(response.status).toBe(500);
      const error = bodyOf(response).error as unknown as { code: string; problems: string[] };
      expect(error.code).toBe('config-invalid');
      expect(error.problems).toHaveLength(3);
      expect(error.problems.join('\n')).toMatch(/targets\[0\]\.id/);
      expect(error.problems.join('\n')).toMatch(/targets\[1\]\.frontEnds/);
      expect(error.problems.join('\n')).toMatch(/files\[0\]\.targets\[0\]/);
      expect(JSON.stringify(response.jsonBody)).not.toMatch(/\n\s+at |\.ts:\d+|\.js:\d+/);
    }
    expect(logs.filter((l) => l.level === 'error')).toHaveLength(2);
  });
});

function timer(isPastDue: boolean): Timer {
  const now = new Date().toISOString();
  return { isPastDue, schedule: { adjustForDST: true }, scheduleStatus: { last: now, next: now, lastUpdated: now } };
}

describe('timers', () => {
  it('the registered OutSystems timer checks only OutSystems targets and stores them', async () => {
    useConfig('timer-types');
    const registered = registrations.find((r) => r.metadata.name === 'outsystemsCheck');
    expect(registered).toBeDefined();
    const { context, logs } = invocation('outsystemsCheck');
    await registered!.handler(timer(false), context);
    const state = await store.read('timer-types');
    expect([...state.targets.keys()].sort()).toEqual(['acme-broken', 'acme-prod']);
    expect(state.targets.get('acme-prod')!.lastStatus).toBe('ok');
    // One error line for the target that failed, one summary line; acme-prod is ok and says nothing more.
    expect(logs.filter((l) => l.level === 'error').map((l) => l.text)).toEqual([
      expect.stringMatching(/^target acme-broken: error \(dns-no-addresses\) \{"event":"allowlist-drift\.target",.*"status":"error"/),
    ]);
    expect(logs.filter((l) => l.text.includes('"event":"allowlist-drift.target"'))).toHaveLength(1);
    expect(logs).toContainEqual({
      level: 'information',
      text: expect.stringMatching(
        /^check done: 2 target\(s\): 1 ok, 0 partial, 0 held, 1 error; pull request: none \{"event":"allowlist-drift\.run",/,
      ),
    });
    expect(logs.some((l) => l.level === 'warning' && /past due/.test(l.text))).toBe(false);
  });

  it('the registered CAS timer checks the document, service-tag and static targets', async () => {
    useConfig('timer-cas');
    const registered = registrations.find((r) => r.metadata.name === 'casCheck')!;
    await registered.handler(timer(false), invocation('casCheck').context);
    const state = await store.read('timer-cas');
    expect([...state.targets.keys()].sort()).toEqual(['cas-mail', 'partners']);
  });

  it('says so when a run is late (past due) and still runs', async () => {
    useConfig('timer-late');
    const { context, logs } = invocation('outsystemsCheck');
    await scheduledCheck(['static'])(timer(true), context);
    expect(logs.find((l) => l.level === 'warning')?.text).toMatch(/outsystemsCheck is running late \(past due\)/);
    expect((await store.read('timer-late')).targets.has('partners')).toBe(true);
  });

  it('skips with a warning, without throwing, while another run holds the lease', async () => {
    useConfig('timer-busy');
    const lease = await store.acquireLease('timer-busy', 'http-run-elsewhere', 60_000);
    try {
      const { context, logs } = invocation('casCheck');
      await expect(scheduledCheck(['static'])(timer(false), context)).resolves.toBeUndefined();
      expect(logs).toContainEqual({
        level: 'warning',
        text: expect.stringMatching(/^skipped: Another run \(http-run-elsewhere\) holds the lease/),
      });
      expect(logs.some((l) => l.level === 'error')).toBe(false);
      expect((await store.read('timer-busy')).targets.size).toBe(0);
    } finally {
      await lease.release();
    }
  });

  it('fails the invocation when the configuration is invalid, so the host records the failure', async () => {
    process.env.ALLOWLIST_CONFIG = '{"targets": []}';
    await expect(scheduledCheck(['static'])(timer(false), invocation('casCheck').context)).rejects.toMatchObject({
      code: 'config-invalid',
    });
  });
});

describe('POST /api/approve: releasing a hold', () => {
  const callApprove = (request: HttpRequest) => approveHandler(request, invocation('approve').context);

  it('refuses when nothing is held or the fingerprint is not the held one (409), and releases the shown change', async () => {
    const docs = { id: 'docs-range', type: 'outsystems', frontEnds: ['fe-doc.acme.test'] };
    process.env.ALLOWLIST_CONFIG = JSON.stringify({ ...configJson('approve'), targets: [docs], files: [] });
    const early = await callApprove(post('approve?target=docs-range'));
    expect(early.status).toBe(409);
    expect(bodyOf(early).error).toMatchObject({ code: 'approve-nothing-held' });

    const held = reportOf(await callCheck(post('check'))).targets[0]!;
    expect(held).toMatchObject({ status: 'held', held: { added: ['192.0.2.10/32'], removed: [] } });
    const fingerprint = held.held!.fingerprint;

    const stale = await callApprove(post('approve?target=docs-range&fingerprint=0000000000000000'));
    expect(stale.status).toBe(409);
    expect(bodyOf(stale).error).toMatchObject({ code: 'approve-changed' });
    expect((await callApprove(get(`approve?target=docs-range&fingerprint=${fingerprint}`))).status).toBe(405);
    expect((await store.read('approve')).targets.get('docs-range')!.approval).toBeUndefined();

    const approved = await callApprove(post(`approve?target=docs-range&fingerprint=${fingerprint}`));
    expect(approved.status).toBe(200);
    expect(bodyOf(approved)).toMatchObject({ targetId: 'docs-range', approval: { fingerprint, source: 'http' } });
    const released = reportOf(await callCheck(post('check'))).targets[0]!;
    expect(released).toMatchObject({ status: 'ok', added: ['192.0.2.10/32'], approval: { fingerprint, source: 'http' } });
  });

  it.each([
    ['no target', 'approve', /"target" must be given once/],
    ['two targets', 'approve?target=a&target=b', /"target" must be given once/],
    ['an unknown parameter', 'approve?target=partners&url=x', /only "target", "fingerprint" and "config"/],
    ['a fingerprint that cannot be one', 'approve?target=partners&fingerprint=XYZ', /16 hexadecimal digits/],
  ])('answers 400 for %s', async (_name, path, message) => {
    useConfig('approve-malformed');
    const response = await callApprove(post(path));
    expect(response.status).toBe(400);
    expect(bodyOf(response).error).toMatchObject({ code: 'bad-request', message: expect.stringMatching(message) });
  });
});

describe('what the host calls', () => {
  it('registers the exported handlers themselves', () => {
    expect(registrations.find((r) => r.metadata.name === 'check')?.handler).toBe(checkHandler);
    expect(registrations.find((r) => r.metadata.name === 'status')?.handler).toBe(statusHandler);
    expect(registrations.find((r) => r.metadata.name === 'approve')?.handler).toBe(approveHandler);
  });

  it('the registered check handler answers a real request', async () => {
    useConfig('registered');
    const handler = registrations.find((r) => r.metadata.name === 'check')!.handler as typeof checkHandler;
    const response = await handler(get('check?target=partners'), invocation('check').context);
    expect(response.status).toBe(200);
    expect(reportOf(response).targets.map((t) => t.id)).toEqual(['partners']);
  });
});
