import { aggregate, familyOf, type Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import { countEntries, totalEntries, type CountedFile, type EntryCount } from './count.js';
import { DEFAULT_HEADROOM_WARN, type FileLimit } from './limit.js';
import { isSplitPath } from './split-path.js';

/**
 * Whether a file fits what its firewall takes (README "Firewall capacity"). Pure: the entries the file would hold,
 * counted by count.ts, against its `limit`; the engine withholds a file that does not fit and reports why.
 */

export type CapacityOutcome = 'fits' | 'headroom' | 'exceeded';

/** The file keys the decision reads. */
export interface LimitedFile {
  readonly path: string;
  readonly limit?: FileLimit | undefined;
  readonly headroomWarn?: number | undefined;
}

export interface CapacityDecision {
  readonly path: string;
  /** fits; headroom: fits, at headroomWarn or more of the limit; exceeded: over it, so the file is not written. */
  readonly outcome: CapacityOutcome;
  readonly limit: FileLimit;
  readonly headroomWarn: number;
  /** The entries the file would hold. */
  readonly count: EntryCount;
  /** The rendered file's size, when it was rendered. */
  readonly bytes?: number;
  /** The largest share of the limit any measure takes (a family's entries, all entries, the bytes); over 1 when exceeded. */
  readonly share: number;
  /** Exceeded although the file may widen (`fit`): the fewest entries its widenTo and widenTo6 allow. */
  readonly unfit?: { readonly minEntries: number; readonly widenTo?: number; readonly widenTo6?: number };
  /** Fits because it was widened (fit.ts): the addresses allowed beyond what the sources publish (a decimal count). */
  readonly widened?: { readonly extraAddresses: string; readonly covers: number; readonly replaced: number; readonly maxEntries: number };
}

/** Undefined for a file without a limit. `bytes` is the rendered size; without it `maxBytes` is not judged. */
export function decideCapacity(file: LimitedFile, count: EntryCount, bytes?: number): CapacityDecision | undefined {
  const { limit } = file;
  if (!limit) return undefined;
  const entryShares = limit.perFamily ? [count.ipv4, count.ipv6] : [totalEntries(count)];
  const shares = entryShares.map((entries) => entries / limit.maxEntries);
  if (limit.maxBytes !== undefined && bytes !== undefined) shares.push(bytes / limit.maxBytes);
  const share = Math.max(0, ...shares);
  const headroomWarn = file.headroomWarn ?? DEFAULT_HEADROOM_WARN;
  const outcome: CapacityOutcome = share > 1 ? 'exceeded' : share >= headroomWarn ? 'headroom' : 'fits';
  return { path: file.path, outcome, limit, headroomWarn, count, ...(bytes !== undefined ? { bytes } : {}), share };
}

/** A configured file as the decision and the count read it (a FileSpec). */
export interface ConfiguredFile extends LimitedFile, CountedFile {
  readonly targets: readonly string[];
  /** Only this family goes into the file (plain and template files). */
  readonly family?: 'ipv4' | 'ipv6' | undefined;
}

/**
 * Each limited file judged on what per-target sets (a proposal, a baseline) put into it, without the base branch:
 * entries the config does not manage are not counted here (planFiles counts them when it plans the files).
 */
export function capacityOfSets<F extends ConfiguredFile>(
  files: readonly F[],
  sets: ReadonlyMap<string, readonly Cidr[]>,
  /** How a file is judged on its own entries: as they are by default; fit.ts widens where the file asks for it. */
  judge: (file: F, own: Cidr[]) => CapacityDecision | undefined = (file, own) => decideCapacity(file, countEntries(file, own)),
): CapacityDecision[] {
  return files.flatMap((file) => {
    // A split set writes as many files as its limit requires, each judged when the files are planned (planFiles).
    if (!file.limit || isSplitPath(file.path)) return [];
    const family = file.family === undefined ? undefined : file.family === 'ipv4' ? 4 : 6;
    const own = aggregate(file.targets.flatMap((id) => sets.get(id) ?? [])).filter((c) => family === undefined || familyOf(c) === family);
    return judge(file, own) ?? [];
  });
}

/** What would make an exceeded file fit; the split and fit sections of the README say how each works. */
export const CAPACITY_OPTIONS =
  'split it over numbered files ({n} in the path, e.g. "sg/cas-{n}.auto.tfvars.json"), let it widen prefixes ("fit": {"widenTo": N}), or give it a larger limit if the firewall takes more';

/** Additions the file would carry whose traffic fails until they are allowlisted (a front-end's new address). */
export interface UrgentAdditions {
  readonly cidrs: readonly Cidr[];
  /** The targets they come from. */
  readonly targets: readonly string[];
}

/**
 * The problem a decision reports: `capacity-exceeded` (the file waits) or `capacity-headroom` (it fits, barely);
 * undefined when it fits with room to spare. An urgent addition that cannot be written says so first.
 */
export function capacityProblem(decision: CapacityDecision, urgent?: UrgentAdditions): Problem | undefined {
  if (decision.outcome === 'fits') return undefined;
  if (decision.outcome === 'headroom') {
    return {
      code: 'capacity-headroom',
      message: `${decision.path} holds ${holds(decision)}, ${percent(decision.share)} of its limit of ${limitText(decision.limit)} (headroomWarn ${decision.headroomWarn}): the next additions may not fit; before they come, ${CAPACITY_OPTIONS}`,
    };
  }
  const lead =
    urgent && urgent.cidrs.length > 0
      ? `${URGENT}${urgent.cidrs.length === 1 ? 'a new address' : `${urgent.cidrs.length} new addresses`} of ${urgent.targets.join(', ')} (${shown(urgent.cidrs)}), whose traffic is blocked until allowlisted, cannot be written: `
      : '';
  return {
    code: 'capacity-exceeded',
    message: `${lead}${decision.path} is not written: it would hold ${holds(decision)}, over its limit of ${limitText(decision.limit)}${bytesText(decision)}${unfitText(decision)}. The other files publish as usual; this one waits, and what it would add stays pending. To make it fit, ${CAPACITY_OPTIONS}.`,
  };
}

const URGENT = 'URGENT: ';

/** A capacity-exceeded problem that holds back an urgent address: reports put it first. */
export function isUrgentProblem(problem: Problem): boolean {
  return problem.code === 'capacity-exceeded' && problem.message.startsWith(URGENT);
}

/** "2,302 entries (IPv4 1,900, IPv6 402)", per family when the limit counts families apart. */
function holds({ count, limit }: CapacityDecision): string {
  const total = `${number(totalEntries(count))} ${totalEntries(count) === 1 ? 'entry' : 'entries'}`;
  return limit.perFamily || (count.ipv4 > 0 && count.ipv6 > 0)
    ? `${total} (IPv4 ${number(count.ipv4)}, IPv6 ${number(count.ipv6)})`
    : total;
}

export function limitText(limit: FileLimit): string {
  const entries = `${number(limit.maxEntries)} ${limit.perFamily ? 'entries per address family' : 'entries'}`;
  const bytes = limit.maxBytes !== undefined ? ` and ${number(limit.maxBytes)} bytes` : '';
  return `${entries}${bytes}${limit.preset ? ` ("${limit.preset}")` : ''}`;
}

/** Why its `fit` did not help: even the widest covers it allows leave more entries than the limit. */
function unfitText({ unfit }: CapacityDecision): string {
  if (!unfit) return '';
  const widths = [
    ...(unfit.widenTo !== undefined ? [`IPv4 to /${unfit.widenTo}`] : []),
    ...(unfit.widenTo6 !== undefined ? [`IPv6 to /${unfit.widenTo6}`] : []),
  ];
  return `; even widened as far as its fit allows (${widths.join(', ')}), it needs at least ${number(unfit.minEntries)} entries`;
}

/** The line a widened file gets in the PR and the report: how many addresses it allows that no source publishes. */
export function widenedText(decision: CapacityDecision): string | undefined {
  const { widened } = decision;
  if (!widened) return undefined;
  return `widened to fit its limit of ${limitText(decision.limit)}: ${widened.covers} covering ${widened.covers === 1 ? 'prefix replaces' : 'prefixes replace'} ${number(widened.replaced)} published ones, and the file allows ${BigInt(widened.extraAddresses).toLocaleString('en-US')} addresses beyond what the sources publish`;
}

function bytesText({ bytes, limit }: CapacityDecision): string {
  return bytes !== undefined && limit.maxBytes !== undefined && bytes > limit.maxBytes
    ? ` (its ${number(bytes)} bytes are over maxBytes)`
    : '';
}

function percent(share: number): string {
  return `${Math.floor(share * 100)} %`;
}

function number(value: number): string {
  return value.toLocaleString('en-US');
}

function shown(cidrs: readonly Cidr[]): string {
  return cidrs.length > 5 ? `${cidrs.slice(0, 5).join(', ')}, …` : cidrs.join(', ');
}
