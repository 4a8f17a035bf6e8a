import { createHash, randomUUID } from 'node:crypto';
import type { Config, Target, TargetType } from './config.js';
import { computeDrift, pendingRemovals, type TargetDrift } from './drift.js';
import { aggregate, sameAddresses, semanticDiff, sortCidrs, union, type Cidr } from './ipset.js';
import { AllowlistError, toProblem, type Problem } from './problem.js';
import type { GitHubPublisher, PublishPlan } from './publish/github.js';
import { renderPullRequest } from './publish/pr-text.js';
import { renderFile } from './render/index.js';
import type { PullRequestReport, Report, TargetReport } from './report.js';
import { observeTarget } from './sources/index.js';
import type { Observation, SourceContext } from './sources/source.js';
import type { ConfigRecord, Lease, Snapshot, StateStore, TargetRecord } from './state/store.js';

export type Trigger = Report['trigger'];
export type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface RunOptions {
  readonly config: Config;
  readonly store: StateStore;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly trigger: Trigger;
  readonly dryRun: boolean;
  /** Limit the run to these configured target ids (validated here: an unknown id is an error). */
  readonly targetIds?: readonly string[];
  /** Limit the run to these target types (each timer watches its own kind of source). */
  readonly targetTypes?: readonly TargetType[];
  readonly log?: Log;
  readonly now?: () => Date;
  readonly runId?: string;
  /** How GitHub is reached; defaults to Octokit against config.github.apiUrl. */
  readonly publisher?: (config: Config) => Promise<GitHubPublisher>;
  readonly armCredential?: SourceContext['armCredential'];
  readonly leaseTtlMs?: number;
}

/** Longer than any run can take (the Functions timeout is 10 minutes), so only a dead holder's lease expires. */
export const DEFAULT_LEASE_TTL_MS = 11 * 60 * 1000;

export class UnknownTargetError extends AllowlistError {
  constructor(readonly unknown: readonly string[]) {
    super('unknown-target', `No configured target has the id ${unknown.map((id) => JSON.stringify(id)).join(', ')}`);
  }
}

export function selectTargets(config: Config, ids?: readonly string[], types?: readonly TargetType[]): Target[] {
  if (ids && ids.length > 0) {
    const known = new Set(config.targets.map((t) => t.id));
    const unknown = [...new Set(ids)].filter((id) => !known.has(id));
    if (unknown.length > 0) throw new UnknownTargetError(unknown);
  }
  const wanted = ids && ids.length > 0 ? new Set(ids) : undefined;
  return config.targets.filter((t) => (!wanted || wanted.has(t.id)) && (!types || types.includes(t.type)));
}

/**
 * One check: observe, diff against the stored baseline, and (unless dry) store and publish.
 * The mutating part holds the config's lease from before the state is read until after it is written,
 * so overlapping timer, HTTP and CLI runs can never publish or write at once.
 */
export async function runCheck(options: RunOptions): Promise<Report> {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  const runId = options.runId ?? randomUUID();
  const startedAt = now().toISOString();
  const { config, store } = options;
  const targets = selectTargets(config, options.targetIds, options.targetTypes);

  const lease = options.dryRun ? undefined : await store.acquireLease(config.name, runId, options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
  try {
    const snapshot = await store.read(config.name);
    const context: SourceContext = {
      config,
      env: options.env,
      now,
      ...(options.armCredential ? { armCredential: options.armCredential } : {}),
    };
    const observations = await Promise.all(
      targets.map((target) =>
        observeTarget(target, { ...context, ...factsOf(snapshot.targets.get(target.id)) }).then((observation) => {
          log(observation.status === 'ok' ? 'info' : 'warn', `${target.id}: ${observation.status}, ${observation.entries.length} entries`);
          return observation;
        }),
      ),
    );

    const errors: Problem[] = [];
    const run = options.dryRun
      ? await dryRunOutcome(config, snapshot, targets, observations, now)
      : await mutatingRun(options, snapshot, targets, observations, runId, lease!, errors, log, now);
    return {
      runId,
      configName: config.name,
      trigger: options.trigger,
      startedAt,
      finishedAt: now().toISOString(),
      dryRun: options.dryRun,
      targets: run.reports,
      pullRequest: run.pullRequest,
      errors,
    };
  } finally {
    await lease?.release().catch((error: unknown) => log('warn', `releasing the lease failed: ${toProblem(error).message}`));
  }
}

function factsOf(record: TargetRecord | undefined): Partial<SourceContext> {
  const facts = record?.lastGood?.facts;
  return facts ? { previousFacts: facts } : {};
}

interface RunOutcome {
  readonly reports: TargetReport[];
  readonly pullRequest: PullRequestReport;
}

async function dryRunOutcome(
  config: Config,
  snapshot: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
  now: () => Date,
): Promise<RunOutcome> {
  const drifts = driftAll(config, snapshot, targets, observations, now().toISOString());
  const proposed = proposedSets(config, snapshot, drifts);
  const diff = await dryRunDiff(config, snapshot, proposed);
  return {
    reports: [...drifts.values()].map((d) => d.report),
    pullRequest: { action: 'dry-run', ...(diff ? { diff } : {}) },
  };
}

async function mutatingRun(
  options: RunOptions,
  initial: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
  runId: string,
  lease: Lease,
  errors: Problem[],
  log: Log,
  now: () => Date,
): Promise<RunOutcome> {
  const { config, store } = options;
  let publisher: GitHubPublisher | undefined;
  const github = async () => {
    publisher ??= await (options.publisher ?? defaultPublisher(options.env, log))(config);
    return publisher;
  };

  const configRecord: ConfigRecord = { ...initial.config, declined: [...initial.config.declined] };
  const records = new Map(initial.targets);
  const touched = new Set<string>();

  // A PR merged since the last run is the team's approval: its proposal becomes the baseline.
  let openHead: string | undefined;
  if (configRecord.pullRequest?.state === 'open' && config.github) {
    try {
      const pr = await (await github()).getPullRequest(configRecord.pullRequest.number);
      if (pr.state === 'open') openHead = pr.headSha;
      const editedByPeople = pr.headSha !== configRecord.pullRequest.headSha || configRecord.pullRequest.blockedNotice !== undefined;
      if (pr.state === 'merged' && editedByPeople) {
        // What was merged is not what we proposed: the files on the base branch are the truth now. The next
        // publish compares its rendering with them and either finds them equal (and promotes) or proposes the rest.
        log('warn', `PR #${pr.number} was merged with commits made by people; its proposal is not taken as the baseline`);
        delete configRecord.pullRequest;
      } else if (pr.state === 'merged') {
        const at = now().toISOString();
        for (const [targetId, cidrs] of Object.entries(configRecord.pullRequest.proposal)) {
          const record = records.get(targetId) ?? emptyRecord(targetId);
          records.set(targetId, { ...record, baseline: cidrs, baselineAt: at, misses: {} });
          touched.add(targetId);
        }
        log('info', `PR #${pr.number} was merged: its proposal is now the baseline`);
        delete configRecord.pullRequest;
      } else if (pr.state === 'closed') {
        configRecord.declined = [...configRecord.declined, configRecord.pullRequest.fingerprint];
        log('info', `PR #${pr.number} was closed without merging: that proposal will not be proposed again`);
        delete configRecord.pullRequest;
      }
    } catch (error) {
      errors.push(toProblem(error, 'github-error'));
    }
  }

  const snapshot: Snapshot = { config: configRecord, targets: records };
  const drifts = driftAll(config, snapshot, targets, observations, now().toISOString());
  for (const drift of drifts.values()) {
    records.set(drift.nextRecord.targetId, drift.nextRecord);
    touched.add(drift.nextRecord.targetId);
  }
  const proposed = proposedSets(config, snapshot, drifts);
  // The stored proposal follows what the files carry, for later runs that do not check this target.
  for (const drift of drifts.values()) {
    const carried = proposed.get(drift.nextRecord.targetId)!;
    if (!sameAddresses(carried, drift.proposed)) records.set(drift.nextRecord.targetId, { ...drift.nextRecord, proposed: carried });
  }

  let pullRequest: PullRequestReport = { action: 'none' };
  if (errors.length === 0) {
    pullRequest = await publish(options, snapshot, drifts, proposed, runId, github, errors, now, openHead);
  }

  configRecord.lastRunId = runId;
  configRecord.lastRunAt = now().toISOString();
  // Fenced: the write renews the lease in the same transaction, so a run that lost its lease cannot write.
  await store.write(config.name, { config: configRecord, targets: [...touched].map((id) => records.get(id)!) }, { lease });
  return { reports: [...drifts.values()].map((d) => d.report), pullRequest };
}

async function publish(
  options: RunOptions,
  snapshot: Snapshot,
  drifts: Map<string, TargetDrift>,
  proposed: Map<string, Cidr[]>,
  runId: string,
  github: () => Promise<GitHubPublisher>,
  errors: Problem[],
  now: () => Date,
  /** The open PR's head as GitHub reported it in this run, when it was checked. */
  openHead: string | undefined,
): Promise<PullRequestReport> {
  const { config } = options;
  const configRecord = snapshot.config;
  const changedTargets = [...proposed.entries()].filter(([id, cidrs]) => !sameAddresses(cidrs, baselineOf(snapshot, id)));
  const open = configRecord.pullRequest?.state === 'open' ? configRecord.pullRequest : undefined;

  if (changedTargets.length === 0) {
    if (!open) return { action: 'none' };
    // People pushed to the branch: closing the PR would delete their commits with it.
    if (open.blockedNotice) return { action: 'blocked', number: open.number, url: open.url, message: 'no change is needed any more, but people pushed to the PR branch; it is theirs to close' };
    try {
      await (await github()).withdraw({ number: open.number, headSha: open.headSha }, 'The addresses it proposed match the approved baseline again, so no change is needed.');
      delete configRecord.pullRequest;
      return { action: 'closed', number: open.number, url: open.url };
    } catch (error) {
      errors.push(toProblem(error, 'github-error'));
      return { action: 'none', number: open.number, url: open.url };
    }
  }

  if (config.files.length === 0) {
    return { action: 'none', message: 'drift found, but the config lists no files to change' };
  }
  if (!config.github) {
    return { action: 'none', message: 'drift found, but the config has no "github" block to publish to' };
  }
  // A file shared with a target whose addresses are not known yet (never checked well, nothing approved) would be
  // written without that target's entries: a removal no check has shown. Wait until every such target is known.
  const unknown = unknownTargets(config, snapshot).filter((id) => config.files.some((f) => f.targets.includes(id)));
  if (unknown.length > 0) {
    return { action: 'none', message: `drift found, but ${unknown.join(', ')} ${unknown.length === 1 ? 'has' : 'have'} no known addresses yet (no good check, nothing approved); publishing waits for them` };
  }

  const fingerprint = proposalFingerprint(config, proposed);
  if (configRecord.declined.includes(fingerprint) && !open) {
    return { action: 'declined', message: 'this exact proposal was closed without merging before; waiting for a different drift' };
  }
  // The open PR already holds exactly these files in our own commit, and nobody pushed since: there is nothing
  // to send. A moved base needs no rebase to merge, and the description is refreshed with the next change.
  if (open && !open.blockedNotice && open.fingerprint === fingerprint && openHead === open.headSha) {
    return { action: 'unchanged', number: open.number, url: open.url };
  }

  const changed = new Set(changedTargets.map(([id]) => id));
  const text = renderPullRequest({
    configName: config.name,
    runId,
    configFingerprint: configFingerprint(config),
    drifts: [
      ...[...drifts.values()].filter((d) => changed.has(d.report.id) || d.report.status !== 'ok' || d.report.warnings.length > 0),
      // Targets this run did not check still change the files through their stored proposal: the reviewer sees them too.
      ...config.targets
        .filter((t) => changed.has(t.id) && !drifts.has(t.id))
        .map((t) => carriedDrift(t, snapshot.targets.get(t.id), proposed.get(t.id) ?? [], config)),
    ],
    files: config.files.map((f) => f.path),
  });
  const plan: PublishPlan = {
    fingerprint,
    title: text.title,
    body: text.body,
    files: config.files.map((file) => ({
      path: file.path,
      readsExisting: file.format === 'template',
      render: (existing: string | null) => renderFile(file, fileCidrs(file.targets, proposed), { configName: config.name, existing }),
    })),
    labels: config.github.labels,
    reviewers: config.github.reviewers,
    teamReviewers: config.github.teamReviewers,
  };
  try {
    const result = await (await github()).publish(
      plan,
      open ? { number: open.number, headSha: open.headSha, ...(open.blockedNotice ? { blockedNotice: open.blockedNotice } : {}) } : undefined,
    );
    if (result.alreadyOnBase) {
      // The repository already says what this run proposes: that is the approval, as a merge would be.
      const at = now().toISOString();
      for (const id of drifts.keys()) {
        snapshot.targets.set(id, { ...snapshot.targets.get(id)!, baseline: proposed.get(id) ?? [], baselineAt: at, misses: {} });
      }
    }
    const pr = result.pullRequest;
    if (pr) {
      configRecord.pullRequest = {
        number: pr.number,
        url: pr.url,
        branch: pr.branch,
        headSha: pr.headSha,
        fingerprint: result.action === 'blocked' && open ? open.fingerprint : fingerprint,
        state: 'open',
        proposal: result.action === 'blocked' && open ? open.proposal : Object.fromEntries(proposed),
        updatedAt: now().toISOString(),
        ...(result.action === 'blocked' ? { blockedNotice: pr.headSha } : {}),
      };
    }
    return {
      action: result.action,
      ...(pr ? { number: pr.number, url: pr.url } : {}),
      ...(result.message ? { message: result.message } : {}),
    };
  } catch (error) {
    errors.push(toProblem(error, 'github-error'));
    return { action: 'none', ...(open ? { number: open.number, url: open.url } : {}) };
  }
}

function driftAll(
  config: Config,
  snapshot: Snapshot,
  targets: readonly Target[],
  observations: readonly Observation[],
  now: string,
): Map<string, TargetDrift> {
  const drifts = new Map<string, TargetDrift>();
  targets.forEach((target, index) => {
    drifts.set(
      target.id,
      computeDrift({ target, observation: observations[index]!, record: snapshot.targets.get(target.id), policy: config.policy, now }),
    );
  });
  return drifts;
}

/**
 * What every configured target's rule-file entries should be: this run's proposal for the targets it checked,
 * and the stored proposal for the others, so a timer that checks only DNS targets keeps the CAS part of the PR.
 * A check that failed, was partial or was held cannot show that the open PR's part for its target is wrong, so
 * that part stays, plus what the parts that did answer newly show; otherwise one DNS timeout would rewrite the
 * PR, or withdraw it and delete its branch, only for the next clean check to propose it all again.
 */
function proposedSets(config: Config, snapshot: Snapshot, drifts: Map<string, TargetDrift>): Map<string, Cidr[]> {
  const open = snapshot.config.pullRequest?.state === 'open' ? snapshot.config.pullRequest : undefined;
  const sets = new Map<string, Cidr[]>();
  for (const target of config.targets) {
    const drift = drifts.get(target.id);
    const record = snapshot.targets.get(target.id);
    const carried = open?.proposal[target.id];
    if (drift && drift.report.status !== 'ok' && carried) sets.set(target.id, union(carried, drift.report.added));
    else sets.set(target.id, drift ? drift.proposed : (record?.proposed ?? record?.baseline ?? []));
  }
  return sets;
}

/** Targets whose addresses nothing has established (no baseline, no proposal, no part in the open PR), read from the records as this run will store them. */
function unknownTargets(config: Config, snapshot: Snapshot): string[] {
  const open = snapshot.config.pullRequest?.state === 'open' ? snapshot.config.pullRequest : undefined;
  return config.targets
    .filter((target) => {
      const record = snapshot.targets.get(target.id);
      return !record?.baseline && !record?.proposed && !open?.proposal[target.id];
    })
    .map((target) => target.id);
}

/** The PR-text view of a target this run did not check, from what the last check stored. */
function carriedDrift(target: Target, record: TargetRecord | undefined, proposed: Cidr[], config: Config): TargetDrift {
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

function baselineOf(snapshot: Snapshot, targetId: string): Cidr[] {
  return snapshot.targets.get(targetId)?.baseline ?? [];
}

/** A file holds the union of its targets' addresses, aggregated. */
function fileCidrs(targetIds: readonly string[], sets: Map<string, Cidr[]>): Cidr[] {
  return aggregate(targetIds.flatMap((id) => sets.get(id) ?? []));
}

/**
 * Identifies a proposal by what the files are rendered from (file settings and their addresses), which decides
 * "unchanged", "declined" and "already open" without reading the repository.
 */
export function proposalFingerprint(config: Config, proposed: Map<string, Cidr[]>): string {
  const files = config.files.map((file) => ({ ...file, cidrs: fileCidrs(file.targets, proposed) }));
  return createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
}

export function configFingerprint(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

async function dryRunDiff(config: Config, snapshot: Snapshot, proposed: Map<string, Cidr[]>): Promise<string | undefined> {
  const { createTwoFilesPatch } = await import('diff');
  const baselines = new Map(config.targets.map((t) => [t.id, baselineOf(snapshot, t.id)]));
  const patches: string[] = [];
  for (const file of config.files) {
    const before = fileCidrs(file.targets, baselines);
    const after = fileCidrs(file.targets, proposed);
    if (sameAddresses(before, after)) continue;
    // The repository is not read on a dry run: a template file is shown as its generated block alone.
    const existing = file.format === 'template' ? templateSkeleton(file.id, file.commentPrefix) : null;
    const render = (cidrs: Cidr[]) => renderFile(file, cidrs, { configName: config.name, existing });
    patches.push(createTwoFilesPatch(`a/${file.path}`, `b/${file.path}`, render(before), render(after), '', '', { context: 2 }));
  }
  return patches.length > 0 ? patches.join('') : undefined;
}

function templateSkeleton(fileId: string, commentPrefix: string): string {
  return `${commentPrefix} BEGIN allowlist-drift:${fileId}\n${commentPrefix} END allowlist-drift:${fileId}\n`;
}

function emptyRecord(targetId: string): TargetRecord {
  return { targetId, baseline: null, misses: {}, firstSeen: {}, lastErrors: [], lastWarnings: [], verdicts: [] };
}

function defaultPublisher(env: RunOptions['env'], log: Log) {
  return async (config: Config): Promise<GitHubPublisher> => {
    const { createGitHubPublisher } = await import('./publish/github.js');
    return createGitHubPublisher({ github: config.github!, configName: config.name, env, log: (m) => log('info', m) });
  };
}

export interface AcceptOptions extends Pick<RunOptions, 'config' | 'store' | 'env' | 'log' | 'now' | 'armCredential' | 'leaseTtlMs'> {
  readonly targetId: string;
}

/**
 * The explicit bootstrap: a team whose files already hold the right addresses accepts the current
 * observation as the baseline, without a PR. Only a complete ('ok') observation can be accepted.
 */
export async function acceptObservation(options: AcceptOptions): Promise<TargetReport> {
  const now = options.now ?? (() => new Date());
  const [target] = selectTargets(options.config, [options.targetId]);
  const runId = randomUUID();
  const lease = await options.store.acquireLease(options.config.name, runId, options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
  try {
    const snapshot = await options.store.read(options.config.name);
    const record = snapshot.targets.get(target!.id);
    const observation = await observeTarget(target!, { config: options.config, env: options.env, now, ...factsOf(record) });
    if (observation.status !== 'ok') {
      throw new AllowlistError('accept-incomplete', `${target!.id}: the observation is "${observation.status}" (${observation.errors.map((e) => e.code).join(', ') || 'no entries'}); only a complete observation can become the baseline`);
    }
    const drift = computeDrift({ target: target!, observation, record, policy: options.config.policy, now: now().toISOString() });
    if (drift.report.status === 'held') {
      throw new AllowlistError('accept-held', `${target!.id}: held by a guard (${drift.report.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.message).join('; ')})`);
    }
    const baseline = aggregate(observation.entries.map((e) => e.cidr));
    await options.store.write(
      options.config.name,
      { targets: [{ ...drift.nextRecord, baseline, baselineAt: now().toISOString(), misses: {}, proposed: baseline }] },
      { lease },
    );
    return { ...drift.report, baseline, added: [], removed: [], pendingRemoval: [] };
  } finally {
    await lease.release().catch(() => undefined);
  }
}

export interface TargetStatus {
  readonly id: string;
  readonly type: TargetType;
  readonly lastCheckAt: string | null;
  readonly status: TargetReport['status'] | 'never-checked';
  readonly baselineCount: number;
  readonly observedCount: number;
  readonly pendingRemoval: Array<{ cidr: string; misses: number }>;
  readonly lastErrors: Problem[];
  readonly warnings: Problem[];
}

export interface StatusReport {
  readonly configName: string;
  readonly lastRunAt: string | null;
  readonly targets: TargetStatus[];
  readonly pullRequest: { number: number; url: string; state: string; fingerprint: string } | null;
}

/** The stored state of every configured target, without running a check (one query). */
export async function readStatus(config: Config, store: StateStore): Promise<StatusReport> {
  const snapshot = await store.read(config.name);
  const pr = snapshot.config.pullRequest;
  return {
    configName: config.name,
    lastRunAt: snapshot.config.lastRunAt ?? null,
    targets: config.targets.map((target) => {
      const record = snapshot.targets.get(target.id);
      return {
        id: target.id,
        type: target.type,
        lastCheckAt: record?.lastCheckAt ?? null,
        status: record?.lastStatus ?? 'never-checked',
        baselineCount: record?.baseline?.length ?? 0,
        observedCount: record?.observation?.entries.length ?? 0,
        pendingRemoval: pendingRemovals(record?.misses ?? {}, config.policy.removeAfterMisses),
        lastErrors: record?.lastErrors ?? [],
        warnings: record?.lastWarnings ?? [],
      };
    }),
    pullRequest: pr && pr.state === 'open' ? { number: pr.number, url: pr.url, state: pr.state, fingerprint: pr.fingerprint } : null,
  };
}
