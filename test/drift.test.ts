import { describe, expect, it } from 'vitest';
import { parseConfig, type Policy, type Target } from '../shared/config.js';
import {
  addedRows,
  computeDrift,
  entriesInUnknownScopes,
  evidenceInScope,
  pendingRemovals,
  removedRows,
  type TargetDrift,
} from '../shared/drift/drift.js';
import { parseCidr, sameAddresses, type Cidr } from '../shared/ipset.js';
import type { Problem } from '../shared/problem.js';
import type { EntryEvidence, Observation, ObservationStatus, UnknownScope } from '../shared/sources/source.js';
import type { TargetRecord } from '../shared/state/records.js';

const config = parseConfig({
  name: 'drift-test',
  targets: [{ id: 'outsystems-prod', type: 'outsystems', frontEnds: ['prodfe1', 'prodfe2'], vpnRanges: ['10.20.0.0/16'] }],
});
const target: Target = config.targets[0]!;
const policy: Policy = config.policy;

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);
const dns = (hostname = 'prodfe1.outsystemsenterprise.com'): EntryEvidence => ({
  kind: 'dns',
  hostname,
  recordType: 'A',
  ttl: 300,
  resolver: '127.0.0.1:53',
  at: '2025-11-07T10:00:00.000Z',
});

/** Ten public /32s, none adjacent, so aggregation keeps them as ten ranges. */
const TEN = Array.from({ length: 10 }, (_, index) => `52.10.${index}.7/32`);

function observation(
  status: ObservationStatus,
  texts: readonly string[],
  extra: { errors?: Problem[]; warnings?: Problem[]; at?: string } = {},
): Observation {
  return {
    targetId: target.id,
    type: target.type,
    observedAt: extra.at ?? '2025-11-07T10:00:00.000Z',
    status,
    entries: texts.map((text) => ({ cidr: parseCidr(text), evidence: [text.startsWith('10.20.') ? { kind: 'vpn' } : dns()] })),
    warnings: extra.warnings ?? [],
    errors: extra.errors ?? (status === 'ok' ? [] : [{ code: 'dns-timeout', message: 'prodfe2.outsystemsenterprise.com timed out' }]),
  };
}

function approved(texts: readonly string[]): TargetRecord {
  return {
    targetId: target.id,
    baseline: cidrs(...texts),
    baselineAt: '2025-11-01T00:00:00.000Z',
    misses: {},
    firstSeen: {},
    lastErrors: [],
    lastWarnings: [],
    verdicts: [],
    etag: 'W/"etag-1"',
  };
}

/** Runs checks in sequence, each on the record the previous one produced, as the engine stores them. */
function checks(
  record: TargetRecord | undefined,
  observations: readonly Observation[],
  at = (index: number) => `2025-11-07T1${index}:00:00.000Z`,
): TargetDrift[] {
  const drifts: TargetDrift[] = [];
  let current = record;
  observations.forEach((observed, index) => {
    const drift = computeDrift({ target, observation: observed, record: current, policy, now: at(index) });
    drifts.push(drift);
    current = drift.nextRecord;
  });
  return drifts;
}

describe('computeDrift', () => {
  it('proposes everything observed on the first run, with every guard passing', () => {
    const drift = computeDrift({
      target,
      observation: observation('ok', ['52.1.1.1', '52.1.1.0/32', '2a05:d018::1']),
      record: undefined,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('ok');
    expect(drift.proposed).toEqual(cidrs('52.1.1.0/31', '2a05:d018::1/128'));
    expect(drift.report.added).toEqual(drift.proposed);
    expect(drift.report.removed).toEqual([]);
    expect(drift.report.baseline).toEqual([]);
    expect(drift.report.observed).toEqual(cidrs('52.1.1.0/32', '52.1.1.1/32', '2a05:d018::1/128'));
    expect(drift.changed).toBe(true);
    expect(drift.report.verdicts.map((v) => [v.guard, v.outcome])).toEqual([
      ['empty-observation', 'pass'],
      ['mass-removal', 'pass'],
      ['mass-addition', 'pass'],
      ['range-flood', 'pass'],
      ['broad-prefix', 'pass'],
      ['special-range', 'pass'],
    ]);
    expect(drift.nextRecord.baseline).toBeNull();
    expect(drift.nextRecord.misses).toEqual({});
  });

  it('records no proposal for a target nothing has established yet, and one as soon as a check succeeds', () => {
    const [failed, held, good] = checks(undefined, [
      observation('error', []),
      observation('ok', ['10.9.9.9']),
      observation('ok', ['52.1.1.1']),
    ]);
    expect(failed!.nextRecord.proposed).toBeUndefined();
    expect(held!.report.status).toBe('held');
    expect(held!.nextRecord.proposed).toBeUndefined();
    expect(good!.nextRecord.proposed).toEqual(cidrs('52.1.1.1'));
    // With a baseline, a failed check proposes what is approved: that is known.
    expect(checks(approved(['52.1.1.1']), [observation('error', [])])[0]!.nextRecord.proposed).toEqual(cidrs('52.1.1.1'));
  });

  it('proposes additions at once', () => {
    const drift = computeDrift({
      target,
      observation: observation('ok', [...TEN, '52.99.0.1']),
      record: approved(TEN),
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.added).toEqual(cidrs('52.99.0.1'));
    expect(drift.changed).toBe(true);
    expect(sameAddresses(drift.proposed, cidrs(...TEN, '52.99.0.1'))).toBe(true);
  });

  it('removes an entry after exactly removeAfterMisses complete checks, not before', () => {
    const without = TEN.slice(1);
    const drifts = checks(approved(TEN), [observation('ok', without), observation('ok', without), observation('ok', without)]);
    const [first, second, third] = drifts as [TargetDrift, TargetDrift, TargetDrift];

    expect(policy.removeAfterMisses).toBe(3);
    for (const [drift, misses] of [
      [first, 1],
      [second, 2],
    ] as const) {
      expect(drift.report.pendingRemoval).toEqual([{ cidr: parseCidr(TEN[0]!), misses }]);
      expect(drift.report.removed).toEqual([]);
      expect(drift.changed).toBe(false);
      expect(sameAddresses(drift.proposed, cidrs(...TEN))).toBe(true);
    }
    expect(third.report.removed).toEqual(cidrs(TEN[0]!));
    expect(third.report.pendingRemoval).toEqual([]);
    expect(third.changed).toBe(true);
    expect(sameAddresses(third.proposed, cidrs(...without))).toBe(true);
    expect(third.nextRecord.misses).toEqual({ [TEN[0]!]: 3 });
    expect(removedRows(third)).toEqual([{ cidr: parseCidr(TEN[0]!), misses: 3 }]);
    // The baseline moves only when the PR is merged.
    expect(third.nextRecord.baseline).toEqual(cidrs(...TEN));
  });

  it('neither counts nor resets misses on failed or partial checks in between', () => {
    const without = TEN.slice(1);
    const drifts = checks(approved(TEN), [
      observation('ok', without),
      observation('error', []),
      observation('partial', without.slice(0, 4)),
      observation('ok', without),
      observation('ok', without),
    ]);
    expect(drifts.map((d) => d.report.pendingRemoval[0]?.misses ?? 0)).toEqual([1, 1, 1, 2, 0]);
    expect(drifts.map((d) => d.report.status)).toEqual(['ok', 'error', 'partial', 'ok', 'ok']);
    expect(drifts[4]!.report.removed).toEqual(cidrs(TEN[0]!));
    // A partial check proposes no removal even though nine tenths of the baseline were not seen.
    expect(drifts[2]!.report.removed).toEqual([]);
    expect(sameAddresses(drifts[2]!.proposed, cidrs(...TEN))).toBe(true);
  });

  it('breaks the miss streak of an entry a partial check did observe, keeping the others', () => {
    const without = TEN.slice(1);
    // A one-off miss of TEN[0]; then a partial check (another front-end timed out) that still returns TEN[0].
    const drifts = checks(approved([...TEN, '52.50.0.4/31']), [
      observation('ok', without),
      observation('partial', [TEN[0]!, '52.50.0.4']),
      observation('ok', without),
      observation('ok', without),
    ]);
    expect(drifts[0]!.nextRecord.misses).toEqual({ [TEN[0]!]: 1, '52.50.0.4/31': 1 });
    // 52.50.0.4/31 was only half observed: its counter neither counts nor resets.
    expect(drifts[1]!.nextRecord.misses).toEqual({ '52.50.0.4/31': 1 });
    expect(drifts.map((d) => d.report.pendingRemoval.find((p) => p.cidr === TEN[0])?.misses ?? 0)).toEqual([1, 0, 1, 2]);
    // Two misses since it was last seen is not three in a row.
    expect(drifts[3]!.report.removed).toEqual(cidrs('52.50.0.4/31'));
    expect(sameAddresses(drifts[3]!.proposed, cidrs(...TEN))).toBe(true);
    // A failed check is not trusted even for what it returned: every counter stays.
    const failed = computeDrift({
      target,
      observation: observation('error', [TEN[0]!]),
      record: drifts[0]!.nextRecord,
      policy,
      now: '2025-11-07T20:00:00.000Z',
    });
    expect(failed.nextRecord.misses).toEqual(drifts[0]!.nextRecord.misses);
  });

  it('breaks the miss streak of an entry a held check did observe, keeping the others', () => {
    const record = { ...approved(TEN), misses: { [TEN[0]!]: 2, [TEN[1]!]: 2 } };
    const drift = computeDrift({
      target,
      observation: observation('ok', [...TEN.slice(0, 1), ...TEN.slice(2), '192.168.1.1']),
      record,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('held');
    expect(drift.nextRecord.misses).toEqual({ [TEN[1]!]: 2 });
    expect(drift.report.pendingRemoval).toEqual([{ cidr: parseCidr(TEN[1]!), misses: 2 }]);
  });

  it('proposes only the baseline on a failed check, and what was seen on a partial one', () => {
    const [failed, partial] = checks(approved(TEN), [
      observation('error', []),
      observation('partial', ['52.99.0.1'], { errors: [{ code: 'dns-servfail', message: 'prodfe2: SERVFAIL' }] }),
    ]) as [TargetDrift, TargetDrift];
    expect(failed.report.status).toBe('error');
    expect(failed.report.errors.map((e) => e.code)).toEqual(['dns-timeout']);
    expect(failed.report.verdicts).toEqual([]);
    expect(failed.changed).toBe(false);
    expect(sameAddresses(failed.proposed, cidrs(...TEN))).toBe(true);

    expect(partial.report.status).toBe('partial');
    expect(partial.report.errors).toEqual([{ code: 'dns-servfail', message: 'prodfe2: SERVFAIL' }]);
    // Without unknown scopes nothing missing from a partial check can be judged.
    expect(partial.unjudged).toEqual(cidrs(...TEN));
    expect(partial.report.added).toEqual(cidrs('52.99.0.1'));
    expect(partial.changed).toBe(true);
    expect(sameAddresses(partial.proposed, cidrs(...TEN, '52.99.0.1'))).toBe(true);
  });

  it('drops the counter of an entry that reappears', () => {
    const without = TEN.slice(1);
    const drifts = checks(approved(TEN), [
      observation('ok', without),
      observation('ok', without),
      observation('ok', TEN),
      observation('ok', without),
    ]);
    expect(drifts.map((d) => d.report.pendingRemoval[0]?.misses ?? 0)).toEqual([1, 2, 0, 1]);
    expect(drifts[2]!.nextRecord.misses).toEqual({});
  });

  it('keeps counters when the missing ranges are reshaped between checks', () => {
    const baseline = [...TEN, '52.50.0.4/31'];
    const drifts = checks(approved(baseline), [
      observation('ok', [...TEN, '52.50.0.5']), // 52.50.0.4 missing
      observation('ok', [...TEN, '52.50.0.5']),
      observation('ok', TEN), // now the whole /31 is missing: its .4 half has missed three times
      observation('ok', [...TEN, '52.50.0.4']), // only .5 missing: it keeps its count of one, plus one
    ]);
    expect(drifts[2]!.report.removed).toEqual(cidrs('52.50.0.4/32'));
    expect(drifts[2]!.report.pendingRemoval).toEqual([{ cidr: parseCidr('52.50.0.5'), misses: 1 }]);
    expect(drifts[3]!.report.pendingRemoval).toEqual([{ cidr: parseCidr('52.50.0.5'), misses: 2 }]);

    // A candidate inside a range counted before inherits that range's count.
    const shrinking = checks(approved(baseline), [
      observation('ok', TEN),
      observation('ok', TEN),
      observation('ok', [...TEN, '52.50.0.5']),
    ]);
    expect(shrinking[1]!.report.pendingRemoval).toEqual([{ cidr: parseCidr('52.50.0.4/31'), misses: 2 }]);
    expect(shrinking[2]!.report.removed).toEqual(cidrs('52.50.0.4/32'));
  });

  it('treats a /23 and its two /24s (and a covered prefix) as no change', () => {
    const record = approved(['13.107.228.0/23']);
    const drift = computeDrift({
      target,
      observation: observation('ok', ['13.107.228.0/24', '13.107.229.0/24', '13.107.229.9/32']),
      record,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.changed).toBe(false);
    expect(drift.report.added).toEqual([]);
    expect(drift.report.removed).toEqual([]);
    expect(drift.report.pendingRemoval).toEqual([]);
    expect(drift.proposed).toEqual(cidrs('13.107.228.0/23'));

    const reverse = computeDrift({
      target,
      observation: observation('ok', ['13.107.228.0/23']),
      record: approved(['13.107.228.0/24', '13.107.229.0/24']),
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(reverse.changed).toBe(false);
    expect(reverse.report.pendingRemoval).toEqual([]);
  });

  it('holds a target a guard stops: baseline kept, misses not counted, nothing added', () => {
    const record = { ...approved(TEN), misses: { [TEN[0]!]: 2 } };
    const drift = computeDrift({
      target,
      observation: observation('ok', [...TEN.slice(1), '192.168.1.1']),
      record,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('held');
    expect(drift.report.verdicts.find((v) => v.guard === 'special-range')).toMatchObject({ outcome: 'hold' });
    expect(drift.report.verdicts.find((v) => v.guard === 'special-range')!.message).toContain('192.168.1.1/32 (private)');
    expect(drift.proposed).toEqual(cidrs(...TEN));
    expect(drift.changed).toBe(false);
    expect(drift.report.added).toEqual([]);
    expect(drift.report.removed).toEqual([]);
    // A third miss would have removed it; a held check does not count.
    expect(drift.nextRecord.misses).toEqual({ [TEN[0]!]: 2 });
    expect(drift.report.pendingRemoval).toEqual([{ cidr: parseCidr(TEN[0]!), misses: 2 }]);
    expect(drift.nextRecord.lastStatus).toBe('held');
  });

  it('holds a mass disappearance instead of counting it towards removal', () => {
    const drifts = checks(approved(TEN), [
      observation('ok', TEN.slice(5)),
      observation('ok', TEN.slice(5)),
      observation('ok', TEN.slice(5)),
    ]);
    for (const drift of drifts) {
      expect(drift.report.status).toBe('held');
      expect(drift.report.verdicts.find((v) => v.guard === 'mass-removal')!.message).toContain('5 IPv4 ranges (50% of the baseline');
      expect(drift.nextRecord.misses).toEqual({});
      expect(drift.proposed).toEqual(cidrs(...TEN));
    }
  });

  it('holds a never-approved target with an empty proposal', () => {
    const drift = computeDrift({
      target,
      observation: observation('ok', ['52.1.1.1', '0.0.0.0/0']),
      record: undefined,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('held');
    expect(drift.proposed).toEqual([]);
    expect(drift.changed).toBe(false);
  });

  it('holds an empty complete observation instead of removing everything', () => {
    const drifts = checks(approved(TEN), [observation('ok', []), observation('ok', []), observation('ok', []), observation('ok', [])]);
    for (const drift of drifts) {
      expect(drift.report.status).toBe('held');
      expect(sameAddresses(drift.proposed, cidrs(...TEN))).toBe(true);
      expect(drift.nextRecord.misses).toEqual({});
    }
  });

  it('lets configured private VPN ranges through the special-range and prefix-length guards', () => {
    const drift = computeDrift({
      target,
      observation: observation('ok', ['52.1.1.1', '10.20.0.0/16']),
      record: undefined,
      policy: { ...policy, minPrefixLength: { ipv4: 24, ipv6: 48 } },
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('ok');
    expect(drift.proposed).toEqual(cidrs('10.20.0.0/16', '52.1.1.1'));
  });

  it('builds the next record: observation, last good, misses, first-seen, status and problems', () => {
    const record: TargetRecord = {
      ...approved(['52.1.1.1', '52.2.2.2']),
      firstSeen: {
        '52.1.1.1/32': '2025-10-01T00:00:00.000Z',
        '52.2.2.2/32': '2025-10-01T00:00:00.000Z',
        '52.3.3.3/32': '2025-10-02T00:00:00.000Z',
      },
    };
    const warning = { code: 'new-front-end', message: 'LifeTime reports 3 front-ends' };
    const ok = computeDrift({
      target,
      observation: observation('ok', ['52.1.1.1', '52.4.4.4'], { warnings: [warning] }),
      record,
      policy,
      now: '2025-11-07T12:00:00.000Z',
    });
    const next = ok.nextRecord;
    expect(next.targetId).toBe(target.id);
    expect(next.baseline).toEqual(record.baseline);
    expect(next.baselineAt).toBe(record.baselineAt);
    expect(next.etag).toBe(record.etag);
    expect(next.observation?.entries.map((e) => e.cidr)).toEqual(cidrs('52.1.1.1', '52.4.4.4'));
    expect(next.lastGood).toEqual(next.observation);
    expect(next.lastCheckAt).toBe('2025-11-07T12:00:00.000Z');
    expect(next.lastStatus).toBe('ok');
    expect(next.lastWarnings).toEqual([warning]);
    expect(next.lastErrors).toEqual([]);
    expect(next.verdicts).toEqual(ok.report.verdicts);
    expect(next.misses).toEqual({ '52.2.2.2/32': 1 });
    expect(next.proposed).toEqual(ok.proposed);
    // Observed or approved entries keep their time, new ones start now, and the rest is forgotten.
    expect(next.firstSeen).toEqual({
      '52.1.1.1/32': '2025-10-01T00:00:00.000Z',
      '52.2.2.2/32': '2025-10-01T00:00:00.000Z',
      '52.4.4.4/32': '2025-11-07T12:00:00.000Z',
    });
    expect(ok.firstSeen).toEqual(next.firstSeen);
    expect(addedRows(ok)).toEqual([{ cidr: parseCidr('52.4.4.4'), evidence: [dns()], firstSeen: '2025-11-07T12:00:00.000Z' }]);

    const failed = computeDrift({ target, observation: observation('error', []), record: next, policy, now: '2025-11-07T13:00:00.000Z' });
    expect(failed.nextRecord.observation?.status).toBe('error');
    expect(failed.nextRecord.lastGood).toEqual(next.lastGood);
    expect(failed.nextRecord.lastErrors.map((e) => e.code)).toEqual(['dns-timeout']);
    expect(failed.nextRecord.lastStatus).toBe('error');
    expect(failed.nextRecord.firstSeen).toEqual(next.firstSeen);
    expect(failed.nextRecord.misses).toEqual(next.misses);
  });

  it('explains an added range with the evidence of every observed entry behind it', () => {
    const observed: Observation = {
      ...observation('ok', []),
      entries: [
        { cidr: parseCidr('52.1.1.0'), evidence: [dns('prodfe1.outsystemsenterprise.com')] },
        { cidr: parseCidr('52.1.1.1'), evidence: [dns('prodfe2.outsystemsenterprise.com'), dns('prodfe2.outsystemsenterprise.com')] },
        { cidr: parseCidr('13.107.228.0/23'), evidence: [{ kind: 'static' }] },
      ],
    };
    const drift = computeDrift({
      target,
      observation: observed,
      record: approved(['13.107.228.0/24']),
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.evidence['52.1.1.1/32']).toEqual([dns('prodfe2.outsystemsenterprise.com')]);
    expect(addedRows(drift)).toEqual([
      { cidr: parseCidr('13.107.229.0/24'), evidence: [{ kind: 'static' }], firstSeen: '2025-11-07T10:00:00.000Z' },
      {
        cidr: parseCidr('52.1.1.0/31'),
        evidence: [dns('prodfe1.outsystemsenterprise.com'), dns('prodfe2.outsystemsenterprise.com')],
        firstSeen: '2025-11-07T10:00:00.000Z',
      },
    ]);
  });

  it('rejects an observation of another target', () => {
    expect(() =>
      computeDrift({
        target,
        observation: { ...observation('ok', TEN), targetId: 'cas-us1' },
        record: undefined,
        policy,
        now: '2025-11-07T10:00:00.000Z',
      }),
    ).toThrow(expect.objectContaining({ code: 'observation-mismatch' }));
  });
});

describe('pendingRemovals', () => {
  it('lists the counters below the removal threshold in address order, skipping what is not a CIDR', () => {
    const misses = { '52.9.0.1/32': 1, '2a05:d018::1/128': 2, '52.1.0.0/31': 2, '52.5.0.1/32': 3, 'not-a-cidr': 1 };
    expect(pendingRemovals(misses, 3)).toEqual([
      { cidr: parseCidr('52.1.0.0/31'), misses: 2 },
      { cidr: parseCidr('52.9.0.1'), misses: 1 },
      { cidr: parseCidr('2a05:d018::1'), misses: 2 },
    ]);
    expect(pendingRemovals({}, 3)).toEqual([]);
  });
});

/**
 * Issue 11: a partial check that names what it could not read (unknownScopes) blinds only that: a baseline address
 * missing from it is a miss unless its last known evidence lies in an unknown scope, or nothing is known of it.
 */
describe('partial checks with unknown scopes', () => {
  const casConfig = parseConfig({
    name: 'drift-test',
    targets: [{ id: 'cas', type: 'cas-docs', url: 'https://example.com/network-requirements.md', sections: '*', dataCenters: '*' }],
  });
  const cas: Target = casConfig.targets[0]!;
  const at = (section: 'portal' | 'app-connector', dataCenter: string): EntryEvidence => ({
    kind: 'cas',
    section,
    dataCenter,
    heading: section,
    revision: '2025-03-03',
  });
  const A = '52.20.1.1/32'; // app-connector, US1
  const B = '52.20.1.3/32'; // app-connector, US1
  const C = '52.20.2.1/32'; // app-connector, EU1
  const D = '52.20.3.1/32'; // portal, US1
  const E = '52.20.4.1/32'; // app-connector US1 and portal EU1: one of its evidence lies in the scope
  const F = '52.20.5.1/32'; // approved, but absent from the last good observation: nothing is known of it
  const G = '52.20.6.1/32'; // new, app-connector EU1
  const evidenceOf: Record<string, EntryEvidence[]> = {
    [A]: [at('app-connector', 'US1')],
    [B]: [at('app-connector', 'US1')],
    [C]: [at('app-connector', 'EU1')],
    [D]: [at('portal', 'US1')],
    [E]: [at('app-connector', 'US1'), at('portal', 'EU1')],
    [G]: [at('app-connector', 'EU1')],
  };
  const US1_CONNECTOR: UnknownScope = { kind: 'cas', section: 'app-connector', dataCenter: 'US1' };

  function casObservation(status: ObservationStatus, texts: readonly string[], unknownScopes?: UnknownScope[]): Observation {
    return {
      targetId: 'cas',
      type: 'cas-docs',
      observedAt: '2025-11-07T10:00:00.000Z',
      status,
      entries: texts.map((text) => ({ cidr: parseCidr(text), evidence: evidenceOf[text] ?? [] })),
      warnings: status === 'ok' ? [] : [{ code: 'cas-unreadable-address', message: 'line 25 …' }],
      errors: [],
      ...(unknownScopes ? { unknownScopes } : {}),
    };
  }

  /** Approved A-F; the last good check saw A-E (with their evidence). */
  function record(extra: Partial<TargetRecord> = {}): TargetRecord {
    const lastGood = computeDrift({
      target: cas,
      observation: casObservation('ok', [A, B, C, D, E]),
      record: undefined,
      policy,
      now: '2025-11-06T10:00:00.000Z',
    }).nextRecord.lastGood!;
    return {
      targetId: 'cas',
      baseline: cidrs(A, B, C, D, E, F),
      misses: {},
      firstSeen: {},
      lastErrors: [],
      lastWarnings: [],
      verdicts: [],
      lastGood,
      ...extra,
    };
  }

  function casChecks(start: TargetRecord, observations: readonly Observation[]): TargetDrift[] {
    let current = start;
    return observations.map((observed, index) => {
      const drift = computeDrift({ target: cas, observation: observed, record: current, policy, now: `2025-11-07T1${index}:00:00.000Z` });
      current = drift.nextRecord;
      return drift;
    });
  }

  it('counts a miss outside the unknown scope and none inside it (or where nothing is known)', () => {
    const partial = casObservation('partial', [D, G], [US1_CONNECTOR]);
    const drifts = casChecks(record(), [partial, partial, partial]);
    expect(drifts.map((d) => d.report.status)).toEqual(['partial', 'partial', 'partial']);
    expect(drifts.map((d) => d.report.pendingRemoval)).toEqual([[{ cidr: C, misses: 1 }], [{ cidr: C, misses: 2 }], []]);
    expect(drifts.map((d) => d.report.removed)).toEqual([[], [], [C]]);
    for (const drift of drifts) {
      expect(drift.report.added).toEqual([G]);
      expect(drift.unjudged).toEqual(cidrs(A, B, E, F));
    }
    // A, B, E and F stay in the proposal; C goes after three checks that could see where it stood.
    expect(sameAddresses(drifts[2]!.proposed, cidrs(A, B, D, E, F, G))).toBe(true);
    expect(drifts[2]!.changed).toBe(true);
    // The last good observation now lacks them, so the record keeps where the missing ones stood when last seen.
    expect(drifts[0]!.nextRecord.missingEvidence).toEqual(
      [A, B, C, E].map((cidr) => ({ cidr, evidence: evidenceOf[cidr], seenAt: '2025-11-07T10:00:00.000Z' })),
    );
    expect(drifts[2]!.nextRecord.missingEvidence).toEqual(drifts[0]!.nextRecord.missingEvidence);
  });

  it('judges by the last known evidence even when a complete check in between missed the address', () => {
    const drifts = casChecks(record(), [
      casObservation('ok', [A, B, D, E]),
      casObservation('partial', [A, B, D, E], [US1_CONNECTOR]),
      casObservation('ok', [A, B, D, E]),
    ]);
    expect(drifts.map((d) => d.report.pendingRemoval)).toEqual([
      [
        { cidr: C, misses: 1 },
        { cidr: F, misses: 1 },
      ],
      [
        { cidr: C, misses: 2 },
        { cidr: F, misses: 1 },
      ],
      [{ cidr: F, misses: 2 }],
    ]);
    expect(drifts[2]!.report.removed).toEqual([C]);
    // Seen again: nothing left to remember.
    const back = computeDrift({
      target: cas,
      observation: casObservation('ok', [A, B, C, D, E, F]),
      record: drifts[2]!.nextRecord,
      policy,
      now: '2025-11-08T10:00:00.000Z',
    });
    expect(back.nextRecord.missingEvidence).toBeUndefined();
  });

  it('keeps the counters of what it could not see as they were, neither counting nor resetting them', () => {
    const drift = computeDrift({
      target: cas,
      observation: casObservation('partial', [D, G], [US1_CONNECTOR]),
      record: record({ misses: { [A]: 2, [D]: 1 } }),
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.nextRecord.misses).toEqual({ [A]: 2, [C]: 1 });
  });

  it('keeps what the previous proposal said about the parts it cannot judge', () => {
    // An earlier complete check series confirmed A's removal; the open PR proposes the baseline without A.
    const before = record({ proposed: cidrs(B, C, D, E, F), misses: { [A]: 3 } });
    const drift = computeDrift({
      target: cas,
      observation: casObservation('partial', [C, D, G], [US1_CONNECTOR]),
      record: before,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(sameAddresses(drift.proposed, cidrs(B, C, D, E, F, G))).toBe(true);
    expect(drift.nextRecord.misses).toEqual({ [A]: 3 });
  });

  it('keeps a pending addition that last stood in the unknown scope, and drops one the check could judge', () => {
    const H = '52.20.7.1/32'; // new on the last complete check, app-connector US1
    const J = '52.20.8.1/32'; // new on the last complete check, portal US1
    evidenceOf[H] = [at('app-connector', 'US1')];
    evidenceOf[J] = [at('portal', 'US1')];
    const lastGood = computeDrift({
      target: cas,
      observation: casObservation('ok', [A, B, C, D, E, H, J]),
      record: undefined,
      policy,
      now: '2025-11-06T10:00:00.000Z',
    }).nextRecord.lastGood!;
    const partial = casObservation('partial', [C, D], [US1_CONNECTOR]);
    const drifts = casChecks(record({ lastGood, proposed: cidrs(A, B, C, D, E, F, H, J) }), [partial, partial]);
    for (const drift of drifts) {
      expect(drift.unjudged).toEqual(cidrs(A, B, E, F, H));
      expect(sameAddresses(drift.proposed, cidrs(A, B, C, D, E, F, H))).toBe(true);
    }
    // The second check knows where H stood only from what the first one carried.
    expect(drifts[0]!.nextRecord.missingEvidence).toContainEqual(expect.objectContaining({ cidr: H, evidence: evidenceOf[H] }));
    expect(drifts[1]!.nextRecord.missingEvidence?.map((entry) => entry.cidr)).toEqual([A, B, E, H]);
  });

  it('still applies the guards to what it could judge', () => {
    const many = Array.from({ length: 8 }, (_, index) => `52.30.${index}.1/32`);
    for (const cidr of many) evidenceOf[cidr] = [at('portal', 'EU1')];
    const lastGood = computeDrift({
      target: cas,
      observation: casObservation('ok', [A, ...many]),
      record: undefined,
      policy,
      now: '2025-11-06T10:00:00.000Z',
    }).nextRecord.lastGood!;
    const start: TargetRecord = {
      targetId: 'cas',
      baseline: cidrs(A, ...many),
      misses: {},
      firstSeen: {},
      lastErrors: [],
      lastWarnings: [],
      verdicts: [],
      lastGood,
    };
    const drift = computeDrift({
      target: cas,
      observation: casObservation('partial', [many[0]!], [US1_CONNECTOR]),
      record: start,
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('held');
    expect(drift.report.verdicts.find((v) => v.outcome === 'hold')?.guard).toBe('mass-removal');
    expect(drift.report.verdicts.find((v) => v.outcome === 'hold')?.message).not.toContain('52.20.1.1');
  });

  it('without unknown scopes a partial check still counts nothing', () => {
    const drift = computeDrift({
      target: cas,
      observation: casObservation('partial', [D, G]),
      record: record(),
      policy,
      now: '2025-11-07T10:00:00.000Z',
    });
    expect(drift.report.status).toBe('partial');
    expect(drift.report.pendingRemoval).toEqual([]);
    expect(drift.unjudged).toEqual(cidrs(A, B, C, E, F));
  });

  it('entriesInUnknownScopes: the baseline parts whose absence proves nothing', () => {
    const known = record();
    expect(entriesInUnknownScopes(known, casObservation('ok', [D]))).toEqual([]);
    expect(entriesInUnknownScopes(known, casObservation('error', []))).toEqual(cidrs(A, B, C, D, E, F));
    expect(entriesInUnknownScopes(known, casObservation('partial', [D]))).toEqual(cidrs(A, B, C, E, F));
    expect(entriesInUnknownScopes(known, casObservation('partial', [D], [US1_CONNECTOR]))).toEqual(cidrs(A, B, E, F));
    expect(entriesInUnknownScopes(known, casObservation('partial', [D], [{ kind: 'cas', dataCenter: 'EU1' }]))).toEqual(cidrs(C, E, F));
    expect(entriesInUnknownScopes(known, casObservation('partial', [D], []))).toEqual(cidrs(F));
    // Nothing approved: nothing to keep.
    expect(entriesInUnknownScopes(undefined, casObservation('partial', [D], [US1_CONNECTOR]))).toEqual([]);
    // A baseline range partly observed: only the rest is in question.
    const ranged: TargetRecord = { ...known, baseline: cidrs('52.20.1.0/30') };
    expect(entriesInUnknownScopes(ranged, casObservation('partial', ['52.20.1.1'], [US1_CONNECTOR]))).toEqual(
      cidrs('52.20.1.0/32', '52.20.1.2/31'),
    );
  });

  it('evidenceInScope: every field of the scope must match', () => {
    const mail: EntryEvidence = { kind: 'cas', section: 'mail', dataCenter: 'global', heading: 'Mail server' };
    expect(evidenceInScope(mail, { kind: 'cas', section: 'mail' })).toBe(true);
    expect(evidenceInScope(mail, { kind: 'cas', section: 'mail', dataCenter: 'US1' })).toBe(false);
    expect(evidenceInScope(mail, { kind: 'cas', dataCenter: 'global' })).toBe(true);
    expect(evidenceInScope(mail, { kind: 'dns' })).toBe(false);
    expect(evidenceInScope(dns(), { kind: 'dns', hostname: 'prodfe1.outsystemsenterprise.com' })).toBe(true);
  });
});
