import { createHash } from 'node:crypto';
import type { Config, FileSpec, Target } from '../config.js';
import { computeDrift, pendingRemovals, type TargetDrift } from '../drift/drift.js';
import { applyExclusion, exclusionsOf, withoutExcluded } from '../exclude.js';
import { aggregate, difference, familyOf, intersection, sameAddresses, semanticDiff, sortCidrs, union, type Cidr } from '../ipset.js';
import type { Observation } from '../sources/source.js';
import type { PullRequestRecord, Snapshot, TargetRecord } from '../state/records.js';

/** The pure arithmetic of a run: drift per target, what the files should hold, and how a proposal is named. */

export interface DriftAllInput {
  readonly config: Config;
  readonly snapshot: Snapshot;
  readonly targets: readonly Target[];
  /** One per target, in the same order. */
  readonly observations: readonly Observation[];
  readonly now: string;
  /** Per target without an approved baseline, what the base branch's files hold for it (see computeDrift). */
  readonly onBase?: ReadonlyMap<string, readonly Cidr[]>;
}

export function driftAll({ config, snapshot, targets, observations, now, onBase = new Map() }: DriftAllInput): Map<string, TargetDrift> {
  const drifts = new Map<string, TargetDrift>();
  targets.forEach((target, index) => {
    const base = onBase.get(target.id);
    const exclude = exclusionsOf(target);
    const observation = observations[index]!;
    const drift = computeDrift({
      target,
      observation: withoutExcluded(observation, exclude),
      record: snapshot.targets.get(target.id),
      policy: config.policy,
      now,
      ...(base ? { onBase: base } : {}),
    });
    drifts.set(
      target.id,
      applyExclusion(
        drift,
        exclude,
        observation.entries.map((entry) => entry.cidr),
      ),
    );
  });
  return drifts;
}

export function openPullRequest(snapshot: Snapshot): PullRequestRecord | undefined {
  return snapshot.config.pullRequest?.state === 'open' ? snapshot.config.pullRequest : undefined;
}

/**
 * What every configured target's rule-file entries should be: this run's proposal for the targets it checked,
 * and the stored proposal for the others, so a timer that checks only DNS targets keeps the CAS part of the PR.
 * A check that failed, was partial or was held cannot show that the open PR's part for its target is wrong, so
 * that part stays, plus what the parts that did answer newly show; otherwise one DNS timeout would rewrite the
 * PR, or withdraw it and delete its branch, only for the next clean check to propose it all again.
 * A partial check that named what it could not read (one CAS cell with a typo) is narrower: the open PR's part
 * stays only for the entries it could not judge (`unjudged`: approved ones and pending additions of that part), and
 * the rest follows the check, so a removal confirmed elsewhere on the page still reaches the open PR while the typo
 * lasts.
 */
export function proposedSets(config: Config, snapshot: Snapshot, drifts: ReadonlyMap<string, TargetDrift>): Map<string, Cidr[]> {
  const open = openPullRequest(snapshot);
  const sets = new Map<string, Cidr[]>();
  for (const target of config.targets) {
    const drift = drifts.get(target.id);
    const record = snapshot.targets.get(target.id);
    const carried = open?.proposal[target.id];
    // Whatever a part was carried from, what the config excludes now is not in it.
    const set = (cidrs: Cidr[]) => sets.set(target.id, difference(cidrs, exclusionsOf(target)));
    if (drift?.unknownScopes && carried) {
      const unjudged = drift.unjudged ?? [];
      set(union(difference(drift.proposed, unjudged), intersection(carried, unjudged)));
    } else if (drift && drift.report.status !== 'ok' && carried) set(union(carried, drift.report.added));
    else set(drift ? drift.proposed : (record?.proposed ?? record?.baseline ?? []));
  }
  return sets;
}

/** The targets whose proposed entries differ from their approved baseline. */
export function changedTargets(snapshot: Snapshot, proposed: ReadonlyMap<string, Cidr[]>): Set<string> {
  return new Set([...proposed.entries()].filter(([id, cidrs]) => !sameAddresses(cidrs, baselineOf(snapshot, id))).map(([id]) => id));
}

/** Targets whose addresses nothing has established (no baseline, no proposal, no part in the open PR), read from the records as this run will store them. */
export function unknownTargets(config: Config, snapshot: Snapshot): string[] {
  const open = openPullRequest(snapshot);
  return config.targets
    .filter((target) => {
      const record = snapshot.targets.get(target.id);
      return !record?.baseline && !record?.proposed && !open?.proposal[target.id];
    })
    .map((target) => target.id);
}

/** The PR-text view of a target this run did not check, from what the last check stored. */
export function carriedDrift(target: Target, record: TargetRecord | undefined, proposed: Cidr[], config: Config): TargetDrift {
  const baseline = record?.baseline ?? [];
  const { added, removed } = semanticDiff(baseline, proposed);
  const entries = record?.lastGood?.entries ?? [];
  return {
    report: {
      id: target.id,
      type: target.type,
      status: record?.lastStatus ?? 'ok',
      observed: sortCidrs(entries.map((entry) => entry.cidr)),
      baseline,
      added,
      removed,
      pendingRemoval: pendingRemovals(record?.misses ?? {}, config.policy.removeAfterMisses),
      warnings: record?.lastWarnings ?? [],
      errors: record?.lastErrors ?? [],
      verdicts: record?.verdicts ?? [],
      ...(record?.lastGood ? { observedAt: record.lastGood.observedAt } : {}),
    },
    proposed,
    changed: true,
    evidence: Object.fromEntries(entries.map((entry) => [entry.cidr, [...entry.evidence]])),
    firstSeen: record?.firstSeen ?? {},
    nextRecord: record ?? emptyRecord(target.id),
  };
}

export function baselineOf(snapshot: Snapshot, targetId: string): Cidr[] {
  return snapshot.targets.get(targetId)?.baseline ?? [];
}

/** A file holds the union of its targets' addresses of the family it takes, aggregated. */
export function fileCidrs(file: FileSpec, sets: ReadonlyMap<string, Cidr[]>): Cidr[] {
  return aggregate(file.targets.flatMap((id) => sets.get(id) ?? [])).filter((cidr) => fileTakes(file, cidr));
}

/** Whether a file's family admits an address; a file without one takes both families. */
export function fileTakes(file: FileSpec, cidr: Cidr): boolean {
  const family = 'family' in file ? file.family : undefined;
  return family === undefined || familyOf(cidr) === (family === 'ipv4' ? 4 : 6);
}

/**
 * Identifies a proposal by what the files are rendered from (file settings and their addresses), which decides
 * "unchanged", "declined" and "already open" without reading the repository.
 */
export function proposalFingerprint(config: Config, proposed: ReadonlyMap<string, Cidr[]>): string {
  // The capacity keys decide whether a file is written, not what the proposal is: adding a limit to a file keeps
  // a declined proposal declined (README "Firewall capacity").
  const files = config.files.map(({ limit: _limit, headroomWarn: _headroom, fit: _fit, ...file }) => ({
    ...file,
    cidrs: fileCidrs(file as FileSpec, proposed),
  }));
  return createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
}

export function configFingerprint(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

export function emptyRecord(targetId: string): TargetRecord {
  return { targetId, baseline: null, misses: {}, firstSeen: {}, lastErrors: [], lastWarnings: [], verdicts: [] };
}
