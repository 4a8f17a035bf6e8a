import { describe, expect, it } from 'vitest';
import { parseConfig } from '../shared/config.js';
import { emptyRecord } from '../shared/engine/proposal.js';
import { standingFailures } from '../shared/queue/poisoned.js';
import type { QueueFailure } from '../shared/state/queue-failures.js';
import type { Snapshot, TargetRecord } from '../shared/state/records.js';

/** Which poisoned-message records status and doctor still name, judged from the state a run writes (pure). */

const config = parseConfig({
  name: 'dmz',
  targets: [
    { id: 'partners', type: 'static', entries: ['20.60.1.5'] },
    { id: 'vendors', type: 'static', entries: ['20.60.1.6'] },
    { id: 'acme-prod', type: 'outsystems', frontEnds: ['fe1.acme.test'] },
  ],
});
const casOnly = parseConfig({ name: 'dmz', targets: [{ id: 'partners', type: 'static', entries: ['20.60.1.5'] }] });

const AT = '2026-12-07T21:10:00.000Z';
const BEFORE = '2026-12-07T21:09:59.999Z';
const AFTER = '2026-12-07T21:10:00.001Z';

function failure(kind: string, at = AT): QueueFailure {
  return { config: 'dmz', kind, tick: '2026-12-07T21:00:00.000Z', code: 'state-corrupt', message: 'x', at };
}

function snapshot(checked: Record<string, string | undefined>, lastRunAt?: string): Snapshot {
  const targets = new Map<string, TargetRecord>(
    Object.entries(checked).map(([targetId, lastCheckAt]) => [
      targetId,
      { ...emptyRecord(targetId), ...(lastCheckAt ? { lastCheckAt } : {}) },
    ]),
  );
  return { config: { configName: 'dmz', declined: [], ...(lastRunAt ? { lastRunAt } : {}) }, targets };
}

const standing = (failures: QueueFailure[], state: Snapshot, which = config) =>
  standingFailures({ failures, config: which, snapshot: state }).map((f) => f.kind);

describe('standingFailures', () => {
  it('names a record until every target of its kind was checked after it', () => {
    const cas = [failure('CAS_SCHEDULE')];
    expect(standing(cas, snapshot({}))).toEqual(['CAS_SCHEDULE']);
    expect(standing(cas, snapshot({ partners: BEFORE, vendors: BEFORE }, AFTER))).toEqual(['CAS_SCHEDULE']);
    // One target checked since (`check --target partners`) is not a run of the kind.
    expect(standing(cas, snapshot({ partners: AFTER, vendors: BEFORE }, AFTER))).toEqual(['CAS_SCHEDULE']);
    // A check in the same millisecond is not after it.
    expect(standing(cas, snapshot({ partners: AT, vendors: AFTER }, AFTER))).toEqual(['CAS_SCHEDULE']);
    expect(standing(cas, snapshot({ partners: AFTER, vendors: AFTER }, AFTER))).toEqual([]);
  });

  it('a run of the other kind leaves it, however late', () => {
    const state = snapshot({ partners: BEFORE, vendors: BEFORE, 'acme-prod': AFTER }, AFTER);
    expect(standing([failure('CAS_SCHEDULE'), failure('OUTSYSTEMS_SCHEDULE')], state)).toEqual(['CAS_SCHEDULE']);
  });

  it('a kind the config has no target of is outdated by any run completed since', () => {
    const os = [failure('OUTSYSTEMS_SCHEDULE')];
    expect(standing(os, snapshot({ partners: AFTER }), casOnly)).toEqual(['OUTSYSTEMS_SCHEDULE']);
    expect(standing(os, snapshot({ partners: AFTER }, BEFORE), casOnly)).toEqual(['OUTSYSTEMS_SCHEDULE']);
    expect(standing(os, snapshot({ partners: BEFORE }, AFTER), casOnly)).toEqual([]);
  });

  it('a record whose time or kind this release cannot read stands', () => {
    const state = snapshot({ partners: AFTER, vendors: AFTER, 'acme-prod': AFTER }, AFTER);
    expect(standing([failure('CAS_SCHEDULE', 'yesterday'), failure('LATER_SCHEDULE')], state)).toEqual(['CAS_SCHEDULE', 'LATER_SCHEDULE']);
  });
});
