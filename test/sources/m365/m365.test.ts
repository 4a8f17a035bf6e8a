import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../shared/config.js';
import type { M365Target } from '../../../shared/sources/registry.js';
import { parseEndpoints, parseVersion, selectM365 } from '../../../shared/sources/m365/endpoints.js';
import { m365Facts, observeM365, probeM365 } from '../../../shared/sources/m365/index.js';
import type { Observation, SourceContext } from '../../../shared/sources/source.js';
import { sharedFile, startHttpPeer, type HttpPeer } from '../../peers/http.js';
import { MemoryDocuments } from '../memory-documents.js';

const ENDPOINTS = sharedFile('fixtures/m365/endpoints_Worldwide_sample.json').toString('utf8');
const VERSION = sharedFile('fixtures/m365/version_Worldwide_sample.json').toString('utf8');
const REVISION = { instance: 'Worldwide', version: '2025110700', url: 'https://endpoints.office.com/endpoints/Worldwide' };

function target(fields: Record<string, unknown>): M365Target {
  return parseConfig({ targets: [{ id: 'm365', type: 'm365', ...fields }] }).targets[0] as M365Target;
}

describe('m365: parsing the web service answers', () => {
  it('reads the version of the configured instance, and refuses anything else', () => {
    expect(parseVersion(VERSION, 'Worldwide')).toBe('2025110700');
    expect(() => parseVersion('<html>busy</html>', 'Worldwide')).toThrow(expect.objectContaining({ code: 'm365-not-json' }));
    expect(() => parseVersion('[]', 'Worldwide')).toThrow(expect.objectContaining({ code: 'm365-shape' }));
    expect(() => parseVersion('{"instance":"Worldwide","latest":2025110700}', 'Worldwide')).toThrow(
      expect.objectContaining({ code: 'm365-shape' }),
    );
    expect(() => parseVersion('{"instance":"Worldwide","latest":"latest"}', 'Worldwide')).toThrow(/10-digit/);
    expect(() => parseVersion('{"instance":"China","latest":"2025110700"}', 'Worldwide')).toThrow(/not "Worldwide"/);
  });

  it('reads every endpoint set of the sample, and calls a document of the wrong shape an error, never an empty list', () => {
    const sets = parseEndpoints(ENDPOINTS);
    expect(sets.map((set) => set.id)).toEqual([1, 2, 9, 11, 12, 31, 46, 56, 125]);
    expect(() => parseEndpoints('not json')).toThrow(expect.objectContaining({ code: 'm365-not-json' }));
    expect(() => parseEndpoints('')).toThrow(expect.objectContaining({ code: 'm365-not-json' }));
    expect(() => parseEndpoints('[]')).toThrow(/lists no endpoint sets/);
    expect(() => parseEndpoints('{"ips":["1.2.3.4"]}')).toThrow(expect.objectContaining({ code: 'm365-shape' }));
    expect(() => parseEndpoints('[{"id":"1","serviceArea":"Exchange","category":"Allow","required":true}]')).toThrow(/0\.id/);
    expect(() => parseEndpoints('[{"id":1,"serviceArea":"Exchange","category":"Allow","required":"yes"}]')).toThrow(/0\.required/);
    expect(() => parseEndpoints('[{"id":1,"serviceArea":"Exchange","category":"Allow","required":true,"ips":"1.2.3.4"}]')).toThrow(
      /0\.ips/,
    );
  });

  it('selects by service area, category and required, with ports and version in the evidence', () => {
    const sets = parseEndpoints(ENDPOINTS);
    const common = selectM365(sets, target({ serviceAreas: ['Common'] }), REVISION);
    expect(common.status).toBe('ok');
    // Set 56 (Allow, required) and 125 (Default, optional); 46 lists URLs only.
    expect(common.entries.map((entry) => entry.cidr)).toContain('52.108.0.0/14');
    expect(common.entries).toHaveLength(16 + 2);
    const required = selectM365(sets, target({ serviceAreas: ['Common'], requiredOnly: true }), REVISION);
    expect(required.entries.map((entry) => entry.cidr)).not.toContain('52.108.0.0/14');
    expect(required.entries).toHaveLength(16);
    expect(required.entries[0]!.evidence).toEqual([
      {
        kind: 'm365',
        instance: 'Worldwide',
        version: '2025110700',
        endpointSetId: '56',
        serviceArea: 'Common',
        category: 'Allow',
        required: true,
        tcpPorts: '443,80',
        url: REVISION.url,
      },
    ]);
    // Set 11 and 12 share 52.112.0.0/14: one entry with both sets as evidence.
    const skype = selectM365(sets, target({ serviceAreas: ['Skype'] }), REVISION);
    const shared = skype.entries.find((entry) => entry.cidr === '52.112.0.0/14')!;
    expect(shared.evidence.map((item) => (item as { endpointSetId: string }).endpointSetId)).toEqual(['11', '12']);
    expect((shared.evidence[0] as { udpPorts?: string }).udpPorts).toBe('3478,3479,3480,3481');
    const optimize = selectM365(sets, target({ serviceAreas: '*', categories: ['Optimize'] }), REVISION);
    expect(new Set(optimize.entries.flatMap((entry) => entry.evidence.map((item) => (item as { category: string }).category)))).toEqual(
      new Set(['Optimize']),
    );
  });

  it('names every string of a selected set that is no address, and keeps what that set had (partial), never a shorter list', () => {
    const sets = parseEndpoints(
      JSON.stringify([
        { id: 56, serviceArea: 'Common', category: 'Allow', required: true, ips: ['20.190.128.0/18', '20.190.999.0/18', 42, ''] },
        { id: 57, serviceArea: 'Common', category: 'Allow', required: true, ips: ['40.126.0.0/18'] },
      ]),
    );
    const reading = selectM365(sets, target({ serviceAreas: ['Common'] }), REVISION);
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['20.190.128.0/18', '40.126.0.0/18']);
    expect(reading.unknownScopes).toEqual([{ kind: 'm365', endpointSetId: '56' }]);
    expect(reading.warnings[0]!.message).toMatch(/endpoint set 56 .* 3 entries .*"20\.190\.999\.0\/18", 42, ""/);
  });

  it('warns of a selected service area the document no longer has, naming the closest, and keeps its addresses', () => {
    const sets = parseEndpoints(ENDPOINTS).filter((set) => set.serviceArea !== 'SharePoint');
    const reading = selectM365(sets, target({ serviceAreas: ['SharePoint', 'Common'] }), REVISION);
    expect(reading.status).toBe('partial');
    expect(reading.unknownScopes).toEqual([{ kind: 'm365', serviceArea: 'SharePoint' }]);
    expect(reading.warnings).toEqual([expect.objectContaining({ code: 'm365-service-area-missing' })]);
    // A selection matching nothing usable is an error, never an empty list.
    const none = selectM365(sets, target({ serviceAreas: ['SharePoint'] }), REVISION);
    expect(none.status).toBe('error');
    expect(none.errors.map((problem) => problem.code)).toEqual(['m365-selection-empty']);
  });

  it('rejects a config with an unknown instance, service area or category', () => {
    expect(() => target({ serviceAreas: ['Teams'] })).toThrow(/Exchange, SharePoint, Skype, Common/);
    expect(() => target({ serviceAreas: '*', instance: 'Germany' })).toThrow(/Worldwide, USGovDoD, USGovGCCHigh, China/);
    expect(() => target({ serviceAreas: '*', categories: [] })).toThrow(/list at least one/);
    expect(target({ serviceAreas: '*' })).toMatchObject({
      url: 'https://endpoints.office.com',
      instance: 'Worldwide',
      categories: '*',
      requiredOnly: false,
    });
  });

  it('keeps a ClientRequestId from the facts and replaces a malformed one; a version read elsewhere is forgotten', () => {
    const id = '2b7f0e6c-4a1d-4c3e-9f2a-6d8b1c0e5f47';
    const worldwide = target({ serviceAreas: '*' });
    const endpoints = 'https://endpoints.office.com/endpoints/Worldwide';
    expect(m365Facts(worldwide, { clientRequestId: id, endpoints, version: '2025110700' })).toEqual({
      clientRequestId: id,
      endpoints,
      version: '2025110700',
    });
    const fresh = m365Facts(worldwide, { clientRequestId: 'x; drop', endpoints, version: 'soon', versionCheckedAt: 'noon' });
    expect(fresh.clientRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh).toEqual({ clientRequestId: fresh.clientRequestId, endpoints });
    // China counts its own versions: a Worldwide version must not make China's look stale.
    const china = target({ serviceAreas: '*', instance: 'China' });
    expect(m365Facts(china, { clientRequestId: id, endpoints, version: '2025110700', documentHash: 'sha256:00' })).toEqual({
      clientRequestId: id,
      endpoints: 'https://endpoints.office.com/endpoints/China',
    });
  });
});

describe('m365: the version gate against the web service (HTTP peer)', () => {
  let peer: HttpPeer;
  let version = '2025110700';
  let endpoints = ENDPOINTS;
  let documents: MemoryDocuments;
  let clock: Date;

  beforeAll(async () => {
    peer = await startHttpPeer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      const json = (body: string) => {
        response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        response.end(body);
      };
      if (url.pathname === '/version/Worldwide') return json(JSON.stringify({ instance: 'Worldwide', latest: version }));
      if (url.pathname === '/endpoints/Worldwide') return json(endpoints);
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
    });
  });
  afterAll(() => peer.close());
  beforeEach(() => {
    version = '2025110700';
    endpoints = ENDPOINTS;
    documents = new MemoryDocuments();
    clock = new Date('2025-11-10T06:00:00.000Z');
    peer.requests.length = 0;
  });

  const context = (previous: Observation | undefined): SourceContext => ({
    config: { dns: { timeoutMs: 2_000, tries: 1, concurrency: 4, stabilityQueries: 1 }, http: { timeoutMs: 5_000, maxBytes: 1_048_576 } },
    env: {},
    now: () => clock,
    documents,
    ...(previous?.facts ? { previousFacts: previous.facts } : {}),
  });
  const paths = () => peer.requests.map((request) => new URL(request.path, 'http://x').pathname);
  const later = (minutes: number) => (clock = new Date(clock.getTime() + minutes * 60_000));

  it('asks the version at most once an hour and the endpoints only when the version moved, with one ClientRequestId', async () => {
    const m365 = target({ url: peer.url, serviceAreas: ['Common'], requiredOnly: true });
    const first = await observeM365(m365, context(undefined));
    expect(first.status).toBe('ok');
    expect(paths()).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
    const id = first.facts!.clientRequestId as string;
    expect(peer.requests.map((request) => new URL(request.path, 'http://x').searchParams.get('ClientRequestId'))).toEqual([id, id]);
    // Cached by URL without the ClientRequestId, so other configs share it.
    expect([...documents.documents.keys()]).toEqual([`${peer.url}/endpoints/Worldwide`]);

    // Within the hour: nothing is asked; the observation is the cached document's.
    peer.requests.length = 0;
    later(30);
    const second = await observeM365(m365, context(first));
    expect(paths()).toEqual([]);
    expect(second.entries).toEqual(first.entries);
    expect(second.facts).toEqual(first.facts);

    // After the hour, version unchanged: only the version is asked.
    later(45);
    const third = await observeM365(m365, context(second));
    expect(paths()).toEqual(['/version/Worldwide']);
    expect(third.entries).toEqual(first.entries);
    expect(third.facts).toMatchObject({ clientRequestId: id, version: '2025110700', versionCheckedAt: clock.toISOString() });

    // A new version: the endpoints are fetched again, and the change is observed.
    peer.requests.length = 0;
    later(61);
    version = '2025112800';
    endpoints = ENDPOINTS.replace('"40.126.0.0/18",', '"40.126.0.0/18","40.126.64.0/18",');
    const fourth = await observeM365(m365, context(third));
    expect(paths()).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
    expect(fourth.entries.map((entry) => entry.cidr)).toContain('40.126.64.0/18');
    expect(fourth.entries[0]!.evidence[0]).toMatchObject({ version: '2025112800' });
    expect(new Set(peer.requests.map((request) => new URL(request.path, 'http://x').searchParams.get('ClientRequestId')))).toEqual(
      new Set([id]),
    );
    expect(documents.puts).toBe(2);
  });

  it('downloads the endpoints when the cache does not hold the document it read last (lost, or another copy)', async () => {
    const m365 = target({ url: peer.url, serviceAreas: ['Common'] });
    const first = await observeM365(m365, context(undefined));
    documents.documents.clear();
    peer.requests.length = 0;
    later(10);
    const second = await observeM365(m365, context(first));
    expect(paths()).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
    expect(second.entries).toEqual(first.entries);
  });

  it('refuses an older version as stale, and does not cache or advance on a broken document', async () => {
    const m365 = target({ url: peer.url, serviceAreas: ['Common'] });
    const first = await observeM365(m365, context(undefined));
    later(61);
    version = '2025100100';
    const stale = await observeM365(m365, context(first));
    expect(stale.status).toBe('error');
    expect(stale.errors.map((problem) => problem.code)).toEqual(['m365-stale']);

    version = '2025112800';
    endpoints = '<html>maintenance</html>';
    const broken = await observeM365(m365, context(first));
    expect(broken).toMatchObject({ status: 'error', entries: [], errors: [expect.objectContaining({ code: 'm365-not-json' })] });
    endpoints = ENDPOINTS.replace('"40.126.0.0/18"', '"40.126.0.0/33"');
    const partial = await observeM365(m365, context(first));
    expect(partial.status).toBe('partial');
    expect(documents.puts).toBe(1);
    // The next run within the hour finds the cache holding an older document than the facts name, and reads again.
    peer.requests.length = 0;
    later(1);
    await observeM365(m365, context(partial));
    expect(paths()).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
  });

  it('works without a document cache: every run asks the version and the endpoints', async () => {
    const m365 = target({ url: peer.url, serviceAreas: ['Common'] });
    const bare = (previous: Observation | undefined): SourceContext => {
      const { documents: _none, ...rest } = context(previous);
      return rest;
    };
    const first = await observeM365(m365, bare(undefined));
    peer.requests.length = 0;
    const second = await observeM365(m365, bare(first));
    expect(second.status).toBe('ok');
    expect(paths()).toEqual(['/version/Worldwide', '/endpoints/Worldwide']);
  });

  it('probes the version method for the doctor', async () => {
    const probed = await probeM365(target({ url: peer.url, serviceAreas: '*' }), context(undefined));
    expect(probed).toMatchObject({ status: 200, contentType: 'application/json' });
    expect(paths()).toEqual(['/version/Worldwide']);
  });
});

describe('the README examples of issue 25', () => {
  it('parse as configs: the github-meta and m365 sections', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const heading of ["### GitHub's published ranges (`github-meta`)", '### Microsoft 365 (`m365`)']) {
      const section = readme.slice(readme.indexOf(heading), readme.indexOf('\n### ', readme.indexOf(heading) + heading.length));
      const example = /```json\n([\s\S]*?)```/.exec(section)?.[1];
      expect(example, heading).toBeDefined();
      expect(() => parseConfig({ name: 'readme', ...(JSON.parse(example!) as object) }), heading).not.toThrow();
    }
  });
});
