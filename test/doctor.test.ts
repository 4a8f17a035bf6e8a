import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TableClient } from '@azure/data-tables';
import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { doctorHandler } from '../functions/doctor.js';
import { scheduledCheck } from '../functions/timers.js';
import { loadConfig, parseConfig, type Config, type ConfigInput } from '../shared/config.js';
import { doctorProbes, runDoctorFromEnv, type DoctorWiring } from '../shared/doctor/probes.js';
import { runDoctor, type DoctorProbes, type DoctorReport } from '../shared/doctor/checks.js';
import { formatDoctor } from '../shared/doctor/format.js';
import type { Cidr } from '../shared/ipset.js';
import { AllowlistError } from '../shared/problem.js';
import type { GitHubProbe } from '../shared/publish/github/probe.js';
import { StateStore } from '../shared/state/store.js';
import { registrations } from './setup/functions-core.js';
import { armServiceTags, asArmResponse, StaticTokenCredential, type ServiceTagsFile } from './peers/arm.js';
import { startDnsPeer, type DnsPeer } from './peers/dns.js';
import { startGitHubPeer, type GitHubPeer } from './peers/github/index.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from './peers/http.js';
import { ensureBuilt, startCli, writeConfigFile } from './reliability/cli-process.js';

const TABLE = 'doctortest';
const TOKEN = 'ghp_DoctorTest0Token0123456789abcdefAB';
const WRONG_TOKEN = 'ghp_WrongDoctor0Token0123456789abcdefCD';
const ARM_TOKEN = 'arm-doctor-token-0123456789';
const SUBSCRIPTION = '00000000-0000-4000-8000-000000000042';

let azurite: string;
let accountKey: string;
let closedPort: number;
let dns: DnsPeer;
let http: HttpPeer;
let github: GitHubPeer;

async function closedPortNumber(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

beforeAll(async () => {
  azurite = inject('azuriteConnectionString');
  accountKey = /AccountKey=([^;]+)/.exec(azurite)![1]!;
  closedPort = await closedPortNumber();
  dns = await startDnsPeer({
    'fe1.acme.test': { kind: 'answer', a: ['20.50.1.10'] },
    'quiet.acme.test': { kind: 'silence' },
  });
  const tags = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as ServiceTagsFile;
  const arm = armServiceTags({
    subscriptionId: SUBSCRIPTION,
    location: 'westeurope',
    apiVersion: '2024-05-01',
    token: ARM_TOKEN,
    pages: { '': asArmResponse(tags, SUBSCRIPTION) },
  });
  const documents = routes({
    '/cas.md': { body: sharedFile('fixtures/cas/network-requirements_2024-06-20.md'), contentType: 'text/plain; charset=utf-8' },
    '/tags.json': { body: sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json'), contentType: 'application/octet-stream' },
    '/rendered.html': { body: '<html>Network requirements</html>', contentType: 'text/html; charset=utf-8' },
    '/odc.md': { body: sharedFile('fixtures/odc/odc-public-ips_2025-12-22.md'), contentType: 'text/plain; charset=utf-8' },
    '/ip-ranges.json': { body: sharedFile('fixtures/aws/ip-ranges_2026-08-22.json'), contentType: 'application/json' },
  });
  http = await startHttpPeer((request, response) =>
    request.url?.startsWith('/subscriptions/') ? arm(request, response) : documents(request, response),
  );
  github = await startGitHubPeer({ token: TOKEN });
  const store = StateStore.fromSetting(azurite, { tableName: TABLE });
  await store.ensureTable();
});

afterAll(async () => {
  await Promise.all([dns?.close(), http?.close(), github?.close()]);
});

function configInput(name: string, extra: Partial<ConfigInput> = {}, peer: GitHubPeer = github): ConfigInput {
  return {
    name,
    // Answers from the loopback peer take milliseconds; 500 ms timed out under a loaded CI machine.
    dns: { servers: [dns.server], timeoutMs: 2_500, tries: 1 },
    targets: [
      { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] },
      { id: 'cas-mail', type: 'cas-docs', url: `${http.url}/cas.md`, dataCenters: '*', sections: ['mail'] },
      { id: 'cas-dlp', type: 'cas-docs', url: `${http.url}/cas.md`, dataCenters: ['US1'], sections: ['app-connector'] },
      { id: 'tags-file', type: 'service-tags', url: `${http.url}/tags.json`, tags: ['MicrosoftCloudAppSecurity'] },
      { id: 'partners', type: 'static', entries: ['198.51.100.10'] },
    ],
    files: [{ path: 'edl/acme.txt', format: 'plain', targets: ['acme-prod', 'partners'] }],
    github: { owner: peer.owner, repo: peer.repo, apiUrl: peer.url },
    ...extra,
  };
}

const armTarget = () => ({
  id: 'tags-arm',
  type: 'service-tags' as const,
  arm: { subscriptionId: SUBSCRIPTION, location: 'westeurope', baseUrl: http.url },
  tags: ['MicrosoftCloudAppSecurity'],
});

function env(input: ConfigInput, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ALLOWLIST_CONFIG: JSON.stringify(input), ALLOWLIST_STORAGE: azurite, ALLOWLIST_TABLE: TABLE, GITHUB_TOKEN: TOKEN, ...extra };
}

function doctor(input: ConfigInput, extra: Record<string, string> = {}, wiring: DoctorWiring = {}): Promise<DoctorReport> {
  return runDoctorFromEnv(env(input, extra), { armCredential: new StaticTokenCredential(ARM_TOKEN), ...wiring });
}

const names = (report: DoctorReport) => report.checks.map((c) => c.name);
const failed = (report: DoctorReport) => report.checks.filter((c) => !c.ok).map((c) => c.name);
const check = (report: DoctorReport, name: string) => report.checks.find((c) => c.name === name)!;

function noSecrets(text: string): void {
  for (const secret of [TOKEN, WRONG_TOKEN, accountKey, ARM_TOKEN]) expect(text).not.toContain(secret);
}

describe('doctor against the local peers', () => {
  it('passes every check when everything is set up, one request per question', async () => {
    const before = { github: github.requests.length, http: http.requests.length, dns: dns.queries.length };
    const report = await doctor(configInput('doctor-ok', { targets: [...configInput('x').targets, armTarget()] }));
    expect(failed(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(names(report)).toEqual([
      'config',
      'storage',
      'github-credentials',
      'github-repository',
      'github-base-branch',
      'github-permissions',
      'upstream:cas-mail,cas-dlp',
      'upstream:tags-file',
      'arm:tags-arm',
      `dns:${dns.server}`,
      'queue',
    ]);
    expect(check(report, 'config').detail).toMatch(/^config "doctor-ok" is valid: 6 target\(s\)/);
    expect(check(report, 'storage').detail).toMatch(
      /^table doctortest at 127\.0\.0\.1:\d+: a probe row was written and deleted in partition "doctor-ok"$/,
    );
    expect(check(report, 'github-credentials').detail).toContain('as allowlist-drift[bot]');
    expect(check(report, 'github-permissions').detail).toMatch(/may push to contoso\/network/);
    expect(check(report, 'upstream:tags-file').detail).toMatch(/\/tags\.json answered 200 \(application\/octet-stream\)$/);
    expect(check(report, `dns:${dns.server}`).detail).toMatch(/answered the A query for fe1\.acme\.test with an address/);
    expect(report.checks.every((c) => c.fix === undefined)).toBe(true);

    // GET /user, GET repository, GET branch; one GET per distinct document and one for ARM, bodies not read; one query.
    expect(github.requests.slice(before.github).map((r) => `${r.method} ${r.route}`)).toEqual([
      'GET /user',
      'GET /repos/contoso/network',
      'GET /repos/contoso/network/branches/main',
    ]);
    expect(github.violations).toEqual([]);
    expect(
      http.requests
        .slice(before.http)
        .map((r) => r.path.split('?')[0])
        .sort(),
    ).toEqual(['/cas.md', `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Network/locations/westeurope/serviceTags`, '/tags.json']);
    expect(dns.queries.slice(before.dns)).toEqual([{ name: 'fe1.acme.test', type: 'A' }]);
  });

  it('leaves no row behind and never touches the lease or the state rows', async () => {
    const name = 'doctor-rows';
    const store = StateStore.fromSetting(azurite, { tableName: TABLE });
    const lease = await store.acquireLease(name, 'a-run-in-progress', 60_000);
    const table = TableClient.fromConnectionString(azurite, TABLE, { allowInsecureConnection: true });
    const rows = async () => {
      const found: Array<{ rowKey: string; etag: string }> = [];
      for await (const entity of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${name}'` } }))
        found.push({ rowKey: entity.rowKey!, etag: entity.etag });
      return found;
    };
    try {
      const before = await rows();
      const report = await doctor(configInput(name));
      expect(check(report, 'storage').ok).toBe(true);
      expect(await rows()).toEqual(before);
      expect(before.map((r) => r.rowKey)).toEqual(['lease']);
    } finally {
      await lease.release();
    }
    // A probe row an interrupted doctor left behind is not state: reading the partition skips it.
    await table.createEntity({ partitionKey: name, rowKey: 'probe~left-behind', probedAt: new Date().toISOString() });
    await expect(store.read(name)).resolves.toMatchObject({ targets: new Map() });
  });

  it('the storage probe costs three requests: create the table, write and delete the probe row', async () => {
    const store = StateStore.fromSetting(azurite, { tableName: TABLE });
    await store.probe('doctor-count');
    expect(store.requestCount()).toBe(3);
  });

  it('a GitHub App: the token exchange proves the credentials and carries the permissions', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const appEnv = {
      GITHUB_TOKEN: '',
      GITHUB_APP_ID: '4242',
      GITHUB_APP_INSTALLATION_ID: '77',
      GITHUB_APP_PRIVATE_KEY: privateKey.trim().replace(/\n/g, '\\n'),
    };
    for (const readOnly of [false, true]) {
      const peer = await startGitHubPeer({ app: { id: 4242, installationId: 77, publicKey }, readOnly });
      try {
        const report = await doctor(configInput(`doctor-app-${readOnly}`, {}, peer), appEnv);
        expect(check(report, 'github-credentials').detail).toMatch(
          /^GitHub App installation 77 at .*: the installation token exchange succeeded; allowlist-drift acts as allowlist-drift\[bot\] and trusts only what allowlist-drift\[bot\] wrote$/,
        );
        expect(peer.requests.map((r) => `${r.method} ${r.route}`)).toEqual([
          'POST /app/installations/77/access_tokens',
          'GET /app',
          'GET /repos/contoso/network',
          'GET /repos/contoso/network/branches/main',
        ]);
        expect(peer.violations).toEqual([]);
        const permissions = check(report, 'github-permissions');
        if (!readOnly) {
          expect(report.ok).toBe(true);
          expect(permissions.detail).toBe('the installation token may write: contents: write, pull_requests: write, issues: write');
        } else {
          expect(failed(report)).toEqual(['github-permissions']);
          expect(permissions.detail).toBe('the installation token lacks write access: contents: read, pull_requests: read, issues: read');
          expect(permissions.fix).toMatch(/grant Contents, Pull requests and Issues: read and write \(Issues for the drift dashboard\)/);
        }
        noSecrets(JSON.stringify(report));
        expect(JSON.stringify(report)).not.toContain(privateKey.split('\n')[3]!);
      } finally {
        await peer.close();
      }
    }
  });
});

describe('doctor names the check that fails and how to fix it', () => {
  it('a refused token: github-credentials fails, nothing further is asked of GitHub, the token appears nowhere', async () => {
    const before = github.requests.length;
    const report = await doctor(configInput('doctor-bad-token'), { GITHUB_TOKEN: WRONG_TOKEN });
    expect(failed(report)).toEqual(['github-credentials']);
    expect(names(report)).not.toContain('github-repository');
    const credentials = check(report, 'github-credentials');
    expect(credentials.detail).toMatch(/^github-credentials-invalid: GitHub refused the credentials on GET \/user \(401/);
    expect(credentials.fix).toMatch(/^GITHUB_TOKEN was refused: it is wrong, expired or revoked/);
    expect(github.requests.slice(before).map((r) => r.route)).toEqual(['/user']);
    noSecrets(JSON.stringify(report));
    noSecrets(formatDoctor(report));
  });

  it('no GitHub credentials at all: the settings to set', async () => {
    const report = await doctor(configInput('doctor-no-token'), { GITHUB_TOKEN: '' });
    expect(failed(report)).toEqual(['github-credentials']);
    expect(check(report, 'github-credentials').fix).toMatch(
      /^Set GITHUB_TOKEN .* or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID/,
    );
  });

  it('GitHub unreachable: github-credentials fails saying so', async () => {
    const input = configInput('doctor-no-github', {
      github: { owner: 'contoso', repo: 'network', apiUrl: `http://127.0.0.1:${closedPort}` },
    });
    const report = await doctor(input, {}, { githubTuning: { retryDelayUnitMs: 1 } });
    expect(failed(report)).toEqual(['github-credentials']);
    const credentials = check(report, 'github-credentials');
    expect(credentials.detail).toMatch(
      new RegExp(`^github-unreachable: GitHub at http://127\\.0\\.0\\.1:${closedPort}/ could not be reached on GET /user: .*ECONNREFUSED`),
    );
    expect(credentials.fix).toMatch(/^Check github\.apiUrl/);
    noSecrets(JSON.stringify(report));
  });

  it('a base branch that does not exist: github-base-branch fails, the permissions are still checked', async () => {
    const report = await doctor(
      configInput('doctor-no-branch', { github: { owner: github.owner, repo: github.repo, apiUrl: github.url, base: 'release' } }),
    );
    expect(failed(report)).toEqual(['github-base-branch']);
    expect(check(report, 'github-base-branch').fix).toBe(
      'Set github.base to an existing branch of contoso/network (the default is "main"), or create the branch.',
    );
    expect(check(report, 'github-permissions').ok).toBe(true);
  });

  it('a repository the token cannot see: github-repository fails', async () => {
    const report = await doctor(configInput('doctor-no-repo', { github: { owner: github.owner, repo: 'elsewhere', apiUrl: github.url } }));
    expect(failed(report)).toEqual(['github-repository']);
    expect(check(report, 'github-repository').fix).toMatch(/Repository access/);
  });

  it('a token that may only read: github-permissions fails', async () => {
    const peer = await startGitHubPeer({ token: TOKEN, readOnly: true });
    try {
      const report = await doctor(configInput('doctor-read-only', {}, peer));
      expect(failed(report)).toEqual(['github-permissions']);
      expect(check(report, 'github-permissions').detail).toBe(
        'allowlist-drift[bot] may not push to contoso/network (permissions.push is false)',
      );
    } finally {
      await peer.close();
    }
  });

  it('storage down: storage fails, the account key appears nowhere', async () => {
    const down = azurite.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${closedPort}`);
    const report = await doctor(configInput('doctor-storage-down'), { ALLOWLIST_STORAGE: down });
    expect(failed(report)).toEqual(['storage']);
    const storage = check(report, 'storage');
    expect(storage.detail).toMatch(
      new RegExp(`^state-unavailable: Table storage at 127\\.0\\.0\\.1:${closedPort} failed to create the table: .*ECONNREFUSED`),
    );
    expect(storage.fix).toMatch(/^Check that the storage account named in ALLOWLIST_STORAGE exists/);
    noSecrets(JSON.stringify(report));
  });

  it('no storage setting: storage fails naming the settings', async () => {
    const report = await runDoctorFromEnv({ ALLOWLIST_CONFIG: JSON.stringify(configInput('doctor-no-storage')), GITHUB_TOKEN: TOKEN });
    expect(failed(report)).toEqual(['storage']);
    expect(check(report, 'storage').fix).toMatch(/^Set ALLOWLIST_STORAGE/);
  });

  it('an upstream URL that serves HTML, or is gone; a silent resolver; ARM refusing the identity', async () => {
    const input = configInput('doctor-upstreams', {
      dns: { servers: [dns.server], timeoutMs: 300, tries: 1 },
      targets: [
        { id: 'quiet', type: 'outsystems', frontEnds: ['quiet.acme.test'] },
        { id: 'cas-html', type: 'cas-docs', url: `${http.url}/rendered.html`, dataCenters: '*', sections: '*' },
        { id: 'tags-gone', type: 'service-tags', url: `${http.url}/ServiceTags_Public_20200101.json`, tags: ['AzureCloud'] },
        armTarget(),
      ],
      files: [],
    });
    const report = await doctor(input, {}, { armCredential: new StaticTokenCredential('a-token-arm-does-not-know') });
    expect(failed(report)).toEqual(['upstream:cas-html', 'upstream:tags-gone', 'arm:tags-arm', `dns:${dns.server}`]);
    expect(check(report, 'upstream:cas-html')).toMatchObject({
      detail: expect.stringMatching(/^http-content-type: .* returned "text\/html"/),
      fix: expect.stringMatching(/raw markdown source/),
    });
    expect(check(report, 'upstream:tags-gone')).toMatchObject({
      detail: expect.stringMatching(/answered HTTP 404$/),
      fix: expect.stringMatching(/use "arm"/),
    });
    expect(check(report, 'arm:tags-arm')).toMatchObject({
      detail: expect.stringMatching(/^arm-auth: .* answered HTTP 403/),
      fix: expect.stringMatching(/Reader role on the subscription/),
    });
    expect(check(report, `dns:${dns.server}`)).toMatchObject({
      detail: expect.stringMatching(/gave no usable answer for quiet\.acme\.test: dns-timeout/),
      fix: expect.stringMatching(/did not answer/),
    });
    noSecrets(JSON.stringify(report));
  });

  it('json and text lists: a select that does not compile, a web page served instead of a list, and lists that answer', async () => {
    const input = configInput('doctor-lists', {
      targets: [
        {
          id: 'tags-json',
          type: 'json',
          url: `${http.url}/tags.json`,
          select: 'values[].properties.addressPrefixes',
          contentType: ['application/octet-stream'],
        },
        {
          id: 'bad-select',
          type: 'json',
          url: `${http.url}/tags.json`,
          select: "values[?name=='AzureCloud'",
          contentType: ['application/octet-stream'],
        },
        { id: 'list-page', type: 'text', url: `${http.url}/rendered.html` },
        { id: 'list', type: 'text', url: `${http.url}/cas.md` },
      ],
      files: [],
    });
    const report = await doctor(input);
    expect(failed(report)).toEqual(['upstream:bad-select', 'upstream:list-page']);
    expect(check(report, 'upstream:bad-select')).toMatchObject({
      detail: expect.stringMatching(/^json-select-invalid: "select" is not a JMESPath expression/),
      fix: expect.stringMatching(/^Correct the expression the message names/),
    });
    expect(check(report, 'upstream:list-page')).toMatchObject({
      detail: expect.stringMatching(/^text-html: .*\/rendered\.html returned "text\/html", not a plain-text list/),
      fix: expect.stringMatching(/^Set url to the raw list itself/),
    });
    expect(check(report, 'upstream:tags-json').ok).toBe(true);
    expect(check(report, 'upstream:list').ok).toBe(true);
  });

  it('AWS ip-ranges: the document answers, or the fix names the AWS file when a URL is gone or a page', async () => {
    const input = configInput('doctor-aws', {
      targets: [
        { id: 'aws', type: 'aws-ip-ranges', url: `${http.url}/ip-ranges.json`, services: ['EC2'], regions: '*' },
        { id: 'aws-gone', type: 'aws-ip-ranges', url: `${http.url}/old/ip-ranges.json`, services: '*', regions: '*' },
        { id: 'aws-page', type: 'aws-ip-ranges', url: `${http.url}/rendered.html`, services: '*', regions: '*' },
      ],
      files: [],
    });
    const report = await doctor(input);
    expect(check(report, 'upstream:aws')).toMatchObject({ ok: true });
    expect(failed(report)).toEqual(['upstream:aws-gone', 'upstream:aws-page']);
    expect(check(report, 'upstream:aws-gone')).toMatchObject({
      detail: expect.stringMatching(/answered HTTP 404$/),
      fix: expect.stringContaining('https://ip-ranges.amazonaws.com/ip-ranges.json'),
    });
    expect(check(report, 'upstream:aws-page')).toMatchObject({
      detail: expect.stringMatching(/^http-content-type: /),
      fix: expect.stringMatching(/ip-ranges\.json file itself/),
    });
  });

  it('NXDOMAIN is an answer: the resolver is working', async () => {
    const input = configInput('doctor-nxdomain', {
      targets: [{ id: 'gone', type: 'outsystems', frontEnds: ['not-in-the-zone.acme.test'] }],
      files: [],
    });
    const report = await doctor(input);
    expect(check(report, `dns:${dns.server}`)).toMatchObject({ ok: true, detail: expect.stringContaining('with NXDOMAIN') });
  });

  it('an invalid config: the one check, with every problem on its line', async () => {
    const report = await runDoctorFromEnv({
      ALLOWLIST_CONFIG: JSON.stringify({ targets: [{ id: 'Bad', type: 'static', entries: [] }] }),
      ALLOWLIST_STORAGE: azurite,
    });
    expect(report.ok).toBe(false);
    expect(names(report)).toEqual(['config']);
    expect(check(report, 'config').detail).toMatch(/^the configuration is not valid: targets\[0\]\.id: .*; targets\[0\]\.entries/);
    expect(check(report, 'config').detail).not.toContain('\n');
  });

  it('inline JSON that does not parse: the position is given once', async () => {
    const report = await runDoctorFromEnv({ ALLOWLIST_CONFIG: '{\n  "targets": [1 2]\n}', ALLOWLIST_STORAGE: azurite });
    const { detail } = check(report, 'config');
    expect(detail).toMatch(/^the configuration is not valid: \(root\): not valid JSON: /);
    expect(detail.match(/line 2/g)).toHaveLength(1);
  });
});

describe('the doctor core, with probes standing in', () => {
  const config: Config = parseConfig({
    name: 'core',
    targets: [{ id: 'partners', type: 'static', entries: ['198.51.100.10'] }],
    github: { owner: 'acme', repo: 'rules' },
  });
  const working: DoctorProbes = {
    loadConfig: async () => config,
    storage: async () => ({ table: 't', endpointHost: 'h' }),
    github: async () => fakeGitHub({}),
    upstream: async () => {
      throw new Error('no upstream in this config');
    },
    resolvers: () => [],
    resolver: async () => {
      throw new Error('no resolver in this config');
    },
  };

  function fakeGitHub(overrides: Partial<GitHubProbe>): GitHubProbe {
    return {
      kind: 'token',
      identity: async () => ({ kind: 'token', who: 'octo', login: 'octo' }),
      repository: async () => ({ fullName: 'acme/rules', private: true, archived: false, push: true }),
      baseBranch: async () => ({ name: 'main', sha: 'a'.repeat(40) }),
      requests: () => 3,
      ...overrides,
    };
  }

  it('judges each limited file from the approved baseline: over its limit fails with the options, near it warns', async () => {
    const limited = parseConfig({
      name: 'core',
      targets: [
        { id: 'partners', type: 'static', entries: ['52.1.1.1'] },
        { id: 'tags', type: 'static', entries: ['52.2.1.1'] },
      ],
      files: [
        { path: 'sg/partners.json', format: 'json', targets: ['partners'], limit: { maxEntries: 2 } },
        { path: 'sg/tags.json', format: 'json', targets: ['tags'], limit: 'aws-security-group' },
        { path: 'edl/free.txt', format: 'plain', targets: ['tags'] },
      ],
      github: { owner: 'acme', repo: 'rules' },
    });
    const many = Array.from({ length: 61 }, (_, i) => `52.2.${i * 2}.1/32` as Cidr);
    const report = await runDoctor({
      ...working,
      loadConfig: async () => limited,
      baselines: async () =>
        new Map([
          ['partners', ['52.1.1.1/32', '52.1.3.1/32'] as Cidr[]],
          ['tags', many],
        ]),
    });
    expect(names(report).filter((name) => name.startsWith('capacity'))).toEqual(['capacity:sg/partners.json', 'capacity:sg/tags.json']);
    expect(check(report, 'capacity:sg/partners.json')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^capacity-headroom: sg\/partners\.json holds 2 entries, 100 % of its limit of 2 entries/),
    });
    expect(check(report, 'capacity:sg/tags.json')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('capacity-exceeded: sg/tags.json is not written: it would hold 61 entries (IPv4 61, IPv6 0)'),
      fix: expect.stringMatching(/^To make it fit, split it over numbered files/),
    });
    expect(report.ok).toBe(false);

    const unread = await runDoctor({
      ...working,
      loadConfig: async () => limited,
      baselines: async () => {
        throw new AllowlistError('storage-missing', 'No state store is configured');
      },
    });
    expect(check(unread, 'capacity')).toMatchObject({ ok: true, detail: expect.stringContaining('not checked') });
  });

  it('notes what it did not check: no ARM target, no OutSystems target', async () => {
    const report = await runDoctor(working);
    expect(report.ok).toBe(true);
    expect(check(report, 'arm').detail).toBe('not checked: no service-tags target uses "arm"');
    expect(check(report, 'dns').detail).toBe('not checked: no outsystems target, so no DNS query is made');
  });

  it('a classic token without the repo scope, an archived repository, a push permission GitHub does not report', async () => {
    const scopes = await runDoctor({
      ...working,
      github: async () =>
        fakeGitHub({ identity: async () => ({ kind: 'token', who: 'octo', login: 'octo', scopes: ['read:org', 'gist'] }) }),
    });
    expect(check(scopes, 'github-permissions')).toMatchObject({ ok: false, fix: expect.stringMatching(/^Give the token the repo scope/) });
    const archived = await runDoctor({
      ...working,
      github: async () => fakeGitHub({ repository: async () => ({ fullName: 'acme/rules', private: true, archived: true, push: true }) }),
    });
    expect(check(archived, 'github-permissions')).toMatchObject({
      ok: false,
      detail: 'acme/rules is archived: nothing can be pushed to it',
    });
    const unknown = await runDoctor({
      ...working,
      github: async () => fakeGitHub({ repository: async () => ({ fullName: 'acme/rules', private: true, archived: false }) }),
    });
    expect(check(unknown, 'github-permissions')).toMatchObject({ ok: true, detail: expect.stringContaining('not verified') });
  });

  it('an App installation needs issues: write while the dashboard is on, and not when it is off', async () => {
    const app = (permissions: Record<string, string>) => async () =>
      fakeGitHub({
        kind: 'app',
        identity: async () => ({ kind: 'app', who: 'installation 7', login: 'allowlist-drift[bot]', permissions }),
      });
    const noIssues = await runDoctor({ ...working, github: app({ contents: 'write', pull_requests: 'write' }) });
    expect(check(noIssues, 'github-permissions')).toMatchObject({
      ok: false,
      detail: 'the installation token lacks write access: contents: write, pull_requests: write, issues: none',
      fix: expect.stringContaining('(or set github.dashboard to false to do without the dashboard)'),
    });
    const withoutDashboard = await runDoctor({
      ...working,
      loadConfig: async () => ({ ...config, github: { ...config.github!, dashboard: false } }),
      github: app({ contents: 'write', pull_requests: 'write' }),
    });
    expect(check(withoutDashboard, 'github-permissions')).toMatchObject({
      ok: true,
      detail: 'the installation token may write: contents: write, pull_requests: write',
    });
    // A fine-grained token does not report its permissions: the line says which ones it needs.
    const fineGrained = await runDoctor(working);
    expect(check(fineGrained, 'github-permissions').detail).toContain('also needs Pull requests and Issues: read and write');
  });

  it('a config file that is not there: the CLI fix names --config, the app fix the settings', async () => {
    const missing = { ...working, loadConfig: () => loadConfig({ path: 'nope.json', pathFrom: '--config' }) };
    const cli = check(await runDoctor(missing, { cli: true }), 'config');
    expect(cli.fix).toMatch(/^Give --config the path of the config file/);
    expect(cli.fix).not.toContain('ALLOWLIST_CONFIG_PATH');
    expect(check(await runDoctor(missing), 'config').fix).toMatch(/^Set ALLOWLIST_CONFIG_PATH/);
  });

  it('a probe that never answers fails its check at the deadline; the others still report', async () => {
    const report = await runDoctor({ ...working, storage: () => new Promise(() => {}) }, { deadlineMs: 50 });
    expect(failed(report)).toEqual(['storage']);
    expect(check(report, 'storage')).toMatchObject({
      detail: 'doctor-timeout: the storage check did not finish within 50 ms',
      fix: expect.stringMatching(/did not answer in time/),
    });
    expect(check(report, 'github-permissions').ok).toBe(true);
  });

  it('a secret a probe lets through is redacted on the way out, and every detail is one line', async () => {
    const secret = 'sv=2024&sig=VerySecretSignature0123456789';
    const report = await runDoctor(
      {
        ...working,
        storage: async () => {
          throw new AllowlistError('state-unavailable', `failed with\nAccountKey=${accountKey}; ${secret}`);
        },
        github: async () => {
          throw new Error(`token ${TOKEN} leaked`);
        },
      },
      { secrets: [secret] },
    );
    noSecrets(JSON.stringify(report));
    expect(JSON.stringify(report)).not.toContain('VerySecretSignature');
    expect(report.checks.every((c) => !c.detail.includes('\n'))).toBe(true);
  });

  it('the wiring loads the config from the settings it is given', async () => {
    const probes = doctorProbes({
      ALLOWLIST_CONFIG: JSON.stringify({ name: 'wired', targets: [{ id: 'p', type: 'static', entries: ['198.51.100.10'] }] }),
    });
    await expect(probes.loadConfig()).resolves.toMatchObject({ name: 'wired' });
  });
});

describe('GET /api/doctor', () => {
  const saved = { ...process.env };
  const request = (method = 'GET', query = '') =>
    new HttpRequest({ method, url: `https://allowlist-drift.azurewebsites.net/api/doctor${query}` });
  const context = () => new InvocationContext({ invocationId: 'doctor-test', functionName: 'doctor', logHandler: () => {} });

  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('is registered for GET behind a function key', async () => {
    const registered = registrations.find((r) => r.metadata.name === 'doctor');
    expect(registered?.handler).toBe(doctorHandler);
  });

  it('200 with the checks when all pass, 503 naming the failed check otherwise, never a secret', async () => {
    Object.assign(process.env, env(configInput('doctor-http')));
    const good = await doctorHandler(request('GET', '?code=function-key'), context());
    expect(good.status).toBe(200);
    expect(good.headers).toMatchObject({ 'cache-control': 'no-store' });
    expect((good.jsonBody as DoctorReport).ok).toBe(true);

    process.env.GITHUB_TOKEN = WRONG_TOKEN;
    const bad = await doctorHandler(request(), context());
    expect(bad.status).toBe(503);
    const body = bad.jsonBody as DoctorReport;
    expect(body.ok).toBe(false);
    expect(failed(body)).toEqual(['github-credentials']);
    noSecrets(JSON.stringify(body));
  });

  it('405 for another method, 400 for a query parameter', async () => {
    expect((await doctorHandler(request('POST'), context())).status).toBe(405);
    expect((await doctorHandler(request('GET', '?target=x'), context())).status).toBe(400);
  });
});

describe('the timers', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('log the checks once per process, on the first invocation: one line per failed check and a summary', async () => {
    const { github: _github, ...input } = configInput('doctor-timer', {
      targets: [
        { id: 'partners', type: 'static', entries: ['198.51.100.10'] },
        { id: 'cas-html', type: 'cas-docs', url: `${http.url}/rendered.html`, dataCenters: '*', sections: '*' },
      ],
      files: [],
    });
    Object.assign(process.env, env(input));
    const timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } } as Timer;
    const runs: Array<Array<{ level: string; text: string }>> = [];
    for (let run = 0; run < 2; run++) {
      const logs: Array<{ level: string; text: string }> = [];
      await scheduledCheck(['static'])(
        timer,
        new InvocationContext({
          invocationId: `timer-${run}`,
          functionName: 'casCheck',
          logHandler: (level, ...args) => logs.push({ level, text: args.map(String).join(' ') }),
        }),
      );
      runs.push(logs);
    }
    const doctorLines = (logs: Array<{ level: string; text: string }>) => logs.filter((l) => l.text.startsWith('doctor'));
    expect(doctorLines(runs[0]!)).toEqual([
      {
        level: 'warning',
        text: expect.stringMatching(/^doctor upstream:cas-html: http-content-type: .* Fix: Use the raw markdown source/),
      },
      { level: 'information', text: expect.stringMatching(/^doctor: 1 of 7 checks failed: upstream:cas-html \(start-up check/) },
    ]);
    expect(runs[0]!.some((l) => /^check done: 1 target\(s\): 1 ok, /.test(l.text))).toBe(true);
    expect(doctorLines(runs[1]!)).toEqual([]);
  });
});

describe('allowlist-drift doctor (the compiled CLI)', () => {
  beforeAll(() => {
    ensureBuilt();
  }, 120_000);

  const cliEnv = () => ({ ALLOWLIST_STORAGE: azurite, ALLOWLIST_TABLE: TABLE, GITHUB_TOKEN: TOKEN });

  it('exit 0 and one ok line per check when all pass', async () => {
    const path = writeConfigFile(configInput('doctor-cli-ok'));
    const { code, stdout, stderr } = await startCli(['doctor', '--config', path], cliEnv()).done;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).every((line) => line.startsWith('ok  '))).toBe(true);
    expect(lines.at(-1)).toBe('doctor: all 11 checks passed');
  });

  it('exit 1 naming the failed checks; --json prints { checks, ok }; no secret in either stream', async () => {
    const path = writeConfigFile(
      configInput('doctor-cli-bad', { github: { owner: github.owner, repo: github.repo, apiUrl: github.url, base: 'release' } }),
    );
    const down = azurite.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${closedPort}`);
    const json = await startCli(['doctor', '--json', '--config', path], { ...cliEnv(), ALLOWLIST_STORAGE: down }).done;
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as DoctorReport;
    expect(Object.keys(report).sort()).toEqual(['checks', 'ok']);
    expect(failed(report)).toEqual(['storage', 'github-base-branch']);
    for (const c of report.checks) expect(Object.keys(c).every((key) => ['name', 'ok', 'detail', 'fix'].includes(key))).toBe(true);
    noSecrets(json.stdout + json.stderr);

    const text = await startCli(['doctor', '--config', path], { ...cliEnv(), GITHUB_TOKEN: WRONG_TOKEN }).done;
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAIL {2}github-credentials +github-credentials-invalid: .* Fix: GITHUB_TOKEN was refused/m);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('doctor: 1 of 8 checks failed: github-credentials');
    noSecrets(text.stdout + text.stderr);
  });

  it('2 for a usage error', async () => {
    const { code, stderr } = await startCli(['doctor', '--target', 'x'], cliEnv()).done;
    expect(code).toBe(2);
    expect(stderr).toContain('doctor takes only --config and --json');
  });
});

describe('doctor: the odc page (issue 15)', () => {
  it('probes the page like the CAS page, and says where the raw page lives when it is gone', async () => {
    const odc = (id: string, path: string) => ({
      id,
      type: 'odc' as const,
      url: `${http.url}${path}`,
      regions: '*' as const,
      stages: '*' as const,
      purposes: '*' as const,
    });
    const report = await doctor(
      configInput('doctor-odc', { targets: [odc('odc-all', '/odc.md'), odc('odc-gone', '/moved/odc-public-ips.md')], files: [] }),
    );
    expect(check(report, 'upstream:odc-all')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/\/odc\.md answered 200 \(text\/plain\)$/),
    });
    expect(check(report, 'upstream:odc-gone')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/answered HTTP 404$/),
      fix: expect.stringMatching(/raw markdown of the ODC "Allowlisting ODC public IP addresses" page/),
    });
  });
});

it('the README documents the doctor', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain('allowlist-drift doctor');
  expect(readme).toContain('/api/doctor');
});
