import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type ServiceTagsTarget } from '../../../shared/config.js';
import { armScope, extractServiceTags, observeServiceTags } from '../../../shared/sources/service-tags/index.js';
import type { Observation, SourceContext } from '../../../shared/sources/source.js';
import { armServiceTags, asArmResponse, StaticTokenCredential, type ServiceTagsFile } from '../../peers/arm.js';
import { routes, sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const FIXTURE_PATH = 'fixtures/service-tags/ServiceTags_Public_2025-11-07.json';
const fixtureBytes = sharedFile(FIXTURE_PATH);
const fixture = JSON.parse(fixtureBytes.toString('utf8')) as ServiceTagsFile;

const MCAS = 'MicrosoftCloudAppSecurity';
const MCAS_WEST_EUROPE = 'MicrosoftCloudAppSecurity.WestEurope';
const AFD_SECURITY = 'AzureFrontDoor.MicrosoftSecurity';
const SUBSCRIPTION = '9a3f5c2e-1b7d-4e8a-9c6f-2d4b8e1a7c35';
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.fake-arm-token';

/**
 * The oracle: the fixture read with a plain JSON.parse and sorted with integer arithmetic,
 * not with the code under test. Only IPv4 tags go through it (IPv6 ones are spelled out by hand).
 */
function expectedIpv4Prefixes(tagName: string): string[] {
  const tag = fixture.values.find((value) => value.name === tagName);
  if (!tag) throw new Error(`fixture has no ${tagName}`);
  const prefixes = tag.properties.addressPrefixes as string[];
  const keyed = [...new Set(prefixes)].map((prefix) => {
    const [address = '', length = ''] = prefix.split('/');
    if (prefix.includes(':') || !/^\d+$/.test(length)) throw new Error(`oracle handles IPv4 CIDRs only: ${prefix}`);
    const bits = Number(length);
    const value = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
    const network = value - (value % 2 ** (32 - bits));
    const text = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
    return { network, bits, cidr: `${text}/${bits}` };
  });
  keyed.sort((a, b) => a.network - b.network || a.bits - b.bits);
  return [...new Set(keyed.map((k) => k.cidr))];
}

function target(fields: { tags: string[]; url?: string; arm?: Record<string, unknown> }): ServiceTagsTarget {
  const config = parseConfig({ targets: [{ id: 'azure-tags', type: 'service-tags', ...fields }] });
  return config.targets[0] as ServiceTagsTarget;
}

function context(overrides: Partial<SourceContext> = {}, http = { timeoutMs: 20_000, maxBytes: 16 * 1024 * 1024 }): SourceContext {
  return {
    config: { dns: { timeoutMs: 2_000, tries: 2, concurrency: 32, stabilityQueries: 2 }, http },
    env: {},
    now: () => new Date('2025-11-10T06:00:00.000Z'),
    ...overrides,
  };
}

function smallDocument(values: Array<{ name: string; changeNumber?: number; addressPrefixes: unknown }>, changeNumber = 7): string {
  return JSON.stringify({
    changeNumber,
    cloud: 'Public',
    values: values.map((v) => ({
      name: v.name,
      id: v.name,
      properties: {
        changeNumber: v.changeNumber ?? 1,
        region: '',
        regionId: 0,
        platform: 'Azure',
        systemService: v.name,
        addressPrefixes: v.addressPrefixes,
      },
    })),
  });
}

function codes(observation: Observation): string[] {
  return observation.errors.map((problem) => problem.code);
}

let peer: HttpPeer;
beforeAll(async () => {
  peer = await startHttpPeer();
});
afterAll(async () => {
  await peer.close();
});

function serveFile(body: string | Buffer, contentType = 'application/octet-stream'): string {
  peer.handle(routes({ '/download/ServiceTags_Public_20251107.json': { body, contentType } }));
  return `${peer.url}/download/ServiceTags_Public_20251107.json`;
}

describe('observeServiceTags from the weekly file over HTTP', () => {
  it('observes exactly the MicrosoftCloudAppSecurity prefixes of the fixture, with evidence and facts', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(target({ url, tags: [MCAS] }), context());

    expect(observation.status).toBe('ok');
    expect(observation.errors).toEqual([]);
    expect(observation.warnings).toEqual([]);
    expect(observation.targetId).toBe('azure-tags');
    expect(observation.type).toBe('service-tags');
    expect(observation.observedAt).toBe('2025-11-10T06:00:00.000Z');
    expect(observation.facts).toEqual({ fileChangeNumber: 274, source: 'file', changeNumberSince: '2025-11-10T06:00:00.000Z' });
    const cidrs = observation.entries.map((entry) => entry.cidr);
    expect(cidrs).toEqual(expectedIpv4Prefixes(MCAS));
    expect(cidrs).toHaveLength(2302);
    for (const literal of ['4.153.214.151/32', '4.153.214.156/31', '20.235.81.243/32', '51.104.9.16/28', '191.235.123.114/32']) {
      expect(cidrs).toContain(literal);
    }
    expect(cidrs[0]).toBe('4.153.214.151/32');
    expect(cidrs.at(-1)).toBe('191.235.123.114/32');
    expect(observation.entries[0]!.evidence).toEqual([{ kind: 'service-tag', tag: MCAS, tagChangeNumber: 13, fileChangeNumber: 274, url }]);
  });

  it('observes AzureFrontDoor.MicrosoftSecurity, IPv4 before IPv6', async () => {
    const url = serveFile(fixtureBytes, 'application/json');
    const observation = await observeServiceTags(target({ url, tags: [AFD_SECURITY] }), context());

    expect(observation.status).toBe('ok');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual([
      '13.107.219.0/24',
      '13.107.227.0/24',
      '13.107.228.0/23',
      '150.171.97.0/24',
      '2620:1ec:40::/48',
      '2620:1ec:49::/48',
      '2620:1ec:4a::/47',
    ]);
    expect(observation.entries.every((entry) => entry.evidence[0]?.kind === 'service-tag' && entry.evidence[0].tagChangeNumber === 1)).toBe(
      true,
    );
  });

  it('observes a regional tag on its own', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(target({ url, tags: [MCAS_WEST_EUROPE] }), context());

    expect(observation.status).toBe('ok');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(expectedIpv4Prefixes(MCAS_WEST_EUROPE));
    expect(observation.entries).toHaveLength(225);
    expect(observation.entries.map((entry) => entry.cidr)).toContain('4.180.55.239/32');
  });

  it('merges evidence when two selected tags contain the same prefix', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(target({ url, tags: [MCAS, MCAS_WEST_EUROPE, AFD_SECURITY] }), context());

    expect(observation.status).toBe('ok');
    expect(observation.entries).toHaveLength(2302 + 7);
    const shared = observation.entries.find((entry) => entry.cidr === '4.180.55.239/32');
    expect(shared?.evidence).toEqual([
      { kind: 'service-tag', tag: MCAS, tagChangeNumber: 13, fileChangeNumber: 274, url },
      { kind: 'service-tag', tag: MCAS_WEST_EUROPE, tagChangeNumber: 5, fileChangeNumber: 274, url },
    ]);
    const westEurope = new Set(expectedIpv4Prefixes(MCAS_WEST_EUROPE));
    const twice = observation.entries.filter((entry) => entry.evidence.length === 2).map((entry) => entry.cidr);
    expect(new Set(twice)).toEqual(westEurope);
  });

  it('keeps one entry per canonical prefix: host bits and repeats inside a tag collapse', async () => {
    const url = serveFile(
      smallDocument([{ name: MCAS, addressPrefixes: ['20.0.0.5/24', '20.0.0.0/24', '20.0.0.0/24', '2603:1000:0:0:0:0:0:0/40'] }]),
      'text/plain',
    );
    const observation = await observeServiceTags(target({ url, tags: [MCAS] }), context());

    expect(observation.status).toBe('ok');
    expect(observation.entries).toEqual([
      { cidr: '20.0.0.0/24', evidence: [{ kind: 'service-tag', tag: MCAS, tagChangeNumber: 1, fileChangeNumber: 7, url }] },
      { cidr: '2603:1000::/40', evidence: [{ kind: 'service-tag', tag: MCAS, tagChangeNumber: 1, fileChangeNumber: 7, url }] },
    ]);
  });
});

describe('missing tags', () => {
  it('is partial with a warning naming the tag when some configured tags are not in the file', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(target({ url, tags: [MCAS, 'MicrosoftCloudAppSecurity.Atlantis'] }), context());

    expect(observation.status).toBe('partial');
    expect(observation.errors).toEqual([]);
    expect(observation.warnings).toHaveLength(1);
    expect(observation.warnings[0]!.code).toBe('service-tag-missing');
    expect(observation.warnings[0]!.message).toContain('"MicrosoftCloudAppSecurity.Atlantis"');
    expect(observation.entries).toHaveLength(2302);
    expect(observation.facts).toMatchObject({ fileChangeNumber: 274 });
  });

  it('is an error when none of the configured tags is in the file (names match exactly, case included)', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(target({ url, tags: ['microsoftcloudappsecurity', 'AzureFrontDoor'] }), context());

    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation)).toEqual(['service-tag-missing']);
    expect(observation.errors[0]!.message).toContain('"microsoftcloudappsecurity"');
    expect(observation.facts).toBeUndefined();
  });
});

describe('stale rule', () => {
  it('refuses a file older than the one seen before, naming both change numbers', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ previousFacts: { fileChangeNumber: 275, source: 'file' } }),
    );

    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation)).toEqual(['service-tags-stale']);
    expect(observation.errors[0]!.message).toContain('274');
    expect(observation.errors[0]!.message).toContain('275');
  });

  it('reads a change number stored as text the same way', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ previousFacts: { fileChangeNumber: '300', source: 'file' } }),
    );
    expect(codes(observation)).toEqual(['service-tags-stale']);
  });

  it.each([274, 12, '274'])('accepts the file when the previous change number was %s', async (previous) => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ previousFacts: { fileChangeNumber: previous, source: 'file' } }),
    );
    expect(observation.status).toBe('ok');
    expect(observation.entries).toHaveLength(2302);
  });
});

describe('a file that no longer moves', () => {
  it('warns when the file named in the URL is more than three weeks old, and says how to move on', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ now: () => new Date('2025-12-01T06:00:00.000Z') }),
    );
    expect(observation.status).toBe('ok');
    expect(observation.warnings.map((w) => w.code)).toEqual(['service-tags-file-old']);
    expect(observation.warnings[0]!.message).toContain('dated 2025-11-07');
    expect(observation.warnings[0]!.message).toContain('Set "url" to the current file');
    expect(observation.warnings[0]!.message).toContain('use "arm"');
  });

  it('stays quiet at three weeks', async () => {
    const url = serveFile(fixtureBytes);
    const observation = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ now: () => new Date('2025-11-28T06:00:00.000Z') }),
    );
    expect(observation.warnings).toEqual([]);
  });

  it('warns when an undated URL has served the same changeNumber for more than three weeks, counting from when it was first seen', async () => {
    peer.handle(routes({ '/mirror/service-tags.json': { body: fixtureBytes, contentType: 'application/json' } }));
    const url = `${peer.url}/mirror/service-tags.json`;
    const previousFacts = { fileChangeNumber: 274, source: 'file', changeNumberSince: '2025-11-01T06:00:00.000Z' };
    const early = await observeServiceTags(target({ url, tags: [MCAS] }), context({ previousFacts }));
    expect(early.warnings).toEqual([]);
    expect(early.facts).toEqual(previousFacts);
    const late = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ previousFacts, now: () => new Date('2025-11-23T06:00:00.000Z') }),
    );
    expect(late.status).toBe('ok');
    expect(late.warnings.map((w) => w.code)).toEqual(['service-tags-not-moving']);
    expect(late.warnings[0]!.message).toContain('changeNumber 274 since 2025-11-01');
    // A new changeNumber starts the count again.
    const moved = await observeServiceTags(
      target({ url, tags: [MCAS] }),
      context({ previousFacts: { ...previousFacts, fileChangeNumber: 270 }, now: () => new Date('2025-11-23T06:00:00.000Z') }),
    );
    expect(moved.warnings).toEqual([]);
    expect(moved.facts).toMatchObject({ changeNumberSince: '2025-11-23T06:00:00.000Z' });
  });
});

describe('one document parsed once per process', () => {
  it('extracts of the same text are independent of each other, and another text is parsed afresh', () => {
    const text = fixtureBytes.toString('utf8');
    const first = extractServiceTags(text, [MCAS]);
    const prefixes = [...first.tags[0]!.prefixes];
    (first.tags[0]!.prefixes as string[]).length = 0;
    const second = extractServiceTags(text, [MCAS, MCAS_WEST_EUROPE]);
    expect(second.tags.map((tag) => tag.name).sort()).toEqual([MCAS, MCAS_WEST_EUROPE]);
    expect(second.tags.find((tag) => tag.name === MCAS)!.prefixes).toEqual(prefixes);
    expect(() => extractServiceTags('{"changeNumber":274,"cloud":"Public"}', [MCAS])).toThrow(
      expect.objectContaining({ code: 'service-tags-shape' }),
    );
    expect(extractServiceTags(text, [MCAS]).tags[0]!.prefixes).toEqual(prefixes);
  });
});

describe('garbage upstream: an error, never an empty observation', () => {
  const halfFixture = fixtureBytes.subarray(0, Math.floor(fixtureBytes.length / 2));

  it.each([
    ['an empty body', '', 'application/json', 'service-tags-not-json'],
    ['an HTML page served as text', '<!DOCTYPE html><html><body>Sign in</body></html>', 'text/plain', 'service-tags-not-json'],
    ['an HTML page', '<!DOCTYPE html><html><body>Sign in</body></html>', 'text/html', 'http-content-type'],
    ['the fixture cut mid-way', halfFixture, 'application/octet-stream', 'service-tags-not-json'],
    ['a JSON array', '[1,2,3]', 'application/json', 'service-tags-shape'],
    ['a document without values', '{"changeNumber":274,"cloud":"Public"}', 'application/json', 'service-tags-shape'],
    ['values that are not a list', '{"changeNumber":274,"cloud":"Public","values":{}}', 'application/json', 'service-tags-shape'],
    [
      'an entry without a name',
      '{"changeNumber":274,"cloud":"Public","values":[{"id":"x","properties":{}}]}',
      'application/json',
      'service-tags-shape',
    ],
    [
      'a change number that is not a number',
      '{"changeNumber":"soon","cloud":"Public","values":[]}',
      'application/json',
      'service-tags-shape',
    ],
    [
      'a selected tag without addressPrefixes',
      smallDocument([{ name: MCAS, addressPrefixes: undefined }]),
      'application/json',
      'service-tags-shape',
    ],
    [
      'a selected tag whose prefixes are not strings',
      smallDocument([{ name: MCAS, addressPrefixes: [1, 2] }]),
      'application/json',
      'service-tags-shape',
    ],
    [
      'a prefix "banana"',
      smallDocument([{ name: MCAS, addressPrefixes: ['20.0.0.0/24', 'banana'] }]),
      'application/json',
      'service-tags-bad-prefix',
    ],
    ['a selected tag with no prefixes', smallDocument([{ name: MCAS, addressPrefixes: [] }]), 'application/json', 'service-tag-empty'],
  ])('%s', async (_label, body, contentType, code) => {
    const url = serveFile(body, contentType);
    const observation = await observeServiceTags(target({ url, tags: [MCAS] }), context());

    expect(observation.status).toBe('error');
    expect(observation.entries).toEqual([]);
    expect(codes(observation)).toEqual([code]);
  });

  it('names the bad prefix and uses the other tags (partial)', async () => {
    const url = serveFile(
      smallDocument([
        { name: MCAS, addressPrefixes: ['20.0.0.0/24', 'banana'] },
        { name: AFD_SECURITY, addressPrefixes: ['13.107.219.0/24'] },
      ]),
    );
    const observation = await observeServiceTags(target({ url, tags: [MCAS, AFD_SECURITY] }), context());

    expect(observation.status).toBe('partial');
    expect(codes(observation)).toEqual(['service-tags-bad-prefix']);
    expect(observation.errors[0]!.message).toContain('banana');
    expect(observation.errors[0]!.message).toContain(MCAS);
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(['13.107.219.0/24']);
  });

  it('ignores an odd entry in a tag it does not use', async () => {
    const body = JSON.stringify({
      changeNumber: 9,
      cloud: 'Public',
      values: [
        { name: 'SomethingElse', id: 'SomethingElse', properties: { changeNumber: 'n/a' } },
        { name: MCAS, id: MCAS, properties: { changeNumber: 2, region: '', addressPrefixes: ['20.0.0.0/24'] } },
      ],
    });
    const observation = await observeServiceTags(target({ url: serveFile(body), tags: [MCAS] }), context());
    expect(observation.status).toBe('ok');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(['20.0.0.0/24']);
  });

  it('stops reading a 60 MB body at the size cap', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    peer.handle(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      for (let sent = 0; sent < 60 && !response.destroyed; sent++) await write(response, chunk);
      response.end();
    });
    const observation = await observeServiceTags(target({ url: `${peer.url}/huge.json`, tags: [MCAS] }), context());

    expect(observation.status).toBe('error');
    expect(codes(observation)).toEqual(['http-too-large']);
  });

  it('gives up on a body that never finishes', async () => {
    peer.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"changeNumber": 274, "cloud": "Public", "values": [');
    });
    const observation = await observeServiceTags(
      target({ url: `${peer.url}/slow.json`, tags: [MCAS] }),
      context({}, { timeoutMs: 300, maxBytes: 16 * 1024 * 1024 }),
    );

    expect(observation.status).toBe('error');
    expect(codes(observation)).toEqual(['http-timeout']);
  });

  it('reports an upstream HTTP error as such', async () => {
    const url = serveFile('gone');
    const observation = await observeServiceTags(target({ url: `${url}.old`, tags: [MCAS] }), context());
    expect(codes(observation)).toEqual(['http-status']);
  });
});

describe('observeServiceTags from the ARM Service Tags API', () => {
  const location = 'westeurope';
  const apiVersion = '2024-05-01';
  const servicePath = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Network/locations/${location}/serviceTags`;
  const armTarget = (tags: string[]) => target({ arm: { subscriptionId: SUBSCRIPTION, location, baseUrl: peer.url, apiVersion }, tags });

  function serveArm(pages: Record<string, unknown>): void {
    peer.requests.length = 0;
    peer.handle(armServiceTags({ subscriptionId: SUBSCRIPTION, location, apiVersion, token: TOKEN, pages }));
  }

  it('lists the tags with a bearer token for the ARM scope and reads string change numbers', async () => {
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION) });
    const credential = new StaticTokenCredential(TOKEN);
    const observation = await observeServiceTags(armTarget([MCAS, AFD_SECURITY]), context({ armCredential: credential }));

    expect(observation.errors).toEqual([]);
    expect(observation.status).toBe('ok');
    expect(credential.requestedScopes).toEqual([['https://management.azure.com/.default']]);
    expect(peer.requests).toHaveLength(1);
    expect(peer.requests[0]!.path).toBe(`${servicePath}?api-version=${apiVersion}`);
    expect(peer.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(observation.facts).toEqual({ fileChangeNumber: 274, source: 'arm:westeurope', changeNumberSince: '2025-11-10T06:00:00.000Z' });
    expect(observation.entries).toHaveLength(2302 + 7);
    const fromMcas = observation.entries.filter((entry) => entry.evidence.some((item) => item.kind === 'service-tag' && item.tag === MCAS));
    expect(fromMcas.map((entry) => entry.cidr)).toEqual(expectedIpv4Prefixes(MCAS));
    // The ARM location says where the document came from; the subscription stays out of evidence (and PR bodies).
    expect(observation.entries[0]!.evidence).toEqual([
      { kind: 'service-tag', tag: MCAS, tagChangeNumber: 13, fileChangeNumber: 274, armLocation: location },
    ]);
  });

  it('follows nextLink on the same host and finds tags on every page', async () => {
    const firstPage = fixture.values.slice(0, 10);
    const rest = fixture.values.slice(10);
    const nextLink = `${peer.url}${servicePath}?api-version=${apiVersion}&page=2`;
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION, firstPage, nextLink), '2': asArmResponse(fixture, SUBSCRIPTION, rest) });
    const firstTag = firstPage[0]!.name;
    const observation = await observeServiceTags(
      armTarget([firstTag, AFD_SECURITY]),
      context({ armCredential: new StaticTokenCredential(TOKEN) }),
    );

    expect(observation.status).toBe('ok');
    expect(peer.requests.map((request) => request.path)).toEqual([
      `${servicePath}?api-version=${apiVersion}`,
      `${servicePath}?api-version=${apiVersion}&page=2`,
    ]);
    const tags = new Set(
      observation.entries.flatMap((entry) => entry.evidence.map((item) => (item.kind === 'service-tag' ? item.tag : item.kind))),
    );
    expect(tags).toEqual(new Set([firstTag, AFD_SECURITY]));
  });

  it('does not send the token to a nextLink on another host', async () => {
    const elsewhere = `${peer.url.replace('127.0.0.1', 'localhost')}${servicePath}?api-version=${apiVersion}&page=2`;
    serveArm({
      '': asArmResponse(fixture, SUBSCRIPTION, fixture.values.slice(0, 10), elsewhere),
      '2': asArmResponse(fixture, SUBSCRIPTION),
    });
    const observation = await observeServiceTags(armTarget([MCAS]), context({ armCredential: new StaticTokenCredential(TOKEN) }));

    expect(codes(observation)).toEqual(['arm-paging']);
    expect(peer.requests).toHaveLength(1);
  });

  it('maps 403 (a token ARM does not accept) to arm-auth without the token in the message', async () => {
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION) });
    const wrongToken = 'secret-token-of-another-tenant';
    const observation = await observeServiceTags(armTarget([MCAS]), context({ armCredential: new StaticTokenCredential(wrongToken) }));

    expect(observation.status).toBe('error');
    expect(codes(observation)).toEqual(['arm-auth']);
    expect(observation.errors[0]!.message).toContain('403');
    expect(JSON.stringify(observation)).not.toContain(wrongToken);
  });

  it('maps 401 to arm-auth without the token in the message', async () => {
    peer.handle((_request, response) => {
      response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      response.end('{"error":{"code":"ExpiredAuthenticationToken","message":"The access token expiry has passed."}}');
    });
    const observation = await observeServiceTags(armTarget([MCAS]), context({ armCredential: new StaticTokenCredential(TOKEN) }));

    expect(codes(observation)).toEqual(['arm-auth']);
    expect(observation.errors[0]!.message).toContain('401');
    expect(JSON.stringify(observation)).not.toContain(TOKEN);
  });

  it('maps a credential that cannot produce a token to arm-auth', async () => {
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION) });
    const failing = await observeServiceTags(
      armTarget([MCAS]),
      context({ armCredential: new StaticTokenCredential(new Error('ManagedIdentityCredential: no identity endpoint')) }),
    );
    const empty = await observeServiceTags(armTarget([MCAS]), context({ armCredential: new StaticTokenCredential(null) }));

    expect(codes(failing)).toEqual(['arm-auth']);
    expect(failing.errors[0]!.message).toContain('no identity endpoint');
    expect(codes(empty)).toEqual(['arm-auth']);
    expect(peer.requests).toHaveLength(0);
  });

  it('applies the stale rule to the API change number too', async () => {
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION) });
    const observation = await observeServiceTags(
      armTarget([MCAS]),
      context({ armCredential: new StaticTokenCredential(TOKEN), previousFacts: { fileChangeNumber: 280, source: 'arm:westeurope' } }),
    );
    expect(codes(observation)).toEqual(['service-tags-stale']);
  });

  it('keys the stale rule by source: a target switched from the file (or another location) to ARM is not stale', async () => {
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION) });
    for (const source of ['file', 'arm:northeurope']) {
      const observation = await observeServiceTags(
        armTarget([MCAS]),
        context({ armCredential: new StaticTokenCredential(TOKEN), previousFacts: { fileChangeNumber: 280, source } }),
      );
      expect(observation.status, source).toBe('ok');
      expect(observation.facts).toEqual({ fileChangeNumber: 274, source: 'arm:westeurope', changeNumberSince: '2025-11-10T06:00:00.000Z' });
    }
  });

  it('says that a regional tag missing from the API may be only in the file', async () => {
    const withoutRegional = fixture.values.filter((value) => value.name !== MCAS_WEST_EUROPE);
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION, withoutRegional) });
    const credential = new StaticTokenCredential(TOKEN);
    const partial = await observeServiceTags(armTarget([MCAS, MCAS_WEST_EUROPE]), context({ armCredential: credential }));
    expect(partial.status).toBe('partial');
    expect(partial.warnings.map((w) => w.code)).toEqual(['service-tag-missing']);
    expect(partial.warnings[0]!.message).toContain('The Service Tags API returns a subset of the weekly ServiceTags file');
    expect(partial.warnings[0]!.message).toContain(`regional tags such as "${MCAS_WEST_EUROPE}" may be only in the file`);
    const none = await observeServiceTags(armTarget([MCAS_WEST_EUROPE]), context({ armCredential: credential }));
    expect(codes(none)).toEqual(['service-tag-missing']);
    expect(none.errors[0]!.message).toContain('may be only in the file');
  });

  it('reads a later page that lacks the top-level fields', async () => {
    const nextLink = `${peer.url}${servicePath}?api-version=${apiVersion}&page=2`;
    const rest = fixture.values.slice(10).map((value) => ({
      ...value,
      properties: { ...value.properties, changeNumber: String(value.properties.changeNumber) },
    }));
    serveArm({ '': asArmResponse(fixture, SUBSCRIPTION, fixture.values.slice(0, 10), nextLink), '2': { values: rest } });
    const observation = await observeServiceTags(armTarget([MCAS]), context({ armCredential: new StaticTokenCredential(TOKEN) }));
    expect(observation.status).toBe('ok');
    expect(observation.entries.map((entry) => entry.cidr)).toEqual(expectedIpv4Prefixes(MCAS));
    expect(observation.facts).toMatchObject({ fileChangeNumber: 274 });
  });
});

describe('armScope', () => {
  it('uses the cloud audience for sovereign ARM endpoints and the public one otherwise', () => {
    expect(armScope('https://management.azure.com')).toBe('https://management.azure.com/.default');
    expect(armScope('https://management.usgovcloudapi.net/')).toBe('https://management.usgovcloudapi.net/.default');
    expect(armScope('https://management.chinacloudapi.cn')).toBe('https://management.chinacloudapi.cn/.default');
    expect(armScope('http://127.0.0.1:8080')).toBe('https://management.azure.com/.default');
  });
});

function write(response: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((done) => {
    if (response.write(chunk)) return done();
    const settle = () => {
      response.off('drain', settle);
      response.off('close', settle);
      done();
    };
    response.once('drain', settle);
    response.once('close', settle);
  });
}
