import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, type Config } from '../../shared/config.js';
import { acceptObservation } from '../../shared/engine/accept.js';
import { runCheck } from '../../shared/engine/check.js';
import type { Cidr } from '../../shared/ipset.js';
import type { Report, TargetReport } from '../../shared/report.js';
import { StateStore } from '../../shared/state/store.js';
import { startGitHubPeer, type GitHubPeer } from '../peers/github/index.js';
import { sharedFile, startHttpPeer, type Handler, type HttpPeer } from '../peers/http.js';
import { fastPublisher } from '../support.js';

const TOKEN = 'ghp_UpstreamLists0Token0123456789abcdef';
const MCAS = 'MicrosoftCloudAppSecurity';
const AFD = 'AzureFrontDoor.MicrosoftSecurity';
const MAX_BYTES = 8 * 1024 * 1024;

const CAS_PAGE = sharedFile('fixtures/cas/network-requirements_2024-06-20.md').toString('utf8');
const fullTags = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as TagsFile;
/** The real file's header and the two configured tags, verbatim: the other 3,000 tags only cost time here. */
const TAGS: TagsFile = { ...fullTags, values: fullTags.values.filter((v) => v.name === MCAS || v.name === AFD) };

interface TagsFile {
  changeNumber: number;
  cloud: string;
  values: Array<{ name: string; id: string; properties: { changeNumber: number; addressPrefixes: string[]; [key: string]: unknown } }>;
}

let upstream: HttpPeer;
let elsewhere: HttpPeer;
let github: GitHubPeer;
let store: StateStore;
let config: Config;
const accepted = new Map<string, Cidr[]>();
/** What each upstream serves for the next check. */
let serveCas: Handler;
let serveTags: Handler;

function text(body: string, contentType = 'text/plain; charset=utf-8', status = 200): Handler {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': contentType });
    response.end(body);
  };
}

function tagsWith(edit: (prefixes: string[]) => string[], tags: TagsFile = TAGS): string {
  return JSON.stringify({
    ...tags,
    values: tags.values.map((v) =>
      v.name === MCAS ? { ...v, properties: { ...v.properties, addressPrefixes: edit(v.properties.addressPrefixes) } } : v,
    ),
  });
}

/** Adds an address to the US1 portal row of the real page. */
function casWith(address: string): string {
  return CAS_PAGE.replace('|US1|13.64.26.88, ', `|US1|${address}, 13.64.26.88, `);
}

/**
 * Keeps one address in five of everything the target selects: every US1 and EU1 table row, and one of the six
 * mail-server ranges. (Losing only /32 rows while the mail ranges stay is under the address-weighted ratio by
 * design; the consecutive-miss rule covers that case.)
 */
function casLosingMost(): string {
  let mailRanges = 0;
  return CAS_PAGE.split('\n')
    .flatMap((line) => {
      if (/^- [\d.]+\/\d+$/.test(line)) return mailRanges++ === 0 ? [line] : [];
      const row = /^\|(US1|EU1)\|([^|]*)\|(.*)$/.exec(line);
      if (!row) return [line];
      const kept = row[2]!.split(',').filter((_, i) => i % 5 === 0);
      return [`|${row[1]}|${kept.join(',')}|${row[3]}`];
    })
    .join('\n');
}

/** Drops the table (and its lead-in) under one "## " heading, keeping the heading itself. */
function casWithoutTable(heading: string): string {
  const lines = CAS_PAGE.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## ${heading}`));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return [...lines.slice(0, start + 1), ...lines.slice(start + 1, end).filter((l) => !l.startsWith('|')), ...lines.slice(end)].join('\n');
}

/** 60 MB of plausible text, streamed in chunks as the client reads; `declared` sends a Content-Length first. */
function hugeBody(contentType: string, declared: boolean): Handler {
  const total = 60 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, '13.64.26.88, ');
  return (request, response) => {
    response.writeHead(200, { 'content-type': contentType, ...(declared ? { 'content-length': String(total) } : {}) });
    let sent = 0;
    const pump = () => {
      while (sent < total && !response.destroyed) {
        sent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      if (!response.destroyed) response.end();
    };
    request.socket.once('close', () => response.destroy());
    pump();
  };
}

/** Sends the start of the real document and then nothing, ever: only the client's deadline ends it. */
function neverFinishes(start: string, contentType: string): Handler {
  return (_request, response: ServerResponse) => {
    response.writeHead(200, { 'content-type': contentType });
    response.write(start.slice(0, 2_000));
  };
}

function redirectElsewhere(path: string): Handler {
  return (_request, response) => {
    response.writeHead(302, { location: `${elsewhere.url}${path}` });
    response.end();
  };
}

function targetReport(report: Report, id: string): TargetReport {
  const found = report.targets.find((t) => t.id === id);
  expect(found, `report has target ${id}`).toBeDefined();
  return found!;
}

/** Every code a target report carries: errors, warnings and the guards that held it. */
function codesOf(target: TargetReport): string[] {
  return [
    ...target.errors.map((p) => p.code),
    ...target.warnings.map((p) => p.code),
    ...target.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard),
  ];
}

async function check(): Promise<Report> {
  return runCheck({
    config,
    store,
    env: { GITHUB_TOKEN: TOKEN },
    trigger: 'timer',
    dryRun: false,
    publisher: fastPublisher({ GITHUB_TOKEN: TOKEN }),
  });
}

async function expectBaselineIntact(): Promise<void> {
  const snapshot = await store.read(config.name);
  for (const [id, baseline] of accepted) expect(snapshot.targets.get(id)?.baseline, `${id} baseline`).toEqual(baseline);
  expect(snapshot.config.pullRequest).toBeUndefined();
}

function expectNothingPublished(): void {
  expect(github.pullRequests()).toEqual([]);
  expect(github.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  expect(github.violations).toEqual([]);
}

beforeAll(async () => {
  github = await startGitHubPeer({ token: TOKEN, files: { 'firewall/cas.txt': '# cas\n', 'firewall/tags.txt': '# tags\n' } });
  elsewhere = await startHttpPeer(text(CAS_PAGE));
  upstream = await startHttpPeer((request, response) =>
    (new URL(request.url ?? '/', 'http://x').pathname === '/cas.md' ? serveCas : serveTags)(request, response),
  );
  config = parseConfig({
    name: 'upstream-lists',
    targets: [
      {
        id: 'cas',
        type: 'cas-docs',
        url: `${upstream.url}/cas.md`,
        dataCenters: ['US1', 'EU1'],
        sections: ['portal', 'siem', 'app-connector', 'mail'],
      },
      { id: 'tags', type: 'service-tags', url: `${upstream.url}/tags.json`, tags: [MCAS, AFD] },
    ],
    http: { timeoutMs: 1_000, maxBytes: MAX_BYTES },
    // Off: "nothing published" here means no PR and no write at all; the dashboard of a hold is test/engine/dashboard.test.ts's.
    github: { owner: github.owner, repo: github.repo, apiUrl: github.url, dashboard: false },
    files: [
      { path: 'firewall/cas.txt', format: 'plain', targets: ['cas'] },
      { path: 'firewall/tags.txt', format: 'plain', targets: ['tags'] },
    ],
  });
  store = StateStore.fromSetting(inject('azuriteConnectionString'), { tableName: 'reliabilityupstream', maxRetries: 0 });
  await store.ensureTable();
  serveCas = text(CAS_PAGE);
  serveTags = text(JSON.stringify(TAGS), 'application/octet-stream');
  for (const targetId of ['cas', 'tags']) {
    const report = await acceptObservation({ config, store, env: {}, targetId });
    expect(report.baseline.length).toBeGreaterThan(10);
    accepted.set(targetId, report.baseline);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([upstream?.close(), elsewhere?.close(), github?.close()]);
});

interface Case {
  readonly name: string;
  readonly cas: () => Handler;
  readonly tags: () => Handler;
  /** A code each target must report (error, warning or holding guard). */
  readonly casCode: string;
  /** Each document could be read except for one missing table (tag): both checks are partial (what they read applies, nothing is removed). */
  readonly partial?: true;
  readonly tagsCode: string;
}

const CASES: Case[] = [
  {
    name: 'an empty body',
    cas: () => text(''),
    tags: () => text('', 'application/json'),
    casCode: 'cas-empty',
    tagsCode: 'service-tags-not-json',
  },
  {
    name: 'an HTML error page with status 200 and an HTML content type',
    cas: () => text('<!DOCTYPE html><html><body>Service unavailable</body></html>', 'text/html'),
    tags: () => text('<!DOCTYPE html><html><body>Service unavailable</body></html>', 'text/html'),
    casCode: 'http-content-type',
    tagsCode: 'http-content-type',
  },
  {
    name: 'an HTML error page with status 200 under the expected content type',
    cas: () => text('<html><head><title>Error</title></head><body>Try later</body></html>'),
    tags: () => text('<html><head><title>Error</title></head><body>Try later</body></html>', 'application/json'),
    casCode: 'cas-not-markdown',
    tagsCode: 'service-tags-not-json',
  },
  {
    name: 'a document cut mid-way',
    cas: () => text(CAS_PAGE.slice(0, CAS_PAGE.indexOf('## App connector') + 2_000)),
    tags: () => {
      const json = JSON.stringify(TAGS);
      return text(json.slice(0, Math.floor(json.length / 2)), 'application/json');
    },
    casCode: 'cas-truncated',
    tagsCode: 'service-tags-not-json',
  },
  {
    name: 'one table (one tag) missing',
    cas: () => text(casWithoutTable('SIEM agent')),
    tags: () => text(JSON.stringify({ ...TAGS, values: TAGS.values.filter((v) => v.name !== AFD) }), 'application/json'),
    casCode: 'cas-section-missing',
    tagsCode: 'service-tag-missing',
    partial: true,
  },
  {
    name: 'a required table missing',
    cas: () => text(casWithoutTable('App connector')),
    tags: () =>
      text(
        tagsWith(() => []),
        'application/json',
      ),
    // The page still ends with its closing section, so it is not cut short: the selected section is missing.
    casCode: 'cas-section-missing',
    tagsCode: 'service-tag-empty',
    partial: true,
  },
  {
    name: 'a list that lost 80 % of its entries',
    cas: () => text(casLosingMost()),
    tags: () =>
      text(
        tagsWith((prefixes) => prefixes.filter((_, i) => i % 5 === 0)),
        'application/json',
      ),
    casCode: 'mass-removal',
    tagsCode: 'mass-removal',
  },
  ...(['0.0.0.0/0', '::/0', '10.0.0.0/8', '127.0.0.1'] as const).map((address): Case => ({
    name: `a list containing ${address}`,
    cas: () => text(casWith(address)),
    tags: () =>
      text(
        tagsWith((prefixes) => [...prefixes, address]),
        'application/json',
      ),
    casCode: address.endsWith('/0') ? 'broad-prefix' : 'special-range',
    tagsCode: address.endsWith('/0') ? 'broad-prefix' : 'special-range',
  })),
  {
    name: 'a 60 MB body announced by Content-Length',
    cas: () => hugeBody('text/plain', true),
    tags: () => hugeBody('application/json', true),
    casCode: 'http-too-large',
    tagsCode: 'http-too-large',
  },
  {
    name: 'a 60 MB body streamed without a length',
    cas: () => hugeBody('text/plain', false),
    tags: () => hugeBody('application/json', false),
    casCode: 'http-too-large',
    tagsCode: 'http-too-large',
  },
  {
    name: 'a slow body that never finishes',
    cas: () => neverFinishes(CAS_PAGE, 'text/plain'),
    tags: () => neverFinishes(JSON.stringify(TAGS), 'application/json'),
    casCode: 'http-timeout',
    tagsCode: 'http-timeout',
  },
  {
    name: 'a redirect to another host',
    cas: () => redirectElsewhere('/cas.md'),
    tags: () => redirectElsewhere('/tags.json'),
    casCode: 'http-redirect',
    tagsCode: 'http-redirect',
  },
];

describe('issue 6 group 2: upstream lists gone wrong', () => {
  it.each(CASES)('$name: both targets held or failed with a clear code, nothing published, baseline intact', async (c) => {
    serveCas = c.cas();
    serveTags = c.tags();
    const report = await check();
    const cas = targetReport(report, 'cas');
    const tags = targetReport(report, 'tags');
    for (const [target, code] of [
      [cas, c.casCode],
      [tags, c.tagsCode],
    ] as const) {
      if (c.partial) expect(target.status, `${target.id} status`).toBe('partial');
      else expect(['held', 'error'], `${target.id} status`).toContain(target.status);
      expect(codesOf(target), `${target.id} codes`).toContain(code);
      expect(target.removed).toEqual([]);
      expect(target.added).toEqual([]);
      // The offending text never becomes a proposal, not even as an addition held for later.
      expect(target.pendingRemoval).toEqual([]);
    }
    expect(report.errors).toEqual([]);
    expect(report.pullRequest.action).toBe('none');
    expectNothingPublished();
    await expectBaselineIntact();
  });

  it('a typo in one cell of the page (issue 11): partial, the address it hides is kept, the rest is checked', async () => {
    const typo = CAS_PAGE.replace('13.64.16.132, 13.64.16.129', '13.64.16.132m 13.64.16.129');
    expect(typo).not.toBe(CAS_PAGE);
    serveCas = text(typo);
    serveTags = text(JSON.stringify(TAGS), 'application/json');
    for (let run = 0; run < 3; run++) {
      const report = await check();
      const cas = targetReport(report, 'cas');
      expect(cas.status).toBe('partial');
      expect(cas.errors).toEqual([]);
      expect(cas.warnings.map((w) => w.code)).toEqual(['cas-unreadable-address']);
      expect(cas.warnings[0]!.message).toContain('"13.64.16.132m"');
      expect(cas.warnings[0]!.message).toContain('section app-connector in US1');
      expect(cas.observed).not.toContain('13.64.16.132/32');
      expect([cas.added, cas.removed, cas.pendingRemoval]).toEqual([[], [], []]);
      expect(report.pullRequest.action).toBe('none');
    }
    expectNothingPublished();
    await expectBaselineIntact();
  });

  it('control: the same pipeline does publish a genuine change, so the checks above could fail', async () => {
    serveCas = text(CAS_PAGE);
    serveTags = text(
      tagsWith((prefixes) => [...prefixes, '52.100.200.0/24']),
      'application/json',
    );
    const report = await check();
    expect(targetReport(report, 'cas').status).toBe('ok');
    expect(targetReport(report, 'tags')).toMatchObject({ status: 'ok', added: ['52.100.200.0/24'], removed: [] });
    expect(report.pullRequest.action).toBe('created');
    const [pr] = github.pullRequests();
    expect(github.readFile(pr!.headRef, 'firewall/tags.txt')).toContain('52.100.200.0/24');
    expect(github.violations).toEqual([]);
  });
});
