import type { Target } from '../config.js';
import type { TargetDrift } from '../drift/drift.js';
import { sameAddresses, type Cidr } from '../ipset.js';
import { toProblem, type Problem } from '../problem.js';
import type { BaseFiles } from '../publish/github/types.js';
import { unstorable } from '../state/codec.js';
import type { PullRequestReport, Report, TargetReport } from '../report.js';
import { observeTarget } from '../sources/index.js';
import type { Observation } from '../sources/source.js';
import type { ConfigRecord, Snapshot, TargetRecord } from '../state/records.js';
import {
  holdsLease,
  releaseLease,
  runContext,
  selectTargets,
  sourceContext,
  withLease,
  type RunContext,
  type RunOptions,
  type WritingRunContext,
} from './context.js';
import { checkBase } from './base-check.js';
import { capacityOfSets, capacityProblems, mergeDecisions, withWideningVerdicts } from './capacity.js';
import { readDashboard, updateDashboard } from './dashboard.js';
import { previewPullRequest } from './preview.js';
import { entriesOnBase } from './files.js';
import { driftAll, emptyRecord, proposedSets, type DriftAllInput } from './proposal.js';
import { publishGate, readPullRequest, reconcilePullRequest } from './reconcile.js';

interface RunOutcome {
  readonly reports: TargetReport[];
  readonly pullRequest: PullRequestReport;
  readonly errors: readonly Problem[];
  readonly warnings: readonly Problem[];
}

/**
 * One check: observe, diff against the stored baseline, and (unless dry) store and publish.
 * The writing part holds the config's lease from before the state is read until after it is written,
 * so overlapping timer, HTTP and CLI runs can never publish or write at once.
 */
export async function runCheck(options: RunOptions): Promise<Report> {
  const base = runContext(options);
  const startedAt = base.now().toISOString();
  const targets = selectTargets(options.config, options.targetIds, options.targetTypes);
  const context: RunContext = options.dryRun ? base : await withLease(base, options.leaseTtlMs);
  try {
    const snapshot = await context.store.read(context.config.name);
    const observations = await observeAll(context, snapshot, targets);
    const outcome = holdsLease(context)
      ? await writingRun(context, snapshot, targets, observations)
      : await dryRun(context, snapshot, targets, observations);
    return {
      runId: context.runId,
      configName: context.config.name,
      trigger: options.trigger,
      startedAt,
      finishedAt: context.now().toISOString(),
      dryRun: options.dryRun,
      targets: outcome.reports,
      pullRequest: outcome.pullRequest,
      errors: [...outcome.errors],
      warnings: [...outcome.warnings],
    };
  } finally {
    if (holdsLease(context)) await releaseLease(context);
  }
}

function observeAll(context: RunContext, snapshot: Snapshot, targets: readonly Target[]): Promise<Observation[]> {
  const sources = sourceContext(context);
  return Promise.all(
    targets.map(async (target) => {
      const facts = snapshot.targets.get(target.id)?.lastGood?.facts;
      const observation = await observeTarget(target, { ...sources, ...(facts ? { previousFacts: facts } : {}) });
      // Progress only: whoever runs the check reports each target's outcome once, after the guards (shared/run-log.ts).
      context.log('info', `${target.id}: ${observation.status}, ${observation.entries.length} entries`);
      return observation;
    }),
  );
}

async function dryRun(
  context: RunContext,
  snapshot: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
): Promise<RunOutcome> {
  // When the base branch cannot be read, the preview reads it again and says so.
  const { applied, base } = await judge(context, { snapshot, targets, observations, openHead: snapshot.config.pullRequest?.headSha });
  const { drifts, proposed, records } = applied;
  const targetRecords = new Map(snapshot.targets);
  for (const record of records) targetRecords.set(record.targetId, record);
  const preview = await previewPullRequest(context, {
    snapshot: { config: snapshot.config, targets: targetRecords },
    drifts,
    proposed,
    ...(base ? { base } : {}),
  });
  // The base branch as a full run would compare it; what a dry run finds is not stored.
  const baseCheck = await checkBase(context, { stored: snapshot.config.base, records: targetRecords, ...(base ? { read: base } : {}) });
  const decisions = mergeDecisions(capacityOfSets(context.config, proposed), preview.capacity ?? []);
  const capacity = capacityProblems(context.config, decisions, drifts);
  return {
    reports: withWideningVerdicts(context.config, decisions, reportsOf(drifts)),
    pullRequest: preview.report,
    errors: [...capacity.errors, ...preview.problems],
    warnings: [...capacity.warnings, ...preview.warnings, ...baseCheck.warnings],
  };
}

async function writingRun(
  context: WritingRunContext,
  stored: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
): Promise<RunOutcome> {
  const { config } = context;
  const reading = await readPullRequest(context, stored.config.pullRequest);
  const records = new Map(stored.targets);
  const touched = new Set<string>();
  const setRecord = (record: TargetRecord) => {
    records.set(record.targetId, record);
    touched.add(record.targetId);
  };
  promote(records, reading.promotions, context.now().toISOString(), setRecord);
  // A box ticked on the dashboard is an approval like `approve`: this run's check releases it if it still shows that change.
  const dashboard = await readDashboard(context, stored.config, records);
  for (const [targetId, approval] of dashboard.approvals) setRecord({ ...records.get(targetId)!, approval });

  const configRecord: ConfigRecord = {
    ...withPullRequest(stored.config, reading.pullRequest),
    declined: [
      ...stored.config.declined.filter((fingerprint) => fingerprint !== reading.undeclined),
      ...(reading.declined ? [reading.declined] : []),
    ],
  };
  // A write before the run's last one (a withdrawal recorded before its comment) gives the config row a new version.
  let configEtag = stored.config.etag;
  const errors = [...reading.problems];
  const judged = await judge(context, {
    snapshot: { config: configRecord, targets: records },
    targets,
    observations,
    openHead: reading.openHead,
  });
  errors.push(...judged.problems);
  const { applied, base } = judged;
  const { drifts, proposed, records: observed } = applied;
  for (const record of observed) setRecord(record);

  let pullRequest: PullRequestReport = { action: 'none' };
  // Judged from the proposal every run, so a file that waits says so whether or not this run plans the files.
  let capacity = capacityOfSets(config, proposed);
  let nextConfig = configRecord;
  let baseRead: BaseFiles | undefined = reading.base ?? base;
  const warnings: Problem[] = [...(reading.warnings ?? []), ...dashboard.warnings];
  if (errors.length === 0) {
    const reconciled = await reconcilePullRequest(context, {
      snapshot: { config: configRecord, targets: records },
      drifts,
      proposed,
      openHead: reading.openHead,
      recordWithdrawal: async (record) => {
        const { etag: _read, ...withdrawing } = withPullRequest(configRecord, record);
        const written = await context.store.write(
          config.name,
          { config: { ...withdrawing, ...(configEtag !== undefined ? { etag: configEtag } : {}) }, targets: [] },
          { lease: context.lease },
        );
        configEtag = written.configEtag;
      },
      ...(base ? { base } : {}),
      capacity,
    });
    pullRequest = reconciled.report;
    capacity = mergeDecisions(capacity, reconciled.capacity ?? []);
    nextConfig = withPullRequest(configRecord, reconciled.pullRequest);
    promote(records, reconciled.promotions, context.now().toISOString(), setRecord);
    errors.push(...reconciled.problems);
    warnings.push(...reconciled.warnings);
    baseRead = reconciled.base ?? baseRead;
  }
  const baseCheck = await checkBase(context, { stored: stored.config.base, records, ...(baseRead ? { read: baseRead } : {}) });
  warnings.push(...baseCheck.warnings);
  const { base: _base, ...withoutBase } = nextConfig;
  nextConfig = baseCheck.record ? { ...withoutBase, base: baseCheck.record } : withoutBase;

  const capacityReport = capacityProblems(config, capacity, drifts);
  // A file that cannot take an urgent address is the run's first line; the other files published as usual.
  errors.unshift(...capacityReport.errors);
  warnings.unshift(...capacityReport.warnings);
  const shown = await updateDashboard(context, {
    config: nextConfig,
    records,
    reading: dashboard,
    capacity: [...capacityReport.errors, ...capacityReport.warnings],
  });
  warnings.push(...shown.warnings);
  // Markers in what others wrote on GitHub, met anywhere in this run: each said once, never stored.
  const used = context.githubIfUsed();
  if (used) warnings.push(...(await used.then((github) => github.takeWarnings()).catch(() => [])));
  const { dashboard: _previous, ...withoutDashboard } = nextConfig;
  // Fenced: the write renews the lease in the same transaction, so a run that lost its lease cannot write.
  const finished: ConfigRecord = {
    ...withoutDashboard,
    ...(shown.record ? { dashboard: shown.record } : {}),
    ...(configEtag !== undefined ? { etag: configEtag } : {}),
    lastRunId: context.runId,
    lastRunAt: context.now().toISOString(),
  };
  await context.store.write(
    config.name,
    { config: finished, targets: [...touched].map((id) => records.get(id)!) },
    { lease: context.lease },
  );
  return { reports: withWideningVerdicts(config, capacity, reportsOf(drifts)), pullRequest, errors, warnings };
}

/**
 * Drift per target, what every target's part of the files is, and the checked targets' records as a full run
 * stores them (a dry run plans with the same records, and stores nothing).
 */
function applyObservations(
  context: RunContext,
  input: Omit<DriftAllInput, 'config' | 'now'>,
): { drifts: Map<string, TargetDrift>; proposed: Map<string, Cidr[]>; records: TargetRecord[] } {
  const { snapshot } = input;
  const drifts = driftAll({ ...input, config: context.config, now: context.now().toISOString() });
  const proposed = proposedSets(context.config, snapshot, drifts);
  // The stored proposal follows what the files carry, for later runs that do not check this target.
  const records = [...drifts.values()].map((drift) => {
    const carried = proposed.get(drift.nextRecord.targetId)!;
    return sameAddresses(carried, drift.proposed) ? drift.nextRecord : { ...drift.nextRecord, proposed: carried };
  });
  return { drifts, proposed, records };
}

interface JudgeInput {
  readonly snapshot: Snapshot;
  readonly targets: readonly Target[];
  readonly observations: readonly Observation[];
  /** The open PR's head as this run found it. */
  readonly openHead: string | undefined;
}

/**
 * The observations applied as this run stores and publishes them. A target without an approved baseline (a config's
 * first run, or its first under a new name) is judged against what the base branch's rule files already hold
 * whenever the run would publish, so a change held under one name is not published under another; the base is
 * read for that only then, and handed on so the run reads it once. A target whose result could not be stored is
 * refused before anything is published.
 */
async function judge(
  context: RunContext,
  input: JudgeInput,
): Promise<{ applied: ReturnType<typeof applyObservations>; base?: BaseFiles; problems: Problem[] }> {
  const { config } = context;
  const { snapshot, targets, observations } = input;
  let applied = applyObservations(context, { snapshot, targets, observations });
  let base: BaseFiles | undefined;
  let onBase: Map<string, Cidr[]> | undefined;
  const problems: Problem[] = [];
  const fresh = targets.filter(
    (target, index) =>
      !snapshot.targets.get(target.id)?.baseline &&
      observations[index]!.status !== 'error' &&
      config.files.some((file) => file.targets.includes(target.id)),
  );
  if (fresh.length > 0 && config.github && publishes(context, snapshot, applied, input.openHead)) {
    try {
      base = await (await context.github()).readBase(config.files.map((file) => file.path));
      onBase = entriesOnBase(config, fresh, base.files);
      applied = applyObservations(context, { snapshot, targets, observations, onBase });
    } catch (error) {
      // Without them a new config name could publish what the old one held: nothing is published this run.
      problems.push(toProblem(error, 'github-error'));
    }
  }
  const refused = refuseUnstorable(targets, observations, applied);
  if (refused) applied = applyObservations(context, { snapshot, targets, observations: refused, ...(onBase ? { onBase } : {}) });
  return { applied, ...(base ? { base } : {}), problems };
}

/** Whether the gate, asked with these results, sends files to GitHub. */
function publishes(
  context: RunContext,
  snapshot: Snapshot,
  applied: ReturnType<typeof applyObservations>,
  openHead: string | undefined,
): boolean {
  const records = new Map(snapshot.targets);
  for (const record of applied.records) records.set(record.targetId, record);
  return publishGate(context.config, { config: snapshot.config, targets: records }, applied.proposed, openHead).kind === 'publish';
}

/**
 * A check whose result could not be stored must not be published either (its PR would be followed by a state
 * that never records it): such a target is refused before publishing, as if its check had failed, so the rest of
 * the run still stores and publishes. Undefined when every record fits.
 */
function refuseUnstorable(
  targets: readonly Target[],
  observations: readonly Observation[],
  applied: ReturnType<typeof applyObservations>,
): Observation[] | undefined {
  let refused = false;
  const next = observations.map((observation, index) => {
    const record = applied.records.find((r) => r.targetId === targets[index]!.id);
    const tooLarge = record && unstorable(record, applied.proposed.get(record.targetId) ?? []);
    if (!tooLarge) return observation;
    refused = true;
    const problem = {
      code: tooLarge.code,
      message: `this check's result could not be stored (${tooLarge.message}); nothing of it was published, and what was stored for the target before is kept`,
    };
    return { ...observation, status: 'error' as const, entries: [], errors: [...observation.errors, problem] };
  });
  return refused ? next : undefined;
}

/** Approved sets become baselines, and their miss counts start over. */
function promote(
  records: Map<string, TargetRecord>,
  promotions: ReadonlyMap<string, Cidr[]>,
  at: string,
  set: (record: TargetRecord) => void,
): void {
  for (const [targetId, cidrs] of promotions) {
    set({ ...(records.get(targetId) ?? emptyRecord(targetId)), baseline: cidrs, baselineAt: at, misses: {} });
  }
}

function withPullRequest(record: ConfigRecord, pullRequest: ConfigRecord['pullRequest']): ConfigRecord {
  const { pullRequest: _previous, ...rest } = record;
  return pullRequest ? { ...rest, pullRequest } : rest;
}

function reportsOf(drifts: ReadonlyMap<string, TargetDrift>): TargetReport[] {
  return [...drifts.values()].map((d) => d.report);
}
