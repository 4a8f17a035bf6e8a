import { capacityProblem, widenedText, type CapacityDecision, type UrgentAdditions } from '../capacity/capacity.js';
import { fittedCapacityOfSets } from '../capacity/fit.js';
import type { Config } from '../config.js';
import type { TargetDrift } from '../drift/drift.js';
import { aggregate, covers, type Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import type { TargetReport, Verdict } from '../report.js';
import { isUrgentKind } from '../sources/registry.js';
import type { FileChange } from './files.js';
import { fileTakes } from './proposal.js';

/**
 * Capacity as a run or status sees it: each limited file judged on what the given sets put into it. Without the base
 * branch the entries the config does not manage are not counted; a run that plans the files judges again with them
 * (planFiles), and that decision wins (mergeDecisions).
 */
export function capacityOfSets(config: Config, sets: ReadonlyMap<string, Cidr[]>): CapacityDecision[] {
  // Judged as the file would be written: widened when its `fit` allows it (fit.ts).
  return fittedCapacityOfSets(config.files, sets);
}

/** The decisions of the planned files replace the run's own for the same file. */
export function mergeDecisions(run: readonly CapacityDecision[], planned: readonly CapacityDecision[]): CapacityDecision[] {
  const byPath = new Map(run.map((decision) => [decision.path, decision]));
  for (const decision of planned) byPath.set(decision.path, decision);
  return [...byPath.values()];
}

/**
 * The problems the decisions report: `capacity-exceeded` as errors (a file waits), an urgent one first, and
 * `capacity-headroom` as warnings.
 */
export function capacityProblems(
  config: Config,
  decisions: readonly CapacityDecision[],
  drifts: ReadonlyMap<string, TargetDrift> = new Map(),
): { errors: Problem[]; warnings: Problem[] } {
  const reported = reportedDecisions(config, decisions, drifts);
  return {
    errors: reported.filter((r) => r.decision.outcome === 'exceeded').map((r) => r.problem),
    warnings: [...reported.filter((r) => r.decision.outcome !== 'exceeded').map((r) => r.problem), ...widenedProblems(decisions)],
  };
}

/** Each decision worth a line with its problem: urgent exceeded first, then exceeded, then headroom. */
function reportedDecisions(
  config: Config,
  decisions: readonly CapacityDecision[],
  drifts: ReadonlyMap<string, TargetDrift>,
): { decision: CapacityDecision; problem: Problem }[] {
  const ranked = decisions.flatMap((decision) => {
    const file = config.files.find((f) => f.path === decision.path);
    const urgent = decision.outcome === 'exceeded' && file ? urgentAdditions(file, drifts) : undefined;
    const problem = capacityProblem(decision, urgent);
    if (!problem) return [];
    return [{ decision, problem, rank: urgent ? 0 : decision.outcome === 'exceeded' ? 1 : 2 }];
  });
  return ranked.sort((a, b) => a.rank - b.rank).map(({ decision, problem }) => ({ decision, problem }));
}

/** The file's new addresses this run whose evidence says they are urgent (a front-end's new address). */
function urgentAdditions(file: Config['files'][number], drifts: ReadonlyMap<string, TargetDrift>): UrgentAdditions | undefined {
  const found = file.targets.flatMap((id) => {
    const drift = drifts.get(id);
    if (!drift) return [];
    const cidrs = drift.report.added.filter(
      (cidr) =>
        fileTakes(file, cidr) &&
        covers(drift.proposed, cidr) &&
        (drift.evidence[cidr] ?? []).some((evidence) => isUrgentKind(evidence.kind)),
    );
    return cidrs.length > 0 ? [{ id, cidrs }] : [];
  });
  if (found.length === 0) return undefined;
  return { cidrs: found.flatMap((f) => f.cidrs), targets: found.map((f) => f.id) };
}

/**
 * The capacity lines of the PR body's warning block, each file that waits or is near its limit once. `stable`
 * keeps only which file and why, for the text fingerprint: the counts a run judges without the base branch may
 * differ by the entries the config does not manage, and that alone is no reason to rewrite the description.
 */
export function capacityAttention(
  config: Config,
  decisions: readonly CapacityDecision[],
  options: { drifts?: ReadonlyMap<string, TargetDrift>; stable?: boolean } = {},
): { subject: string; message: string }[] {
  const reported = reportedDecisions(config, decisions, options.drifts ?? new Map()).map(({ decision, problem }) => ({
    subject: decision.path,
    message: options.stable ? problem.code : `${problem.code}: ${problem.message}`,
  }));
  // A widened file allows addresses no source publishes: the reviewer is told how many, per file.
  const widened = widenedProblems(decisions).map((problem, index) => ({
    subject: decisions.filter((decision) => decision.widened)[index]!.path,
    message: options.stable ? problem.code : `${problem.code}: ${problem.message}`,
  }));
  return [...reported, ...widened];
}

/** `capacity-widened`, a warning per file written as covers: what it allows that no source publishes. */
function widenedProblems(decisions: readonly CapacityDecision[]): Problem[] {
  return decisions.flatMap((decision) => {
    const text = widenedText(decision);
    return text ? [{ code: 'capacity-widened', message: `${decision.path} is ${text}` }] : [];
  });
}

/**
 * What a file giving up addresses an earlier widening allowed tells the reviewer: the publish invariant lets them leave
 * only because the PR names them.
 */
export function releasedAttention(changes: readonly FileChange[]): { subject: string; message: string }[] {
  return changes.flatMap((change) => {
    const released = aggregate(change.widening?.released ?? []);
    if (released.length === 0) return [];
    const shown = released.length > 5 ? `${released.slice(0, 5).join(', ')}, …` : released.join(', ');
    return [
      {
        subject: change.file.path,
        message: `capacity-widened: no longer allows ${released.length === 1 ? 'a range' : `${released.length} ranges`} an earlier widening of the file allowed and no source publishes (${shown})`,
      },
    ];
  });
}

/**
 * A `widening` verdict on each target a widened file takes, recording the addresses the file allows beyond what the
 * sources publish: beside the guards' verdicts in the PR and the run report. It never holds anything back.
 */
export function withWideningVerdicts(
  config: Config,
  decisions: readonly CapacityDecision[],
  reports: readonly TargetReport[],
): TargetReport[] {
  return reports.map((report) => {
    const verdicts = decisions.flatMap((decision): Verdict[] => {
      const file = config.files.find((f) => f.path === decision.path);
      if (!decision.widened || !file?.targets.includes(report.id)) return [];
      const extra = BigInt(decision.widened.extraAddresses).toLocaleString('en-US');
      return [
        {
          guard: 'widening',
          outcome: 'pass',
          message: `${decision.path} is widened to fit its limit: ${decision.widened.covers} covering prefixes, and it allows ${extra} addresses beyond what the sources publish`,
        },
      ];
    });
    return verdicts.length > 0 ? { ...report, verdicts: [...report.verdicts, ...verdicts] } : report;
  });
}
