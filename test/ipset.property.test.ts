import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  addressCount,
  aggregate,
  compareCidr,
  covers,
  difference,
  intersects,
  parseCidr,
  PrefixIndex,
  sameAddresses,
  semanticDiff,
  sortCidrs,
  union,
  type Cidr,
} from '../shared/ipset.js';

const numRuns = 1000;
// A thousand runs per property on a shared CI core can pass the default 30 s; this is a hang guard, not a speed check.
const propertyTimeout = 120_000;

/**
 * The brute-force model: a small block of address space (1,024 addresses) per family, where a
 * set of CIDRs is a bitmap of covered addresses. Everything here is computed from bytes, without
 * cidr-tools, so the library under test and the model cannot share a mistake.
 */
interface Universe {
  readonly family: 4 | 6;
  readonly bits: 32 | 128;
  /** The address bytes every member shares; the last 10 bits vary. */
  readonly fixedBytes: number[];
  cidrAt(offset: number, prefix: number): Cidr;
}

const universeSize = 1024;
const universeBits = 10;

const ipv4Universe: Universe = {
  family: 4,
  bits: 32,
  fixedBytes: [10, 0],
  cidrAt: (offset, prefix) => parseCidr(`10.0.${offset >> 8}.${offset & 255}/${prefix}`),
};

const ipv6Universe: Universe = {
  family: 6,
  bits: 128,
  fixedBytes: ipaddr.parse('2001:db8::').toByteArray().slice(0, 14),
  cidrAt: (offset, prefix) => parseCidr(`2001:db8::${offset.toString(16)}/${prefix}`),
};

/** One or more universes laid end to end in one bitmap, IPv4 first so bitmap order is compareCidr order. */
class Space {
  constructor(
    readonly name: string,
    readonly universes: readonly Universe[],
  ) {}

  get size(): number {
    return this.universes.length * universeSize;
  }

  cidr(): fc.Arbitrary<Cidr> {
    return fc
      .record({
        universe: fc.constantFrom(...this.universes),
        offset: fc.integer({ min: 0, max: universeSize - 1 }),
        hostBits: fc.integer({ min: 0, max: universeBits }),
      })
      .map(({ universe, offset, hostBits }) => universe.cidrAt(offset, universe.bits - hostBits));
  }

  /** Lists with duplicates and heavy overlap, since those are what aggregation has to get right. */
  cidrs(): fc.Arbitrary<Cidr[]> {
    return fc.array(this.cidr(), { maxLength: 24 });
  }

  /** Where a CIDR lies in the bitmap; fails the test if it falls outside the space. */
  locate(cidr: Cidr): { start: number; length: number } {
    const [address = '', prefixText = ''] = cidr.split('/');
    const bytes = ipaddr.parse(address).toByteArray();
    const prefix = Number(prefixText);
    const index = this.universes.findIndex(
      (universe) =>
        bytes.length * 8 === universe.bits && universe.fixedBytes.every((byte, i) => bytes[i] === byte) && (bytes.at(-2) ?? 0) < 4,
    );
    const universe = this.universes[index];
    if (!universe || prefix < universe.bits - universeBits) throw new Error(`${cidr} is outside the ${this.name} space`);
    const local = ((bytes.at(-2) ?? 0) << 8) | (bytes.at(-1) ?? 0);
    return { start: index * universeSize + local, length: 2 ** (universe.bits - prefix) };
  }

  bitmap(cidrs: Iterable<Cidr>): Uint8Array {
    const bits = new Uint8Array(this.size);
    for (const cidr of cidrs) {
      const { start, length } = this.locate(cidr);
      bits.fill(1, start, start + length);
    }
    return bits;
  }

  /** The unique smallest CIDR list for a bitmap: at each covered address, the largest aligned fully covered block. */
  minimalCover(bits: Uint8Array): Cidr[] {
    const cover: Cidr[] = [];
    let position = 0;
    while (position < bits.length) {
      if (bits[position] === 0) {
        position += 1;
        continue;
      }
      let length = universeSize;
      while (position % length !== 0 || bits.subarray(position, position + length).includes(0)) length /= 2;
      const universe = this.universes[Math.floor(position / universeSize)];
      if (!universe) throw new Error('position outside the space');
      cover.push(universe.cidrAt(position % universeSize, universe.bits - Math.log2(length)));
      position += length;
    }
    return cover;
  }
}

const spaces = [new Space('IPv4', [ipv4Universe]), new Space('IPv6', [ipv6Universe]), new Space('mixed', [ipv4Universe, ipv6Universe])];

const and = (a: Uint8Array, b: Uint8Array) => a.map((bit, i) => bit & (b[i] ?? 0));
const or = (a: Uint8Array, b: Uint8Array) => a.map((bit, i) => bit | (b[i] ?? 0));
const andNot = (a: Uint8Array, b: Uint8Array) => a.map((bit, i) => bit & ((b[i] ?? 0) ^ 1));
const popcount = (bits: Uint8Array) => bits.reduce((sum, bit) => sum + bit, 0);

/** Each CIDR replaced by its two halves where it has any, then shuffled: the same addresses, written differently. */
function resplit(space: Space, cidrs: Cidr[]): fc.Arbitrary<Cidr[]> {
  return fc.shuffledSubarray(cidrs, { minLength: 0, maxLength: cidrs.length }).chain((toSplit) => {
    const split = new Set(toSplit);
    const rewritten = cidrs.flatMap((cidr) => {
      if (!split.has(cidr)) return [cidr];
      const { start, length } = space.locate(cidr);
      if (length === 1) return [cidr];
      const universe = space.universes[Math.floor(start / universeSize)];
      if (!universe) throw new Error('position outside the space');
      const prefix = universe.bits - Math.log2(length) + 1;
      const local = start % universeSize;
      return [universe.cidrAt(local, prefix), universe.cidrAt(local + length / 2, prefix)];
    });
    return fc.shuffledSubarray(rewritten, { minLength: rewritten.length, maxLength: rewritten.length });
  });
}

describe.each(spaces)('IP-set properties in $name space', { timeout: propertyTimeout }, (space) => {
  const options = { numRuns };

  it('aggregate keeps exactly the same addresses and yields the unique smallest sorted cover', () => {
    fc.assert(
      fc.property(space.cidrs(), (cidrs) => {
        const aggregated = aggregate(cidrs);
        const expected = space.minimalCover(space.bitmap(cidrs));
        // Comparing covers instead of raw bitmaps keeps failure messages readable.
        expect(space.minimalCover(space.bitmap(aggregated))).toEqual(expected);
        expect(aggregated).toEqual(expected);
      }),
      options,
    );
  });

  it('aggregate is idempotent and leaves no overlapping or mergeable neighbours', () => {
    fc.assert(
      fc.property(space.cidrs(), (cidrs) => {
        const aggregated = aggregate(cidrs);
        expect(aggregate(aggregated)).toEqual(aggregated);
        for (let i = 1; i < aggregated.length; i++) {
          const previous = space.locate(aggregated[i - 1] as Cidr);
          const current = space.locate(aggregated[i] as Cidr);
          expect(previous.start + previous.length).toBeLessThanOrEqual(current.start);
          const siblings =
            previous.length === current.length &&
            previous.start + previous.length === current.start &&
            previous.start % (2 * previous.length) === 0 &&
            Math.floor(previous.start / universeSize) === Math.floor(current.start / universeSize);
          expect(siblings, `${aggregated[i - 1]} and ${aggregated[i]} should have been merged`).toBe(false);
        }
      }),
      options,
    );
  });

  it('every result is already canonical text', () => {
    fc.assert(
      fc.property(space.cidrs(), space.cidrs(), (a, b) => {
        const { added, removed } = semanticDiff(a, b);
        for (const cidr of [...aggregate(a), ...union(a, b), ...difference(a, b), ...added, ...removed, ...sortCidrs(a)]) {
          expect(parseCidr(cidr)).toBe(cidr);
        }
      }),
      options,
    );
  });

  it('union, difference, intersects and covers agree with the bitmap model', () => {
    fc.assert(
      fc.property(space.cidrs(), space.cidrs(), space.cidr(), (a, b, probe) => {
        const bitsA = space.bitmap(a);
        const bitsB = space.bitmap(b);
        expect(union(a, b)).toEqual(space.minimalCover(or(bitsA, bitsB)));
        expect(difference(a, b)).toEqual(space.minimalCover(andNot(bitsA, bitsB)));
        expect(intersects(a, b)).toBe(popcount(and(bitsA, bitsB)) > 0);
        const bitsProbe = space.bitmap([probe]);
        expect(covers(a, probe)).toBe(popcount(andNot(bitsProbe, bitsA)) === 0);
        expect(addressCount(a)).toBe(BigInt(popcount(bitsA)));
      }),
      options,
    );
  });

  it('sameAddresses is symmetric and agrees with the model, also for re-split lists', () => {
    const pairs = fc.oneof(
      fc.tuple(space.cidrs(), space.cidrs()),
      space.cidrs().chain((cidrs) => fc.tuple(fc.constant(cidrs), resplit(space, cidrs))),
    );
    fc.assert(
      fc.property(pairs, ([a, b]) => {
        const same = sameAddresses(a, b);
        expect(sameAddresses(b, a)).toBe(same);
        expect(same).toBe(Buffer.from(space.bitmap(a)).equals(space.bitmap(b)));
        const { added, removed } = semanticDiff(a, b);
        expect(added.length + removed.length === 0).toBe(same);
      }),
      options,
    );
  });

  it('applying a semantic diff to its source gives back the target', () => {
    fc.assert(
      fc.property(space.cidrs(), space.cidrs(), (from, to) => {
        const { added, removed } = semanticDiff(from, to);
        expect(union(difference(from, removed), added)).toEqual(aggregate(to));
        expect(popcount(and(space.bitmap(added), space.bitmap(from)))).toBe(0);
        expect(popcount(andNot(space.bitmap(removed), space.bitmap(from)))).toBe(0);
        expect(popcount(and(space.bitmap(removed), space.bitmap(to)))).toBe(0);
      }),
      options,
    );
  });
});

describe('parsing and ordering over the whole address space', { timeout: propertyTimeout }, () => {
  // Zero groups are drawn often so that runs of different lengths test the RFC 5952 "::" placement.
  const zeroHeavyIpV6 = fc
    .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
    .map((groups) => groups.map((group) => group.toString(16)).join(':'));
  const anyAddress = fc.oneof(
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })),
    fc.tuple(fc.oneof(fc.ipV6(), zeroHeavyIpV6), fc.integer({ min: 0, max: 128 })),
  );
  // Short lists: a difference of broad IPv6 prefixes splits into up to 128 blocks per gap.
  const anyCidrs = fc.array(
    anyAddress.map(([address, prefix]) => parseCidr(`${address}/${prefix}`)),
    { maxLength: 8 },
  );

  /** Independent of parseCidr and cidr-tools: family, network number and prefix straight from ipaddr bytes. */
  function modelKey(cidr: Cidr): [number, bigint, number] {
    const [address = '', prefix = ''] = cidr.split('/');
    const bytes = ipaddr.parse(address).toByteArray();
    return [bytes.length === 4 ? 4 : 6, bytes.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n), Number(prefix)];
  }

  it('parseCidr of a canonical CIDR is the identity, and canonical means host bits cleared and RFC 5952 text', () => {
    fc.assert(
      fc.property(anyAddress, ([address, prefix]) => {
        const cidr = parseCidr(`${address}/${prefix}`);
        expect(parseCidr(cidr)).toBe(cidr);
        const [family, network, parsedPrefix] = modelKey(cidr);
        const bits = family === 4 ? 32 : 128;
        expect(parsedPrefix).toBe(prefix);
        expect(network & ((1n << BigInt(bits - prefix)) - 1n)).toBe(0n);
        const text = cidr.split('/')[0] ?? '';
        const expectedText = family === 4 ? ipaddr.IPv4.parse(text).toString() : ipaddr.IPv6.parse(text).toRFC5952String();
        expect(text).toBe(expectedText);
      }),
      { numRuns },
    );
  });

  it('set operations return canonical text anywhere in the address space', () => {
    fc.assert(
      fc.property(anyCidrs, anyCidrs, (a, b) => {
        const { added, removed } = semanticDiff(a, b);
        for (const cidr of [...aggregate(a), ...union(a, b), ...added, ...removed]) expect(parseCidr(cidr)).toBe(cidr);
        expect(union(difference(a, removed), added)).toEqual(aggregate(b));
      }),
      { numRuns },
    );
  });

  it('sortCidrs orders by family, network number and prefix, without duplicates', () => {
    fc.assert(
      fc.property(fc.array(anyAddress, { maxLength: 30 }), (inputs) => {
        const cidrs = inputs.map(([address, prefix]) => parseCidr(`${address}/${prefix}`));
        const sorted = sortCidrs(cidrs);
        expect(new Set(sorted)).toEqual(new Set(cidrs));
        expect(sorted.length).toBe(new Set(cidrs).size);
        for (let i = 1; i < sorted.length; i++) {
          const previous = modelKey(sorted[i - 1] as Cidr);
          const current = modelKey(sorted[i] as Cidr);
          const ordered =
            previous[0] < current[0] ||
            (previous[0] === current[0] && (previous[1] < current[1] || (previous[1] === current[1] && previous[2] < current[2])));
          expect(ordered, `${sorted[i - 1]} before ${sorted[i]}`).toBe(true);
          expect(compareCidr(sorted[i - 1] as Cidr, sorted[i] as Cidr)).toBeLessThan(0);
          expect(compareCidr(sorted[i] as Cidr, sorted[i - 1] as Cidr)).toBeGreaterThan(0);
        }
      }),
      { numRuns },
    );
  });
});

describe('IPv6 text with a dotted IPv4 tail (RFC 4291 2.2 form 3)', () => {
  const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 6, maxLength: 6 });
  const quad = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });

  it('reads the address written, whatever its upper groups (IPv4-compatible ::a.b.c.d and IPv4-mapped included)', () => {
    const upper = fc.oneof(groups, fc.constant([0, 0, 0, 0, 0, 0]), fc.constant([0, 0, 0, 0, 0, 0xffff]));
    fc.assert(
      fc.property(upper, quad, (head, [a, b, c, d]) => {
        const hex = [...head, (a! << 8) | b!, (c! << 8) | d!];
        const expected = `${new ipaddr.IPv6(hex).toRFC5952String()}/128`;
        const dotted = `${head.map((group) => group.toString(16)).join(':')}:${a}.${b}.${c}.${d}`;
        expect(parseCidr(dotted)).toBe(expected);
        // The compressed spelling of an all-zero or ::ffff head reads the same.
        if (head.slice(0, 5).every((group) => group === 0) && (head[5] === 0 || head[5] === 0xffff)) {
          expect(parseCidr(`::${head[5] === 0 ? '' : 'ffff:'}${a}.${b}.${c}.${d}`)).toBe(expected);
        }
      }),
      { numRuns },
    );
  });
});

describe('the prefix index', { timeout: propertyTimeout }, () => {
  const anyIpv4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([address, prefix]) => parseCidr(`${address}/${prefix}`));
  // Members drawn as supernets of the probe too, so that containing ones are common.
  const supernetsOf = (cidr: Cidr) =>
    fc
      .array(fc.integer({ min: 0, max: 32 }), { maxLength: 6 })
      .map((lengths) =>
        lengths.filter((length) => length <= Number(cidr.split('/')[1])).map((length) => parseCidr(`${cidr.split('/')[0]}/${length}`)),
      );

  it('finds every member equal to or containing a prefix, most specific first, as a scan of the members does', () => {
    fc.assert(
      fc.property(
        anyIpv4.chain((probe) => fc.tuple(fc.constant(probe), supernetsOf(probe), fc.array(anyIpv4, { maxLength: 6 }))),
        ([probe, around, others]) => {
          const members = [...around, ...others];
          const index = new PrefixIndex(members.map((cidr) => [cidr, cidr] as const));
          const expected = [...new Set(members)]
            .filter((member) => covers([member], probe))
            .sort((a, b) => Number(b.split('/')[1]) - Number(a.split('/')[1]));
          expect(index.allContaining(probe)).toEqual(expected);
        },
      ),
      { numRuns },
    );
  });
});
