import { familyOf, type Cidr } from '../ipset.js';
import { writesEachAddress } from '../render/template.js';
import { capacityOfSets, decideCapacity, type CapacityDecision, type ConfiguredFile, type LimitedFile } from './capacity.js';
import { countEntries, type CountedFile } from './count.js';
import type { FileLimit } from './limit.js';
import { widenToFit, type WidenedCover } from './widen.js';

/** The file keys fitting reads: its limit, how far it may widen (`fit`), and how it writes its entries. */
export interface FittableFile extends LimitedFile, CountedFile {
  readonly fit?: { readonly widenTo?: number | undefined; readonly widenTo6?: number | undefined } | undefined;
}

/** A file that holds covering supernets instead of some published prefixes, to fit its limit. */
export interface Widening {
  /** Addresses the file allows that no source publishes (cover addresses beyond the published ones). */
  readonly extra: bigint;
  readonly covers: readonly WidenedCover[];
}

export interface FittedFile {
  /** What the config's own part of the file holds: its prefixes, or the widened cover when that was needed to fit. */
  readonly entries: readonly Cidr[];
  /** Undefined for a file without a limit. */
  readonly decision: CapacityDecision | undefined;
  readonly widening?: Widening;
}

/**
 * The entries a file writes of its own prefixes, within its limit when it can be: as they are when they fit, and
 * otherwise, when the file asks for it (`fit`), the cover that allows the fewest extra addresses (widen.ts). The
 * entries the config does not manage (`foreign`) are never widened, and count against the limit.
 */
export function fitFile(file: FittableFile, own: readonly Cidr[], foreign: readonly { readonly cidr: Cidr }[] = []): FittedFile {
  const decision = decideCapacity(file, countEntries(file, own, foreign));
  const { limit, fit } = file;
  // A template writing each address of a range on its own line only grows with widening.
  const widens = fit !== undefined && !(file.format === 'template' && file.line !== undefined && writesEachAddress(file.line));
  if (decision?.outcome !== 'exceeded' || limit === undefined || !widens) return { entries: own, decision };
  const reserved = { 4: foreign.filter((entry) => familyOf(entry.cidr) === 4).length, 6: 0 };
  reserved[6] = foreign.length - reserved[4];
  const result = widenToFit({
    prefixes: own,
    maxEntries: limit.maxEntries,
    perFamily: limit.perFamily,
    reserved,
    ...(fit.widenTo !== undefined ? { widenTo: fit.widenTo } : {}),
    ...(fit.widenTo6 !== undefined ? { widenTo6: fit.widenTo6 } : {}),
  });
  if (!result.fits) return { entries: own, decision: { ...decision, unfit: { minEntries: result.minEntries, ...widths(fit) } } };
  const widened = decideCapacity(file, countEntries(file, result.entries, foreign))!;
  const widening = { extra: result.extra.total, covers: result.widened };
  return { entries: result.entries, decision: { ...widened, widened: widenedText(widening, limit) }, widening };
}

function widths(fit: NonNullable<FittableFile['fit']>): { widenTo?: number; widenTo6?: number } {
  return {
    ...(fit.widenTo !== undefined ? { widenTo: fit.widenTo } : {}),
    ...(fit.widenTo6 !== undefined ? { widenTo6: fit.widenTo6 } : {}),
  };
}

/** The widening as the decision carries it: plain numbers and text, so reports and state can hold it as JSON. */
function widenedText(widening: Widening, limit: FileLimit): NonNullable<CapacityDecision['widened']> {
  return {
    extraAddresses: widening.extra.toString(),
    covers: widening.covers.length,
    replaced: widening.covers.reduce((sum, cover) => sum + cover.replaces.length, 0),
    maxEntries: limit.maxEntries,
  };
}

/** capacityOfSets, each file judged as it would be written: widened where its `fit` allows it. */
export function fittedCapacityOfSets(
  files: readonly (ConfiguredFile & FittableFile)[],
  sets: ReadonlyMap<string, readonly Cidr[]>,
): CapacityDecision[] {
  return capacityOfSets(files, sets, (file, own) => fitFile(file, own).decision);
}
