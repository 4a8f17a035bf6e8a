import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignSplit, type SplitAssignment, type SplitFile } from '../../shared/capacity/split.js';
import { aggregate, familyOf, sameAddresses, type Cidr } from '../../shared/ipset.js';

/**
 * Entries that never merge with each other (every other /24, every other /48), so that "one entry" is one line of
 * one file; the limit is small so that the sets spread over many files.
 */
const entryAt = (index: number): Cidr =>
  (index % 2 === 0 ? `10.${(index >> 8) & 255}.${index & 255}.0/24` : `2001:db8:${(index * 2).toString(16)}::/48`) as Cidr;
const entries = fc
  .uniqueArray(
    fc.integer({ min: 0, max: 4000 }).map((i) => i * 2 + (i % 2)),
    { maxLength: 60 },
  )
  .map((list) => list.map(entryAt));
const limits = fc.record({ maxEntries: fc.integer({ min: 1, max: 7 }), perFamily: fc.boolean() });

function asFiles(assignment: SplitAssignment): SplitFile[] {
  return [...assignment].filter(([, cidrs]) => cidrs.length > 0).map(([n, cidrs]) => ({ n, entries: cidrs }));
}

function withinLimit(cidrs: readonly Cidr[], limit: { maxEntries: number; perFamily: boolean }): boolean {
  if (!limit.perFamily) return cidrs.length <= limit.maxEntries;
  return [4, 6].every((family) => cidrs.filter((c) => familyOf(c) === family).length <= limit.maxEntries);
}

/** The files whose entries differ between two assignments (a file that appears, empties or changes). */
function changedFiles(before: SplitAssignment, after: SplitAssignment): number[] {
  const numbers = new Set([...before.keys(), ...after.keys()]);
  return [...numbers].filter((n) => (before.get(n) ?? []).join() !== (after.get(n) ?? []).join());
}

describe('assignSplit', () => {
  it('holds every wanted address once, each file within the limit, and nothing else', () => {
    fc.assert(
      fc.property(entries, entries, limits, (first, second, limit) => {
        const files = asFiles(assignSplit({ files: [], want: first, limit }));
        const next = assignSplit({ files, want: second, limit });
        const all = [...next.values()].flat();
        expect(sameAddresses(all, second)).toBe(true);
        // No entry in two files, and none split or merged: the wanted entries exactly.
        expect(all.length).toBe(aggregate(second).length);
        for (const cidrs of next.values()) expect(withinLimit(cidrs, limit)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('puts one added entry into exactly one file, and leaves every other file as it was', () => {
    fc.assert(
      fc.property(entries, limits, fc.integer({ min: 0, max: 1000 }), (list, limit, index) => {
        // Beyond every index the list draws from, so it is new.
        const added = entryAt(16_004 + index);
        const before = assignSplit({ files: [], want: list, limit });
        const after = assignSplit({ files: asFiles(before), want: [...list, added], limit });
        const changed = changedFiles(before, after);
        expect(changed).toHaveLength(1);
        expect(after.get(changed[0]!)).toContain(added);
      }),
      { numRuns: 300 },
    );
  });

  it('takes one removed entry out of exactly one file; a file that empties holds nothing, and no other is renumbered', () => {
    fc.assert(
      fc.property(
        entries.filter((list) => list.length > 0),
        limits,
        fc.nat(),
        (list, limit, pick) => {
          const removed = list[pick % list.length]!;
          const before = assignSplit({ files: [], want: list, limit });
          const after = assignSplit({ files: asFiles(before), want: list.filter((c) => c !== removed), limit });
          const changed = changedFiles(before, after);
          expect(changed).toHaveLength(1);
          expect(before.get(changed[0]!)).toContain(removed);
          expect([...after.keys()]).toEqual([...before.keys()]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('moves the last entries of a file over a lowered limit to files with room, and no others', () => {
    fc.assert(
      fc.property(entries, fc.integer({ min: 2, max: 7 }), fc.boolean(), (list, size, perFamily) => {
        const before = assignSplit({ files: [], want: list, limit: { maxEntries: size, perFamily } });
        const lower = { maxEntries: size - 1, perFamily };
        const after = assignSplit({ files: asFiles(before), want: list, limit: lower });
        expect(sameAddresses([...after.values()].flat(), list)).toBe(true);
        for (const cidrs of after.values()) expect(withinLimit(cidrs, lower)).toBe(true);
        // A file keeps what it held, up to the new limit.
        for (const [n, cidrs] of before) expect(cidrs.slice(0, 1).every((c) => after.get(n)!.includes(c))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('numbers new files from 1, filling a gap first and skipping numbers reserved for files it may not write', () => {
    const limit = { maxEntries: 1, perFamily: false };
    const want = [entryAt(0), entryAt(2), entryAt(4)];
    expect([...assignSplit({ files: [], want, limit }).keys()]).toEqual([1, 2, 3]);
    const gap = assignSplit({
      files: [
        { n: 1, entries: [want[0]!] },
        { n: 3, entries: [want[2]!] },
      ],
      reserved: [2, 4],
      want,
      limit,
    });
    expect(Object.fromEntries(gap)).toEqual({ 1: [want[0]], 3: [want[2]], 5: [want[1]] });
  });

  it('counts entries it does not manage against a file, and never moves them', () => {
    const limit = { maxEntries: 2, perFamily: false };
    const assignment = assignSplit({
      files: [{ n: 1, entries: [entryAt(0)], fixed: [entryAt(100)] }],
      want: [entryAt(0), entryAt(2)],
      limit,
    });
    expect(Object.fromEntries(assignment)).toEqual({ 1: [entryAt(0)], 2: [entryAt(2)] });
  });

  it("keeps what a removal leaves of a wider entry in that entry's file", () => {
    const limit = { maxEntries: 4, perFamily: false };
    const assignment = assignSplit({
      files: [
        { n: 1, entries: ['10.0.0.0/24' as Cidr] },
        { n: 2, entries: ['10.9.0.0/24' as Cidr] },
      ],
      want: ['10.0.0.0/25' as Cidr, '10.9.0.0/24' as Cidr],
      limit,
    });
    expect(Object.fromEntries(assignment)).toEqual({ 1: ['10.0.0.0/25'], 2: ['10.9.0.0/24'] });
  });

  it('keeps an entry a person copied into two files, or nested in a wider one, once', () => {
    const limit = { maxEntries: 4, perFamily: false };
    const assignment = assignSplit({
      files: [
        { n: 1, entries: ['10.0.0.0/25' as Cidr, '10.1.0.0/24' as Cidr] },
        { n: 2, entries: ['10.0.0.0/24' as Cidr, '10.1.0.0/24' as Cidr] },
      ],
      want: ['10.0.0.0/24' as Cidr, '10.1.0.0/24' as Cidr],
      limit,
    });
    expect(Object.fromEntries(assignment)).toEqual({ 1: ['10.1.0.0/24'], 2: ['10.0.0.0/24'] });
  });
});
