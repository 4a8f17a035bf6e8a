import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../../shared/config.js';
import type { GitHubMetaTarget } from '../../../shared/sources/registry.js';
import {
  addressKeys,
  authorizationFor,
  observeGitHubMeta,
  parseMeta,
  probeGitHubMeta,
  selectGitHubMeta,
} from '../../../shared/sources/github-meta/index.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { startGitHubPeer, type GitHubPeer } from '../../peers/github/index.js';
import { sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const TOKEN = 'ghp_Meta0Source0Token0123456789abcdefgh';
const SAMPLE = sharedFile('fixtures/github-meta/meta_sample.json').toString('utf8');
const REVISION = { revision: 'sha256:0123456789abcdef', url: 'https://api.github.com/meta' };

function parsed(fields: Record<string, unknown>, apiUrl?: string): { target: GitHubMetaTarget; config: Config } {
  const config = parseConfig({
    targets: [{ id: 'gh', type: 'github-meta', ...fields }],
    ...(apiUrl ? { github: { owner: 'contoso', repo: 'network', apiUrl } } : {}),
  });
  return { target: config.targets[0] as GitHubMetaTarget, config };
}

describe('github-meta: reading the document', () => {
  it('calls anything but the meta object an error, never an empty list', () => {
    expect(() => parseMeta('<!DOCTYPE html>')).toThrow(expect.objectContaining({ code: 'github-meta-not-json' }));
    expect(() => parseMeta('')).toThrow(expect.objectContaining({ code: 'github-meta-not-json' }));
    expect(() => parseMeta('["192.30.252.0/22"]')).toThrow(expect.objectContaining({ code: 'github-meta-shape' }));
    expect(() => parseMeta('null')).toThrow(expect.objectContaining({ code: 'github-meta-shape' }));
    expect(() => parseMeta('{"hooks":["192.30.252.0/22"]}')).toThrow(/verifiable_password_authentication/);
    expect(() => parseMeta('{"message":"API rate limit exceeded","verifiable_password_authentication":"no"}')).toThrow(
      expect.objectContaining({ code: 'github-meta-shape' }),
    );
  });

  it('counts as address lists only the lists of addresses, not keys, fingerprints, domains or flags', () => {
    expect(addressKeys(parseMeta(SAMPLE))).toEqual([
      'actions',
      'actions_macos',
      'api',
      'codespaces',
      'copilot',
      'dependabot',
      'git',
      'github_enterprise_importer',
      'hooks',
      'importer',
      'packages',
      'pages',
      'web',
    ]);
  });

  it('selects keys, with the key and the document revision as evidence; "*" takes every list of addresses', () => {
    const document = parseMeta(SAMPLE);
    const hooks = selectGitHubMeta(document, ['hooks'], { revision: REVISION });
    expect(hooks).toMatchObject({ status: 'ok', errors: [], warnings: [], facts: { addressKeys: 'hooks' } });
    expect(hooks.entries.map((entry) => entry.cidr)).toEqual([
      '140.82.112.0/20',
      '143.55.64.0/20',
      '185.199.108.0/22',
      '192.30.252.0/22',
      '2606:50c0::/32',
      '2a0a:a440::/29',
    ]);
    expect(hooks.entries[0]!.evidence).toEqual([{ kind: 'github-meta', key: 'hooks', ...REVISION }]);
    const all = selectGitHubMeta(document, '*', { revision: REVISION });
    expect(all.status).toBe('ok');
    // One entry per address, its evidence every key that lists it.
    const shared = all.entries.find((entry) => entry.cidr === '140.82.112.0/20')!;
    expect(shared.evidence.map((item) => (item as { key: string }).key)).toEqual([
      'api',
      'copilot',
      'git',
      'github_enterprise_importer',
      'hooks',
      'web',
    ]);
    expect(all.entries.some((entry) => entry.cidr === '13.105.49.0/31')).toBe(true);
  });

  it('warns of a selected key the document no longer has, naming the closest keys, and keeps its addresses (partial)', () => {
    const document = parseMeta(SAMPLE);
    const reading = selectGitHubMeta(document, ['hooks', 'action'], { revision: REVISION });
    expect(reading.status).toBe('partial');
    expect(reading.unknownScopes).toEqual([{ kind: 'github-meta', key: 'action' }]);
    expect(reading.warnings[0]!).toMatchObject({ code: 'github-meta-key-missing' });
    expect(reading.warnings[0]!.message).toMatch(/no key "action"; the closest keys with addresses are "actions", /);
    const none = selectGitHubMeta(document, ['action'], { revision: REVISION });
    expect(none).toMatchObject({ status: 'error', errors: [expect.objectContaining({ code: 'github-meta-selection-empty' })] });
  });

  it('names every string of a selected list that is no address; a list turned empty or into another type is kept', () => {
    const document = {
      ...parseMeta(SAMPLE),
      hooks: ['192.30.252.0/22', '192.30.252.0/33', 7, null],
      web: [],
      api: { v4: ['192.30.252.0/22'] },
    };
    const reading = selectGitHubMeta(document, ['hooks', 'web', 'api'], { revision: REVISION });
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['192.30.252.0/22']);
    expect(reading.unknownScopes).toEqual([
      { kind: 'github-meta', key: 'hooks' },
      { kind: 'github-meta', key: 'web' },
      { kind: 'github-meta', key: 'api' },
    ]);
    expect(reading.warnings.map((warning) => warning.message)).toEqual([
      expect.stringMatching(/"hooks" .* 3 entries .*"192\.30\.252\.0\/33", 7, null/),
      expect.stringMatching(/"web" .* an empty list/),
      expect.stringMatching(/"api" .* not a list \(object\)/),
    ]);
  });

  it('with "*", keeps a key that listed addresses last time and is now empty, but lets a key gone altogether go by misses', () => {
    const document = { ...parseMeta(SAMPLE), hooks: [] as string[] };
    delete (document as Record<string, unknown>).pages;
    const reading = selectGitHubMeta(document, '*', { revision: REVISION, previousFacts: { addressKeys: 'api,hooks,pages' } });
    expect(reading.status).toBe('partial');
    expect(reading.unknownScopes).toEqual([{ kind: 'github-meta', key: 'hooks' }]);
    expect(String(reading.facts!.addressKeys).split(',')).toContain('hooks');
    expect(String(reading.facts!.addressKeys).split(',')).not.toContain('pages');
  });
});

describe('github-meta: credentials go only to the github.apiUrl origin', () => {
  let github: GitHubPeer;
  let other: HttpPeer;
  beforeAll(async () => {
    github = await startGitHubPeer({ token: TOKEN });
    other = await startHttpPeer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(SAMPLE);
    });
  });
  afterAll(() => Promise.all([github.close(), other.close()]));
  afterEach(() => expect(github.violations).toEqual([]));

  const context = (config: Config, env: Record<string, string> = { GITHUB_TOKEN: TOKEN }): SourceContext => ({
    config,
    env,
    now: () => new Date('2026-01-05T06:00:00.000Z'),
  });

  it('sends the token to the api origin, and the observation reads the served sample', async () => {
    const { target, config } = parsed({ url: `${github.url}/meta`, keys: ['hooks', 'actions'] }, github.url);
    const before = github.metaReads.length;
    const observation = await observeGitHubMeta(target, context(config));
    expect(observation.status).toBe('ok');
    expect(observation.entries).toHaveLength(10);
    expect(github.metaReads.slice(before)).toEqual([{ authorization: `Bearer ${TOKEN}`, status: 200 }]);
    expect(observation.entries[0]!.evidence[0]).toMatchObject({
      kind: 'github-meta',
      url: `${github.url}/meta`,
      etag: expect.stringMatching(/^W\//),
    });
  });

  it('sends no credentials to another origin, nor without a github section, nor without credentials', async () => {
    const elsewhere = parsed({ url: `${other.url}/meta`, keys: ['hooks'] }, github.url);
    expect((await observeGitHubMeta(elsewhere.target, context(elsewhere.config))).status).toBe('ok');
    expect(other.requests.at(-1)!.headers.authorization).toBeUndefined();
    // The same host on another port is another origin.
    const { config } = parsed({ keys: '*' }, github.url);
    expect(await authorizationFor(`${github.url.replace(/:\d+$/, ':1')}/meta`, context(config))).toBeUndefined();

    const anonymous = parsed({ url: `${github.url}/meta`, keys: ['hooks'] });
    const before = github.metaReads.length;
    expect((await observeGitHubMeta(anonymous.target, context(anonymous.config))).status).toBe('ok');
    const noCredentials = parsed({ url: `${github.url}/meta`, keys: ['hooks'] }, github.url);
    expect((await observeGitHubMeta(noCredentials.target, context(noCredentials.config, {}))).status).toBe('ok');
    expect(github.metaReads.slice(before)).toEqual([
      { authorization: '', status: 200 },
      { authorization: '', status: 200 },
    ]);
  });

  it('never sends credentials over plain http to a host that is not this machine', async () => {
    // The config refuses such an apiUrl; a config built in code is refused here too.
    const { config } = parsed({ keys: '*' }, github.url);
    const plain = { ...config, github: { ...config.github!, apiUrl: 'http://github.example.com' } };
    expect(await authorizationFor('http://github.example.com/meta', context(plain))).toBeUndefined();
    expect(
      await authorizationFor(
        'https://github.example.com/meta',
        context({ ...config, github: { ...config.github!, apiUrl: 'https://github.example.com' } }),
      ),
    ).toBe(`Bearer ${TOKEN}`);
  });

  it('reports refused credentials as github-meta-auth, without the token', async () => {
    const { target, config } = parsed({ url: `${github.url}/meta`, keys: ['hooks'] }, github.url);
    const observation = await observeGitHubMeta(target, context(config, { GITHUB_TOKEN: 'ghp_NotTheRightToken0123456789abcdef' }));
    expect(observation).toMatchObject({ status: 'error', errors: [expect.objectContaining({ code: 'github-meta-auth' })] });
    expect(JSON.stringify(observation)).not.toContain('NotTheRightToken');
  });

  it('answers a conditional request naming its ETag with 304 (peer)', async () => {
    const first = await fetch(`${github.url}/meta`);
    const etag = first.headers.get('etag')!;
    expect(first.status).toBe(200);
    const second = await fetch(`${github.url}/meta`, { headers: { 'if-none-match': etag } });
    expect(second.status).toBe(304);
    expect(await second.text()).toBe('');
    github.metaDocument = { ...(JSON.parse(SAMPLE) as object), hooks: ['192.30.252.0/22'] };
    expect((await fetch(`${github.url}/meta`, { headers: { 'if-none-match': etag } })).status).toBe(200);
  });

  it('probes the endpoint for the doctor with the same credentials', async () => {
    const { target, config } = parsed({ url: `${github.url}/api/v3/meta`, keys: ['hooks'] }, `${github.url}/api/v3`);
    const before = github.metaReads.length;
    expect(await probeGitHubMeta(target, context(config))).toMatchObject({ status: 200, contentType: 'application/json' });
    expect(github.metaReads.slice(before)).toEqual([{ authorization: `Bearer ${TOKEN}`, status: 200 }]);
  });
});

describe('github-meta: as a GitHub App installation', () => {
  let github: GitHubPeer;
  afterAll(() => github.close());

  it('exchanges the App key for an installation token on the api origin and sends that', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    github = await startGitHubPeer({ app: { id: 5150, installationId: 61, publicKey } });
    const { target, config } = parsed({ url: `${github.url}/meta`, keys: ['hooks'] }, github.url);
    const env = { GITHUB_APP_ID: '5150', GITHUB_APP_INSTALLATION_ID: '61', GITHUB_APP_PRIVATE_KEY: privateKey };
    const observation = await observeGitHubMeta(target, { config, env, now: () => new Date() });
    expect(observation.status).toBe('ok');
    expect(github.requests.map((request) => `${request.method} ${request.route}`)).toEqual([
      'POST /app/installations/61/access_tokens',
      'GET /meta',
    ]);
    expect(github.metaReads).toEqual([{ authorization: expect.stringMatching(/^Bearer ghs_/), status: 200 }]);
    expect(github.violations).toEqual([]);
  });
});
