import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  addressCount,
  aggregate,
  classify,
  compareCidr,
  covers,
  difference,
  familyOf,
  intersects,
  parseCidr,
  prefixLengthOf,
  sameAddresses,
  semanticDiff,
  sortCidrs,
  tryParseCidr,
  union,
  type Cidr,
  type SpecialRange,
} from '../shared/ipset.js';
import { AllowlistError } from '../shared/problem.js';

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);

function parseError(text: string): unknown {
  try {
    parseCidr(text);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('parseCidr', () => {
  it.each([
    ['empty', ''],
    ['blank', ' '],
    ['three octets', '1.2.3'],
    ['IPv4 prefix above 32', '1.2.3.4/33'],
    ['octal-looking octet', '010.1.1.1'],
    ['hex octet', '0x1.1.1.1'],
    ['IPv6 prefix above 128', '::1/129'],
    ['zone id', 'fe80::1%eth0'],
    ['negative prefix', '1.2.3.4/-1'],
    ['space inside the prefix', '1.2.3.4/ 8'],
    ['missing prefix after the slash', '1.2.3.4/'],
    ['two slashes', '1.2.3.4/8/8'],
    ['10 kB string', '1'.repeat(10_240)],
    ['Arabic-Indic digits', '١.٢.٣.٤'],
    ['full-width digits', '１.２.３.４/８'],
    ['Devanagari prefix digits', '1.2.3.4/२४'],
    ['hostname', 'example.com'],
  ])('rejects %s with a typed invalid-cidr error', (_label, text) => {
    const error = parseError(text);
    expect(error).toBeInstanceOf(AllowlistError);
    expect((error as AllowlistError).code).toBe('invalid-cidr');
    expect(tryParseCidr(text)).toBeUndefined();
  });

  it('keeps the message short even for a huge input', () => {
    const error = parseError('9'.repeat(10_240)) as AllowlistError;
    expect(error.message.length).toBeLessThan(200);
  });

  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['52.1.2.3', '52.1.2.3/32'],
    [' 52.1.2.3/32 ', '52.1.2.3/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/1', '128.0.0.0/1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001/128', '2001:db8::1:0:0:1/128'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'],
    ['2001:db8::ffff/112', '2001:db8::/112'],
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['FE80::ABCD/10', 'fe80::/10'],
    ['::ffff:1.2.3.4', '::ffff:102:304/128'],
  ])('canonicalises %j to %j', (text, canonical) => {
    expect(parseCidr(text)).toBe(canonical);
  });

  // RFC 4291 2.2 and 2.5: every textual form reads as the address it writes, deprecated forms included.
  it.each([
    ['IPv4-compatible (2.5.5.1, deprecated) in dotted form', '::1.2.3.4', '::102:304/128'],
    ['IPv4-compatible in hex form', '::102:304', '::102:304/128'],
    ['IPv4-compatible as a prefix', '::52.1.0.0/112', '::3401:0/112'],
    ['IPv4-mapped (2.5.5.2) in dotted form', '::ffff:1.2.3.4', '::ffff:102:304/128'],
    ['IPv4-mapped in upper-case hex', '::FFFF:0102:0304', '::ffff:102:304/128'],
    ['a dotted tail after other groups', '64:ff9b::192.0.2.33', '64:ff9b::c000:221/128'],
    ['a dotted tail with all groups written', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304/128'],
    ['site-local (2.5.7, deprecated)', 'FEC0::1:2/64', 'fec0::/64'],
    ['site-local as its whole range', 'fec0::/10', 'fec0::/10'],
  ])('keeps %s exact: %j is %j', (_label, text, canonical) => {
    expect(parseCidr(text)).toBe(canonical);
  });

  it('never reads the IPv4-compatible form as the IPv4-mapped address', () => {
    expect(sameAddresses([parseCidr('::1.2.3.4')], [parseCidr('::ffff:1.2.3.4')])).toBe(false);
  });

  it.each([
    ['a dotted tail with a leading zero', '::01.2.3.4'],
    ['a dotted tail of three octets', '::1.2.3'],
    ['a dotted tail above 255', '::1.2.3.256'],
    ['a dotted tail before the last group', '::1.2.3.4:5'],
    ['a port after an IPv4 address', '1.2.3.4:80'],
  ])('refuses %s', (_label, text) => {
    expect((parseError(text) as AllowlistError).code).toBe('invalid-cidr');
  });

  it('reports family and prefix length', () => {
    expect(familyOf(parseCidr('10.0.0.0/8'))).toBe(4);
    expect(familyOf(parseCidr('::ffff:1.2.3.4'))).toBe(6);
    expect(prefixLengthOf(parseCidr('2001:db8::/32'))).toBe(32);
    expect(prefixLengthOf(parseCidr('1.2.3.4'))).toBe(32);
  });
});

describe('ordering', () => {
  it('puts IPv4 before IPv6, then orders by numeric address, then by prefix length', () => {
    const sorted = sortCidrs(
      cidrs('::/0', '10.0.0.0/16', '9.255.255.255', '10.0.0.0/8', '2.0.0.0/8', '10.0.0.0/8', '2001:db8::/32', 'fe80::/10', '100.0.0.0/8'),
    );
    expect(sorted).toEqual([
      '2.0.0.0/8',
      '9.255.255.255/32',
      '10.0.0.0/8',
      '10.0.0.0/16',
      '100.0.0.0/8',
      '::/0',
      '2001:db8::/32',
      'fe80::/10',
    ]);
  });

  it('compares numerically, not as text', () => {
    expect(compareCidr(parseCidr('9.0.0.0/8'), parseCidr('10.0.0.0/8'))).toBeLessThan(0);
    expect(compareCidr(parseCidr('255.255.255.255'), parseCidr('::'))).toBeLessThan(0);
    expect(compareCidr(parseCidr('2001:db8::10'), parseCidr('2001:db8::9'))).toBeGreaterThan(0);
    expect(compareCidr(parseCidr('10.0.0.0/8'), parseCidr('10.0.0.0/8'))).toBe(0);
  });

  it('keeps covered prefixes when only sorting', () => {
    expect(sortCidrs(cidrs('10.0.1.0/24', '10.0.0.0/23', '10.0.0.0/24'))).toEqual(['10.0.0.0/23', '10.0.0.0/24', '10.0.1.0/24']);
  });
});

describe('set algebra', () => {
  it('merges adjacent and covered prefixes into canonical, sorted output', () => {
    expect(aggregate(cidrs('10.0.1.0/24', '10.0.0.0/24', '10.0.0.7', '10.0.3.0/24'))).toEqual(['10.0.0.0/23', '10.0.3.0/24']);
    expect(aggregate(cidrs('2001:db8::1', '2001:db8::'))).toEqual(['2001:db8::/127']);
  });

  it('returns host routes with their prefix', () => {
    expect(aggregate(cidrs('52.1.2.3', '2001:db8::1'))).toEqual(['52.1.2.3/32', '2001:db8::1/128']);
    expect(difference(cidrs('52.1.2.2/31'), cidrs('52.1.2.2'))).toEqual(['52.1.2.3/32']);
  });

  it('handles empty input', () => {
    expect(aggregate([])).toEqual([]);
    expect(union()).toEqual([]);
    expect(difference([], cidrs('10.0.0.0/8'))).toEqual([]);
    expect(difference(cidrs('10.0.0.0/8'), [])).toEqual(['10.0.0.0/8']);
    expect(intersects([], [])).toBe(false);
    expect(covers([], parseCidr('10.0.0.0/32'))).toBe(false);
    expect(sameAddresses([], [])).toBe(true);
    expect(addressCount([])).toBe(0n);
    expect(semanticDiff([], [])).toEqual({ added: [], removed: [] });
  });

  it('keeps families apart in every operation', () => {
    const mixed = cidrs('::ffff:0:0/96', '10.0.0.0/8', '2001:db8::/32');
    expect(aggregate(mixed)).toEqual(['10.0.0.0/8', '::ffff:0:0/96', '2001:db8::/32']);
    // An IPv4-mapped IPv6 prefix is IPv6 text in a rule file; it neither covers nor cancels IPv4 space.
    expect(difference(cidrs('10.0.0.0/8'), cidrs('::ffff:0:0/96'))).toEqual(['10.0.0.0/8']);
    expect(intersects(cidrs('0.0.0.0/0'), cidrs('::/0'))).toBe(false);
    expect(covers(cidrs('::/0'), parseCidr('10.0.0.0/8'))).toBe(false);
    expect(sameAddresses(cidrs('0.0.0.0/0'), cidrs('::/0'))).toBe(false);
    expect(union(cidrs('10.0.0.0/9'), cidrs('2001:db8::/33'), cidrs('10.128.0.0/9', '2001:db8:8000::/33'))).toEqual([
      '10.0.0.0/8',
      '2001:db8::/32',
    ]);
    expect(addressCount(cidrs('10.0.0.0/24', '2001:db8::/120'))).toBe(512n);
  });

  it('covers a prefix that only several members cover together', () => {
    const set = cidrs('10.0.0.0/24', '10.0.1.0/25', '10.0.1.128/25');
    expect(covers(set, parseCidr('10.0.0.0/23'))).toBe(true);
    expect(covers(set, parseCidr('10.0.0.0/22'))).toBe(false);
    expect(covers(set, parseCidr('10.0.1.200'))).toBe(true);
    expect(covers(set, parseCidr('10.0.2.0'))).toBe(false);
  });

  it('sees overlap between prefixes of different lengths', () => {
    expect(intersects(cidrs('10.0.0.0/8'), cidrs('192.168.0.0/16', '10.200.1.1'))).toBe(true);
    expect(intersects(cidrs('10.0.0.0/24'), cidrs('10.0.1.0/24'))).toBe(false);
  });

  it('counts each address once', () => {
    expect(addressCount(cidrs('10.0.0.0/24', '10.0.0.0/25', '10.0.1.0/24'))).toBe(512n);
    expect(addressCount(cidrs('::/0', '0.0.0.0/0'))).toBe(2n ** 128n + 2n ** 32n);
  });
});

describe('semanticDiff', () => {
  it('sees no change when a prefix is split into its halves', () => {
    const diff = semanticDiff(cidrs('13.107.228.0/23'), cidrs('13.107.228.0/24', '13.107.229.0/24'));
    expect(diff).toEqual({ added: [], removed: [] });
    expect(sameAddresses(cidrs('13.107.228.0/23'), cidrs('13.107.229.0/24', '13.107.228.0/24'))).toBe(true);
  });

  it('sees no change when a listed prefix is covered by another', () => {
    expect(semanticDiff(cidrs('52.0.0.0/8'), cidrs('52.0.0.0/8', '52.1.2.3/32'))).toEqual({ added: [], removed: [] });
  });

  it('reports only the addresses that really moved', () => {
    const diff = semanticDiff(cidrs('13.107.228.0/23', '2603:1000::/40'), cidrs('13.107.228.0/24', '13.107.6.152/31', '2603:1000::/41'));
    expect(diff.added).toEqual(['13.107.6.152/31']);
    expect(diff.removed).toEqual(['13.107.229.0/24', '2603:1000:80::/41']);
  });
});

describe('classify', () => {
  it.each<[string, SpecialRange[]]>([
    ['10.1.2.3/32', ['private']],
    ['172.31.0.1', ['private']],
    ['192.168.0.0/16', ['private']],
    ['127.0.0.1/32', ['loopback']],
    ['169.254.169.254', ['link-local']],
    ['224.0.0.0/4', ['multicast']],
    ['100.64.0.0/10', ['carrier-grade-nat']],
    ['255.255.255.255', ['broadcast', 'reserved']],
    ['192.0.2.10', ['documentation']],
    ['198.18.0.0/15', ['benchmarking']],
    ['0.0.0.0/8', ['unspecified']],
    ['8.0.0.0/5', ['private']],
    ['52.1.2.3/32', []],
    ['13.107.228.0/23', []],
    ['fe80::/10', ['link-local']],
    ['fc00::/7', ['unique-local']],
    ['fd12:3456::1', ['unique-local']],
    ['::1', ['loopback']],
    ['::ffff:10.0.0.1', ['ipv4-mapped']],
    ['2001:db8::/32', ['documentation']],
    ['2002::/16', ['6to4']],
    ['2603:1000::/40', []],
  ])('%s is %j', (text, expected) => {
    expect(classify(parseCidr(text))).toEqual(expected);
  });

  it('reports every special range inside a broad prefix', () => {
    const everythingV4 = classify(parseCidr('0.0.0.0/0'));
    expect(everythingV4).toEqual(
      expect.arrayContaining([
        'unspecified',
        'loopback',
        'private',
        'carrier-grade-nat',
        'link-local',
        'multicast',
        'reserved',
        'broadcast',
        'documentation',
        'benchmarking',
      ]),
    );
    expect(everythingV4).not.toContain('unique-local');
    const everythingV6 = classify(parseCidr('::/0'));
    expect(everythingV6).toEqual(
      expect.arrayContaining([
        'unspecified',
        'loopback',
        'link-local',
        'multicast',
        'unique-local',
        'ipv4-mapped',
        'documentation',
        'teredo',
      ]),
    );
    expect(everythingV6).not.toContain('private');
    expect(new Set(everythingV6).size).toBe(everythingV6.length);
  });

  // ipaddr.js keeps its table on the prototype without typing it; reading it here catches a
  // dependency update that adds or moves a range the hand-kept table does not know.
  it('knows every range of the installed ipaddr.js', () => {
    type IpaddrTable = Record<string, [ipaddr.IPv4 | ipaddr.IPv6, number] | [ipaddr.IPv4 | ipaddr.IPv6, number][]>;
    const ipaddrName: Record<string, SpecialRange[]> = {
      unspecified: ['unspecified'],
      broadcast: ['broadcast'],
      multicast: ['multicast'],
      linkLocal: ['link-local'],
      loopback: ['loopback'],
      carrierGradeNat: ['carrier-grade-nat'],
      private: ['private'],
      reserved: ['reserved', 'documentation', 'benchmarking'],
      as112: ['as112'],
      as112v6: ['as112'],
      amt: ['amt'],
      uniqueLocal: ['unique-local'],
      ipv4Mapped: ['ipv4-mapped'],
      deprecatedSiteLocal: ['site-local'],
      discard: ['discard'],
      rfc6145: ['ipv4-translated'],
      rfc6052: ['nat64'],
      '6to4': ['6to4'],
      teredo: ['teredo'],
      benchmarking: ['benchmarking'],
      deprecatedOrchid: ['orchid'],
      orchid2: ['orchid'],
      droneRemoteIdProtocolEntityTags: ['drone-remote-id'],
      segmentRouting: ['segment-routing'],
    };
    const tables = [ipaddr.IPv4.prototype, ipaddr.IPv6.prototype].map(
      (proto) => (proto as unknown as { SpecialRanges: IpaddrTable }).SpecialRanges,
    );
    let checked = 0;
    for (const table of tables) {
      for (const [name, value] of Object.entries(table)) {
        const entries = Array.isArray(value[0])
          ? (value as [ipaddr.IPv4 | ipaddr.IPv6, number][])
          : [value as [ipaddr.IPv4 | ipaddr.IPv6, number]];
        for (const [address, prefix] of entries) {
          const expected = ipaddrName[name];
          expect(expected, `ipaddr.js range ${name} has no mapping`).toBeDefined();
          const found = classify(parseCidr(`${address.toString()}/${prefix}`));
          expect(
            found.some((range) => expected?.includes(range)),
            `${address.toString()}/${prefix} (${name}) -> ${found.join(',')}`,
          ).toBe(true);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });
});
