import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type OutSystemsTarget } from '../../../shared/config.js';
import type { Problem } from '../../../shared/problem.js';
import { checkLifeTime } from '../../../shared/sources/outsystems/lifetime.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { startHttpPeer, type HttpPeer } from '../../peers/http.js';

const TOKEN = 'lt-secret-token-3f9a1c';
const ENVIRONMENT_KEY = '8c5c1a5e-7e43-4b8f-9d1b-2f5d6c0b9a11';

/** The LifeTime API v2 Environment object, as GET /lifetimeapi/rest/v2/environments/{key}/ returns it. */
function environment(numberOfFrontEnds: unknown, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Key: ENVIRONMENT_KEY,
    Name: 'Production',
    OSVersion: '11.31.0.44263',
    Order: 3,
    HostName: 'acme.outsystemsenterprise.com',
    UseHTTPS: true,
    EnvironmentType: 'Production',
    NumberOfFrontEnds: numberOfFrontEnds,
    ApplicationServerType: '.NET',
    ApplicationServer: 'IIS',
    DatabaseProvider: 'SqlServer',
    IsCloudEnvironment: true,
    ...overrides,
  });
}

let peer: HttpPeer;

beforeAll(async () => {
  peer = await startHttpPeer();
});

afterAll(async () => {
  await peer.close();
});

function target(
  frontEnds: string[],
  tokenSetting?: string,
  options: { url?: string; environmentHost?: string; environmentKey?: string } = {},
): OutSystemsTarget {
  const config = parseConfig({
    targets: [
      {
        id: 'acme-prod',
        type: 'outsystems',
        frontEnds,
        ...(options.environmentHost ? { environmentHost: options.environmentHost } : {}),
        lifetime: {
          url: options.url ?? `${peer.url}/`,
          environmentKey: options.environmentKey ?? ENVIRONMENT_KEY,
          ...(tokenSetting ? { tokenSetting } : {}),
        },
      },
    ],
  });
  return config.targets[0] as OutSystemsTarget;
}

function context(env: Record<string, string | undefined> = { LIFETIME_TOKEN: TOKEN }): SourceContext {
  return {
    config: { dns: { timeoutMs: 200, tries: 1, concurrency: 4, stabilityQueries: 2 }, http: { timeoutMs: 5_000, maxBytes: 1_048_576 } },
    env,
    now: () => new Date('2025-01-01T00:00:00Z'),
  };
}

/** Serves the environment only to the right path with the right bearer token, like LifeTime; the list of environments too. */
function lifetimeServing(body: string, contentType = 'application/json'): void {
  peer.handle((request, response) => {
    if (request.url === '/lifetimeapi/rest/v2/environments/' && request.headers.authorization === `Bearer ${TOKEN}`) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify([
          { Key: 'a1b2c3d4-0000-4000-8000-000000000001', Name: 'Development', HostName: 'acme-dev.outsystemsenterprise.com' },
          { Key: ENVIRONMENT_KEY, Name: 'Production', HostName: 'acme.outsystemsenterprise.com' },
        ]),
      );
      return;
    }
    if (request.headers.authorization === 'Bearer no-role-token') {
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end('{"Errors":["Forbidden"]}');
      return;
    }
    if (request.url !== `/lifetimeapi/rest/v2/environments/${ENVIRONMENT_KEY}/`) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"Errors":["Environment not found"]}');
      return;
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end('{"Errors":["Invalid token"]}');
      return;
    }
    response.writeHead(200, { 'content-type': contentType });
    response.end(body);
  });
}

function expectNoToken(problems: readonly Problem[]): void {
  for (const problem of problems) expect(problem.message).not.toContain(TOKEN);
}

describe('LifeTime front-end count check', () => {
  it('warns about a new front-end with both counts and where to find its name', async () => {
    lifetimeServing(environment(3));
    const check = await checkLifeTime(target(['fe1', 'fe2']), context());
    expect(check.reportedFrontEnds).toBe(3);
    expect(check.warnings).toHaveLength(1);
    const [warning] = check.warnings;
    expect(warning?.code).toBe('new-front-end');
    expect(warning?.message).toContain('3 front-end servers');
    expect(warning?.message).toContain('2 are configured');
    expect(warning?.message).toContain('Service Center > Monitoring > Environment Health');
    expectNoToken(check.warnings);
  });

  it('says nothing when the counts agree', async () => {
    lifetimeServing(environment(2));
    expect(await checkLifeTime(target(['fe1', 'fe2']), context())).toEqual({ warnings: [], reportedFrontEnds: 2 });
  });

  it('warns when fewer front-ends exist than are configured', async () => {
    lifetimeServing(environment(1));
    const check = await checkLifeTime(target(['fe1', 'fe2']), context());
    expect(check.warnings.map((w) => w.code)).toEqual(['front-end-count-mismatch']);
  });

  it('skips the check and names the setting, not its value, when the token is missing', async () => {
    lifetimeServing(environment(3));
    const before = peer.requests.length;
    const check = await checkLifeTime(target(['fe1'], 'LT_TOKEN'), context({ LIFETIME_TOKEN: TOKEN }));
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-token-missing']);
    expect(check.warnings[0]?.message).toContain('LT_TOKEN');
    expect(peer.requests.length).toBe(before);
    expectNoToken(check.warnings);
  });

  it('reports a rejected token (401) as unavailable without the token', async () => {
    lifetimeServing(environment(3));
    const check = await checkLifeTime(target(['fe1']), context({ LIFETIME_TOKEN: 'wrong-token-value' }));
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-unavailable']);
    expect(check.warnings[0]?.message).toContain('401');
    expect(check.warnings[0]?.message).not.toContain('wrong-token-value');
    expect(peer.requests.at(-1)?.headers.authorization).toBe('Bearer wrong-token-value');
  });

  it.each([
    ['garbage JSON', '{"NumberOfFrontEnds": 3', 'application/json'],
    ['a count that is not a whole number', environment('three'), 'application/json'],
    ['a negative count', environment(-1), 'application/json'],
    ['an HTML error page', '<html>maintenance</html>', 'text/html'],
  ])('reports %s as unavailable', async (_label, body, contentType) => {
    lifetimeServing(body, contentType);
    const check = await checkLifeTime(target(['fe1']), context());
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-unavailable']);
    expect(check.reportedFrontEnds).toBeUndefined();
    expectNoToken(check.warnings);
  });

  it('keeps the token out of messages even when an upstream echoes it back', async () => {
    peer.handle((request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ NumberOfFrontEnds: 5, Name: `echo ${request.headers.authorization}` }));
    });
    const check = await checkLifeTime(target(['fe1']), context());
    expect(check.warnings.map((w) => w.code)).toEqual(['new-front-end']);
    expectNoToken(check.warnings);
  });

  it('uses the origin of a URL pasted from the LifeTime console (ending in /lifetime)', async () => {
    lifetimeServing(environment(2));
    const check = await checkLifeTime(target(['fe1', 'fe2'], undefined, { url: `${peer.url}/lifetime/` }), context());
    expect(check).toEqual({ warnings: [], reportedFrontEnds: 2 });
    expect(peer.requests.at(-1)?.path).toBe(`/lifetimeapi/rest/v2/environments/${ENVIRONMENT_KEY}/`);
  });

  it('warns when the environment LifeTime describes is not environmentHost', async () => {
    lifetimeServing(environment(2));
    const other = await checkLifeTime(
      target(['fe1', 'fe2'], undefined, { environmentHost: 'acme-dev.outsystemsenterprise.com' }),
      context(),
    );
    expect(other.warnings.map((w) => w.code)).toEqual(['lifetime-environment-mismatch']);
    expect(other.warnings[0]?.message).toContain(
      'is acme.outsystemsenterprise.com, but "environmentHost" is acme-dev.outsystemsenterprise.com',
    );
    const same = await checkLifeTime(target(['fe1', 'fe2'], undefined, { environmentHost: 'ACME.outsystemsenterprise.com' }), context());
    expect(same.warnings).toEqual([]);
  });

  it('warns when the environment is not on OutSystems Cloud', async () => {
    lifetimeServing(environment(2, { IsCloudEnvironment: false }));
    const check = await checkLifeTime(target(['fe1', 'fe2']), context());
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-not-cloud']);
    expect(check.warnings[0]?.message).toContain('IsCloudEnvironment false');
    expect(check.reportedFrontEnds).toBe(2);
  });

  it('turns 403 into a warning that says what the service account needs, naming the setting and not the token', async () => {
    lifetimeServing(environment(2));
    const check = await checkLifeTime(target(['fe1']), context({ LIFETIME_TOKEN: 'no-role-token' }));
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-forbidden']);
    expect(check.warnings[0]?.message).toContain('HTTP 403');
    expect(check.warnings[0]?.message).toContain('LIFETIME_TOKEN');
    expect(check.warnings[0]?.message).toContain('LifeTime > User Management');
    expect(check.warnings[0]?.message).not.toContain('no-role-token');
  });

  it('turns 404 into a warning listing the environments the token sees, by name and key', async () => {
    lifetimeServing(environment(2));
    const check = await checkLifeTime(target(['fe1'], undefined, { environmentKey: 'f00dfeed-0000-4000-8000-00000000beef' }), context());
    expect(check.warnings.map((w) => w.code)).toEqual(['lifetime-environment-unknown']);
    expect(check.warnings[0]?.message).toContain('no environment with key f00dfeed-0000-4000-8000-00000000beef');
    expect(check.warnings[0]?.message).toContain(`"Development" (a1b2c3d4-0000-4000-8000-000000000001), "Production" (${ENVIRONMENT_KEY})`);
    expectNoToken(check.warnings);
  });

  it('does nothing for a target without a lifetime block', async () => {
    const plain = { ...target(['fe1']), lifetime: undefined };
    expect(await checkLifeTime(plain, context())).toEqual({ warnings: [] });
  });
});
