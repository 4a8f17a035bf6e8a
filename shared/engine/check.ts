import type { Target } from '../config.js';
import type { TargetDrift } from '../drift.js';
import { sameAddresses, type Cidr } from '../ipset.js';
import type { Problem } from '../problem.js';
import type { BaseFiles } from '../publish/github.js';
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
import { readDashboard, updateDashboard } from './dashboard.js';
import { previewPullRequest } from './preview.js';
import { driftAll, emptyRecord, proposedSets } from './proposal.js';
import { readPullRequest, reconcilePullRequest } from './reconcile.js';

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
  const { drifts, proposed, records } = applyObservations(context, snapshot, targets, observations);
  const targetRecords = new Map(snapshot.targets);
  for (const record of records) targetRecords.set(record.targetId, record);
  const preview = await previewPullRequest(context, { snapshot: { config: snapshot.config, targets: targetRecords }, drifts, proposed });
  // The base branch as a full run would compare it; what a dry run finds is not stored.
  const base = await checkBase(context, { stored: snapshot.config.base, records: targetRecords });
  return {
    reports: reportsOf(drifts),
    pullRequest: preview.report,
    errors: preview.problems,
    warnings: [...preview.warnings, ...base.warnings],
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
    declined: reading.declined ? [...stored.config.declined, reading.declined] : [...stored.config.declined],
  };
  const {
    drifts,
    proposed,
    records: observed,
  } = applyObservations(context, { config: configRecord, targets: records }, targets, observations);
  for (const record of observed) setRecord(record);

  let pullRequest: PullRequestReport = { action: 'none' };
  let nextConfig = configRecord;
  let baseRead: BaseFiles | undefined = reading.base;
  const errors = [...reading.problems];
  const warnings: Problem[] = [...dashboard.warnings];
  if (errors.length === 0) {
    const reconciled = await reconcilePullRequest(context, {
      snapshot: { config: configRecord, targets: records },
      drifts,
      proposed,
      openHead: reading.openHead,
    });
    pullRequest = reconciled.report;
    nextConfig = withPullRequest(configRecord, reconciled.pullRequest);
    promote(records, reconciled.promotions, context.now().toISOString(), setRecord);
    errors.push(...reconciled.problems);
    warnings.push(...reconciled.warnings);
    baseRead = reconciled.base ?? baseRead;
  }
  const base = await checkBase(context, { stored: stored.config.base, records, ...(baseRead ? { read: baseRead } : {}) });
  warnings.push(...base.warnings);
  const { base: _base, ...withoutBase } = nextConfig;
  nextConfig = base.record ? { ...withoutBase, base: base.record } : withoutBase;

  const shown = await updateDashboard(context, { config: nextConfig, records, reading: dashboard });
  warnings.push(...shown.warnings);
  const { dashboard: _previous, ...withoutDashboard } = nextConfig;
  // Fenced: the write renews the lease in the same transaction, so a run that lost its lease cannot write.
  const finished: ConfigRecord = {
    ...withoutDashboard,
    ...(shown.record ? { dashboard: shown.record } : {}),
    lastRunId: context.runId,
    lastRunAt: context.now().toISOString(),
  };
  await context.store.write(
    config.name,
    { config: finished, targets: [...touched].map((id) => records.get(id)!) },
    { lease: context.lease },
  );
  return { reports: reportsOf(drifts), pullRequest, errors, warnings };
}

/**
 * Drift per target, what every target's part of the files is, and the checked targets' records as a full run
 * stores them (a dry run plans with the same records, and stores nothing).
 */
function applyObservations(
  context: RunContext,
  snapshot: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
): { drifts: Map<string, TargetDrift>; proposed: Map<string, Cidr[]>; records: TargetRecord[] } {
  const drifts = driftAll(context.config, snapshot, targets, observations, context.now().toISOString());
  const proposed = proposedSets(context.config, snapshot, drifts);
  // The stored proposal follows what the files carry, for later runs that do not check this target.
  const records = [...drifts.values()].map((drift) => {
    const carried = proposed.get(drift.nextRecord.targetId)!;
    return sameAddresses(carried, drift.proposed) ? drift.nextRecord : { ...drift.nextRecord, proposed: carried };
  });
  return { drifts, proposed, records };
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
