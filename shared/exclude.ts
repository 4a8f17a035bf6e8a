import type { Target } from './config.js';
import type { TargetDrift } from './drift/drift.js';
import { covers, difference, intersection, sameAddresses, union, type Cidr } from './ipset.js';
import type { Observation } from './sources/source.js';

/**
 * A target's `exclude`: addresses people keep out of its part of the files whatever its source says. The
 * observation loses them before the guards see it, and the drift proposes without them; an approved one leaves the
 * files as a removal the config itself asks for, so it needs no streak of misses.
 */

export function exclusionsOf(target: Target): Cidr[] {
  return union(target.exclude ?? []);
}

/** The observation without the excluded addresses; an entry that straddles an exclusion keeps the rest, and its evidence. */
export function withoutExcluded(observation: Observation, exclude: readonly Cidr[]): Observation {
  if (exclude.length === 0) return observation;
  return {
    ...observation,
    entries: observation.entries.flatMap((entry) => difference([entry.cidr], exclude).map((cidr) => ({ ...entry, cidr }))),
  };
}

/**
 * The drift as the exclusion leaves it: nothing excluded is proposed, an approved excluded address is a removal,
 * and the report says what the exclusion withheld (observed or approved addresses it covers).
 */
export function applyExclusion(drift: TargetDrift, exclude: readonly Cidr[], observed: readonly Cidr[]): TargetDrift {
  if (exclude.length === 0) return drift;
  const baseline = drift.report.baseline;
  const excluded = intersection(union(observed, baseline, drift.proposed), exclude);
  const proposed = difference(drift.proposed, exclude);
  const report = {
    ...drift.report,
    added: difference(drift.report.added, exclude),
    removed: difference(drift.report.removed, exclude),
    pendingRemoval: drift.report.pendingRemoval.filter((item) => !covers(exclude, item.cidr)),
    ...(excluded.length > 0 ? { excluded } : {}),
  };
  const nextRecord = drift.nextRecord.proposed ? { ...drift.nextRecord, proposed } : drift.nextRecord;
  return { ...drift, report, proposed, changed: !sameAddresses(proposed, baseline), nextRecord };
}
