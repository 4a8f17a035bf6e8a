import { createHash } from 'node:crypto';
import type { Policy, Target } from '../config.js';
import { evaluateGuards } from './guards.js';
import { aggregate, difference, sameAddresses, semanticDiff, sortCidrs, tryParseCidr, union, PrefixIndex, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';
import type { TargetReport, Verdict } from '../report.js';
import type { EntryEvidence, Observation, UnknownScope } from '../sources/source.js';
import type { Approval, HeldChange, MissingEntry, StoredObservation, TargetRecord } from '../state/records.js';

export interface TargetDrift {
  readonly report: TargetReport;
  /** What the rule files should hold for this target (aggregated); the baseline when held or failed. */
  readonly proposed: Cidr[];
  /** Whether `proposed` differs, as addresses, from the baseline (a never-approved baseline counts as empty). */
  readonly changed: boolean;
  /** Per observed CIDR, why it is there: the PR body shows it to reviewers. */
  readonly evidence: Record<string, EntryEvidence[]>;
  /** Per observed CIDR, when it was first seen. */
  readonly firstSeen: Record<string, string>;
  /** The record to store after this check; its baseline is unchanged (only a merged PR or an accept changes it). */
  readonly nextRecord: TargetRecord;
  /**
   * Baseline parts whose absence this check cannot judge (see `entriesInUnknownScopes`): none after a complete
   * check, all missing ones after a failed or unscoped partial one. After a partial check with unknown scopes, also
   * the previous proposal's pending additions that last stood in those scopes (`pendingInUnknownScopes`), and
   * `proposed` already keeps all these parts as the previous proposal had them and applies this check to the rest.
   */
  readonly unjudged?: Cidr[];
  /**
   * Only after a partial check that named what it could not read and was not held: those parts. Such a check judged
   * everything outside them, so a proposal carried from the open PR is kept for `unjudged` alone.
   */
  readonly unknownScopes?: readonly UnknownScope[];
}

export interface DriftInput {
  readonly target: Target;
  readonly observation: Observation;
  readonly record: TargetRecord | undefined;
  readonly policy: Policy;
  /** ISO time of this check. */
  readonly now: string;
  /**
   * What the base branch's rule files of this target already hold, read while it has no approved baseline: growth
   * is then judged against them, so a change held under one config name is held again under a new one. Absent or
   * empty (a fresh repository): the first proposal is reviewed whole.
   */
  readonly onBase?: readonly Cidr[];
}

/** One line of the PR's "added" table: an aggregated added range and what was observed inside or around it. */
export interface AddedRow {
  readonly cidr: Cidr;
  readonly evidence: EntryEvidence[];
  /** Earliest first-seen time of the observed entries behind the range. */
  readonly firstSeen?: string;
}

/** One line of the PR's "removed" table, with the fewest consecutive misses of any part of the range. */
export interface RemovedRow {
  readonly cidr: Cidr;
  readonly misses: number;
}

/**
 * Compares one target's observation with its approved baseline and decides what to propose.
 * The product promise is that no allowlist entry is ever lost by accident: a failed, partial or
 * guarded check never removes anything, and a removal needs `removeAfterMisses` complete checks in a row.
 */
export function computeDrift(input: DriftInput): TargetDrift {
  const { target, observation, record, policy, now } = input;
  if (observation.targetId !== target.id) {
    throw new AllowlistError(
      'observation-mismatch',
      `an observation of target "${observation.targetId}" was compared with target "${target.id}"`,
    );
  }
  const baseline = record?.baseline ?? null;
  const approved = baseline ?? [];
  const previousMisses = record?.misses ?? {};
  const previousFirstSeen = record?.firstSeen ?? {};
  const observed = sortCidrs(observation.entries.map((entry) => entry.cidr));
  const evidence = evidenceByCidr(observation);

  // A partial check that names what it could not read judges everything else as a complete one would.
  const scoped = observation.status === 'partial' && observation.unknownScopes !== undefined;
  const unjudged = scoped
    ? union(entriesInUnknownScopes(record, observation), pendingInUnknownScopes(record, observation))
    : entriesInUnknownScopes(record, observation);

  let outcome: Outcome;
  // An approved held change goes on as if its guards had passed: added at once, removed after enough misses.
  let approval: Approval | undefined;
  // A held flood is kept out of the record: it could not be stored, and nothing of it is needed to release it.
  let flood = false;
  if (observation.status === 'error') {
    outcome = unchanged('error', [], previousMisses);
  } else {
    const diff = semanticDiff(approved, observed);
    // Only a complete check (or the readable part of a scoped one) against an approved baseline can show that
    // something is no longer there.
    const judged = observation.status === 'ok' || scoped;
    const candidates = baseline !== null && judged ? (unjudged.length > 0 ? difference(diff.removed, unjudged) : diff.removed) : [];
    const onBase = baseline === null && input.onBase && input.onBase.length > 0 ? aggregate(input.onBase) : null;
    const verdicts = evaluateGuards({
      status: observation.status,
      entries: observation.entries,
      baseline: baseline ?? onBase,
      added: onBase ? semanticDiff(onBase, observed).added : diff.added,
      removalCandidates: candidates,
      policy,
    });
    const holding = verdicts.some((verdict) => verdict.outcome === 'hold');
    const change = holding ? heldChange(target.id, { added: diff.added, removed: candidates }, record?.held, now) : undefined;
    // A change that would allow every address (a /0, even split around the baseline) is released by no approval.
    // The whole change is weighed, not the bounded sample a held change keeps.
    approval =
      change && releasable(approved, { added: diff.added }) && record?.approval?.fingerprint === change.fingerprint
        ? record.approval
        : undefined;
    if (change && !approval) {
      flood = verdicts.some((verdict) => verdict.guard === 'range-flood' && verdict.outcome === 'hold');
      outcome = { ...unchanged('held', verdicts, forgetObserved(previousMisses, observed)), held: change };
    } else if (!judged) {
      // What did answer can add addresses; what did not answer proves nothing about absence.
      outcome = { status: 'partial', verdicts, added: diff.added, removed: [], misses: forgetObserved(previousMisses, observed) };
    } else {
      const counted = countMisses(candidates, previousMisses);
      const removedPieces = [...counted].filter(([, count]) => count >= policy.removeAfterMisses).map(([cidr]) => cidr);
      // Counters of what this check could not see stay as they were: neither a miss nor a sighting.
      const kept = scoped ? keepCounters(previousMisses, unjudged) : {};
      outcome = {
        status: observation.status,
        verdicts,
        added: diff.added,
        removed: aggregate(removedPieces),
        misses: { ...kept, ...Object.fromEntries(counted) },
      };
    }
  }

  // A failed check knows nothing new: it keeps what the last good check proposed, so one timeout
  // does not drop a pending addition or confirmed removal from an open PR.
  // A scoped partial check does the same for the parts it could not read, and judges the rest.
  const judgedProposal = difference(union(approved, outcome.added), outcome.removed);
  const proposed =
    observation.status === 'error' && record?.proposed
      ? [...record.proposed]
      : scoped && outcome.status !== 'held' && record?.proposed && unjudged.length > 0
        ? union(difference(judgedProposal, unjudged), intersection(record.proposed, unjudged))
        : judgedProposal;
  const firstSeen = flood
    ? { ...previousFirstSeen }
    : observation.status === 'ok'
      ? refreshFirstSeen(previousFirstSeen, observed, approved, now)
      : observation.status === 'partial'
        ? addFirstSeen(previousFirstSeen, observed, now)
        : { ...previousFirstSeen };
  const stored = flood ? withoutFlood(observation, union(approved, record?.proposed ?? [])) : storedObservation(observation);
  const missingEvidence =
    observation.status === 'error' ? record?.missingEvidence : evidenceOfMissing(record, union(approved, record?.proposed ?? []), observed);
  // Nothing approved, nothing proposed before, and no usable check now: this target's addresses are unknown,
  // which is not the same as "none". Leaving `proposed` unset lets the engine refuse to write files without it.
  const unknown = baseline === null && !record?.proposed && (observation.status === 'error' || outcome.status === 'held');

  const report: TargetReport = {
    id: target.id,
    type: target.type,
    status: outcome.status,
    observed,
    baseline: [...approved],
    added: outcome.added,
    removed: outcome.removed,
    pendingRemoval: pendingRemovals(outcome.misses, policy.removeAfterMisses),
    warnings: [...observation.warnings],
    errors: [...observation.errors],
    verdicts: outcome.verdicts,
    ...(outcome.held ? { held: outcome.held } : {}),
    ...(approval ? { approval } : {}),
    observedAt: observation.observedAt,
  };
  const nextRecord: TargetRecord = {
    ...(record ?? { targetId: target.id, baseline: null }),
    targetId: target.id,
    baseline,
    observation: stored,
    ...(observation.status !== 'error' && !flood ? { lastGood: stored } : {}),
    ...(missingEvidence && missingEvidence.length > 0 ? { missingEvidence } : { missingEvidence: undefined }),
    ...(unknown ? {} : { proposed }),
    misses: { ...outcome.misses },
    firstSeen,
    lastCheckAt: now,
    ...(outcome.status === 'ok' || outcome.status === 'partial' ? { lastGoodCheckAt: now } : {}),
    lastStatus: outcome.status,
    lastErrors: [...observation.errors],
    lastWarnings: [...observation.warnings],
    verdicts: outcome.verdicts,
    held: outcome.held,
    // Kept while it is in use, and through a check that shows nothing (a timeout) or another held change (the
    // approved one may come back); dropped once the guards pass on their own (the change was merged or went away).
    approval: approval ?? (observation.status === 'error' || outcome.status === 'held' ? record?.approval : undefined),
  };
  return {
    report,
    proposed,
    changed: !sameAddresses(proposed, approved),
    evidence,
    firstSeen,
    nextRecord,
    unjudged,
    ...(scoped && outcome.status === 'partial' ? { unknownScopes: observation.unknownScopes } : {}),
  };
}

/** Whether an evidence lies in a scope: it has every field of the scope, with the same value. */
export function evidenceInScope(evidence: EntryEvidence, scope: UnknownScope): boolean {
  const fields = evidence as unknown as Readonly<Record<string, unknown>>;
  return Object.entries(scope).every(([field, value]) => fields[field] === value);
}

/**
 * The baseline parts (aggregated) whose absence from this observation proves nothing, so they are kept as they
 * are: after a complete check none; after a failed check, or a partial one that cannot say what it missed, every
 * baseline part it did not observe; after a partial check with `unknownScopes`, the missing parts whose last known
 * evidence (the entries of the record's last good observation) lies in an unknown scope, or that have no known
 * evidence at all. Everything else missing is a miss like after a complete check.
 *
 * For `accept` of a partial check: the new baseline is the observation plus these parts. For carrying a
 * proposal: these parts keep what the previous proposal said about them.
 */
export function entriesInUnknownScopes(
  record: Pick<TargetRecord, 'baseline' | 'lastGood' | 'missingEvidence'> | undefined,
  observation: Pick<Observation, 'status' | 'entries' | 'unknownScopes'>,
): Cidr[] {
  return unobservedInUnknownScopes(record?.baseline ?? [], record, observation);
}

/**
 * The previous proposal's additions not approved yet (a pending PR's new addresses) that this partial check with
 * `unknownScopes` did not observe and that last stood in an unknown scope, or of which nothing is known: the check
 * cannot tell that they are gone, so a typo in one cell does not withdraw them from the open PR.
 */
function pendingInUnknownScopes(
  record: Pick<TargetRecord, 'baseline' | 'proposed' | 'lastGood' | 'missingEvidence'> | undefined,
  observation: Pick<Observation, 'status' | 'entries' | 'unknownScopes'>,
): Cidr[] {
  return unobservedInUnknownScopes(difference(record?.proposed ?? [], record?.baseline ?? []), record, observation);
}

/** The parts of `cidrs` this observation did not see and cannot judge, by their last known evidence. */
function unobservedInUnknownScopes(
  cidrs: readonly Cidr[],
  record: Pick<TargetRecord, 'lastGood' | 'missingEvidence'> | undefined,
  observation: Pick<Observation, 'status' | 'entries' | 'unknownScopes'>,
): Cidr[] {
  if (observation.status === 'ok' || cidrs.length === 0) return [];
  const missing = difference(
    cidrs,
    observation.entries.map((entry) => entry.cidr),
  );
  const scopes = observation.unknownScopes;
  if (observation.status === 'error' || scopes === undefined || missing.length === 0) return missing;
  const last = [...(record?.lastGood?.entries ?? []), ...(record?.missingEvidence ?? [])].filter((entry) => entry.evidence.length > 0);
  const inScope = last.filter((entry) => entry.evidence.some((evidence) => scopes.some((scope) => evidenceInScope(evidence, scope))));
  return union(
    difference(
      missing,
      last.map((entry) => entry.cidr),
    ),
    intersection(
      missing,
      inScope.map((entry) => entry.cidr),
    ),
  );
}

/**
 * The last known evidence of approved or proposed entries this check did not observe, carried from the previous
 * record, so that their absence can still be judged by where they stood when the next check is partial (and a PR
 * removing one can say where and when it was last seen): the entries of the last good observation, then those
 * carried before, each kept while it is approved or proposed and not observed in full.
 */
function evidenceOfMissing(
  record: TargetRecord | undefined,
  tracked: readonly Cidr[],
  observed: readonly Cidr[],
): MissingEntry[] | undefined {
  const lastGood = record?.lastGood;
  const known: MissingEntry[] = [
    ...(lastGood?.entries ?? []).map((entry) => ({ ...entry, seenAt: lastGood!.observedAt })),
    ...(record?.missingEvidence ?? []),
  ];
  if (known.length === 0 || tracked.length === 0) return undefined;
  const trackedIndex = new PrefixIndex(aggregate(tracked).map((cidr) => [cidr, cidr] as const));
  const observedIndex = new PrefixIndex(aggregate(observed).map((cidr) => [cidr, cidr] as const));
  const kept = new Map<Cidr, MissingEntry>();
  for (const entry of known) {
    if (kept.has(entry.cidr) || entry.evidence.length === 0) continue;
    if (observedIndex.containing(entry.cidr) || !trackedIndex.containing(entry.cidr)) continue;
    kept.set(entry.cidr, { cidr: entry.cidr, evidence: [...entry.evidence], ...(entry.seenAt ? { seenAt: entry.seenAt } : {}) });
  }
  return sortCidrs(kept.keys()).map((cidr) => kept.get(cidr)!);
}

/** Addresses in both sets, aggregated. */
function intersection(a: Iterable<Cidr>, b: Iterable<Cidr>): Cidr[] {
  const left = [...a];
  return difference(left, difference(left, b));
}

/** The previous counters, cut to the parts inside `unjudged`, with their counts unchanged. */
function keepCounters(misses: Readonly<Record<string, number>>, unjudged: readonly Cidr[]): Record<string, number> {
  if (unjudged.length === 0) return {};
  const kept: Record<string, number> = {};
  for (const [key, count] of Object.entries(misses)) {
    const cidr = tryParseCidr(key);
    if (!cidr || !Number.isInteger(count) || count <= 0) continue;
    for (const piece of intersection([cidr], unjudged)) kept[piece] = count;
  }
  return kept;
}

/**
 * The rows of a drift already worked out, and what they were worked out from: a PR body asks for them several times
 * (its summary, its list, and again for its fingerprint), and over thousands of prefixes each time costs.
 */
const rowsOfDrift = new WeakMap<
  TargetDrift,
  {
    readonly added: readonly Cidr[];
    readonly count: number;
    readonly from: TargetDrift['evidence'];
    readonly seen: TargetDrift['firstSeen'];
    readonly rows: readonly AddedRow[];
  }
>();

/** The added ranges with the evidence and first-seen times of the observed entries they came from. */
export function addedRows(drift: TargetDrift): readonly AddedRow[] {
  const known = rowsOfDrift.get(drift);
  const same =
    known?.added === drift.report.added &&
    known.count === drift.report.added.length &&
    known.from === drift.evidence &&
    known.seen === drift.firstSeen;
  if (same) return known.rows;
  const rows = workOutAddedRows(drift);
  rowsOfDrift.set(drift, {
    added: drift.report.added,
    count: drift.report.added.length,
    from: drift.evidence,
    seen: drift.firstSeen,
    rows,
  });
  return rows;
}

function workOutAddedRows(drift: TargetDrift): AddedRow[] {
  const addedIndex = new PrefixIndex(drift.report.added.map((cidr) => [cidr, cidr] as const));
  const observedIndex = new PrefixIndex(Object.keys(drift.evidence).map((key) => [key as Cidr, key as Cidr] as const));
  const sources = new Map<Cidr, Cidr[]>(drift.report.added.map((cidr) => [cidr, []]));
  // Aligned prefixes are nested or disjoint, so an observed entry either lies inside one added range...
  for (const observed of observedIndex.keys()) {
    const inside = addedIndex.containing(observed);
    if (inside) sources.get(inside)!.push(observed);
  }
  // ...or contains it (an observed /23 of which only one /24 is new).
  for (const added of drift.report.added) {
    for (const around of observedIndex.allContaining(added)) {
      if (around !== added) sources.get(added)!.push(around);
    }
  }
  return drift.report.added.map((cidr) => {
    const behind = sources.get(cidr)!;
    const evidence = uniqueEvidence(behind.flatMap((observed) => drift.evidence[observed] ?? []));
    const seen = behind
      .map((observed) => drift.firstSeen[observed])
      .filter((time): time is string => time !== undefined)
      .sort();
    return seen[0] === undefined ? { cidr, evidence } : { cidr, evidence, firstSeen: seen[0] };
  });
}

/** The removed ranges with their consecutive-miss counts (the smallest count of any part of the range). */
export function removedRows(drift: TargetDrift): RemovedRow[] {
  const removedIndex = new PrefixIndex(drift.report.removed.map((cidr) => [cidr, cidr] as const));
  const fewest = new Map<Cidr, number>();
  for (const [key, count] of Object.entries(drift.nextRecord.misses)) {
    const piece = tryParseCidr(key);
    const range = piece && removedIndex.containing(piece);
    if (range) fewest.set(range, Math.min(count, fewest.get(range) ?? count));
  }
  return drift.report.removed.map((cidr) => ({ cidr, misses: fewest.get(cidr) ?? 0 }));
}

interface Outcome {
  readonly status: TargetReport['status'];
  readonly verdicts: Verdict[];
  readonly added: Cidr[];
  readonly removed: Cidr[];
  readonly misses: Record<string, number>;
  readonly held?: HeldChange;
}

/**
 * The change a held check would make, named by a fingerprint of the target and its exact addresses. It is per
 * target rather than the whole proposal's fingerprint, so another target's drift does not void an approval.
 */
function heldChange(
  targetId: string,
  { added, removed }: { added: Cidr[]; removed: Cidr[] },
  previous: HeldChange | undefined,
  now: string,
): HeldChange {
  const fingerprint = createHash('sha256').update(JSON.stringify({ targetId, added, removed })).digest('hex').slice(0, 16);
  return {
    added: added.slice(0, HELD_SAMPLE),
    removed: removed.slice(0, HELD_SAMPLE),
    ...(added.length > HELD_SAMPLE ? { addedCount: added.length } : {}),
    ...(removed.length > HELD_SAMPLE ? { removedCount: removed.length } : {}),
    fingerprint,
    since: previous?.fingerprint === fingerprint ? previous.since : now,
  };
}

/**
 * At most this many ranges of each side of a held change are kept, with the full count: the fingerprint names the
 * whole change, so an approval still releases exactly it, and holding a flood of any size stays small enough to store.
 */
export const HELD_SAMPLE = 100;

/** The ranges a held change adds or removes in all, where its record keeps only a sample. */
export function heldCount(held: HeldChange, side: 'added' | 'removed'): number {
  return (side === 'added' ? held.addedCount : held.removedCount) ?? held[side].length;
}

/**
 * A partial or held check counts no miss, but a range it observed in full was present, so that range's streak of
 * consecutive misses is broken and its counter dropped. The other counters are kept: what such a check did not see
 * proves nothing about absence.
 */
function forgetObserved(misses: Readonly<Record<string, number>>, observed: readonly Cidr[]): Record<string, number> {
  const present = aggregate(observed);
  return Object.fromEntries(
    Object.entries(misses).filter(([key]) => {
      const cidr = tryParseCidr(key);
      return cidr === undefined || difference([cidr], present).length > 0;
    }),
  );
}

/** A check that proposes nothing beyond the baseline and counts no miss. */
function unchanged(status: 'error' | 'held', verdicts: Verdict[], misses: Record<string, number>): Outcome {
  return { status, verdicts, added: [], removed: [], misses };
}

/**
 * Counts one more consecutive miss for every removal candidate. Candidates are re-aggregated on every
 * check, so a range may be reshaped between checks: a candidate inside a previously counted range
 * inherits its count, and a candidate containing previously counted ranges is split so those parts
 * keep their counts while the rest starts at one. Ranges not missing any more lose their counter.
 */
function countMisses(candidates: readonly Cidr[], previous: Readonly<Record<string, number>>): Map<Cidr, number> {
  const counted = Object.entries(previous).flatMap(([key, count]) => {
    const cidr = tryParseCidr(key);
    return cidr && Number.isInteger(count) && count > 0 ? [[cidr, count] as const] : [];
  });
  const countedIndex = new PrefixIndex(counted);
  const candidateIndex = new PrefixIndex(candidates.map((cidr) => [cidr, cidr] as const));
  const countedInside = new Map<Cidr, Array<readonly [Cidr, number]>>();
  for (const [cidr, count] of counted) {
    const around = candidateIndex.containing(cidr);
    if (around && around !== cidr) countedInside.set(around, [...(countedInside.get(around) ?? []), [cidr, count]]);
  }

  const misses = new Map<Cidr, number>();
  for (const candidate of candidates) {
    const inherited = countedIndex.allContaining(candidate).map((cidr) => countedIndex.get(cidr)!);
    if (inherited.length > 0) {
      misses.set(candidate, Math.max(...inherited) + 1);
      continue;
    }
    const parts = countedInside.get(candidate) ?? [];
    for (const [cidr, count] of parts) misses.set(cidr, count + 1);
    for (const rest of difference(
      [candidate],
      parts.map(([cidr]) => cidr),
    ))
      misses.set(rest, 1);
  }
  return new Map(sortCidrs(misses.keys()).map((cidr) => [cidr, misses.get(cidr)!]));
}

/** Baseline ranges missing from recent complete checks but not often enough to be removed yet, in address order. */
export function pendingRemovals(misses: Record<string, number>, removeAfterMisses: number): Array<{ cidr: Cidr; misses: number }> {
  const pending = Object.entries(misses).flatMap(([key, count]) => {
    const cidr = tryParseCidr(key);
    return cidr && count < removeAfterMisses ? [[cidr, count] as const] : [];
  });
  const counts = new Map(pending);
  return sortCidrs(counts.keys()).map((cidr) => ({ cidr, misses: counts.get(cidr)! }));
}

/** After a complete check: keep times of what is observed or approved, start the clock for what is new. */
function refreshFirstSeen(
  previous: Readonly<Record<string, string>>,
  observed: readonly Cidr[],
  baseline: readonly Cidr[],
  now: string,
): Record<string, string> {
  const approvedIndex = new PrefixIndex(aggregate(baseline).map((cidr) => [cidr, cidr] as const));
  const kept = Object.keys(previous).flatMap((key) => {
    const cidr = tryParseCidr(key);
    return cidr && approvedIndex.containing(cidr) ? [cidr] : [];
  });
  return firstSeenOf(previous, sortCidrs([...observed, ...kept]), now);
}

/** After an incomplete check, absence proves nothing: only new entries are added. */
function addFirstSeen(previous: Readonly<Record<string, string>>, observed: readonly Cidr[], now: string): Record<string, string> {
  const known = Object.keys(previous).flatMap((key) => tryParseCidr(key) ?? []);
  return firstSeenOf(previous, sortCidrs([...known, ...observed]), now);
}

function firstSeenOf(previous: Readonly<Record<string, string>>, cidrs: readonly Cidr[], now: string): Record<string, string> {
  return Object.fromEntries(cidrs.map((cidr) => [cidr, previous[cidr] ?? now]));
}

function evidenceByCidr(observation: Observation): Record<string, EntryEvidence[]> {
  const merged = new Map<Cidr, EntryEvidence[]>();
  for (const entry of observation.entries) merged.set(entry.cidr, [...(merged.get(entry.cidr) ?? []), ...entry.evidence]);
  return Object.fromEntries(sortCidrs(merged.keys()).map((cidr) => [cidr, uniqueEvidence(merged.get(cidr)!)]));
}

function uniqueEvidence(evidence: readonly EntryEvidence[]): EntryEvidence[] {
  // Most addresses have one piece of evidence: nothing to compare it with.
  if (evidence.length < 2) return [...evidence];
  const seen = new Map<string, EntryEvidence>();
  for (const item of evidence) {
    const key = JSON.stringify(item, Object.keys(item).sort());
    if (!seen.has(key)) seen.set(key, item);
  }
  return [...seen.values()];
}

/** A held flood's observation as stored: only the entries inside what is approved or proposed, never the flood itself. */
function withoutFlood(observation: Observation, known: readonly Cidr[]): StoredObservation {
  const index = new PrefixIndex(aggregate(known).map((cidr) => [cidr, cidr] as const));
  return storedObservation({ ...observation, entries: observation.entries.filter((entry) => index.containing(entry.cidr)) });
}

function storedObservation(observation: Observation): StoredObservation {
  return {
    observedAt: observation.observedAt,
    status: observation.status,
    entries: observation.entries.map((entry) => ({ cidr: entry.cidr, evidence: [...entry.evidence] })),
    warnings: [...observation.warnings],
    errors: [...observation.errors],
    ...(observation.facts ? { facts: { ...observation.facts } } : {}),
  };
}

/** Whether an approval may release a held change: never one that, with the baseline, would allow every address. */
export function releasable(baseline: readonly Cidr[] | null | undefined, held: Pick<HeldChange, 'added'>): boolean {
  return !allowsEverything([...(baseline ?? []), ...held.added]);
}

/** Whether these ranges together cover a whole address family, as a /0 does. */
export function allowsEverything(cidrs: readonly Cidr[]): boolean {
  return aggregate(cidrs).some((cidr) => cidr.endsWith('/0'));
}
