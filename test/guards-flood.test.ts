import { describe, expect, it } from 'vitest';
import { parseConfig, type Config, type Policy } from '../shared/config.js';
import { computeDrift, HELD_SAMPLE } from '../shared/drift/drift.js';
import { proposalFingerprint } from '../shared/engine/proposal.js';
import { evaluateGuards } from '../shared/drift/guards.js';
import { aggregate, familyOf, parseCidr, semanticDiff, type Cidr } from '../shared/ipset.js';
import type { Verdict } from '../shared/report.js';
import { parseCasPage } from '../shared/sources/cas-docs/page.js';
import { parseOdcPage } from '../shared/sources/odc/page.js';
import type { EntryEvidence, Observation } from '../shared/sources/source.js';
import { decodeTargetRecord, encodeTargetRecord, MAX_COMPRESSED_BYTES } from '../shared/state/codec.js';
import { firstReleaseTargetRow } from './state/first-release.js';
import { sharedFile } from './peers/http.js';

const policy: Policy = parseConfig({ targets: [{ id: 't', type: 'static', entries: ['52.1.1.1'] }] }).policy;
const tag: EntryEvidence = { kind: 'service-tag', tag: 'MicrosoftCloudAppSecurity', tagChangeNumber: 7, fileChangeNumber: 350 };

/** `count` public /32s that never aggregate with each other, from 60.0.0.1 on (every other address). */
const flood = (count: number, first = 60): Cidr[] =>
  Array.from({ length: count }, (_, index) =>
    parseCidr(`${first + Math.floor(index / 32768)}.${Math.floor(index / 128) % 256}.${(index % 128) * 2}.1`),
  );

const SEVEN = ['20.40.1.0/24', '20.40.2.0/24', '20.40.4.0/24', '20.40.8.0/24', '20.40.16.0/24', '20.40.32.0/24', '20.40.64.0/24'].map(
  parseCidr,
);

/** The range-flood verdict for a change from `before` to `after` (both as a source would list them). */
function floodVerdict(before: readonly Cidr[] | null, after: readonly Cidr[]): Verdict {
  const { added } = semanticDiff(before ?? [], after);
  return evaluateGuards({
    status: 'ok',
    entries: after.map((cidr) => ({ cidr, evidence: [tag] })),
    baseline: before === null ? null : aggregate(before),
    added,
    removalCandidates: [],
    policy,
  }).find((verdict) => verdict.guard === 'range-flood')!;
}

describe('range-flood: a count flood of narrow ranges', () => {
  it('holds 100,000 separate /32s injected into a 7-range service tag, which every other guard passes', () => {
    const observed = [...SEVEN, ...flood(100_000)];
    const { added } = semanticDiff(SEVEN, observed);
    expect(added).toHaveLength(100_000);
    const verdicts = evaluateGuards({
      status: 'ok',
      entries: observed.map((cidr) => ({ cidr, evidence: [tag] })),
      baseline: SEVEN,
      added,
      removalCandidates: [],
      policy,
    });
    expect(verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard)).toEqual(['range-flood']);
    expect(verdicts.find((v) => v.guard === 'range-flood')!.message).toMatch(
      /^100000 new IPv4 ranges against 7 in the baseline; more than 2500 new ranges of a family, and more than 2 times the ranges its baseline has, are held: 60\.0\.0\.1\/32, /,
    );
  });

  it('holds above the floor and above the ratio, each at its boundary, per family', () => {
    expect(floodVerdict(SEVEN, [...SEVEN, ...flood(2_500)]).outcome).toBe('pass');
    expect(floodVerdict(SEVEN, [...SEVEN, ...flood(2_501)]).outcome).toBe('hold');
    // Against a baseline of 3,000 ranges the ratio decides: 6,000 new ones are twice as many, 6,001 more than that.
    const big = flood(3_000, 100);
    expect(floodVerdict(big, [...big, ...flood(6_000)]).outcome).toBe('pass');
    expect(floodVerdict(big, [...big, ...flood(6_001)]).outcome).toBe('hold');
    // 3,000 IPv4 ranges in the baseline say nothing about IPv6: 2,501 new /128s are held.
    const v6 = Array.from({ length: 2_501 }, (_, index) => parseCidr(`2603:1000::${(index * 2).toString(16)}`));
    const held = floodVerdict(big, [...big, ...v6]);
    expect(held).toMatchObject({ outcome: 'hold', message: expect.stringMatching(/^2501 new IPv6 ranges against 0 in the baseline/) });
  });

  it('counts aggregated ranges, so addresses that merge into blocks count once per block', () => {
    // 4,096 adjacent /32s are one /20: one new range.
    const block = Array.from({ length: 4_096 }, (_, index) => parseCidr(`61.0.${Math.floor(index / 256)}.${index % 256}`));
    const { added } = semanticDiff(SEVEN, [...SEVEN, ...block]);
    expect(added).toEqual(['61.0.0.0/20']);
    expect(floodVerdict(SEVEN, [...SEVEN, ...block])).toMatchObject({ outcome: 'pass', message: expect.stringMatching(/^1 new range;/) });
  });

  it('leaves a first proposal (no baseline) to be reviewed whole', () => {
    expect(floodVerdict(null, flood(100_000)).outcome).toBe('pass');
  });

  it('takes its limits from the policy', () => {
    const strict = parseConfig({
      targets: [{ id: 't', type: 'static', entries: ['52.1.1.1'] }],
      policy: { maxNewRangesRatio: 1, minNewRangesForRatio: 10 },
    }).policy;
    const verdict = (observed: readonly Cidr[]) =>
      evaluateGuards({
        status: 'ok',
        entries: observed.map((cidr) => ({ cidr, evidence: [tag] })),
        baseline: SEVEN,
        added: semanticDiff(SEVEN, observed).added,
        removalCandidates: [],
        policy: strict,
      }).find((v) => v.guard === 'range-flood')!.outcome;
    expect(verdict([...SEVEN, ...flood(10)])).toBe('pass');
    expect(verdict([...SEVEN, ...flood(11)])).toBe('hold');
  });
});

/**
 * The defaults must never hold a real list's real change. Every consecutive pair of the CAS and ODC page revisions
 * kept as fixtures is judged as a target of each scope a config can select would see it, and every service tag of
 * the real file as if it arrived whole on top of one of its own ranges (the largest growth a tag target can show).
 */
describe('range-flood defaults against the real histories', () => {
  const step = (before: readonly Cidr[], after: readonly Cidr[]) => ({ before: aggregate(before), after: aggregate(after) });
  const passes = (name: string, { before, after }: { before: Cidr[]; after: Cidr[] }) => {
    if (before.length === 0) return; // a scope that did not exist yet: its first proposal is reviewed whole
    expect(floodVerdict(before, after).outcome, name).toBe('pass');
  };

  it('passes every CAS step, for the whole page, each section and each section in each data center', () => {
    const revisions = ['2018-05-14', '2024-06-20'];
    const pages = revisions.map((date) => parseCasPage(sharedFile(`fixtures/cas/network-requirements_${date}.md`).toString('utf8')));
    for (let index = 1; index < pages.length; index++) {
      const [older, newer] = [pages[index - 1]!, pages[index]!];
      const scoped = (page: typeof older, keep: (entry: (typeof older.entries)[number]) => boolean) =>
        page.entries.filter(keep).map((entry) => entry.cidr);
      const whole = step(
        scoped(older, () => true),
        scoped(newer, () => true),
      );
      // The largest real step: 28 ranges became 601, 574 of them new.
      expect({ baseline: whole.before.length, added: semanticDiff(whole.before, whole.after).added.length }).toEqual({
        baseline: 28,
        added: 574,
      });
      passes('whole page', whole);
      for (const section of newer.sections) {
        passes(
          section,
          step(
            scoped(older, (e) => e.section === section),
            scoped(newer, (e) => e.section === section),
          ),
        );
        for (const dataCenter of newer.dataCenters) {
          const keep = (e: (typeof older.entries)[number]) => e.section === section && e.dataCenter === dataCenter;
          passes(`${section} ${dataCenter}`, step(scoped(older, keep), scoped(newer, keep)));
        }
      }
    }
  });

  it('passes every ODC step, for the whole page, each purpose and each region', () => {
    const revisions = ['2025-05-28', '2025-12-22'];
    const pages = revisions.map((date) => parseOdcPage(sharedFile(`fixtures/odc/odc-public-ips_${date}.md`).toString('utf8')));
    for (let index = 1; index < pages.length; index++) {
      const [older, newer] = [pages[index - 1]!, pages[index]!];
      const scoped = (page: typeof older, keep: (entry: (typeof older.entries)[number]) => boolean) =>
        page.entries.filter(keep).map((entry) => entry.cidr);
      const whole = step(
        scoped(older, () => true),
        scoped(newer, () => true),
      );
      expect({ baseline: whole.before.length, added: semanticDiff(whole.before, whole.after).added.length }).toEqual({
        baseline: 99,
        added: 105,
      });
      passes('whole page', whole);
      for (const purpose of new Set(newer.entries.map((e) => e.purpose))) {
        passes(
          purpose,
          step(
            scoped(older, (e) => e.purpose === purpose),
            scoped(newer, (e) => e.purpose === purpose),
          ),
        );
      }
      for (const region of new Set(newer.entries.map((e) => e.region))) {
        passes(
          region,
          step(
            scoped(older, (e) => e.region === region),
            scoped(newer, (e) => e.region === region),
          ),
        );
      }
    }
  });

  it('passes every service tag of the real file arriving whole on top of one of its ranges', () => {
    const file = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as {
      values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
    };
    let largest = 0;
    for (const value of file.values) {
      const ranges = aggregate(value.properties.addressPrefixes.map(parseCidr));
      for (const family of [4, 6] as const) largest = Math.max(largest, ranges.filter((cidr) => familyOf(cidr) === family).length);
      passes(value.name, { before: ranges.slice(0, 1), after: ranges });
    }
    // MicrosoftCloudAppSecurity's 2,302 IPv4 ranges: the floor of 2,500 sits above every whole tag.
    expect(largest).toBe(2_302);
  });
});

describe('a held flood is stored as a bounded summary', () => {
  const target = {
    id: 'mcas-tags',
    type: 'service-tags' as const,
    url: 'https://example.test/tags.json',
    tags: ['MicrosoftCloudAppSecurity'],
  };
  const observation = (cidrs: readonly Cidr[]): Observation => ({
    targetId: 'mcas-tags',
    type: 'service-tags',
    observedAt: '2026-01-02T00:00:00.000Z',
    status: 'ok',
    entries: cidrs.map((cidr) => ({ cidr, evidence: [tag] })),
    warnings: [],
    errors: [],
  });
  const record = {
    targetId: 'mcas-tags',
    baseline: SEVEN,
    proposed: SEVEN,
    misses: {},
    firstSeen: Object.fromEntries(SEVEN.map((cidr) => [cidr, '2026-01-01T00:00:00.000Z'])),
    lastErrors: [],
    lastWarnings: [],
    verdicts: [],
  };

  it('keeps counts, the fingerprint of the whole change and a sample, and none of the flood in the record', () => {
    const drift = computeDrift({
      target: target as never,
      observation: observation([...SEVEN, ...flood(100_000)]),
      record,
      policy,
      now: '2026-01-02T00:00:00.000Z',
    });
    expect(drift.report.status).toBe('held');
    const held = drift.nextRecord.held!;
    expect(held).toMatchObject({ addedCount: 100_000, removed: [] });
    expect(held.added).toHaveLength(HELD_SAMPLE);
    expect(held.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(drift.nextRecord.observation!.entries.map((e) => e.cidr)).toEqual(SEVEN);
    expect(drift.nextRecord.lastGood).toBeUndefined();
    expect(Object.keys(drift.nextRecord.firstSeen)).toEqual(SEVEN);
    expect(encodeTargetRecord(drift.nextRecord, '2026-01-02T00:00:00.000Z').compressedBytes).toBeLessThan(MAX_COMPRESSED_BYTES / 50);

    // The same flood the next day is the same held change: an approval of it would still match.
    const again = computeDrift({
      target: target as never,
      observation: observation([...SEVEN, ...flood(100_000)]),
      record: drift.nextRecord,
      policy,
      now: '2026-01-03T00:00:00.000Z',
    });
    expect(again.nextRecord.held).toEqual(held);
  });
});

describe('fingerprints do not move with new policy keys', () => {
  /** Computed by the release before range-flood existed: a proposal declined then must stay declined. */
  const DECLINED_BEFORE_UPGRADE = 'f3f39aa5c81fead6';

  const config = (policyInput: Record<string, unknown>): Config =>
    parseConfig({
      name: 'prod',
      targets: [{ id: 'partners', type: 'static', entries: ['52.1.1.1'] }],
      files: [{ path: 'edl/partners.txt', format: 'plain', targets: ['partners'] }],
      policy: policyInput,
    });
  const proposed = new Map([['partners', ['52.1.1.1/32', '52.2.2.0/24'] as Cidr[]]]);

  it('names a proposal as the release before did, whatever the flood limits are', () => {
    expect(proposalFingerprint(config({}), proposed)).toBe(DECLINED_BEFORE_UPGRADE);
    expect(proposalFingerprint(config({ maxNewRangesRatio: 7, minNewRangesForRatio: 10 }), proposed)).toBe(DECLINED_BEFORE_UPGRADE);
  });
});

describe('a hold stored by the release before bounded holds', () => {
  it('reads its held change and approval unchanged, and the approval still releases exactly that change', () => {
    const target = {
      id: 'mcas-tags',
      type: 'service-tags' as const,
      url: 'https://example.test/tags.json',
      tags: ['MicrosoftCloudAppSecurity'],
    };
    // As that release stored it: the whole held change, no counts, its five guards' verdicts, a person's approval.
    const fingerprint = '346ecac2aa34a6b5';
    const verdicts = ['empty-observation', 'mass-removal', 'broad-prefix', 'special-range'].map((guard) => ({
      guard,
      outcome: 'pass',
      message: '',
    }));
    const stored = {
      targetId: 'mcas-tags',
      baseline: SEVEN,
      misses: {},
      firstSeen: {},
      lastErrors: [],
      lastWarnings: [],
      lastStatus: 'held',
      verdicts: [...verdicts, { guard: 'mass-addition', outcome: 'hold', message: '1 new IPv4 range is broader than the usual /24' }],
      held: { added: ['21.0.0.0/16'], removed: [], fingerprint, since: '2026-01-02T00:00:00.000Z' },
      approval: { fingerprint, at: '2026-01-02T01:00:00.000Z', source: 'cli' },
    };
    const row = firstReleaseTargetRow(stored, '2026-01-02T01:00:00.000Z');
    const record = decodeTargetRecord(row.rowKey, 'mcas-tags', row, undefined);
    expect(record.held).toEqual(stored.held);
    expect(record.approval).toEqual(stored.approval);

    const drift = computeDrift({
      target: target as never,
      observation: {
        targetId: 'mcas-tags',
        type: 'service-tags',
        observedAt: '2026-01-03T00:00:00.000Z',
        status: 'ok',
        entries: [...SEVEN, parseCidr('21.0.0.0/16')].map((cidr) => ({ cidr, evidence: [tag] })),
        warnings: [],
        errors: [],
      },
      record,
      policy,
      now: '2026-01-03T00:00:00.000Z',
    });
    expect(drift.report).toMatchObject({ status: 'ok', added: ['21.0.0.0/16'], approval: { fingerprint } });
  });
});
