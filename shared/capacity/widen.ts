import ipaddr from 'ipaddr.js';
import { aggregate, covers, familyOf, parseCidr, prefixLengthOf, SPECIAL_PURPOSE_PREFIXES, type Cidr, type IpFamily } from '../ipset.js';

/** What to fit: a file's prefixes and how far each family may be widened to reach its entry limit. */
export interface WidenRequest {
  /** The file's prefixes, both families (aggregated here, so each counts as the file will hold it). */
  readonly prefixes: readonly Cidr[];
  readonly maxEntries: number;
  /** Each family has its own maxEntries; otherwise the two families share it. */
  readonly perFamily: boolean;
  /** The widest IPv4 cover allowed (/widenTo); absent, IPv4 prefixes are kept as they are. */
  readonly widenTo?: number;
  /** The widest IPv6 cover allowed (/widenTo6); absent, IPv6 prefixes are kept as they are. */
  readonly widenTo6?: number;
  /** Entries of the file that are not the prefixes' and stay as they are (another config's, a hand edit's): they count too. */
  readonly reserved?: PerFamily<number>;
}

/** One covering supernet the widened file holds instead of the published prefixes inside it. */
export interface WidenedCover {
  readonly cover: Cidr;
  readonly replaces: readonly Cidr[];
  /** Addresses the cover allows that no source publishes. */
  readonly extra: bigint;
}

export interface PerFamily<T> {
  readonly 4: T;
  readonly 6: T;
}

export type WidenResult =
  | {
      readonly fits: true;
      /** The file's entries: published prefixes kept as they are and the covers, sorted. */
      readonly entries: readonly Cidr[];
      /** Empty when the prefixes already fit: nothing is widened that need not be. */
      readonly widened: readonly WidenedCover[];
      readonly extra: PerFamily<bigint> & { readonly total: bigint };
    }
  | {
      readonly fits: false;
      /** The fewest entries widenTo and widenTo6 allow, counted as the limit counts (the larger family's when per family). */
      readonly minEntries: number;
      readonly minEntriesByFamily: PerFamily<number>;
    };

/**
 * The cover of a file's prefixes that fits `maxEntries` and allows the fewest addresses no source publishes, or
 * the fewest entries the allowed widening can reach when no cover fits.
 *
 * Exact rather than greedy: merging the closest neighbours first can spend entries where they save little
 * (bench/capacity.ts measures by how much). A cover is best taken at the longest prefix holding the same published
 * prefixes, so only the branching nodes of the prefix trie are candidates; a tree knapsack over them gives, for every
 * node and entry budget k, the fewest extra addresses covering the node's prefixes with at most k entries. Merging two
 * children costs the product of their (budget-capped) sizes, which sums to O(n x maxEntries) over the tree.
 */
export function widenToFit(request: WidenRequest): WidenResult {
  const { maxEntries, perFamily } = request;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new RangeError(`maxEntries must be a whole number of at least 1, not ${maxEntries}`);
  checkWidth(request.widenTo, 32, 'widenTo');
  checkWidth(request.widenTo6, 128, 'widenTo6');
  const reserved = request.reserved ?? { 4: 0, 6: 0 };
  const all = aggregate(request.prefixes);
  const byFamily = { 4: all.filter((cidr) => familyOf(cidr) === 4), 6: all.filter((cidr) => familyOf(cidr) === 6) };
  // What the prefixes may take: the limit less the entries that stay as they are.
  const room = perFamily
    ? { 4: maxEntries - reserved[4], 6: maxEntries - reserved[6] }
    : { 4: maxEntries - reserved[4] - reserved[6], 6: maxEntries - reserved[4] - reserved[6] };
  const fitsAsIs = perFamily ? byFamily[4].length <= room[4] && byFamily[6].length <= room[6] : all.length <= room[4];
  if (fitsAsIs) return { fits: true, entries: all, widened: [], extra: { 4: 0n, 6: 0n, total: 0n } };

  const trees = {
    4: familyTree(byFamily[4], 4, request.widenTo, Math.max(1, room[4])),
    6: familyTree(byFamily[6], 6, request.widenTo6, Math.max(1, room[6])),
  };
  const minEntriesByFamily = { 4: (trees[4]?.minEntries ?? 0) + reserved[4], 6: (trees[6]?.minEntries ?? 0) + reserved[6] };
  const budgets = perFamily ? perFamilyBudgets(trees, room) : sharedBudgets(trees, room[4]);
  if (budgets === undefined) {
    const minEntries = perFamily ? Math.max(minEntriesByFamily[4], minEntriesByFamily[6]) : minEntriesByFamily[4] + minEntriesByFamily[6];
    return { fits: false, minEntries, minEntriesByFamily };
  }
  const entries: Cidr[] = [];
  const widened: WidenedCover[] = [];
  const extra = { 4: 0n, 6: 0n };
  for (const family of FAMILIES) {
    const tree = trees[family];
    if (tree === undefined) continue;
    for (const node of chosen(tree.root, budgets[family])) {
      if (node.leaf !== undefined) {
        entries.push(node.leaf);
        continue;
      }
      const cover = toCidr(node.start, node.length, family);
      const nodeExtra = size(node.length, family) - node.published;
      entries.push(cover);
      widened.push({ cover, replaces: leavesOf(node), extra: nodeExtra });
      extra[family] += nodeExtra;
    }
  }
  return { fits: true, entries, widened, extra: { ...extra, total: extra[4] + extra[6] } };
}

const FAMILIES: readonly IpFamily[] = [4, 6];
const BITS: PerFamily<number> = { 4: 32, 6: 128 };

/** A node of the compressed prefix trie: a published prefix (leaf) or the longest common prefix of two subtrees. */
interface TrieNode {
  readonly start: bigint;
  readonly length: number;
  /** Published addresses under the node. */
  readonly published: bigint;
  readonly leaves: number;
  readonly leaf?: Cidr;
  readonly children?: readonly [TrieNode, TrieNode];
  /**
   * cost[k]: the fewest extra addresses covering the node's prefixes with at most k entries (k from 1, capped at the
   * budget); undefined where k entries cannot do it.
   */
  readonly cost: ReadonlyArray<bigint | undefined>;
  /** How cost[k] is reached: 0 takes the node itself as one cover, j > 0 gives j entries to the left child. */
  readonly choice: Int32Array;
  /** The fewest entries covering the node at all, uncapped (for "the smallest entry count widenTo allows"). */
  readonly minEntries: number;
}

interface FamilyTree {
  readonly root: TrieNode;
  readonly minEntries: number;
}

interface Leaf {
  readonly cidr: Cidr;
  readonly start: bigint;
  readonly length: number;
}

interface SpecialBlock {
  readonly start: bigint;
  readonly end: bigint;
  readonly length: number;
  /** Published whole: a cover over it adds no special-purpose address, so it may hold it. */
  readonly published: boolean;
}

interface TreeContext {
  readonly family: IpFamily;
  readonly widenTo: number | undefined;
  readonly budget: number;
  readonly special: readonly SpecialBlock[];
}

function familyTree(prefixes: readonly Cidr[], family: IpFamily, widenTo: number | undefined, budget: number): FamilyTree | undefined {
  if (prefixes.length === 0) return undefined;
  const leaves = prefixes.map((cidr): Leaf => ({ cidr, start: addressOf(cidr), length: prefixLengthOf(cidr) }));
  const special =
    widenTo === undefined
      ? []
      : SPECIAL_PURPOSE_PREFIXES.filter((range) => familyOf(range) === family).map((range): SpecialBlock => {
          const start = addressOf(range);
          const length = prefixLengthOf(range);
          return { start, end: start + size(length, family) - 1n, length, published: covers(prefixes, range) };
        });
  const root = build(leaves, 0, leaves.length - 1, { family, widenTo, budget, special });
  return { root, minEntries: root.minEntries };
}

/** The subtree over leaves[lo..hi] (aggregated, so sorted and disjoint), with its cost curve. */
function build(leaves: readonly Leaf[], lo: number, hi: number, context: TreeContext): TrieNode {
  const { family } = context;
  if (lo === hi) {
    const leaf = leaves[lo]!;
    return {
      start: leaf.start,
      length: leaf.length,
      published: size(leaf.length, family),
      leaves: 1,
      leaf: leaf.cidr,
      cost: [undefined, 0n],
      choice: new Int32Array(2),
      minEntries: 1,
    };
  }
  const first = leaves[lo]!;
  const last = leaves[hi]!;
  const bits = BITS[family];
  // The first and last leaves in address order share exactly the prefix that all leaves between them share.
  const length = Math.min(bits - bitLength(first.start ^ last.start), first.length, last.length);
  const hostBits = BigInt(bits - length);
  const start = (first.start >> hostBits) << hostBits;
  const splitBit = 1n << (hostBits - 1n);
  // Leaves whose bit after the common prefix is 1 form the right subtree; they sort after the others.
  let left = lo;
  let right = hi;
  while (left < right) {
    const middle = (left + right) >> 1;
    if ((leaves[middle]!.start & splitBit) !== 0n) right = middle;
    else left = middle + 1;
  }
  const children = [build(leaves, lo, left - 1, context), build(leaves, left, hi, context)] as const;
  const published = children[0].published + children[1].published;
  const coverable = context.widenTo !== undefined && length >= context.widenTo && avoidsSpecial(start, length, context);
  const { cost, choice } = mergeCosts({
    children,
    budget: context.budget,
    selfCost: coverable ? size(length, family) - published : undefined,
  });
  return {
    start,
    length,
    published,
    leaves: children[0].leaves + children[1].leaves,
    children,
    cost,
    choice,
    minEntries: coverable ? 1 : children[0].minEntries + children[1].minEntries,
  };
}

function mergeCosts({
  children,
  budget,
  selfCost,
}: {
  children: readonly [TrieNode, TrieNode];
  budget: number;
  selfCost: bigint | undefined;
}) {
  const [left, right] = children;
  const leftMax = left.cost.length - 1;
  const rightMax = right.cost.length - 1;
  const top = Math.min(budget, leftMax + rightMax);
  const cost: Array<bigint | undefined> = new Array<bigint | undefined>(top + 1).fill(undefined);
  const choice = new Int32Array(top + 1);
  for (let j = 1; j <= leftMax; j++) {
    const leftCost = left.cost[j];
    if (leftCost === undefined) continue;
    const rightTop = Math.min(rightMax, top - j);
    for (let k = 1; k <= rightTop; k++) {
      const rightCost = right.cost[k];
      if (rightCost === undefined) continue;
      const total = leftCost + rightCost;
      const current = cost[j + k];
      if (current === undefined || total < current) {
        cost[j + k] = total;
        choice[j + k] = j;
      }
    }
  }
  if (selfCost !== undefined) {
    // The node as one entry also serves every larger budget, unless splitting allows no more addresses:
    // on a tie the published prefixes stay as they are (nothing widened that need not be).
    for (let k = 1; k <= top; k++) {
      const current = cost[k];
      if (current === undefined || selfCost < current) {
        cost[k] = selfCost;
        choice[k] = 0;
      }
    }
  }
  return { cost, choice };
}

/**
 * A cover may hold special-purpose space only where the sources publish all of it: then it adds none of it.
 * Aligned blocks are nested or disjoint, so a special block overlapping the node either holds it (and the node,
 * not published whole or it would have been aggregated, would add special addresses) or lies inside it.
 */
function avoidsSpecial(start: bigint, length: number, { family, special }: TreeContext): boolean {
  const end = start + size(length, family) - 1n;
  return special.every((block) => block.end < start || block.start > end || (block.length > length && block.published));
}

/** The nodes the cheapest cover within `budget` entries takes: covers and published prefixes kept as they are. */
function chosen(root: TrieNode, budget: number): TrieNode[] {
  const taken: TrieNode[] = [];
  const visit = (node: TrieNode, k: number) => {
    if (node.leaf !== undefined || node.choice[k] === 0) {
      taken.push(node);
      return;
    }
    const j = node.choice[k]!;
    visit(node.children![0], j);
    visit(node.children![1], k - j);
  };
  visit(root, Math.min(budget, root.cost.length - 1));
  return taken;
}

function leavesOf(node: TrieNode): Cidr[] {
  if (node.leaf !== undefined) return [node.leaf];
  return [...leavesOf(node.children![0]), ...leavesOf(node.children![1])];
}

/** Each family within its own room. */
function perFamilyBudgets(trees: PerFamily<FamilyTree | undefined>, room: PerFamily<number>): PerFamily<number> | undefined {
  for (const family of FAMILIES) {
    const tree = trees[family];
    if (tree !== undefined && (room[family] < 1 || tree.root.cost[Math.min(room[family], tree.root.cost.length - 1)] === undefined)) {
      return undefined;
    }
  }
  return room;
}

/** The split of a shared maxEntries between the families that allows the fewest extra addresses in all. */
function sharedBudgets(trees: PerFamily<FamilyTree | undefined>, maxEntries: number): PerFamily<number> | undefined {
  const curve = (family: IpFamily): ReadonlyArray<bigint | undefined> => trees[family]?.root.cost ?? [0n];
  const v4 = curve(4);
  const v6 = curve(6);
  // An absent family is a curve holding only "no entries, no extra" at k = 0; a present one starts at k = 1.
  const from4 = trees[4] === undefined ? 0 : 1;
  let best: { cost: bigint; budget: PerFamily<number> } | undefined;
  for (let k4 = from4; k4 < v4.length && k4 <= maxEntries; k4++) {
    const cost4 = v4[k4];
    if (cost4 === undefined) continue;
    const k6 = Math.min(v6.length - 1, maxEntries - k4);
    const cost6 = v6[k6];
    if (cost6 === undefined || (trees[6] !== undefined && k6 < 1)) continue;
    const total = cost4 + cost6;
    if (best === undefined || total < best.cost) best = { cost: total, budget: { 4: k4, 6: k6 } };
  }
  return best?.budget;
}

function checkWidth(width: number | undefined, bits: number, key: string): void {
  if (width !== undefined && (!Number.isInteger(width) || width < 0 || width > bits)) {
    throw new RangeError(`${key} must be a prefix length from 0 to ${bits}, not ${width}`);
  }
}

function size(length: number, family: IpFamily): bigint {
  return 1n << BigInt(BITS[family] - length);
}

function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

function addressOf(cidr: Cidr): bigint {
  const bytes = ipaddr.parse(cidr.slice(0, cidr.lastIndexOf('/'))).toByteArray();
  return bytes.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

function toCidr(start: bigint, length: number, family: IpFamily): Cidr {
  const bytes: number[] = [];
  for (let shift = BigInt(BITS[family] - 8); shift >= 0n; shift -= 8n) bytes.push(Number((start >> shift) & 255n));
  return parseCidr(`${ipaddr.fromByteArray(bytes).toString()}/${length}`);
}

/**
 * The file entries that are covers widening wrote for these prefixes: within the widths allowed, and exactly the
 * longest prefix common to the published prefixes inside it, of which there are at least two (widenToFit writes no
 * other). Such an entry is the tool's own, however the file's format keeps (or does not keep) who wrote what.
 */
export function widenedCovers(
  entries: readonly Cidr[],
  published: readonly Cidr[],
  widths: { readonly widenTo?: number | undefined; readonly widenTo6?: number | undefined },
): Set<Cidr> {
  const found = new Set<Cidr>();
  const all = aggregate(published);
  const sorted = FAMILIES.map((family) => {
    const blocks = all
      .filter((cidr) => familyOf(cidr) === family)
      .map((cidr) => ({ start: addressOf(cidr), end: addressOf(cidr) + size(prefixLengthOf(cidr), family) - 1n }));
    return { family, blocks };
  });
  for (const entry of entries) {
    const family = familyOf(entry);
    const widest = family === 4 ? widths.widenTo : widths.widenTo6;
    const length = prefixLengthOf(entry);
    if (widest === undefined || length < widest) continue;
    const start = addressOf(entry);
    const end = start + size(length, family) - 1n;
    const { blocks } = sorted.find((s) => s.family === family)!;
    const within: { start: bigint; end: bigint }[] = [];
    for (let i = firstEndingAtOrAfter(blocks, start); i < blocks.length && blocks[i]!.start <= end; i++) {
      // Aligned blocks nest or are disjoint: one that holds the entry makes it no cover of several.
      if (blocks[i]!.start < start || blocks[i]!.end > end) break;
      within.push(blocks[i]!);
    }
    if (within.length < 2) continue;
    if (BITS[family] - bitLength(within[0]!.start ^ within[within.length - 1]!.start) === length) found.add(entry);
  }
  return found;
}

/** The index of the first block (sorted, disjoint) that ends at or after `address`. */
function firstEndingAtOrAfter(blocks: readonly { end: bigint }[], address: bigint): number {
  let low = 0;
  let high = blocks.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (blocks[middle]!.end < address) low = middle + 1;
    else high = middle;
  }
  return low;
}
