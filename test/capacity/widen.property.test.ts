import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { widenToFit } from '../../shared/capacity/widen.js';
import {
  addressCount,
  aggregate,
  covers,
  difference,
  familyOf,
  intersection,
  parseCidr,
  prefixLengthOf,
  SPECIAL_PURPOSE_PREFIXES,
  type Cidr,
} from '../../shared/ipset.js';

/**
 * The brute-force model: one 4,096-address block per family, where a prefix is an offset and a local length (0 is the
 * whole block, 12 one address). The optimum is found by trying every cover of every published prefix by any of its
 * allowed supernets, so it shares neither the trie nor the "cover at the branching node" insight with widen.ts.
 * The IPv4 block 192.0.0.0/20 holds two special-purpose /24s (192.0.0.0/24 reserved, 192.0.2.0/24 documentation).
 */
const UNIVERSE_BITS = 12;
const universes = {
  special4: {
    family: 4 as const,
    base: 20,
    cidr: (offset: number, local: number) => v4('192.0', offset, local),
    special: [
      [0, 4],
      [512, 4],
    ],
  },
  plain4: { family: 4 as const, base: 20, cidr: (offset: number, local: number) => v4('52.96', offset, local), special: [] },
  plain6: {
    family: 6 as const,
    base: 116,
    cidr: (offset: number, local: number) => parseCidr(`2a01:111::${offset.toString(16)}/${116 + local}`),
    special: [],
  },
};
type UniverseName = keyof typeof universes;

function v4(head: string, offset: number, local: number): Cidr {
  return parseCidr(`${head}.${offset >> 8}.${offset & 255}/${20 + local}`);
}

interface Block {
  readonly universe: UniverseName;
  readonly offset: number;
  readonly local: number;
}

const blockSize = (block: Block) => 1 << (UNIVERSE_BITS - block.local);
const inside = (inner: Block, outer: Block) =>
  inner.universe === outer.universe &&
  inner.local >= outer.local &&
  inner.offset >> (UNIVERSE_BITS - outer.local) === outer.offset >> (UNIVERSE_BITS - outer.local);
const cidrOf = (block: Block) => universes[block.universe].cidr(block.offset, block.local);

interface Case {
  readonly published: readonly Block[];
  readonly maxEntries: number;
  readonly perFamily: boolean;
  /** Local widths: the widest cover is /(base + width). */
  readonly width4?: number;
  readonly width6?: number;
}

/** Every supernet of `block` a cover may be: no wider than allowed, and adding no special-purpose address. */
function options(block: Block, published: readonly Block[], test: Case): Block[] {
  const universe = universes[block.universe];
  const width = universe.family === 4 ? test.width4 : test.width6;
  const found: Block[] = [block];
  if (width === undefined) return found;
  for (let local = block.local - 1; local >= width; local--) {
    const cover = { universe: block.universe, offset: (block.offset >> (UNIVERSE_BITS - local)) << (UNIVERSE_BITS - local), local };
    const addsSpecial = universe.special.some(([offset, local]) => {
      const special = { universe: block.universe, offset: offset!, local: local! };
      if (!inside(special, cover) && !inside(cover, special)) return false;
      for (
        let address = Math.max(special.offset, cover.offset);
        address < Math.min(special.offset + blockSize(special), cover.offset + blockSize(cover));
        address++
      ) {
        if (!published.some((p) => inside({ universe: block.universe, offset: address, local: UNIVERSE_BITS }, p))) return true;
      }
      return false;
    });
    if (!addsSpecial) found.push(cover);
  }
  return found;
}

/** The fewest extra addresses over all covers within the limit, and the fewest entries any cover needs. */
function bruteForce(test: Case): { extra: bigint | undefined; minEntries: number } {
  const published = test.published;
  const choices = published.map((block) => options(block, published, test));
  const total = published.reduce((sum, block) => sum + blockSize(block), 0);
  let bestExtra: number | undefined;
  let fewest = Number.POSITIVE_INFINITY;
  const count = (chosen: readonly Block[], family: 4 | 6) => chosen.filter((c) => universes[c.universe].family === family).length;
  const search = (chosen: Block[]) => {
    const next = published.findIndex((p) => !chosen.some((c) => inside(p, c)));
    if (next === -1) {
      const entries = test.perFamily ? Math.max(count(chosen, 4), count(chosen, 6)) : chosen.length;
      fewest = Math.min(fewest, entries);
      if (entries <= test.maxEntries) {
        const extra = chosen.reduce((sum, c) => sum + blockSize(c), 0) - total;
        if (bestExtra === undefined || extra < bestExtra) bestExtra = extra;
      }
      return;
    }
    for (const cover of choices[next]!) {
      // Aligned blocks nest or are disjoint; a cover holding an earlier one would make that one pointless.
      if (chosen.some((c) => inside(c, cover))) continue;
      chosen.push(cover);
      search(chosen);
      chosen.pop();
    }
  };
  search([]);
  return { extra: bestExtra === undefined ? undefined : BigInt(bestExtra), minEntries: fewest };
}

const block = (universe: UniverseName) =>
  fc
    .record({ universe: fc.constant(universe), offset: fc.integer({ min: 0, max: 4095 }), local: fc.integer({ min: 2, max: 12 }) })
    .map((b): Block => ({ ...b, offset: (b.offset >> (UNIVERSE_BITS - b.local)) << (UNIVERSE_BITS - b.local) }));

/** Published prefixes as a file holds them: aggregated, so none holds or touches another. */
function aggregated(blocks: readonly Block[]): Block[] {
  const kept = new Set(aggregate(blocks.map(cidrOf)));
  const unique = new Map<Cidr, Block>();
  for (const b of blocks) {
    const cidr = cidrOf(b);
    if (kept.has(cidr)) unique.set(cidr, b);
  }
  return [...unique.values()];
}

const cases = fc
  .record({
    v4: fc.array(fc.oneof(block('special4'), block('plain4')), { maxLength: 6 }),
    v6: fc.array(block('plain6'), { maxLength: 3 }),
    maxEntries: fc.integer({ min: 1, max: 4 }),
    perFamily: fc.boolean(),
    width4: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
    width6: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
  })
  .map(({ v4, v6, ...rest }): Case => {
    // Blocks whose aggregate is not itself a generated block (two halves merged) are dropped, keeping the model exact.
    const published = aggregated([...v4, ...v6]);
    return { ...rest, published: published.slice(0, 7) };
  })
  .filter((test) => test.published.length > 0);

function request(test: Case) {
  return {
    prefixes: test.published.map(cidrOf),
    maxEntries: test.maxEntries,
    perFamily: test.perFamily,
    ...(test.width4 !== undefined ? { widenTo: 20 + test.width4 } : {}),
    ...(test.width6 !== undefined ? { widenTo6: 116 + test.width6 } : {}),
  };
}

describe('widenToFit against a brute-force optimum', () => {
  it('finds the fewest extra addresses, or the fewest entries when nothing fits', () => {
    fc.assert(
      fc.property(cases, (test) => {
        const expected = bruteForce(test);
        const result = widenToFit(request(test));
        if (expected.extra === undefined) {
          expect(result).toMatchObject({ fits: false, minEntries: expected.minEntries });
        } else {
          expect(result.fits).toBe(true);
          if (result.fits) expect(result.extra.total).toBe(expected.extra);
        }
      }),
      { numRuns: 400 },
    );
  }, 120_000);

  it('covers every published address, within the limit, no wider than allowed, adding no special-purpose address', () => {
    fc.assert(
      fc.property(cases, (test) => {
        const req = request(test);
        const result = widenToFit(req);
        if (!result.fits) return;
        const published = req.prefixes;
        for (const prefix of published) expect(covers(result.entries, prefix), prefix).toBe(true);
        const perFamily = (family: 4 | 6) => result.entries.filter((cidr) => familyOf(cidr) === family).length;
        if (test.perFamily) expect(Math.max(perFamily(4), perFamily(6))).toBeLessThanOrEqual(test.maxEntries);
        else expect(result.entries.length).toBeLessThanOrEqual(test.maxEntries);
        const added = difference(result.entries, published);
        expect(addressCount(added)).toBe(result.extra.total);
        expect(intersection(added, SPECIAL_PURPOSE_PREFIXES)).toEqual([]);
        for (const { cover, replaces } of result.widened) {
          const widest = familyOf(cover) === 4 ? req.widenTo : req.widenTo6;
          expect(widest).toBeDefined();
          expect(prefixLengthOf(cover)).toBeGreaterThanOrEqual(widest!);
          expect(replaces.length).toBeGreaterThan(1);
        }
        const published4 = published.filter((cidr) => familyOf(cidr) === 4).length;
        const fitsAsIs = test.perFamily
          ? Math.max(published4, published.length - published4) <= test.maxEntries
          : published.length <= test.maxEntries;
        if (fitsAsIs) expect(result).toMatchObject({ entries: aggregate(published), widened: [] });
      }),
      { numRuns: 400 },
    );
  }, 120_000);
});
