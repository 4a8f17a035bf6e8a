import type { Policy } from '../config.js';
import { addressCount, aggregate, classifyAll, covers, familyOf, prefixLengthOf, type Cidr, type IpFamily } from '../ipset.js';
import type { Verdict } from '../report.js';
import { broadestPrefixOf, isConfiguredKind } from '../sources/registry.js';
import type { ObservedEntry } from '../sources/source.js';

/** What the guards look at: one target's usable observation and the change it would cause. */
export interface GuardInput {
  /** Only a complete observation can show that a source has gone empty; a partial one is empty by failure. */
  readonly status: 'ok' | 'partial';
  readonly entries: readonly ObservedEntry[];
  /** The approved set; null when nothing was ever approved (the first proposal adds everything). */
  readonly baseline: readonly Cidr[] | null;
  /** Aggregated addresses the observation would add to the baseline. */
  readonly added: readonly Cidr[];
  /** Aggregated baseline addresses the observation no longer shows (removed only after enough misses). */
  readonly removalCandidates: readonly Cidr[];
  readonly policy: Policy;
}

/** How many offending CIDRs a message names before it only counts the rest. */
const NAMED_IN_MESSAGE = 5;

/** Every guard's verdict, passing ones included so reviewers can see what was checked and with which figures. */
export function evaluateGuards(input: GuardInput): Verdict[] {
  return [emptyObservation(input), massRemoval(input), massAddition(input), rangeFlood(input), broadPrefix(input), specialRange(input)];
}

/**
 * Written into the config by a person (each source declares which of its evidence kinds are, e.g. static
 * entries and VPN ranges), so private space and broad prefixes are deliberate there. An entry with no evidence at all is treated as coming from a public source.
 */
export function isConfigured(entry: ObservedEntry): boolean {
  return entry.evidence.length > 0 && entry.evidence.every((evidence) => isConfiguredKind(evidence.kind));
}

function emptyObservation({ status, entries }: GuardInput): Verdict {
  if (status === 'ok' && entries.length === 0) {
    return hold(
      'empty-observation',
      'the source answered with no addresses at all; an empty answer is treated as a failure, never as "remove everything"',
    );
  }
  return pass('empty-observation', `${entries.length} ${plural(entries.length, 'entry', 'entries')} observed`);
}

/**
 * A list that lost much of its addresses, or much of its lines, is more likely broken upstream than shrunk:
 * losing most /32s of a list that also holds a few large ranges is a small share of addresses but a huge delta.
 */
function massRemoval({ baseline, removalCandidates, policy }: GuardInput): Verdict {
  const limit = `the limit is ${percent(policy.maxRemoveRatio)} of a family's baseline addresses or ranges, in more than ${policy.minChangeForRatio} ${plural(policy.minChangeForRatio, 'range', 'ranges')}`;
  for (const family of FAMILIES) {
    const candidates = removalCandidates.filter((cidr) => familyOf(cidr) === family);
    if (candidates.length === 0) continue;
    const familyBaseline = (baseline ?? []).filter((cidr) => familyOf(cidr) === family);
    const addresses = addressRatio(candidates, familyBaseline);
    const ranges = candidates.length / Math.max(1, familyBaseline.length);
    if (Math.max(addresses, ranges) > policy.maxRemoveRatio && candidates.length > policy.minChangeForRatio) {
      return hold(
        'mass-removal',
        `${candidates.length} IPv${family} ${plural(candidates.length, 'range', 'ranges')} (${percent(addresses)} of the baseline's IPv${family} addresses, ${percent(Math.min(1, ranges))} of its ranges) are no longer observed; ${limit}: ${nameList(candidates)}`,
      );
    }
  }
  return pass(
    'mass-removal',
    `${removalCandidates.length} ${plural(removalCandidates.length, 'range', 'ranges')} no longer observed; ${limit}`,
  );
}

/**
 * Growth is judged by its shape, not by its ratio to the baseline. Real lists grow in two ordinary ways: a few new
 * ranges of the size the source already publishes (six /26 and /27 mail-server ranges added to thirty /32s, about
 * 8 times the addresses), or new data centers listed as /32s (82 addresses becoming 422). Either is a large ratio to
 * a small baseline and neither is suspicious, so ranges no broader than the family's usual prefix pass however many
 * there are: the PR shows each one to the reviewers. What a broken or tampered list adds that a genuine one does not
 * is a block broader than anything the source publishes (a /16 slipped into a list of hosts), so only new ranges
 * broader than the usual prefix are weighed, against `maxAddRatio` of the family's baseline addresses.
 * The usual prefix is the broadest one the baseline already holds, but never narrower than a /24 (IPv4) or /48
 * (IPv6): the smallest blocks routed on the internet, so any provider's new range may take one.
 */
function massAddition({ baseline, added, policy }: GuardInput): Verdict {
  if (baseline === null) return pass('mass-addition', 'no approved baseline yet: the first proposal adds every observed address');
  const usualPrefixes: string[] = [];
  for (const family of FAMILIES) {
    const familyBaseline = baseline.filter((cidr) => familyOf(cidr) === family);
    // A family the baseline does not have yet (say, a first AAAA record) has no size to compare with.
    if (familyBaseline.length === 0) continue;
    const usual = usualPrefix(family, familyBaseline);
    usualPrefixes.push(`/${usual} for IPv${family}`);
    const broad = added.filter((cidr) => familyOf(cidr) === family && prefixLengthOf(cidr) < usual);
    const ratio = addressRatio(broad, familyBaseline);
    if (broad.length > 0 && ratio > policy.maxAddRatio) {
      return hold(
        'mass-addition',
        `${broad.length} new IPv${family} ${plural(broad.length, 'range is', 'ranges are')} broader than the usual /${usual} ` +
          `and together ${share(ratio)} the baseline's IPv${family} addresses; ranges broader than the usual prefix ` +
          `are held above ${percent(policy.maxAddRatio)} of a family's baseline addresses: ${nameList(broad)}`,
      );
    }
  }
  const usual = usualPrefixes.length > 0 ? usualPrefixes.join(' and ') : 'the baseline';
  return pass(
    'mass-addition',
    `${added.length} new ${plural(added.length, 'range', 'ranges')}; any number of ranges up to ${usual} may be added, ` +
      `broader ones up to ${percent(policy.maxAddRatio)} of a family's baseline addresses`,
  );
}

/**
 * Growth by shape lets any number of narrow ranges through, which is right for real lists but also lets a tampered
 * one inject a flood of /32s (100,000 of them into a 7-range service tag): each is ordinary, together they are not.
 * Real lists grow by tens or hundreds of ranges at a time, even by twentyfold (28 CAS ranges became 602 between
 * the 2018 and 2024 pages), so a count is held only above a floor no real history reached
 * (`minNewRangesForRatio`, above the largest whole service tag) and above `maxNewRangesRatio` times the ranges the
 * family's baseline already has. Counted per family, on aggregated ranges, so a list rewritten as /32s that merge
 * back into its old blocks adds nothing.
 */
function rangeFlood({ baseline, added, policy }: GuardInput): Verdict {
  const rule = `more than ${policy.minNewRangesForRatio} new ranges of a family, and more than ${policy.maxNewRangesRatio} times the ranges its baseline has, are held`;
  if (baseline === null) return pass('range-flood', 'no approved baseline yet: the first proposal is reviewed whole');
  for (const family of FAMILIES) {
    const fresh = added.filter((cidr) => familyOf(cidr) === family).length;
    const had = aggregate(baseline.filter((cidr) => familyOf(cidr) === family)).length;
    if (fresh > policy.minNewRangesForRatio && fresh > policy.maxNewRangesRatio * had) {
      return hold(
        'range-flood',
        `${fresh} new IPv${family} ranges against ${had} in the baseline; ${rule}: ${nameList(added.filter((cidr) => familyOf(cidr) === family))}`,
      );
    }
  }
  return pass('range-flood', `${added.length} new ${plural(added.length, 'range', 'ranges')}; ${rule}`);
}

/** Ranges up to this length are ordinary in any list: the smallest blocks routed on the internet. */
const ORDINARY_PREFIX: Readonly<Record<IpFamily, number>> = { 4: 24, 6: 48 };

/** The broadest prefix a family's baseline holds, or the ordinary block size when the baseline only holds smaller ones. */
function usualPrefix(family: IpFamily, familyBaseline: readonly Cidr[]): number {
  return Math.min(ORDINARY_PREFIX[family], ...familyBaseline.map(prefixLengthOf));
}

/**
 * Whether an observed entry is part of the change: an entry the approved baseline already covers was judged when it
 * was approved, so it holds nothing back again (an approved /15 would otherwise hold its target forever).
 */
function isNew(baseline: GuardInput['baseline'], cidr: Cidr): boolean {
  return baseline === null || !covers(baseline, cidr);
}

/**
 * A prefix broader than the policy's minimum is held unless its source declares it publishes prefixes that broad
 * (AWS lists IPv4 blocks of /11): then that source's own broadest prefix is the limit for its entries.
 */
function broadPrefix({ entries, baseline, policy }: GuardInput): Verdict {
  const minimum = { 4: policy.minPrefixLength.ipv4, 6: policy.minPrefixLength.ipv6 } as const;
  // No approval ever releases a /0, so one is never in a baseline: it is judged wherever it appears.
  const everything = entries.filter((entry) => prefixLengthOf(entry.cidr) === 0).map((entry) => entry.cidr);
  if (everything.length > 0) {
    return hold('broad-prefix', `${nameList(everything)} would allow every address; a /0 is never accepted, not even from the config`);
  }
  const declared = new Map<string, string>();
  const limitOf = (entry: ObservedEntry): number => {
    const family = familyOf(entry.cidr);
    let limit: number = minimum[family];
    for (const { kind } of entry.evidence) {
      const broadest = broadestPrefixOf(kind);
      const own = broadest && (family === 4 ? broadest.ipv4 : broadest.ipv6);
      if (own !== undefined && own < limit) {
        limit = own;
        declared.set(`${kind} ${family}`, `/${own} (IPv${family}) for ${kind} entries, as that source publishes`);
      }
    }
    return limit;
  };
  const broad = entries
    .filter((entry) => !isConfigured(entry) && prefixLengthOf(entry.cidr) < limitOf(entry))
    .map((entry) => entry.cidr)
    .filter((cidr) => isNew(baseline, cidr));
  const wider = declared.size > 0 ? `, except ${[...declared.values()].join(' and ')}` : '';
  const rule = `public sources may not publish prefixes shorter than /${minimum[4]} (IPv4) or /${minimum[6]} (IPv6)${wider}`;
  if (broad.length > 0) {
    return hold(
      'broad-prefix',
      `${broad.length} ${plural(broad.length, 'entry is', 'entries are')} broader than allowed (${rule}): ${nameList(broad)}`,
    );
  }
  return pass('broad-prefix', `no /0, and ${rule}`);
}

function specialRange({ entries, baseline }: GuardInput): Verdict {
  const publicCidrs = entries.filter((entry) => !isConfigured(entry)).map((entry) => entry.cidr);
  const classified = classifyAll(publicCidrs);
  const special = publicCidrs.flatMap((cidr) => {
    const ranges = classified.get(cidr);
    return ranges && isNew(baseline, cidr) ? [{ cidr, ranges }] : [];
  });
  if (special.length > 0) {
    const named = special.map((found) => `${found.cidr} (${found.ranges.join(', ')})`);
    return hold(
      'special-range',
      `${special.length} ${plural(special.length, 'entry', 'entries')} from a public source ${plural(special.length, 'is', 'are')} in special-purpose address space: ${nameList(named)}`,
    );
  }
  return pass(
    'special-range',
    'no entry from a public source is in special-purpose address space (configured static and VPN entries are exempt)',
  );
}

const FAMILIES: readonly IpFamily[] = [4, 6];

/** Ratio of address counts; counts are bigints (an IPv6 /32 has 2^96 addresses), so divide in floating point. */
function addressRatio(part: readonly Cidr[], whole: readonly Cidr[]): number {
  const total = addressCount(whole);
  if (total === 0n) return part.length === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Number(addressCount(part)) / Number(total);
}

function pass(guard: Verdict['guard'], message: string): Verdict {
  return { guard, outcome: 'pass', message };
}

function hold(guard: Verdict['guard'], message: string): Verdict {
  return { guard, outcome: 'hold', message };
}

function nameList(items: readonly string[]): string {
  const named = items.slice(0, NAMED_IN_MESSAGE).join(', ');
  const rest = items.length - NAMED_IN_MESSAGE;
  return rest > 0 ? `${named} and ${rest} more` : named;
}

/**
 * "37.5% of" up to ten times the whole, "5,461 times" beyond: a share in the millions of percent (a /0 against a few
 * hosts) reads as noise, while "5,461 times" and "over a million times" say at a glance how much larger it is.
 */
function share(ratio: number): string {
  if (ratio <= 10) return `${percent(ratio)} of`;
  if (ratio >= 1_000_000) return 'over a million times';
  return `${Math.round(ratio).toLocaleString('en-US')} times`;
}

function percent(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'all';
  return `${Math.round(ratio * 1000) / 10}%`;
}

function plural(count: number, one: string, many: string): string {
  return count === 1 ? one : many;
}
