import { describe, expect, it } from 'vitest';
import { parseConfig, type Policy } from '../shared/config.js';
import { evaluateGuards, isConfigured, type GuardInput } from '../shared/drift/guards.js';
import { parseCidr, semanticDiff, type Cidr } from '../shared/ipset.js';
import type { Verdict } from '../shared/report.js';
import type { EntryEvidence, ObservedEntry } from '../shared/sources/source.js';

/** The defaults: maxRemoveRatio 0.3, maxAddRatio 1, minChangeForRatio 3, maxNewRangesRatio 2, minNewRangesForRatio 2500, minPrefixLength /16 and /32. */
const policy: Policy = parseConfig({ targets: [{ id: 't', type: 'static', entries: ['52.1.1.1'] }] }).policy;

const tag: EntryEvidence = { kind: 'service-tag', tag: 'MicrosoftCloudAppSecurity', tagChangeNumber: 7, fileChangeNumber: 350 };

/** Public /32s that never aggregate with each other: 52.<n>.0.1. */
const hosts = (count: number, second = 0): Cidr[] => Array.from({ length: count }, (_, index) => parseCidr(`52.${second + index}.0.1`));

const entry = (cidr: string, ...evidence: EntryEvidence[]): ObservedEntry => ({
  cidr: parseCidr(cidr),
  evidence: evidence.length > 0 ? evidence : [tag],
});

function verdictOf(
  guard: Verdict['guard'],
  baseline: readonly Cidr[] | null,
  observed: readonly ObservedEntry[],
  overrides: Partial<GuardInput> = {},
): Verdict {
  const diff = semanticDiff(
    baseline ?? [],
    observed.map((e) => e.cidr),
  );
  const verdicts = evaluateGuards({
    status: 'ok',
    entries: observed,
    baseline,
    added: diff.added,
    removalCandidates: baseline === null ? [] : diff.removed,
    policy,
    ...overrides,
  });
  return verdicts.find((v) => v.guard === guard)!;
}

const observe = (cidrs: readonly Cidr[]) => cidrs.map((cidr) => entry(cidr));

describe('evaluateGuards', () => {
  it('always returns all six verdicts in a fixed order', () => {
    const verdicts = evaluateGuards({
      status: 'ok',
      entries: observe(hosts(2)),
      baseline: hosts(2),
      added: [],
      removalCandidates: [],
      policy,
    });
    expect(verdicts.map((v) => v.guard)).toEqual([
      'empty-observation',
      'mass-removal',
      'mass-addition',
      'range-flood',
      'broad-prefix',
      'special-range',
    ]);
    expect(verdicts.every((v) => v.outcome === 'pass')).toBe(true);
  });

  it('holds an empty complete observation but not an empty partial one', () => {
    expect(verdictOf('empty-observation', hosts(3), []).outcome).toBe('hold');
    expect(verdictOf('empty-observation', hosts(3), [], { status: 'partial', removalCandidates: [] }).outcome).toBe('pass');
    expect(verdictOf('empty-observation', hosts(3), observe(hosts(1))).outcome).toBe('pass');
  });

  it('holds a mass removal only above the ratio (30%)', () => {
    const baseline = hosts(20);
    expect(verdictOf('mass-removal', baseline, observe(baseline.slice(6))).outcome).toBe('pass'); // exactly 30%
    const held = verdictOf('mass-removal', baseline, observe(baseline.slice(7))); // 35%
    expect(held.outcome).toBe('hold');
    expect(held.message).toContain('7 IPv4 ranges (35% of the baseline');
    expect(held.message).toContain('52.0.0.1/32, 52.1.0.1/32, 52.2.0.1/32, 52.3.0.1/32, 52.4.0.1/32 and 2 more');
  });

  it('holds a mass removal only with more than minChangeForRatio (3) ranges', () => {
    expect(verdictOf('mass-removal', hosts(4), observe(hosts(1, 3))).outcome).toBe('pass'); // 3 of 4 gone: 75%, 3 ranges
    expect(verdictOf('mass-removal', hosts(5), observe(hosts(1, 4))).outcome).toBe('hold'); // 4 of 5 gone: 80%, 4 ranges
  });

  it('weighs removals by addresses and by lines, holding when either share is too large', () => {
    const baseline = [parseCidr('52.0.0.0/22'), ...hosts(4, 10)];
    // Four /32s of 1,028 addresses is well under 30% of the addresses, but 4 of 5 lines: a huge delta.
    const byLines = verdictOf('mass-removal', baseline, observe([parseCidr('52.0.0.0/22')]));
    expect(byLines.outcome).toBe('hold');
    expect(byLines.message).toContain('4 IPv4 ranges (0.4% of the baseline');
    expect(byLines.message).toContain('80% of its ranges');
    // Four of 15 lines and of 1,038 addresses: under both shares, so it passes.
    expect(verdictOf('mass-removal', [...baseline, ...hosts(10, 30)], observe([parseCidr('52.0.0.0/22'), ...hosts(10, 30)])).outcome).toBe(
      'pass',
    );
    // Losing three quarters of the /22 (a /24 and a /23) and two hosts: 4 ranges, 74.8% of the addresses.
    const observed = [entry('52.0.0.0/24'), ...observe(hosts(4, 10))];
    const held = verdictOf('mass-removal', [...baseline, ...hosts(2, 20)], observed);
    expect(held.outcome).toBe('hold');
    expect(held.message).toContain('4 IPv4 ranges (74.8% of the baseline');
  });

  it('passes the real growth shapes that raw ratios held: new mail ranges in a list of hosts, new data centers of /32s', () => {
    // The CAS page's six mail-server ranges (two /26, four /27) arriving in a list of 30 /32s: 8.5 times the addresses.
    const thirtyHosts = hosts(30);
    const mail = ['65.55.234.192/26', '207.46.50.192/26', '65.55.52.224/27', '94.245.112.0/27', '111.221.26.0/27', '207.46.200.0/27'];
    const withMail = verdictOf('mass-addition', thirtyHosts, observe([...thirtyHosts, ...mail.map(parseCidr)]));
    expect(withMail.outcome).toBe('pass');
    expect(withMail.message).toContain('6 new ranges; any number of ranges up to /24 for IPv4 may be added');
    // Data centers added as /32s: 82 addresses become 422.
    const before = hosts(82);
    const dataCenters = Array.from({ length: 340 }, (_, index) => parseCidr(`40.${Math.floor(index / 100)}.${index % 100}.7`));
    expect(verdictOf('mass-addition', before, observe([...before, ...dataCenters])).outcome).toBe('pass');
    // A single new /24 to a single host is 256 times the baseline, and still an ordinary range.
    expect(verdictOf('mass-addition', hosts(1), observe([...hosts(1), parseCidr('20.0.0.0/24')])).outcome).toBe('pass');
  });

  it('holds new ranges broader than the usual prefix once they exceed maxAddRatio (100%) of the baseline', () => {
    const baseline = hosts(12);
    const held = verdictOf('mass-addition', baseline, observe([...baseline, parseCidr('20.0.0.0/16')]));
    expect(held.outcome).toBe('hold');
    expect(held.message).toContain("1 new IPv4 range is broader than the usual /24 and together 5,461 times the baseline's IPv4 addresses");
    // Up to ten times reads as a percentage; a /0 against a dozen hosts does not read as a number of billions.
    const twice = verdictOf(
      'mass-addition',
      ['52.0.0.0/24', '52.9.0.0/24'].map(parseCidr),
      observe(['52.0.0.0/24', '52.9.0.0/24', '20.0.0.0/22'].map(parseCidr)),
    );
    expect(twice.message).toContain("together 200% of the baseline's IPv4 addresses");
    const everything = verdictOf('mass-addition', baseline, observe([...baseline, parseCidr('0.0.0.0/1'), parseCidr('128.0.0.0/1')]));
    expect(everything.message).toContain("together over a million times the baseline's IPv4 addresses");
    expect(everything.message).not.toMatch(/\d{5,}/);
    expect(held.message).toContain('20.0.0.0/16');
    // A /23 among ordinary additions is weighed alone: 512 addresses against 8.
    const eight = hosts(8);
    const mixed = ['20.0.0.0/23', '20.0.2.0/24', '20.0.3.0/27'].map(parseCidr);
    const mixedHeld = verdictOf('mass-addition', eight, observe([...eight, ...mixed]));
    expect(mixedHeld.outcome).toBe('hold');
    expect(mixedHeld.message).toMatch(/: 20\.0\.0\.0\/23$/);
    // At the boundary: a /23 is exactly 100% of two /24s and passes; a /22 is 200% and is held.
    const twoBlocks = ['52.0.0.0/24', '52.9.0.0/24'].map(parseCidr);
    expect(verdictOf('mass-addition', twoBlocks, observe([...twoBlocks, parseCidr('20.0.0.0/23')])).outcome).toBe('pass');
    expect(verdictOf('mass-addition', twoBlocks, observe([...twoBlocks, parseCidr('20.0.0.0/22')])).outcome).toBe('hold');
    // The other family's baseline does not dilute it.
    expect(
      verdictOf(
        'mass-addition',
        [...baseline, parseCidr('2a05:d018::/32')],
        observe([...baseline, parseCidr('2a05:d018::/32'), parseCidr('20.0.0.0/16')]),
      ).outcome,
    ).toBe('hold');
  });

  it('takes the usual prefix from the baseline when it already holds broader ranges than the ordinary /24 or /48', () => {
    const tags = ['52.0.0.0/20', '52.1.0.1/32'].map(parseCidr);
    expect(verdictOf('mass-addition', tags, observe([...tags, parseCidr('20.0.0.0/20'), parseCidr('20.1.0.0/20')])).outcome).toBe('pass');
    const held = verdictOf('mass-addition', tags, observe([...tags, parseCidr('20.0.0.0/19')]));
    expect(held.outcome).toBe('hold');
    expect(held.message).toContain('broader than the usual /20');
    const v6 = [parseCidr('2a05:d018::/64')];
    expect(verdictOf('mass-addition', v6, observe([...v6, parseCidr('2a05:d019::/48')])).outcome).toBe('pass');
    expect(verdictOf('mass-addition', v6, observe([...v6, parseCidr('2a05:d020::/47')])).outcome).toBe('hold');
  });

  it('does not hold additions when there is no baseline, or for a family the baseline does not have yet', () => {
    expect(verdictOf('mass-addition', null, observe(hosts(50))).outcome).toBe('pass');
    const v6 = ['2a05:d018::1', '2a05:d018::3', '2a05:d018::5', '2a05:d018::7', '2a05:d018::9'].map((text) => entry(text));
    expect(verdictOf('mass-addition', hosts(1), [...observe(hosts(1)), ...v6]).outcome).toBe('pass');
  });

  it('compares families separately, so IPv6 sizes do not drown IPv4 changes', () => {
    const baseline = [...hosts(5), parseCidr('2a05:d018::/32')];
    const held = verdictOf('mass-removal', baseline, [...observe(hosts(1)), entry('2a05:d018::/32')]);
    expect(held.outcome).toBe('hold');
    expect(held.message).toContain('IPv4');
  });

  it('holds prefixes broader than the minimum from public sources, at the boundary', () => {
    expect(verdictOf('broad-prefix', null, [entry('52.0.0.0/16'), entry('2a05::/32')]).outcome).toBe('pass');
    const v4 = verdictOf('broad-prefix', null, [entry('52.0.0.0/15')]);
    expect(v4.outcome).toBe('hold');
    expect(v4.message).toContain('52.0.0.0/15');
    expect(verdictOf('broad-prefix', null, [entry('2a04::/31')]).outcome).toBe('hold');
    expect(verdictOf('broad-prefix', null, [entry('52.0.0.0/8', { kind: 'static' })]).outcome).toBe('pass');
  });

  it('holds /0 from anywhere, even the config', () => {
    for (const cidr of ['0.0.0.0/0', '::/0']) {
      const held = verdictOf('broad-prefix', null, [entry(cidr, { kind: 'static' })]);
      expect(held.outcome).toBe('hold');
      expect(held.message).toContain(cidr);
    }
  });

  it('holds special-purpose space from public sources and names the range kind', () => {
    const cases: Array<[string, string]> = [
      ['10.1.2.3', 'private'],
      ['127.0.0.1', 'loopback'],
      ['169.254.10.1', 'link-local'],
      ['100.64.1.1', 'carrier-grade-nat'],
      ['192.0.2.10', 'documentation'],
      ['fe80::1', 'link-local'],
      ['fd00::1', 'unique-local'],
    ];
    for (const [cidr, kind] of cases) {
      const held = verdictOf('special-range', null, [entry('52.1.1.1'), entry(cidr)]);
      expect(held.outcome, cidr).toBe('hold');
      expect(held.message).toContain(`${parseCidr(cidr)} (${kind})`);
    }
    const many = verdictOf(
      'special-range',
      null,
      ['10.0.0.1', '10.0.0.3', '10.0.0.5', '10.0.0.7', '10.0.0.9', '10.0.0.11', '10.0.0.13'].map((c) => entry(c)),
    );
    expect(many.message).toMatch(/^7 entries .* and 2 more$/);
    expect(verdictOf('special-range', null, [entry('52.1.1.1'), entry('2a05:d018::1')]).outcome).toBe('pass');
  });

  it('judges only what the baseline does not already cover: an approved broad or special entry holds nothing again', () => {
    const approved = [parseCidr('52.0.0.0/15'), parseCidr('10.9.0.0/16'), parseCidr('52.9.9.9')];
    const same = [entry('52.0.0.0/15'), entry('10.9.0.0/16'), entry('52.9.9.9')];
    expect(verdictOf('broad-prefix', approved, same).outcome).toBe('pass');
    expect(verdictOf('special-range', approved, same).outcome).toBe('pass');
    // Covered by several approved pieces together is covered too.
    const halves = [parseCidr('52.0.0.0/16'), parseCidr('52.1.0.0/16')];
    expect(verdictOf('broad-prefix', halves, [entry('52.0.0.0/15')]).outcome).toBe('pass');
    // A broader range around the approved one, or new special space beside it, is part of the change.
    const wider = verdictOf('broad-prefix', approved, [...same, entry('52.0.0.0/14')]);
    expect([wider.outcome, wider.message]).toEqual(['hold', expect.stringContaining('52.0.0.0/14')]);
    expect(wider.message).not.toContain('52.0.0.0/15');
    expect(verdictOf('special-range', approved, [...same, entry('10.8.0.1')]).outcome).toBe('hold');
    // No approval ever covers a /0.
    expect(verdictOf('broad-prefix', approved, [...same, entry('0.0.0.0/0')]).outcome).toBe('hold');
  });

  it('exempts configured VPN and static entries from special-range, but not a source that also reports them', () => {
    expect(
      verdictOf('special-range', null, [entry('10.20.0.0/16', { kind: 'vpn' }), entry('192.168.0.0/16', { kind: 'static' })]).outcome,
    ).toBe('pass');
    expect(verdictOf('special-range', null, [entry('10.20.0.0/16', { kind: 'vpn' }, tag)]).outcome).toBe('hold');
  });
});

describe('isConfigured', () => {
  it('is true only when every piece of evidence was written by a person', () => {
    expect(isConfigured(entry('10.0.0.0/8', { kind: 'vpn' }))).toBe(true);
    expect(isConfigured(entry('10.0.0.0/8', { kind: 'static' }, { kind: 'vpn' }))).toBe(true);
    expect(isConfigured(entry('10.0.0.0/8', { kind: 'vpn' }, tag))).toBe(false);
    expect(isConfigured({ cidr: parseCidr('10.0.0.0/8'), evidence: [] })).toBe(false);
  });
});
