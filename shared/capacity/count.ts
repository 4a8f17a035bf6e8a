import { aggregate, familyOf, type Cidr } from '../ipset.js';
import { addressesIn, writesEachAddress } from '../render/template.js';

/** The entries a file holds, per address family, as the firewall counts them (one per rule, line or list item). */
export interface EntryCount {
  readonly ipv4: number;
  readonly ipv6: number;
}

/** What decides how a file writes its entries (FileSpec['format']): a template line with {ip} alone writes one line per address. */
export interface CountedFile {
  readonly format: string;
  readonly line?: string;
}

export function totalEntries(count: EntryCount): number {
  return count.ipv4 + count.ipv6;
}

/**
 * Entries as the file will hold them: the config's own addresses after aggregation (the renderer writes them so),
 * each range of a template line written once per address counted as its addresses, and every entry the file holds
 * that the config does not manage (a hand edit, another config's entries) once, as it is written.
 */
export function countEntries(file: CountedFile, own: readonly Cidr[], foreign: readonly { readonly cidr: Cidr }[] = []): EntryCount {
  const perAddress = file.format === 'template' && file.line !== undefined && writesEachAddress(file.line);
  const count = { ipv4: 0, ipv6: 0 };
  const add = (cidr: Cidr, entries: number) => {
    if (familyOf(cidr) === 4) count.ipv4 += entries;
    else count.ipv6 += entries;
  };
  for (const range of aggregate(own)) add(range, perAddress ? lines(range) : 1);
  for (const entry of foreign) add(entry.cidr, 1);
  return count;
}

/** A range written address by address; beyond what a number holds exactly it is over any limit anyway. */
function lines(range: Cidr): number {
  const addresses = addressesIn(range);
  return addresses > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(addresses);
}
