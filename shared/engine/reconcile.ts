import type { TargetDrift } from '../drift.js';
import type { Cidr } from '../ipset.js';
import { toProblem, type Problem } from '../problem.js';
import type { PublishPlan } from '../publish/github.js';
import { renderPullRequest } from '../publish/pr-text.js';
import { renderFile } from '../render/index.js';
import type { PullRequestReport } from '../report.js';
import type { PullRequestRecord, Snapshot } from '../state/records.js';
import type { RunContext } from './context.js';
import { carriedDrift, changedTargets, configFingerprint, fileCidrs, openPullRequest, proposalFingerprint, unknownTargets } from './proposal.js';

/**
 * The PR lifecycle. Each step reads GitHub, decides, and returns what changed (the PR record to keep, baselines
 * to promote, problems) for the run to store; nothing here writes state.
 */

/** What the open PR recorded by the last run turned into since. */
export interface PullRequestReading {
  /** The record to keep: the PR is still open, or reading it failed. Undefined once it was merged or closed. */
  readonly pullRequest: PullRequestRecord | undefined;
  /** The open PR's head as GitHub reported it in this run. */
  readonly openHead?: string;
  /** A merge is the team's approval: target id -> its new baseline. */
  readonly promotions: ReadonlyMap<string, Cidr[]>;
  /** The fingerprint of a proposal people closed without merging. */
  readonly declined?: string;
  readonly problems: readonly Problem[];
}

export async function readPullRequest(context: RunContext, record: PullRequestRecord | undefined): Promise<PullRequestReading> {
  const none = { promotions: new Map<string, Cidr[]>(), problems: [] };
  if (record?.state !== 'open' || !context.config.github) return { pullRequest: record, ...none };
  try {
    const pr = await (await context.github()).getPullRequest(record.number);
    if (pr.state === 'open') return { pullRequest: record, openHead: pr.headSha, ...none };
    if (pr.state === 'closed') {
      context.log('info', `PR #${pr.number} was closed without merging: that proposal will not be proposed again`);
      return { pullRequest: undefined, declined: record.fingerprint, ...none };
    }
    const editedByPeople = pr.headSha !== record.headSha || record.blockedNotice !== undefined;
    if (editedByPeople) {
      // What was merged is not what we proposed: the files on the base branch are the truth now. The next
      // publish compares its rendering with them and either finds them equal (and promotes) or proposes the rest.
      context.log('warn', `PR #${pr.number} was merged with commits made by people; its proposal is not taken as the baseline`);
      return { pullRequest: undefined, ...none };
    }
    context.log('info', `PR #${pr.number} was merged: its proposal is now the baseline`);
    return { pullRequest: undefined, promotions: new Map(Object.entries(record.proposal)), problems: [] };
  } catch (error) {
    return { pullRequest: record, ...none, problems: [toProblem(error, 'github-error')] };
  }
}

export interface ReconcileInput {
  /** The state as this run will store it, with the PR record as `readPullRequest` left it. */
  readonly snapshot: Snapshot;
  readonly drifts: ReadonlyMap<string, TargetDrift>;
  /** Every configured target's entries, as `proposedSets` computed them. */
  readonly proposed: ReadonlyMap<string, Cidr[]>;
  readonly openHead: string | undefined;
}

export interface Reconciliation {
  readonly report: PullRequestReport;
  /** The PR record to store: undefined when no PR is open any more. */
  readonly pullRequest: PullRequestRecord | undefined;
  /** The repository already holds the proposal: target id -> its new baseline. */
  readonly promotions: ReadonlyMap<string, Cidr[]>;
  readonly problems: readonly Problem[];
}

/** Brings the PR in line with the proposal: opens, updates, leaves, withdraws, or explains why not. */
export async function reconcilePullRequest(context: RunContext, input: ReconcileInput): Promise<Reconciliation> {
  const { config } = context;
  const { snapshot, proposed } = input;
  const open = openPullRequest(snapshot);
  const keep = (report: PullRequestReport, problems: readonly Problem[] = []): Reconciliation => ({
    report,
    pullRequest: snapshot.config.pullRequest,
    promotions: new Map(),
    problems,
  });
  const changed = changedTargets(snapshot, proposed);

  if (changed.size === 0) {
    if (!open) return keep({ action: 'none' });
    // People pushed to the branch: closing the PR would delete their commits with it.
    if (open.blockedNotice) {
      return keep({ action: 'blocked', number: open.number, url: open.url, message: 'no change is needed any more, but people pushed to the PR branch; it is theirs to close' });
    }
    try {
      await (await context.github()).withdraw(
        { number: open.number, headSha: open.headSha },
        'The addresses it proposed match the approved baseline again, so no change is needed.',
      );
      return { report: { action: 'closed', number: open.number, url: open.url }, pullRequest: undefined, promotions: new Map(), problems: [] };
    } catch (error) {
      return keep({ action: 'none', number: open.number, url: open.url }, [toProblem(error, 'github-error')]);
    }
  }

  if (config.files.length === 0) return keep({ action: 'none', message: 'drift found, but the config lists no files to change' });
  if (!config.github) return keep({ action: 'none', message: 'drift found, but the config has no "github" block to publish to' });
  // A file shared with a target whose addresses are not known yet (never checked well, nothing approved) would be
  // written without that target's entries: a removal no check has shown. Wait until every such target is known.
  const unknown = unknownTargets(config, snapshot).filter((id) => config.files.some((f) => f.targets.includes(id)));
  if (unknown.length > 0) {
    const verb = unknown.length === 1 ? 'has' : 'have';
    return keep({ action: 'none', message: `drift found, but ${unknown.join(', ')} ${verb} no known addresses yet (no good check, nothing approved); publishing waits for them` });
  }

  const fingerprint = proposalFingerprint(config, proposed);
  if (snapshot.config.declined.includes(fingerprint) && !open) {
    return keep({ action: 'declined', message: 'this exact proposal was closed without merging before; waiting for a different drift' });
  }
  // The open PR already holds exactly these files in our own commit, and nobody pushed since: there is nothing
  // to send. A moved base needs no rebase to merge, and the description is refreshed with the next change.
  if (open && !open.blockedNotice && open.fingerprint === fingerprint && input.openHead === open.headSha) {
    return keep({ action: 'unchanged', number: open.number, url: open.url });
  }

  const plan = publishPlan(context, input, changed, fingerprint);
  try {
    const known = open ? { number: open.number, headSha: open.headSha, ...(open.blockedNotice ? { blockedNotice: open.blockedNotice } : {}) } : undefined;
    const result = await (await context.github()).publish(plan, known);
    // The repository already says what this run proposes: that is the approval, as a merge would be.
    const promotions = new Map<string, Cidr[]>(result.alreadyOnBase ? [...input.drifts.keys()].map((id) => [id, proposed.get(id) ?? []]) : []);
    const pr = result.pullRequest;
    const blocked = result.action === 'blocked' && open;
    const pullRequest: PullRequestRecord | undefined = pr
      ? {
          number: pr.number,
          url: pr.url,
          branch: pr.branch,
          headSha: pr.headSha,
          // A blocked PR still carries what we last pushed, not this run's proposal.
          fingerprint: blocked ? open.fingerprint : fingerprint,
          state: 'open',
          proposal: blocked ? open.proposal : Object.fromEntries(proposed),
          updatedAt: context.now().toISOString(),
          ...(result.action === 'blocked' ? { blockedNotice: pr.headSha } : {}),
        }
      : snapshot.config.pullRequest;
    return {
      report: { action: result.action, ...(pr ? { number: pr.number, url: pr.url } : {}), ...(result.message ? { message: result.message } : {}) },
      pullRequest,
      promotions,
      problems: [],
    };
  } catch (error) {
    return keep({ action: 'none', ...(open ? { number: open.number, url: open.url } : {}) }, [toProblem(error, 'github-error')]);
  }
}

function publishPlan(context: RunContext, input: ReconcileInput, changed: ReadonlySet<string>, fingerprint: string): PublishPlan {
  const { config } = context;
  const github = config.github!;
  const { snapshot, drifts, proposed } = input;
  const text = renderPullRequest({
    configName: config.name,
    runId: context.runId,
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
  return {
    fingerprint,
    title: text.title,
    body: text.body,
    files: config.files.map((file) => ({
      path: file.path,
      readsExisting: file.format === 'template',
      render: (existing: string | null) => renderFile(file, fileCidrs(file.targets, proposed), { configName: config.name, existing }),
    })),
    labels: github.labels,
    reviewers: github.reviewers,
    teamReviewers: github.teamReviewers,
  };
}
