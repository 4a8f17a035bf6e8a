import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Policy } from '../../../shared/config.js';
import { evaluateGuards } from '../../../shared/drift/guards.js';
import { compareCidr, parseCidr, sortCidrs, tryParseCidr, type Cidr } from '../../../shared/ipset.js';
import type { EntryEvidence, ObservedEntry } from '../../../shared/sources/source.js';

const policy: Policy = parseConfig({ targets: [{ id: 't', type: 'static', entries: ['52.1.1.1'] }] }).policy;

const aws: EntryEvidence = {
  kind: 'aws-ip-range',
  service: 'AMAZON',
  region: 'us-east-1',
  syncToken: '1787411825',
  createDate: '2026-08-22-15-17-05',
  url: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
};
const cas: EntryEvidence = { kind: 'cas', section: 'portal', dataCenter: 'EU1', heading: 'Portal' };

function broadPrefix(entries: Array<[string, EntryEvidence]>, overrides: Partial<Policy> = {}) {
  const observed: ObservedEntry[] = entries.map(([cidr, evidence]) => ({ cidr: parseCidr(cidr), evidence: [evidence] }));
  return evaluateGuards({
    status: 'ok',
    entries: observed,
    baseline: null,
    added: observed.map((entry) => entry.cidr),
    removalCandidates: [],
    policy: { ...policy, ...overrides },
  }).find((verdict) => verdict.guard === 'broad-prefix')!;
}

describe('the broad-prefix guard with a source that declares its broadest prefix', () => {
  it('lets AWS publish a /11 and a /13, and holds a /10 from it', () => {
    const pass = broadPrefix([
      ['3.0.0.0/11', aws],
      ['52.0.0.0/13', aws],
      ['2600:1f00::/32', aws],
    ]);
    expect(pass).toMatchObject({ outcome: 'pass', message: expect.stringContaining('except /11 (IPv4) for aws-ip-range entries') });
    const held = broadPrefix([['3.0.0.0/10', aws]]);
    expect(held).toMatchObject({ outcome: 'hold', message: expect.stringContaining('3.0.0.0/10') });
    expect(broadPrefix([['2600::/31', aws]]).outcome).toBe('hold');
  });

  it('keeps /16 for every source that declares nothing (CAS), and the policy when it is broader still', () => {
    expect(broadPrefix([['52.0.0.0/15', cas]])).toMatchObject({ outcome: 'hold', message: expect.not.stringContaining('except') });
    expect(broadPrefix([['52.0.0.0/16', cas]]).outcome).toBe('pass');
    expect(broadPrefix([['3.0.0.0/9', aws]], { minPrefixLength: { ipv4: 8, ipv6: 32 } }).outcome).toBe('pass');
  });
});

describe('parseCidr on text already in canonical form (the fast path published lists take)', () => {
  /** The general parse, written out with ipaddr.js: what parseCidr answered before the fast path. */
  const reference = (text: string): string => {
    const [address, prefix] = ipaddr.parseCIDR(text);
    const network =
      address.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`).toString()
        : (ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`) as ipaddr.IPv6).toRFC5952String();
    return `${network}/${prefix}`;
  };
  // Zero groups in runs, so "::" placement (leftmost longest run) is exercised.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));

  it('answers what the general parse answers, for canonical and non-canonical IPv6 text', () => {
    fc.assert(
      fc.property(
        fc.array(group, { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 128 }),
        fc.boolean(),
        (groups, prefix, expand) => {
          const address = new ipaddr.IPv6(groups);
          const text = `${expand ? address.toNormalizedString() : address.toRFC5952String()}/${prefix}`;
          expect(parseCidr(text)).toBe(reference(text));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('answers what the general parse answers for IPv4 text, host bits and leading zeros included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 32 }),
        (octets, prefix) => {
          const text = `${octets.join('.')}/${prefix}`;
          expect(parseCidr(text)).toBe(reference(text));
        },
      ),
      { numRuns: 3000 },
    );
    expect(() => parseCidr('010.1.2.0/24')).toThrow();
    expect(parseCidr('10.1.2.0/024')).toBe('10.1.2.0/24');
    expect(parseCidr('2001:DB8::/32')).toBe('2001:db8::/32');
    expect(parseCidr('2001:db8:0::/48')).toBe('2001:db8::/48');
    expect(parseCidr('2001:0:0:1:0:0:0:0/64')).toBe('2001:0:0:1::/64');
  });

  it('accepts near-miss text only as the general parse reads it (the one-pass readers never take a wrong shape)', () => {
    // Pieces of canonical text recombined: stray colons and dots, a "::" too many or too few groups, leading zeros,
    // upper case, five hex digits, prefixes out of range or with a leading zero. A dotted IPv6 tail is left to the
    // RFC 4291 test of test/ipset.property.test.ts, where ipaddr.js reads an address other than the one written.
    const piece = fc.constantFrom('0', '1', '9', '10', 'a', 'f', 'F', '00', '0a', 'ffff', 'fffff', '255', '256', '::', ':', '.', '/');
    const prefix = fc.constantFrom('', '/0', '/8', '/08', '/32', '/33', '/64', '/128', '/129', '/1000', '/');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), prefix, (pieces, length) => {
        const text = `${pieces.join('')}${length}`;
        fc.pre(!(text.includes(':') && text.includes('.')));
        const parsed = tryParseCidr(text);
        if (parsed === undefined) return;
        const bits = text.includes(':') ? 128 : 32;
        expect(parsed).toBe(reference(text.includes('/') ? text : `${text}/${bits}`));
      }),
      { numRuns: 20_000 },
    );
    // Canonical texts the pieces rarely spell out whole.
    for (const text of ['3.5.140.0/22', '0.0.0.0/0', '255.255.255.255/32', '2600:1f00::/32', '::/0', '::1/128', '1::/16', '1:0:0:1::/64'])
      expect(parseCidr(text)).toBe(text);
    for (const text of ['1:2:3:4:5:6:7::/128', '1::2:3:4:5:6:7:8/128', '1:2:3:4:5:6:7:8:9/128', '1:2::3::4/64', ':1::/16', '1::1:/16'])
      expect(tryParseCidr(text) === undefined || tryParseCidr(text) === reference(text)).toBe(true);
  });

  it('sorts IPv6 prefixes that differ only in their low words, and dotted-quad text, in address order', () => {
    const sorted = sortCidrs(['2600::2/127', '2600::1:0/112', '2600::/128', '::ffff:1.2.3.4/128', '::ffff:102:303/128'] as Cidr[]);
    expect(sorted).toEqual(['::ffff:102:303/128', '::ffff:1.2.3.4/128', '2600::/128', '2600::2/127', '2600::1:0/112']);
    expect(compareCidr('2600::/32' as Cidr, '2600::/31' as Cidr)).toBeGreaterThan(0);
    expect(compareCidr('9.0.0.0/8' as Cidr, '::/0' as Cidr)).toBeLessThan(0);
  });
});
