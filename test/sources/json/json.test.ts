import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../shared/config.js';
import { upstreamFix } from '../../../shared/doctor/fixes.js';
import { tryParseCidr } from '../../../shared/ipset.js';
import { AllowlistError } from '../../../shared/problem.js';
import { compileSelect, observeJson, probeJson, readJsonSelection } from '../../../shared/sources/json/index.js';
import { JSON_TYPES, type JsonEvidence } from '../../../shared/sources/json/schema.js';
import type { JsonTarget } from '../../../shared/sources/registry.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { routes, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const EVIDENCE: JsonEvidence = { kind: 'json', url: 'https://example.com/ranges.json', select: '@' };

const read = async (document: unknown, select = '@') =>
  readJsonSelection(typeof document === 'string' ? document : JSON.stringify(document), await compileSelect(select), {
    ...EVIDENCE,
    select,
  });

const failure = async (document: unknown, select = '@'): Promise<AllowlistError> => {
  const error = await read(document, select).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AllowlistError);
  return error as AllowlistError;
};

function target(fields: Record<string, unknown>): JsonTarget {
  return parseConfig({ targets: [{ id: 'list', type: 'json', ...fields }] }).targets[0] as JsonTarget;
}

function configProblems(fields: Record<string, unknown>): readonly string[] {
  try {
    target(fields);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('json: reading a selection', () => {
  it('observes every address the expression yields, through nested lists, canonical and once', async () => {
    const reading = await read({ a: ['52.16.1.10', ['2A05:D018:40::10', ['52.16.2.0/24']]], b: '52.16.1.10' }, '[a, b]');
    expect(reading).toMatchObject({ status: 'ok', warnings: [], errors: [] });
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.16.1.10/32', '52.16.2.0/24', '2a05:d018:40::10/128']);
    expect(reading.entries[0]!.evidence).toEqual([{ ...EVIDENCE, select: '[a, b]' }]);
  });

  it('reads a single string as one value', async () => {
    const reading = await read({ egress: '52.16.1.10' }, 'egress');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.16.1.10/32']);
  });

  it('names every string that is not an address and every value that is not a string, with its place; the check is partial', async () => {
    const reading = await read(['52.16.1.10', 'eu-west-1', [null, 7, { ip: '52.16.2.20' }], true]);
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.16.1.10/32']);
    expect(reading.warnings.map((warning) => warning.code)).toEqual(Array(5).fill('json-not-address'));
    const messages = reading.warnings.map((warning) => warning.message);
    expect(messages[0]).toMatch(/^value \[1\] of the selection "@": "eu-west-1": not an IP address or CIDR; it is not used/);
    expect(messages[1]).toMatch(/^value \[2\]\[0\] of the selection "@": null is null, not a string/);
    expect(messages[2]).toContain('value [2][1] of the selection "@": 7 is a number, not a string');
    expect(messages[3]).toContain('value [2][2] of the selection "@": {"ip":"52.16.2.20"} is an object, not a string');
    expect(messages[4]).toContain('value [3] of the selection "@": true is a boolean, not a string');
  });

  it('counts the rejected values past fifty in one warning, so a wrong select does not bury the report', async () => {
    const regions = Array.from({ length: 120 }, (_, index) => `region-${index}`);
    const reading = await read(['52.16.1.10', ...regions]);
    expect(reading.status).toBe('partial');
    expect(reading.warnings).toHaveLength(51);
    expect(reading.warnings[50]!.message).toBe(
      '70 more value(s) of the selection "@" are not addresses either, from value [51] to value [120]; none is used.',
    );
  });

  it('is an error, never an empty list, when the document no longer has the shape the expression expects', async () => {
    expect(await failure({ prefixes: [] }, 'items[].cidr')).toMatchObject({
      code: 'json-shape',
      message: expect.stringContaining('yields nothing (null)'),
    });
    expect(await failure({ items: [] }, 'items[].cidr')).toMatchObject({
      code: 'json-shape',
      message: expect.stringContaining('an empty list'),
    });
    // A filter that matches nothing, and lists of nothing.
    expect(await failure({ items: [{ cidr: '52.16.1.0/24', scope: 'a' }] }, "items[?scope=='b'].cidr")).toMatchObject({
      code: 'json-shape',
    });
    expect(await failure([[], [[]]])).toMatchObject({ code: 'json-shape' });
    // A list of entries where their addresses were: each entry named, and no address at all is an error.
    const entries = await read({ items: [{ cidr: '52.16.1.0/24' }] }, 'items');
    expect(entries).toMatchObject({ status: 'error', entries: [], errors: [{ code: 'json-no-addresses' }] });
    expect(entries.warnings[0]!.message).toContain('{"cidr":"52.16.1.0/24"} is an object, not a string');
    // An object or a number where addresses were.
    expect(await failure({ items: { cidr: '52.16.1.0/24' } }, 'items')).toMatchObject({
      code: 'json-shape',
      message: expect.stringContaining('yields an object, not strings'),
    });
    expect(await failure({ count: 3 }, 'count')).toMatchObject({ code: 'json-shape', message: expect.stringContaining('a number') });
  });

  it('is an error when values come but none is an address, with each value named', async () => {
    const reading = await read({ items: [{ region: 'eu-west-1' }, { region: 'us-east-1' }] }, 'items[].region');
    expect(reading.status).toBe('error');
    expect(reading.entries).toEqual([]);
    expect(reading.errors).toEqual([
      { code: 'json-no-addresses', message: expect.stringContaining('yields 2 value(s) and none is an address') },
    ]);
    expect(reading.warnings.map((warning) => warning.message)).toEqual([
      expect.stringContaining('"eu-west-1"'),
      expect.stringContaining('"us-east-1"'),
    ]);
  });

  it('refuses a body that is not JSON: empty, cut off, an HTML page', async () => {
    expect(await failure('')).toMatchObject({ code: 'json-not-json', message: 'The document is empty, not JSON.' });
    expect(await failure('{"prefixes": [{"ipv4Prefix": "34.1.208.0/20"')).toMatchObject({ code: 'json-not-json' });
    expect(await failure('<!DOCTYPE html>\n<html><body>IP ranges</body></html>')).toMatchObject({
      code: 'json-not-json',
      message: expect.stringContaining('it is an HTML page: set url to the JSON document itself'),
    });
    // A byte-order mark is not a reason to refuse a document.
    expect((await read('\uFEFF["52.16.1.10"]')).entries).toHaveLength(1);
  });

  it('names the key of an expression that does not compile, and of one that fails on the document', async () => {
    await expect(compileSelect("prefixes[?scope=='europe-west1'")).rejects.toMatchObject({
      code: 'json-select-invalid',
      message: expect.stringMatching(/^"select" is not a JMESPath expression: .*\(in "prefixes\[\?scope=='europe-west1'"\)\.$/),
    });
    expect(await failure({ items: [{ cidr: '52.16.1.0/24' }] }, "items[?contains(product, 'jira')].cidr")).toMatchObject({
      code: 'json-select-failed',
      message: expect.stringContaining('could not be evaluated on the document'),
    });
  });

  it('cites the version the document names where "version" points, and warns, reading all the same, where it names none', async () => {
    const document = JSON.stringify({ syncToken: 1764549612, creationTime: '2026-12-01T00:40:12', items: ['52.16.1.10'] });
    const read = async (version: string) =>
      readJsonSelection(document, await compileSelect('items'), { ...EVIDENCE, select: 'items' }, await compileSelect(version, 'version'));
    expect((await read('creationTime')).entries[0]!.evidence).toEqual([{ ...EVIDENCE, select: 'items', version: '2026-12-01T00:40:12' }]);
    expect((await read('syncToken')).entries[0]!.evidence[0]).toMatchObject({ version: '1764549612' });
    const missing = await read('createDate');
    expect(missing).toMatchObject({ status: 'ok', entries: [{ cidr: '52.16.1.10/32', evidence: [{ ...EVIDENCE, select: 'items' }] }] });
    expect(missing.warnings).toEqual([
      {
        code: 'json-version-missing',
        message: '"version" yields null, not a string or number: the document names no version there; its addresses are read all the same.',
      },
    ]);
    expect((await read('abs(creationTime)')).warnings[0]!.message).toMatch(/^"version" fails \(Invalid type: abs\(\)/);
    await expect(compileSelect('creationTime[', 'version')).rejects.toMatchObject({
      code: 'json-select-invalid',
      message: expect.stringMatching(/^"version" is not a JMESPath expression/),
    });
  });

  it('reads a document nested far deeper than any list, without overflowing the stack', async () => {
    const depth = 20_000;
    const deep = `${'['.repeat(depth)}"52.16.1.10"${']'.repeat(depth)}`;
    const reading = readJsonSelection(deep, await compileSelect('@'), EVIDENCE);
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.16.1.10/32']);
  });

  it('never throws anything but its own errors, and accounts for every value, whatever the document (garbage)', async () => {
    const identity = await compileSelect('@');
    const address = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4().map((ip) => `${ip}/24`),
    );
    const value = fc.oneof(address, fc.string(), fc.constant(null), fc.integer(), fc.boolean(), fc.object({ maxDepth: 1 }));
    const nested = fc.letrec<{ list: unknown[] }>((tie) => ({
      list: fc.array(fc.oneof({ depthSize: 'small' }, value, tie('list')), { maxLength: 8 }),
    })).list;
    await fc.assert(
      fc.asyncProperty(fc.oneof(nested, fc.jsonValue()), async (document) => {
        let reading;
        try {
          reading = readJsonSelection(JSON.stringify(document) ?? '', identity, EVIDENCE);
        } catch (error) {
          expect(error).toBeInstanceOf(AllowlistError);
          return;
        }
        // The oracle: every leaf of the document, read one by one with the address parser.
        const flat = [document].flat(Infinity as 1) as unknown[];
        const read = flat.map((leaf) => (typeof leaf === 'string' ? tryParseCidr(leaf) : undefined));
        const rejected = read.filter((cidr) => cidr === undefined).length;
        expect(new Set(reading.entries.map((entry) => entry.cidr))).toEqual(new Set(read.filter((cidr) => cidr !== undefined)));
        expect(reading.warnings).toHaveLength(rejected <= 50 ? rejected : 51);
        expect(reading.status).toBe(reading.entries.length === 0 ? 'error' : rejected === 0 ? 'ok' : 'partial');
      }),
      { numRuns: 300 },
    );
    // Random text is refused as not JSON, never read as a list.
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          readJsonSelection(text, identity, EVIDENCE);
        } catch (error) {
          expect(error).toBeInstanceOf(AllowlistError);
        }
      }),
    );
  });
});

describe('json: config', () => {
  it('accepts url and select, with the JSON types by default, and names the key of a mistake', () => {
    const parsed = target({ url: 'https://example.com/ranges.json', select: '  prefixes[].ip  ' });
    expect(parsed).toMatchObject({ select: 'prefixes[].ip', contentType: JSON_TYPES });
    expect(JSON_TYPES).toEqual(['application/json', 'text/json', 'application/x-json', 'application/vnd.api+json', 'application/hal+json']);
    expect(target({ url: 'https://example.com/r.json', select: 'a', contentType: ['Binary/Octet-Stream'] }).contentType).toEqual([
      'binary/octet-stream',
    ]);
    expect(configProblems({ url: 'https://example.com/r.json', select: '   ' })).toEqual([
      'targets[0].select: write a JMESPath expression that yields the addresses, e.g. "prefixes[].ipv4Prefix"',
    ]);
    expect(configProblems({ url: 'https://example.com/r.json' })).toEqual([expect.stringMatching(/^targets\[0\]\.select: /)]);
    expect(configProblems({ url: 'ftp://example.com/r.json', select: 'a' })).toEqual(['targets[0].url: must be an http(s) URL']);
    expect(configProblems({ url: 'https://example.com/r.json', select: 'a', contentType: ['application/json; charset=utf-8'] })).toEqual([
      'targets[0].contentType[0]: must be a media type such as "text/plain", without parameters',
    ]);
    expect(configProblems({ url: 'https://example.com/r.json', select: 'a', contentType: [] })).toEqual([
      'targets[0].contentType: list at least one media type, or leave contentType out for the JSON types',
    ]);
    expect(configProblems({ url: 'https://example.com/r.json', select: 'a'.repeat(1_001) })).toEqual([
      'targets[0].select: must be at most 1000 characters',
    ]);
  });
});

describe('json: over HTTP', () => {
  let peer: HttpPeer;
  const context = (): SourceContext => ({
    config: { dns: { timeoutMs: 2_000, tries: 1, concurrency: 4, stabilityQueries: 1 }, http: { timeoutMs: 5_000, maxBytes: 1_000_000 } },
    env: {},
    now: () => new Date('2026-12-07T06:00:00.000Z'),
  });

  beforeAll(async () => {
    peer = await startHttpPeer(
      routes({
        '/ranges.json': { body: '{"hooks":["140.82.112.0/20","2a0a:a440::/29"]}', contentType: 'application/json; charset=utf-8' },
        '/problem.json': { body: '{"title":"Not Found","status":404}', contentType: 'application/problem+json' },
        '/page': { body: '<!doctype html><title>ranges</title>', contentType: 'text/html' },
        '/octets.json': { body: '{"hooks":["140.82.112.0/20"]}', contentType: 'binary/octet-stream' },
      }),
    );
  });
  afterAll(() => peer.close());

  it('observes the selection of a document served as JSON, with evidence naming the document and the expression', async () => {
    const observation = await observeJson(target({ url: `${peer.url}/ranges.json`, select: 'hooks' }), context());
    expect(observation).toMatchObject({ targetId: 'list', type: 'json', status: 'ok', errors: [], warnings: [] });
    expect(observation.entries).toEqual([
      { cidr: '140.82.112.0/20', evidence: [{ kind: 'json', url: `${peer.url}/ranges.json`, select: 'hooks' }] },
      { cidr: '2a0a:a440::/29', evidence: [{ kind: 'json', url: `${peer.url}/ranges.json`, select: 'hooks' }] },
    ]);
  });

  it('refuses an error report, a web page and a type not listed in contentType; a listed one is read', async () => {
    const errorsOf = async (path: string, extra: Record<string, unknown> = {}) =>
      (await observeJson(target({ url: `${peer.url}${path}`, select: 'hooks', ...extra }), context())).errors.map((e) => e.code);
    expect(await errorsOf('/problem.json')).toEqual(['http-content-type']);
    expect(await errorsOf('/page')).toEqual(['http-content-type']);
    expect(await errorsOf('/octets.json')).toEqual(['http-content-type']);
    expect(await errorsOf('/octets.json', { contentType: ['binary/octet-stream'] })).toEqual([]);
    expect(await errorsOf('/gone.json')).toEqual(['http-status']);
  });

  it('is an error target, not a crash, when select does not compile; the doctor says so before any request', async () => {
    const broken = target({ url: `${peer.url}/ranges.json`, select: 'hooks[' });
    const before = peer.requests.length;
    const observation = await observeJson(broken, context());
    expect(observation).toMatchObject({ status: 'error', entries: [], errors: [{ code: 'json-select-invalid' }] });
    await expect(probeJson(broken, context())).rejects.toMatchObject({ code: 'json-select-invalid' });
    expect(peer.requests.length).toBe(before);
    await expect(probeJson(target({ url: `${peer.url}/ranges.json`, select: 'hooks' }), context())).resolves.toMatchObject({
      status: 200,
      contentType: 'application/json',
    });
  });
});

describe('json: doctor', () => {
  it('gives the fix for a wrong media type, a select that does not compile, and a moved document', () => {
    const list = target({ url: 'https://example.com/ranges.json', select: 'hooks', contentType: ['application/json'] });
    expect(upstreamFix(new AllowlistError('http-content-type', 'https://example.com/ranges.json returned "text/html"'), list)).toBe(
      'Set url to the JSON document itself, not a page about it; if the server labels the JSON with another media type, add that type to contentType (accepted now: application/json).',
    );
    expect(upstreamFix(new AllowlistError('json-select-invalid', '"select" is not a JMESPath expression'), list)).toContain(
      'Correct the expression the message names ("select" or "version")',
    );
    expect(upstreamFix(new AllowlistError('http-status', 'https://example.com/ranges.json answered HTTP 404'), list)).toBe(
      'The document moved: set url to where the provider publishes it now.',
    );
  });
});
