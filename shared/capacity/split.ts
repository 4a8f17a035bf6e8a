import {
  addressCount,
  aggregate,
  difference,
  familyOf,
  intersection,
  PrefixIndex,
  prefixLengthOf,
  sortCidrs,
  type Cidr,
  type IpFamily,
} from '../ipset.js';
import type { FileLimit } from './limit.js';

/**
 * Which numbered file of a split ("sg/cas-{n}.auto.tfvars.json") holds which entry. Stable, so that a review sees
 * only what changed: an entry stays in the file it is in, a new entry goes to the first file with room, a file that
 * empties is dropped without renumbering the others. Re-cutting the whole list into consecutive chunks (Terraform's
 * chunklist) would move every entry after a new one into another file, and every one of those files into the review.
 */

export interface SplitFile {
  /** Its number: the `{n}` of its path, from 1. */
  readonly n: number;
  /** The entries of the set it holds now (the tool's own, as written). */
  readonly entries: readonly Cidr[];
  /** Entries it holds that the set does not manage (a hand edit): they stay, and count against its room. */
  readonly fixed?: readonly Cidr[];
}

export interface SplitInput {
  /** The numbered files that exist and that the tool may write. */
  readonly files: readonly SplitFile[];
  /** Numbers taken by files the tool may not write (a person's file under the same pattern): never used. */
  readonly reserved?: readonly number[];
  /** Every address the set must hold. */
  readonly want: readonly Cidr[];
  readonly limit: Pick<FileLimit, 'maxEntries' | 'perFamily'>;
}

/** Per file number, the set's entries it holds; an existing file that holds none any more is mapped to []. */
export type SplitAssignment = Map<number, Cidr[]>;

export function assignSplit(input: SplitInput): SplitAssignment {
  const { limit } = input;
  const want = aggregate(input.want);
  const wanted = new PrefixIndex(want.map((cidr) => [cidr, true] as const));
  const files = [...input.files].sort((a, b) => a.n - b.n);
  const kept = keptEntries(files, wanted);
  const held = new Map(files.map((file) => [file.n, [...(kept.get(file.n) ?? [])]]));
  // What is left of an entry a removal cut into pieces stays in its file when it fits.
  const pieces = new Map(
    files.map((file) => {
      const own = kept.get(file.n) ?? [];
      const cut = aggregate(file.entries).filter((entry) => !own.includes(entry) && !wanted.containing(entry));
      return [file.n, cut.length > 0 ? intersection(want, cut) : []];
    }),
  );
  const counts = new Map(files.map((file) => [file.n, countOf([...held.get(file.n)!, ...(file.fixed ?? [])])]));
  const fill = (n: number, family: IpFamily) => {
    const count = counts.get(n)!;
    return limit.perFamily ? count[family] : count[4] + count[6];
  };
  const hasRoom = (n: number, family: IpFamily) => fill(n, family) < limit.maxEntries;
  // A file over the limit (the limit was lowered, or a person added entries) gives up its last entries to others.
  const queue: Cidr[] = [];
  for (const file of files) {
    const entries = held.get(file.n)!;
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const family = familyOf(entries[index]!);
      if (fill(file.n, family) <= limit.maxEntries) continue;
      queue.push(...entries.splice(index, 1));
      counts.get(file.n)![family] -= 1;
    }
  }
  const place = (n: number, cidr: Cidr) => {
    held.get(n)!.push(cidr);
    counts.get(n)![familyOf(cidr)] += 1;
  };
  const placed = [...held.values()].flat();
  const moved = [...queue];
  for (const file of files) {
    const cut = pieces.get(file.n)!;
    // Against what is placed already: pieces of entries a person copied into two files are placed once.
    for (const piece of cut.length > 0 ? difference(cut, [...placed, ...moved]) : []) {
      if (hasRoom(file.n, familyOf(piece))) place(file.n, piece);
      else queue.push(piece);
      moved.push(piece);
    }
  }
  const fresh = sortCidrs([...queue, ...uncovered(want, wanted, [...placed, ...moved, ...[...pieces.values()].flat()])]);
  const taken = new Set([...files.map((file) => file.n), ...(input.reserved ?? [])]);
  const order = files.map((file) => file.n);
  for (const cidr of fresh) {
    const family = familyOf(cidr);
    let n = order.find((candidate) => hasRoom(candidate, family));
    if (n === undefined) {
      n = 1;
      while (taken.has(n)) n += 1;
      taken.add(n);
      order.push(n);
      order.sort((a, b) => a - b);
      held.set(n, []);
      counts.set(n, { 4: 0, 6: 0 });
    }
    place(n, cidr);
  }
  return new Map([...held].sort(([a], [b]) => a - b).map(([n, cidrs]) => [n, aggregate(cidrs)]));
}

/**
 * Per file, its entries that the set still holds whole. An entry a person copied into two files, or one inside
 * another file's wider entry, is kept once: in the wider entry's file, else in the lowest-numbered one.
 */
function keptEntries(files: readonly SplitFile[], wanted: PrefixIndex<boolean>): Map<number, Cidr[]> {
  const owners = new Map<Cidr, number>();
  for (const file of files) {
    for (const entry of aggregate(file.entries)) {
      if (wanted.containing(entry) && !owners.has(entry)) owners.set(entry, file.n);
    }
  }
  // Disjoint entries (what the tool writes) cover as many addresses together as one by one: no nesting to look for.
  const size = (cidr: Cidr) => 1n << BigInt((familyOf(cidr) === 4 ? 32 : 128) - prefixLengthOf(cidr));
  const nested = addressCount(owners.keys()) !== [...owners.keys()].reduce((sum, cidr) => sum + size(cidr), 0n);
  const candidates = nested ? new PrefixIndex(owners) : undefined;
  const kept = new Map<number, Cidr[]>();
  for (const [entry, n] of owners) {
    if (candidates && candidates.allContaining(entry).length > 1) continue;
    kept.set(n, [...(kept.get(n) ?? []), entry]);
  }
  return kept;
}

/**
 * What of `want` (aggregated, indexed as `wanted`) the entries `inside` it leave uncovered: per wanted prefix, only the
 * entries within it are subtracted, so a large set costs a lookup per entry rather than one set difference over all.
 */
function uncovered(want: readonly Cidr[], wanted: PrefixIndex<boolean>, inside: readonly Cidr[]): Cidr[] {
  const within = new Map<Cidr, Cidr[]>();
  for (const cidr of inside) {
    const outer = wanted.containing(cidr);
    if (outer !== undefined) within.set(outer, [...(within.get(outer) ?? []), cidr]);
  }
  return want.flatMap((outer) => {
    const parts = within.get(outer);
    return parts === undefined ? [outer] : difference([outer], parts);
  });
}

function countOf(cidrs: readonly Cidr[]): Record<IpFamily, number> {
  const count = { 4: 0, 6: 0 };
  for (const cidr of cidrs) count[familyOf(cidr)] += 1;
  return count;
}
