import { describe, expect, it } from 'vitest';
import { StateCorruptError } from '../../shared/state/errors.js';
import { EMPTY_VIEW, planWrite, staleSubjects, viewOfRows, wireBytes, type TargetRowToWrite } from '../../shared/state/partition.js';

const small = (targetId: string): TargetRowToWrite => ({ targetId, columns: {}, bytes: wireBytes(600) });
const many = (count: number) => Array.from({ length: count }, (_, index) => small(`t-${index}`));
const row = (rowKey: string, etag: string, columns: Record<string, unknown> = {}) => ({ rowKey, etag, columns });

describe('partition view', () => {
  it('reads the first release layout as generation 0, with the config row ETag standing in for its version', () => {
    const view = viewOfRows([row('config', 'E0'), row('lease', 'L'), row('target~a', 'A'), row('target~b', 'B')]);
    expect(view).toMatchObject({
      version: 'E0',
      configVersion: 'E0',
      configVersionStored: false,
      generation: 0,
      uncommitted: [],
      superseded: [],
    });
    expect([...view.live.keys()]).toEqual(['a', 'b']);
  });

  it('takes the highest committed generation of each target and sets aside superseded and uncommitted rows', () => {
    const view = viewOfRows([
      row('config', 'E', { generation: 3, configVersion: 'c1', writeId: 'w' }),
      row('target~a', 'A0'),
      row('target-g2~a', 'A2'),
      row('target-g3~b', 'B3'),
      row('target-g4~a', 'A4'),
      row('target-g4~c', 'C4'),
      row('target~d~g7', 'D'),
    ]);
    expect(view.live.get('a')).toEqual({ rowKey: 'target-g2~a', generation: 2, etag: 'A2' });
    expect(view.live.get('b')?.rowKey).toBe('target-g3~b');
    expect(view.live.has('c')).toBe(false);
    // An id may hold "~": "target~d~g7" is the generation-0 row of target "d~g7".
    expect(view.live.get('d~g7')?.rowKey).toBe('target~d~g7');
    expect(view.superseded).toEqual(['target~a']);
    expect([...view.uncommitted].sort()).toEqual(['target-g4~a', 'target-g4~c']);
    expect(view).toMatchObject({ generation: 3, highestGeneration: 4, configVersion: 'c1', writeId: 'w' });
  });

  it('reports rows it never writes and a broken generation as state-corrupt', () => {
    expect(() => viewOfRows([row('surprise', 'X')])).toThrow(StateCorruptError);
    expect(() => viewOfRows([row('target-g0~a', 'X')])).toThrow(StateCorruptError);
    expect(() => viewOfRows([row('config', 'E', { generation: -1 })])).toThrow(/generation/);
    expect(() => viewOfRows([row('config', 'E', { generation: 'two' })])).toThrow(/generation/);
  });

  it('names the records whose stored version is not the one read', () => {
    const view = viewOfRows([row('config', 'E', { configVersion: 'c1' }), row('target~a', 'A'), row('target~b', 'B')]);
    const subject = (id: string) => `target "${id}"`;
    expect(
      staleSubjects(view, {
        config: { etag: 'c1', subject: 'config' },
        targets: [
          { targetId: 'a', etag: 'A', subject: subject('a') },
          { targetId: 'b', etag: 'old', subject: subject('b') },
          { targetId: 'c', etag: undefined, subject: subject('c') },
          { targetId: 'a2', etag: 'A', subject: subject('a2') },
        ],
      }),
    ).toEqual(['target "b"', 'target "a2"']);
    expect(staleSubjects(view, { config: { etag: undefined, subject: 'config' }, targets: [] })).toEqual(['config']);
    expect(
      staleSubjects(EMPTY_VIEW, {
        config: { etag: undefined, subject: 'config' },
        targets: [{ targetId: 'a', etag: undefined, subject: 'a' }],
      }),
    ).toEqual([]);
  });
});

describe('write plan', () => {
  it('writes a small config in one transaction, in place, without a new generation', () => {
    const view = viewOfRows([row('config', 'E', { generation: 2 }), row('target-g2~a', 'A')]);
    const plan = planWrite(view, { targets: [small('a'), small('b')], finalConfigBytes: wireBytes(400), leased: true });
    expect(plan.generation).toBe(2);
    expect(plan.batches).toHaveLength(1);
    expect(plan.batches[0]!.map((planned) => [planned.action, planned.rowKey])).toEqual([
      ['replace', 'target-g2~a'],
      ['create', 'target~b'],
    ]);
  });

  it('fits 98 targets with the config row and the lease in one transaction, and splits 99', () => {
    expect(planWrite(EMPTY_VIEW, { targets: many(98), finalConfigBytes: 2048, leased: true }).batches).toHaveLength(1);
    expect(planWrite(EMPTY_VIEW, { targets: many(99), finalConfigBytes: 2048, leased: true }).batches).toHaveLength(2);
    expect(planWrite(EMPTY_VIEW, { targets: many(99), finalConfigBytes: 2048, leased: false }).batches).toHaveLength(1);
  });

  it('writes 1,000 targets as a new generation in 10 staging transactions and a committing one of at most 100 actions', () => {
    const plan = planWrite(EMPTY_VIEW, { targets: many(1_000), finalConfigBytes: 2048, leased: true });
    expect(plan.generation).toBe(1);
    expect(plan.batches).toHaveLength(11);
    for (const batch of plan.batches) expect(batch.length).toBeLessThanOrEqual(98);
    const final = plan.batches.at(-1)!;
    expect(final.every((planned) => planned.rowKey.startsWith('target~'))).toBe(true);
    expect(
      plan.batches
        .slice(0, -1)
        .flat()
        .every((planned) => planned.rowKey.startsWith('target-g1~')),
    ).toBe(true);
    expect(plan.batches.flat().filter((planned) => planned.action !== 'delete')).toHaveLength(1_000);
  });

  it('goes above every generation in the table, removes uncommitted rows before the commit, and deletes replaced rows after it', () => {
    const rows = [
      row('config', 'E', { generation: 1 }),
      ...many(200).map((target) => row(`target-g1~${target.targetId}`, 'X')),
      row('target-g5~t-3', 'D'),
    ];
    const plan = planWrite(viewOfRows(rows), { targets: many(200), finalConfigBytes: 2048, leased: true });
    expect(plan.generation).toBe(6);
    expect(plan.batches[0]![0]).toEqual({ action: 'delete', rowKey: 'target-g5~t-3', bytes: 2048 });
    expect(plan.supersededAfterCommit).toHaveLength(102);
    expect(plan.supersededAfterCommit.every((rowKey) => rowKey.startsWith('target-g1~'))).toBe(true);
  });

  it('keeps each transaction under 4 MiB', () => {
    const big = Array.from({ length: 10 }, (_, index) => ({ targetId: `big-${index}`, columns: {}, bytes: wireBytes(900 * 1024) }));
    const plan = planWrite(EMPTY_VIEW, { targets: big, finalConfigBytes: wireBytes(900 * 1024), leased: true });
    for (const [index, batch] of plan.batches.entries()) {
      const config = index === plan.batches.length - 1 ? wireBytes(900 * 1024) : 4096;
      expect(batch.reduce((sum, planned) => sum + planned.bytes, 0) + config + 2048).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
    expect(plan.batches.flat()).toHaveLength(10);
  });
});
