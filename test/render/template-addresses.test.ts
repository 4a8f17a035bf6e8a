import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type FileSpec } from '../../shared/config.js';
import { addressCount, aggregate, parseCidr, sameAddresses, type Cidr } from '../../shared/ipset.js';
import { AllowlistError } from '../../shared/problem.js';
import { renderFile } from '../../shared/render/index.js';

/** {ip} alone names one address: such a line is written once per address, so no address of a range is lost. */

type TemplateFile = Extract<FileSpec, { format: 'template' }>;

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);
const EMPTY = '# BEGIN allowlist-drift:fe\n# END allowlist-drift:fe\n';

function templateFile(overrides: Partial<TemplateFile> = {}): TemplateFile {
  return {
    id: 'fe',
    path: 'nginx/fe.conf',
    format: 'template',
    line: 'allow {ip};',
    maxAddressesPerRange: 256,
    commentPrefix: '#',
    targets: ['os'],
    ...overrides,
  };
}

const render = (file: TemplateFile, input: readonly Cidr[], existing = EMPTY) =>
  renderFile(file, input, { configName: 'example', existing });

/** The generated lines, without the markers. */
const block = (text: string) => text.split('\n').slice(1, -2);

function failure(file: TemplateFile, input: readonly Cidr[]): AllowlistError {
  try {
    render(file, input);
  } catch (error) {
    expect(error).toBeInstanceOf(AllowlistError);
    return error as AllowlistError;
  }
  throw new Error('expected the render to fail');
}

describe('a line with {ip} alone is written once per address', () => {
  it('two front-ends that aggregate to a /31 give both lines, not only the network address', () => {
    const aggregated = aggregate(cidrs('52.17.1.10', '52.17.1.11'));
    expect(aggregated).toEqual(['52.17.1.10/31']);
    const expected = '# BEGIN allowlist-drift:fe\nallow 52.17.1.10;\nallow 52.17.1.11;\n# END allowlist-drift:fe\n';
    expect(render(templateFile(), aggregated)).toBe(expected);
    // The same set however it is split gives the same bytes.
    expect(render(templateFile(), cidrs('52.17.1.11', '52.17.1.10'))).toBe(expected);
  });

  it('lines that name the whole range stay one per range: {cidr}, and {ip} with {prefix}', () => {
    const input = cidrs('52.17.1.10/31');
    expect(block(render(templateFile({ line: 'allow {cidr};' }), input))).toEqual(['allow 52.17.1.10/31;']);
    expect(block(render(templateFile({ line: '-A INPUT -s {ip}/{prefix} -j ACCEPT' }), input))).toEqual([
      '-A INPUT -s 52.17.1.10/31 -j ACCEPT',
    ]);
    expect(block(render(templateFile({ line: 'allow {cidr}; # first {ip}' }), input))).toEqual(['allow 52.17.1.10/31; # first 52.17.1.10']);
  });

  it('orders addresses numerically, IPv4 first, each once, overlapping input included', () => {
    const input = cidrs('2001:db8::/127', '10.0.0.10', '10.0.0.8/30', '9.255.255.254/31', '10.0.0.2', '10.0.0.9');
    expect(block(render(templateFile(), input))).toEqual([
      'allow 9.255.255.254;',
      'allow 9.255.255.255;',
      'allow 10.0.0.2;',
      'allow 10.0.0.8;',
      'allow 10.0.0.9;',
      'allow 10.0.0.10;',
      'allow 10.0.0.11;',
      'allow 2001:db8::;',
      'allow 2001:db8::1;',
    ]);
  });

  it('writes IPv6 addresses in the canonical compressed form', () => {
    expect(block(render(templateFile(), cidrs('2001:db8:0:1::fffe/127')))).toEqual([
      'allow 2001:db8:0:1::fffe;',
      'allow 2001:db8:0:1::ffff;',
    ]);
    expect(block(render(templateFile(), cidrs('2001:db8::ff00/120')))).toHaveLength(256);
  });

  it('writes a range of exactly maxAddressesPerRange addresses, keeping indentation and CRLF', () => {
    const lines = block(render(templateFile(), cidrs('198.51.100.0/24')));
    expect(lines).toHaveLength(256);
    expect(lines[0]).toBe('allow 198.51.100.0;');
    expect(lines[255]).toBe('allow 198.51.100.255;');
    const crlf = '  # BEGIN allowlist-drift:fe\r\n  # END allowlist-drift:fe\r\n';
    expect(render(templateFile(), cidrs('192.0.2.4/31'), crlf)).toBe(
      '  # BEGIN allowlist-drift:fe\r\n  allow 192.0.2.4;\r\n  allow 192.0.2.5;\r\n  # END allowlist-drift:fe\r\n',
    );
  });
});

describe('a range wider than maxAddressesPerRange is an error, never a partial list', () => {
  it('names the file, the range and the cap, and says how to fix it', () => {
    const error = failure(templateFile({ maxAddressesPerRange: 2 }), cidrs('52.17.1.10/31', '52.17.1.16/30'));
    expect(error.code).toBe('template-range-too-large');
    expect(error.message).toBe(
      'nginx/fe.conf: the line "allow {ip};" has {ip} without {cidr} or {prefix}, so file "fe" gets one line per address, ' +
        'but 52.17.1.16/30 has 4 addresses and maxAddressesPerRange is 2; use {cidr}, or {ip} with {prefix}, in the line, or raise maxAddressesPerRange to at least 4',
    );
  });

  it('counts ranges after aggregation and says how many more are too wide', () => {
    // Two /25s merge into a /24: the file's range is the /24.
    const error = failure(
      templateFile({ maxAddressesPerRange: 128 }),
      cidrs('198.51.100.0/25', '198.51.100.128/25', '203.0.113.0/24', '192.0.2.0/24'),
    );
    expect(error.message).toContain('but 192.0.2.0/24 has 256 addresses and maxAddressesPerRange is 128;');
    expect(error.message).toMatch(/ \(and 2 more ranges too wide\)$/);
  });

  it('an IPv6 /64 cannot be written address by address at any cap', () => {
    const error = failure(templateFile({ maxAddressesPerRange: 65_536 }), cidrs('203.0.113.9', '2001:db8:1::/64'));
    expect(error.code).toBe('template-range-too-large');
    expect(error.message).toBe(
      'nginx/fe.conf: the line "allow {ip};" has {ip} without {cidr} or {prefix}, so file "fe" gets one line per address, ' +
        'but 2001:db8:1::/64 has 18446744073709551616 addresses, more than the 65536 lines any maxAddressesPerRange allows: ' +
        'an IPv6 range this wide cannot be written one address per line; use {cidr}, or {ip} with {prefix}, in the line',
    );
  });

  it('only {ip}-alone lines have the cap: {cidr} lines take any range', () => {
    expect(block(render(templateFile({ line: 'allow {cidr};', maxAddressesPerRange: 1 }), cidrs('2001:db8:1::/64', '10.0.0.0/8')))).toEqual(
      ['allow 10.0.0.0/8;', 'allow 2001:db8:1::/64;'],
    );
  });
});

describe('determinism and exactness of the per-address lines', () => {
  /** Random subsets of two small neighbouring blocks, so ranges merge across block edges. */
  const address = fc.integer({ min: 0, max: 511 }).map((n) => parseCidr(`198.51.${100 + (n >> 8)}.${n & 255}`));
  const range = fc
    .tuple(fc.integer({ min: 0, max: 511 }), fc.integer({ min: 26, max: 32 }))
    .map(([n, prefix]) => parseCidr(`198.51.${100 + (n >> 8)}.${n & 255}/${prefix}`));
  const entries = fc.array(fc.oneof(address, range), { maxLength: 12 });

  it('renders the same bytes whatever the order and split of the same set', () => {
    fc.assert(
      fc.property(
        entries.chain((input) =>
          fc.tuple(fc.constant(input), fc.shuffledSubarray(input, { minLength: input.length, maxLength: input.length })),
        ),
        ([input, shuffled]) => {
          const once = render(templateFile(), input);
          expect(render(templateFile(), [...shuffled, ...input.slice(0, 2)])).toBe(once);
          expect(render(templateFile(), aggregate(input))).toBe(once);
        },
      ),
    );
  });

  it('writes every address of the set exactly once, in numeric order', () => {
    fc.assert(
      fc.property(entries, (input) => {
        const lines = block(render(templateFile({ maxAddressesPerRange: 512 }), input));
        const written = lines.map((line) => parseCidr(line.slice('allow '.length, -1)));
        expect(BigInt(written.length)).toBe(addressCount(input));
        expect(sameAddresses(written, input)).toBe(true);
        const numbers = written.map((cidr) =>
          cidr
            .split('/')[0]!
            .split('.')
            .reduce((value, byte) => value * 256 + Number(byte), 0),
        );
        expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
        expect(new Set(numbers).size).toBe(numbers.length);
      }),
    );
  });
});

describe('config: placeholders that cannot express the set are refused', () => {
  const config = (file: Record<string, unknown>, entries: string[] = ['203.0.113.9']) => ({
    targets: [
      { id: 'os', type: 'static', entries },
      { id: 'partners', type: 'static', entries: ['198.51.100.0/25'] },
    ],
    files: [{ path: 'fw.rules', format: 'template', targets: ['os'], ...file }],
  });
  function problems(value: unknown): readonly string[] {
    try {
      parseConfig(value);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error('expected the config to be refused');
  }

  it('refuses {prefix} without {ip} or {cidr}', () => {
    expect(problems(config({ line: 'allow 0.0.0.0/{prefix};' }))).toEqual([
      'files[0].line: has {prefix} without {ip} or {cidr}: a prefix length alone does not say which addresses to allow; use {cidr}, or {ip}/{prefix}',
    ]);
    for (const line of ['allow {ip}/{prefix};', 'allow {cidr}; # /{prefix}', 'allow {ip};', 'allow {cidr};']) {
      expect(parseConfig(config({ line })).files[0]).toMatchObject({ line, maxAddressesPerRange: 256 });
    }
  });

  it('bounds maxAddressesPerRange to 1..65536 integers', () => {
    expect(parseConfig(config({ line: 'allow {ip};', maxAddressesPerRange: 65_536 })).files[0]).toMatchObject({
      maxAddressesPerRange: 65_536,
    });
    expect(problems(config({ line: 'allow {ip};', maxAddressesPerRange: 0 }))).toEqual([
      'files[0].maxAddressesPerRange: Too small: expected number to be >=1',
    ]);
    expect(problems(config({ line: 'allow {ip};', maxAddressesPerRange: 65_537 }))).toEqual([
      'files[0].maxAddressesPerRange: Too big: expected number to be <=65536',
    ]);
    expect(problems(config({ line: 'allow {ip};', maxAddressesPerRange: 1.5 }))).toHaveLength(1);
  });

  it('refuses an {ip}-alone line whose static entries already hold a range wider than the cap', () => {
    expect(problems(config({ line: 'allow {ip};' }, ['203.0.112.0/23']))).toEqual([
      'files[0]: the line has {ip} without {cidr} or {prefix}, so it is written once per address, but its static targets hold a range too wide for that: ' +
        '203.0.112.0/23 has 512 addresses and maxAddressesPerRange is 256; use {cidr}, or {ip} with {prefix}, in the line, or raise maxAddressesPerRange to at least 512',
    ]);
    // Entries of several targets merge: two /25s are the /24 the file will hold.
    const merged = config({ line: 'allow {ip};', maxAddressesPerRange: 128, targets: ['os', 'partners'] }, ['198.51.100.128/25']);
    expect(problems(merged)).toEqual([expect.stringContaining('198.51.100.0/24 has 256 addresses and maxAddressesPerRange is 128')]);
    expect(problems(config({ line: 'allow {ip};' }, ['2001:db8::/64']))).toEqual([
      expect.stringContaining('an IPv6 range this wide cannot be written one address per line'),
    ]);
    // Within the cap, or a line naming the range, is fine.
    expect(() => parseConfig(config({ line: 'allow {ip};', maxAddressesPerRange: 512 }, ['203.0.112.0/23']))).not.toThrow();
    expect(() => parseConfig(config({ line: 'allow {ip}/{prefix};' }, ['2001:db8::/64']))).not.toThrow();
  });
});
