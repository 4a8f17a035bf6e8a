import { describe, expect, it } from 'vitest';
import { widenToFit, type WidenRequest } from '../../shared/capacity/widen.js';
import { addressCount, aggregate, covers, parseCidr, prefixLengthOf, type Cidr } from '../../shared/ipset.js';
import { sharedFile } from '../peers/http.js';

const cidrs = (...texts: string[]) => texts.map(parseCidr);
const fit = (request: Omit<WidenRequest, 'perFamily'> & { perFamily?: boolean }) => widenToFit({ perFamily: false, ...request });

/** The 2,302 IPv4 prefixes of MicrosoftCloudAppSecurity in the weekly file of 2025-11-07. */
function cloudAppSecurity(): Cidr[] {
  const file = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as {
    values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
  };
  return file.values.find((value) => value.name === 'MicrosoftCloudAppSecurity')!.properties.addressPrefixes.map(parseCidr);
}

describe('widenToFit', () => {
  it('leaves a file that fits as it is, with no extra address', () => {
    const prefixes = cidrs('52.1.0.0/24', '52.1.1.0/24', '52.9.0.1/32');
    expect(fit({ prefixes, maxEntries: 2, widenTo: 8 })).toEqual({
      fits: true,
      entries: cidrs('52.1.0.0/23', '52.9.0.1/32'),
      widened: [],
      extra: { 4: 0n, 6: 0n, total: 0n },
    });
  });

  it('widens only as far as the limit needs, where it adds the fewest addresses', () => {
    // Two tight pairs and one far-off host: with three entries each pair becomes its /30 (2 extra each); with four,
    // only the pair whose cover adds less is widened.
    const prefixes = cidrs('52.1.0.1/32', '52.1.0.2/32', '52.1.0.8/32', '52.1.0.11/32', '52.200.0.1/32');
    expect(fit({ prefixes, maxEntries: 3, widenTo: 24 })).toMatchObject({
      fits: true,
      entries: cidrs('52.1.0.0/30', '52.1.0.8/30', '52.200.0.1/32'),
      widened: [
        { cover: parseCidr('52.1.0.0/30'), replaces: cidrs('52.1.0.1/32', '52.1.0.2/32'), extra: 2n },
        { cover: parseCidr('52.1.0.8/30'), replaces: cidrs('52.1.0.8/32', '52.1.0.11/32'), extra: 2n },
      ],
      extra: { 4: 4n, 6: 0n, total: 4n },
    });
    expect(fit({ prefixes, maxEntries: 4, widenTo: 24 })).toMatchObject({
      entries: cidrs('52.1.0.0/30', '52.1.0.8/32', '52.1.0.11/32', '52.200.0.1/32'),
      extra: { total: 2n },
    });
  });

  it('with one entry, takes the common supernet when widenTo allows it, and says the minimum when it does not', () => {
    const prefixes = cidrs('52.1.0.0/24', '52.1.3.0/24');
    expect(fit({ prefixes, maxEntries: 1, widenTo: 22 })).toMatchObject({ entries: cidrs('52.1.0.0/22'), extra: { total: 512n } });
    expect(fit({ prefixes, maxEntries: 1, widenTo: 23 })).toEqual({ fits: false, minEntries: 2, minEntriesByFamily: { 4: 2, 6: 0 } });
  });

  it('keeps a single prefix, even one wider than widenTo, and never splits or narrows a published prefix', () => {
    expect(fit({ prefixes: cidrs('52.0.0.0/12'), maxEntries: 1, widenTo: 24 })).toMatchObject({
      entries: cidrs('52.0.0.0/12'),
      widened: [],
    });
    const wide = fit({ prefixes: cidrs('52.0.0.0/12', '52.16.0.1/32', '52.16.0.2/32'), maxEntries: 2, widenTo: 24 });
    expect(wide).toMatchObject({ entries: cidrs('52.0.0.0/12', '52.16.0.0/30'), extra: { total: 2n } });
  });

  it('treats widenTo equal to a prefix length as "no wider than that prefix": it cannot join two of them', () => {
    expect(fit({ prefixes: cidrs('52.1.2.0/24', '52.1.3.0/24', '52.1.4.0/24'), maxEntries: 1, widenTo: 24 })).toMatchObject({
      fits: false,
      // The two adjacent /24s aggregate into one /23, which is what the file holds.
      minEntries: 2,
    });
  });

  it('widens IPv6 only with widenTo6, and IPv4 only with widenTo', () => {
    const v6 = cidrs('2a01:111:f100::/48', '2a01:111:f101::/48', '2a01:111:f102::/48', '2a01:111:f103::1/128');
    expect(fit({ prefixes: v6, maxEntries: 1, widenTo6: 46 })).toMatchObject({
      fits: true,
      entries: cidrs('2a01:111:f100::/46'),
      extra: { 4: 0n, 6: (1n << 80n) - 1n, total: (1n << 80n) - 1n },
    });
    expect(fit({ prefixes: v6, maxEntries: 1, widenTo: 8 })).toEqual({ fits: false, minEntries: 3, minEntriesByFamily: { 4: 0, 6: 3 } });
    const both = [...cidrs('52.1.0.1/32', '52.1.0.2/32'), ...v6];
    // Aggregated, the IPv6 prefixes are f100::/47, f102::/48 and one host: one IPv6 merge makes room, the cheaper one.
    expect(fit({ prefixes: both, maxEntries: 4, widenTo6: 46 })).toMatchObject({
      entries: cidrs('52.1.0.1/32', '52.1.0.2/32', '2a01:111:f100::/47', '2a01:111:f102::/47'),
      widened: [{ cover: parseCidr('2a01:111:f102::/47'), extra: (1n << 80n) - 1n }],
    });
  });

  it('shares maxEntries between the families unless the limit counts each family apart', () => {
    const prefixes = cidrs('52.1.0.1/32', '52.1.0.2/32', '2a01:111::1/128', '2a01:111::2/128');
    expect(fit({ prefixes, maxEntries: 2, widenTo: 24, widenTo6: 64 })).toMatchObject({
      entries: cidrs('52.1.0.0/30', '2a01:111::/126'),
      extra: { 4: 2n, 6: 2n, total: 4n },
    });
    expect(fit({ prefixes, maxEntries: 2, perFamily: true, widenTo: 24, widenTo6: 64 })).toMatchObject({ entries: prefixes, widened: [] });
    // The shared budget goes where it saves the most: the IPv6 pair is far apart, the IPv4 pair adjacent-ish.
    const apart = cidrs('52.1.0.1/32', '52.1.0.2/32', '2a01:111::1/128', '2a01:111::ff:1/128');
    expect(fit({ prefixes: apart, maxEntries: 3, widenTo: 24, widenTo6: 64 })).toMatchObject({
      entries: cidrs('52.1.0.0/30', '2a01:111::1/128', '2a01:111::ff:1/128'),
    });
    expect(fit({ prefixes: apart, maxEntries: 1, perFamily: true, widenTo: 24 })).toEqual({
      fits: false,
      minEntries: 2,
      minEntriesByFamily: { 4: 1, 6: 2 },
    });
  });

  it('never covers special-purpose space the sources do not publish themselves', () => {
    // 192.0.0.0/22 would add 192.0.0.0/24 (IETF protocol assignments) and 192.0.2.0/24 (documentation).
    const beside = cidrs('192.0.1.0/24', '192.0.3.0/24');
    expect(fit({ prefixes: beside, maxEntries: 1, widenTo: 16 })).toEqual({
      fits: false,
      minEntries: 2,
      minEntriesByFamily: { 4: 2, 6: 0 },
    });
    // When the sources publish that space themselves, a cover over it adds only ordinary addresses.
    const published = cidrs('192.0.0.0/24', '192.0.2.0/24', '192.0.3.0/24');
    expect(fit({ prefixes: published, maxEntries: 1, widenTo: 16 })).toMatchObject({
      entries: cidrs('192.0.0.0/22'),
      extra: { total: 256n },
    });
    // A cover may not reach into private space either: 10.0.0.0/7 would hold all of 10/8 for two hosts of 11/8.
    expect(fit({ prefixes: cidrs('11.0.0.1/32', '11.255.0.1/32'), maxEntries: 1, widenTo: 7 })).toMatchObject({
      entries: cidrs('11.0.0.0/8'),
    });
  });

  it('rejects nonsense budgets and widths with a clear error', () => {
    const prefixes = cidrs('52.1.0.1/32');
    for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
      expect(() => fit({ prefixes, maxEntries }), String(maxEntries)).toThrow(/maxEntries must be a whole number of at least 1/);
    }
    expect(() => fit({ prefixes, maxEntries: 1, widenTo: 33 })).toThrow(/widenTo must be a prefix length from 0 to 32, not 33/);
    expect(() => fit({ prefixes, maxEntries: 1, widenTo6: 129 })).toThrow(/widenTo6 must be a prefix length from 0 to 128/);
    expect(() => fit({ prefixes, maxEntries: 1, widenTo: -1 })).toThrow(/widenTo must be/);
    expect(fit({ prefixes: [], maxEntries: 1, widenTo: 8 })).toMatchObject({ fits: true, entries: [], widened: [] });
  });

  describe('the MicrosoftCloudAppSecurity tag (2,302 IPv4 prefixes in 326 /16 blocks)', () => {
    const prefixes = cloudAppSecurity();

    it('fits 400 entries with widenTo 16, covering every published address', () => {
      const result = fit({ prefixes, maxEntries: 400, widenTo: 16 });
      if (!result.fits) throw new Error('expected a fit');
      expect(result.entries.length).toBeLessThanOrEqual(400);
      expect(result.entries.every((cidr) => prefixLengthOf(cidr) >= 16)).toBe(true);
      for (const prefix of prefixes) expect(covers(result.entries, prefix)).toBe(true);
      expect(addressCount(result.entries) - addressCount(prefixes)).toBe(result.extra.total);
      expect(result.extra.total).toBeGreaterThan(0n);
      expect(aggregate(result.widened.flatMap((cover) => cover.replaces)).length).toBeGreaterThan(0);
    });

    it('cannot fit 200: the smallest count widenTo 16 allows is one entry per /16 block', () => {
      expect(fit({ prefixes, maxEntries: 200, widenTo: 16 })).toEqual({
        fits: false,
        minEntries: 326,
        minEntriesByFamily: { 4: 326, 6: 0 },
      });
    });
  });
});
