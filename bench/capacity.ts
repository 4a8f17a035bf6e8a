import { widenToFit, type WidenResult } from '../shared/capacity/widen.js';
import { aggregate, familyOf, parseCidr, prefixLengthOf, SPECIAL_PURPOSE_PREFIXES, type Cidr } from '../shared/ipset.js';
import type { BenchSizes } from './figures.js';
import { medianPairMs, type Row } from './table.js';

const TAG = 'MicrosoftCloudAppSecurity';

/**
 * Issue 24's widening figures: the tag's prefixes widened to fit a prefix list (1,000 entries, /20 at widest) and a
 * security group (60, /12), by the exact cover against merging the closest neighbours, in extra addresses and time.
 */
export async function widening(serviceTagsText: string, sizes: BenchSizes): Promise<Row[]> {
  const file = JSON.parse(serviceTagsText) as { values: Array<{ name: string; properties: { addressPrefixes: string[] } }> };
  const all = file.values.find((value) => value.name === TAG)!.properties.addressPrefixes.map(parseCidr);
  const prefixes = aggregate(all.slice(0, Math.min(all.length, sizes.prefixes)));
  const rows: Row[] = [];
  for (const [extraFigure, timeFigure, maxEntries, widenTo] of [
    ['12.', '12a.', 1_000, 20],
    ['12b.', '12c.', 60, 12],
  ] as const) {
    let ours: WidenResult | undefined;
    let greedy: bigint | undefined;
    // Each side's answer is kept from its timed runs, so the slow anchor runs no more often than it is timed.
    const time = await medianPairMs(
      sizes.runs,
      () => (ours = widenToFit({ prefixes, maxEntries, perFamily: false, widenTo })),
      () => (greedy = greedyMerge(prefixes, { maxEntries, widenTo })),
    );
    if (!ours?.fits || greedy === undefined) throw new Error(`widening ${prefixes.length} prefixes to ${maxEntries} entries did not fit`);
    if (ours.extra.total > greedy) throw new Error(`the exact cover allowed ${ours.extra.total} extra addresses, greedy ${greedy}`);
    const what = `${prefixes.length.toLocaleString('en-US')} ${TAG} prefixes to ${maxEntries.toLocaleString('en-US')} entries, widenTo ${widenTo}`;
    rows.push(
      {
        figure: `${extraFigure} widen ${what}: extra addresses`,
        ours: Number(ours.extra.total),
        anchor: Number(greedy),
        anchorName: 'greedy merge of the closest neighbours',
        unit: 'addresses',
        goal: '<= greedy',
        note: `${ours.entries.length} entries, ${ours.widened.length} of them covers`,
      },
      {
        figure: `${timeFigure} widen ${what}: time`,
        ours: time.ours,
        anchor: time.anchor,
        anchorName: 'greedy merge',
        unit: 'ms',
        goal: 'report',
      },
    );
  }
  return rows;
}

/**
 * The usual heuristic, kept here as the bench's anchor only: while the file has too many entries, replace the two
 * neighbours whose common supernet adds the fewest addresses by that supernet (absorbing whatever else it holds).
 * IPv4 only, which is all the tag publishes; a supernet overlapping special-purpose space is never taken.
 */
function greedyMerge(prefixes: readonly Cidr[], { maxEntries, widenTo }: { maxEntries: number; widenTo: number }): bigint | undefined {
  if (prefixes.some((cidr) => familyOf(cidr) !== 4)) throw new Error('the greedy anchor handles IPv4 only');
  const special = SPECIAL_PURPOSE_PREFIXES.filter((cidr) => familyOf(cidr) === 4).map(toBlock);
  const blocks = aggregate(prefixes).map(toBlock);
  const published = blocks.reduce((sum, block) => sum + blockSize(block), 0);
  while (blocks.length > maxEntries) {
    let best: { from: number; to: number; cover: Block; added: number } | undefined;
    for (let i = 0; i + 1 < blocks.length; i++) {
      const a = blocks[i]!;
      const b = blocks[i + 1]!;
      const length = Math.min(Math.clz32((a.start ^ b.start) >>> 0), a.length, b.length);
      if (length < widenTo) continue;
      const cover = { start: length === 0 ? 0 : ((a.start >>> (32 - length)) << (32 - length)) >>> 0, length };
      let from = i;
      let to = i + 1;
      let held = blockSize(a) + blockSize(b);
      while (from > 0 && inside(blocks[from - 1]!, cover)) held += blockSize(blocks[--from]!);
      while (to + 1 < blocks.length && inside(blocks[to + 1]!, cover)) held += blockSize(blocks[++to]!);
      const added = blockSize(cover) - held;
      // The special-space test is the costly one, so only a pair that would win is put to it.
      if ((best === undefined || added < best.added) && !special.some((range) => overlaps(range, cover))) best = { from, to, cover, added };
    }
    if (best === undefined) return undefined;
    blocks.splice(best.from, best.to - best.from + 1, best.cover);
  }
  return BigInt(blocks.reduce((sum, block) => sum + blockSize(block), 0) - published);
}

interface Block {
  readonly start: number;
  readonly length: number;
}

function toBlock(cidr: Cidr): Block {
  const octets = cidr.slice(0, cidr.indexOf('/')).split('.').map(Number);
  return { start: octets.reduce((value, octet) => value * 256 + octet, 0), length: prefixLengthOf(cidr) };
}

function blockSize(block: Block): number {
  return 2 ** (32 - block.length);
}

function inside(inner: Block, outer: Block): boolean {
  return inner.start >= outer.start && inner.start + blockSize(inner) <= outer.start + blockSize(outer);
}

function overlaps(a: Block, b: Block): boolean {
  return a.start < b.start + blockSize(b) && b.start < a.start + blockSize(a);
}
