import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../shared/config.js';
import { upstreamFix } from '../../../shared/doctor/fixes.js';
import { tryParseCidr } from '../../../shared/ipset.js';
import { AllowlistError } from '../../../shared/problem.js';
import type { TextTarget } from '../../../shared/sources/registry.js';
import type { SourceContext } from '../../../shared/sources/source.js';
import { observeText, probeText, readTextList } from '../../../shared/sources/text/index.js';
import type { TextEvidence } from '../../../shared/sources/text/schema.js';
import { routes, startHttpPeer, type HttpPeer } from '../../peers/http.js';

const EVIDENCE: TextEvidence = { kind: 'text', url: 'https://example.com/ips-v4' };

function failure(text: string): AllowlistError {
  try {
    readTextList(text, EVIDENCE);
  } catch (error) {
    expect(error).toBeInstanceOf(AllowlistError);
    return error as AllowlistError;
  }
  throw new Error('expected the list to be refused');
}

function target(fields: Record<string, unknown>): TextTarget {
  return parseConfig({ targets: [{ id: 'lines', type: 'text', ...fields }] }).targets[0] as TextTarget;
}

describe('text: reading a list', () => {
  it('reads one address or CIDR per line, skipping comments (whole-line and trailing) and blank lines, whatever the line ends', () => {
    const list = [
      '# Provider egress ranges',
      '; generated 2026-12-07',
      '',
      '173.245.48.0/20',
      '  103.21.244.0/22   # Singapore',
      '2400:CB00::/32;IPv6',
      '52.16.1.10',
      '173.245.48.0/20',
      '   ',
    ].join('\r\n');
    const reading = readTextList(`\uFEFF${list}`, EVIDENCE);
    expect(reading).toMatchObject({ status: 'ok', warnings: [], errors: [] });
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['52.16.1.10/32', '103.21.244.0/22', '173.245.48.0/20', '2400:cb00::/32']);
    expect(reading.entries[0]!.evidence).toEqual([EVIDENCE]);
    expect(readTextList('52.16.1.10\n52.16.2.20', EVIDENCE).entries).toHaveLength(2);
    expect(readTextList('52.16.1.10\r52.16.2.20\r', EVIDENCE).entries).toHaveLength(2);
  });

  it('names every other line with its number; the check is partial', () => {
    const reading = readTextList('173.245.48.0/20\nip_prefix\n103.21.244.0/22 103.22.200.0/22\n103.31.4.0/33\n', EVIDENCE);
    expect(reading.status).toBe('partial');
    expect(reading.entries.map((entry) => entry.cidr)).toEqual(['173.245.48.0/20']);
    expect(reading.warnings).toEqual([
      {
        code: 'text-not-address',
        message: expect.stringMatching(/^line 2 of the list: "ip_prefix": not an IP address or CIDR; it is not used/),
      },
      { code: 'text-not-address', message: expect.stringContaining('line 3 of the list: "103.21.244.0/22 103.22.200.0/22"') },
      { code: 'text-not-address', message: expect.stringContaining('line 4 of the list: "103.31.4.0/33": the prefix length is above 32') },
    ]);
  });

  it('is an error, never an empty list, for an empty list, one of comments only, or one without any address', () => {
    expect(failure('')).toMatchObject({ code: 'text-empty', message: expect.stringContaining('The list is empty') });
    expect(failure(' \n\r\n')).toMatchObject({ code: 'text-empty' });
    expect(failure('# nothing here yet\n; still nothing\n')).toMatchObject({
      code: 'text-empty',
      message: expect.stringContaining('only comments and blank lines'),
    });
    const none = readTextList('eu-west-1\nus-east-1\n', EVIDENCE);
    expect(none).toMatchObject({ status: 'error', entries: [], errors: [{ code: 'text-no-addresses' }] });
    expect(none.warnings).toHaveLength(2);
  });

  it('refuses an HTML page served as text, with the fix', () => {
    expect(failure('<!DOCTYPE html>\n<html><body><pre>173.245.48.0/20</pre></body></html>')).toMatchObject({
      code: 'text-html',
      message: expect.stringContaining('set url to the raw list'),
    });
  });

  it('accounts for every line of any text (garbage): an entry, a warning with its number, or an error', () => {
    const line = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV4().map((ip) => `${ip}/16 # comment`),
      fc.string({ unit: 'grapheme-ascii' }),
      fc.constant('# comment'),
      fc.constant(''),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => {
        const text = lines.join('\n');
        let reading;
        try {
          reading = readTextList(text, EVIDENCE);
        } catch (error) {
          expect(error).toBeInstanceOf(AllowlistError);
          return;
        }
        // The oracle: each physical line, comment cut and trimmed, read alone with the address parser.
        const values = text
          .split(/\r\n|\r|\n/)
          .map((raw) => raw.replace(/[#;].*$/, '').trim())
          .filter((value) => value !== '');
        const read = values.map((value) => tryParseCidr(value));
        const rejected = read.filter((cidr) => cidr === undefined).length;
        expect(new Set(reading.entries.map((entry) => entry.cidr))).toEqual(new Set(read.filter((cidr) => cidr !== undefined)));
        expect(reading.warnings).toHaveLength(rejected <= 50 ? rejected : 51);
        expect(reading.status).toBe(reading.entries.length === 0 ? 'error' : rejected === 0 ? 'ok' : 'partial');
      }),
      { numRuns: 300 },
    );
  });
});

describe('text: config', () => {
  it('accepts a url, with text/plain by default', () => {
    expect(target({ url: 'https://www.cloudflare.com/ips-v4' })).toMatchObject({ contentType: ['text/plain'] });
    expect(target({ url: 'https://example.com/list', contentType: ['text/csv'] }).contentType).toEqual(['text/csv']);
    const problems = (() => {
      try {
        target({ url: 'https://example.com/list', select: 'a' });
      } catch (error) {
        return (error as ConfigError).problems;
      }
      return [];
    })();
    expect(problems).toEqual([
      'targets[0].select: unknown key; the keys accepted here are: id, type, description, exclude, url, contentType',
    ]);
  });
});

describe('text: over HTTP', () => {
  let peer: HttpPeer;
  const context = (): SourceContext => ({
    config: { dns: { timeoutMs: 2_000, tries: 1, concurrency: 4, stabilityQueries: 1 }, http: { timeoutMs: 5_000, maxBytes: 1_000_000 } },
    env: {},
    now: () => new Date('2026-12-07T06:00:00.000Z'),
  });

  beforeAll(async () => {
    peer = await startHttpPeer(
      routes({
        '/ips-v4': { body: '173.245.48.0/20\n103.21.244.0/22', contentType: 'text/plain; charset=utf-8' },
        '/ips': { body: '<!doctype html><title>IP ranges</title><pre>173.245.48.0/20</pre>', contentType: 'text/html; charset=utf-8' },
        '/list.csv': { body: '173.245.48.0/20\n', contentType: 'text/csv' },
      }),
    );
  });
  afterAll(() => peer.close());

  it('observes a list served as text/plain, with evidence naming the list', async () => {
    const observation = await observeText(target({ url: `${peer.url}/ips-v4` }), context());
    expect(observation).toMatchObject({ targetId: 'lines', type: 'text', status: 'ok', errors: [], warnings: [] });
    expect(observation.entries).toEqual([
      { cidr: '103.21.244.0/22', evidence: [{ kind: 'text', url: `${peer.url}/ips-v4` }] },
      { cidr: '173.245.48.0/20', evidence: [{ kind: 'text', url: `${peer.url}/ips-v4` }] },
    ]);
  });

  it('refuses the web page about a list by its content type, in a check and in the doctor, with the fix', async () => {
    const page = target({ url: `${peer.url}/ips` });
    const observation = await observeText(page, context());
    expect(observation).toMatchObject({ status: 'error', entries: [] });
    expect(observation.errors).toEqual([
      {
        code: 'text-html',
        message: `${peer.url}/ips returned "text/html", not a plain-text list: set url to the raw list (one address per line), not the web page that shows it.`,
      },
    ]);
    await expect(probeText(page, context())).rejects.toMatchObject({ code: 'text-html' });
    await expect(probeText(target({ url: `${peer.url}/ips-v4` }), context())).resolves.toMatchObject({
      status: 200,
      contentType: 'text/plain',
    });
    // Another type is refused unless listed.
    expect((await observeText(target({ url: `${peer.url}/list.csv` }), context())).errors.map((e) => e.code)).toEqual([
      'http-content-type',
    ]);
    expect((await observeText(target({ url: `${peer.url}/list.csv`, contentType: ['text/csv'] }), context())).status).toBe('ok');
  });
});

describe('text: doctor', () => {
  it('gives the fix for a web page served instead of the list', () => {
    const list = target({ url: 'https://www.cloudflare.com/ips' });
    const fix = upstreamFix(new AllowlistError('text-html', 'https://www.cloudflare.com/ips returned "text/html"'), list);
    expect(fix).toBe(
      'Set url to the raw list itself, not the web page that shows it; if the server labels the list with another media type, add that type to contentType (accepted now: text/plain).',
    );
    expect(upstreamFix(new AllowlistError('http-content-type', 'returned "text/csv"'), list)).toBe(fix);
  });
});
