import type { CapacityDecision } from '../capacity/capacity.js';
import type { Config } from '../config.js';
import type { TargetDrift } from '../drift/drift.js';
import { intersection, union, type Cidr } from '../ipset.js';
import { toProblem, type Problem } from '../problem.js';
import { pullRequestMarker } from '../publish/github/markers.js';
import type { BaseFiles, PublishPlan } from '../publish/github/types.js';
import { pullRequestTextFingerprint, renderPullRequest } from '../publish/pr-text.js';
import type { PullRequestReport } from '../report.js';
import type { PullRequestRecord, Snapshot } from '../state/records.js';
import type { RunContext } from './context.js';
import { capacityAttention, capacityOfSets, releasedAttention, withWideningVerdicts } from './capacity.js';
import {
  assertRemovalsNamed,
  fileEntriesOnBase,
  planFiles,
  totalChange,
  WIDENED_COVER,
  withheldPromotion,
  writtenChanges,
  type FileChange,
} from './files.js';
import {
  baselineOf,
  carriedDrift,
  changedTargets,
  configFingerprint,
  fileTakes,
  openPullRequest,
  proposalFingerprint,
  unknownTargets,
} from './proposal.js';

/**
 * The PR lifecycle. Each step reads GitHub, decides, and returns what changed (the PR record to keep, baselines
 * to promote, problems) for the run to store; nothing here writes state, except that a withdrawal is handed to the
 * run's `recordWithdrawal` to store before it is announced.
 */

/** What the PR recorded by the last run (open, or declined and watched) turned into since. */
export interface PullRequestReading {
  /** The record to keep: the PR is still open, declined and watched, or reading it failed. Undefined once it is done with. */
  readonly pullRequest: PullRequestRecord | undefined;
  /** The open PR's head as GitHub reported it in this run. */
  readonly openHead?: string;
  /** A merge is the team's approval: target id -> its new baseline. */
  readonly promotions: ReadonlyMap<string, Cidr[]>;
  /** The fingerprint of a proposal people closed without merging. */
  readonly declined?: string;
  /** The fingerprint of a proposal people took back after declining it (reopened or merged): no longer declined. */
  readonly undeclined?: string;
  readonly problems: readonly Problem[];
  /** A recorded PR that was not the tool's own and was dropped. */
  readonly warnings?: readonly Problem[];
  /** The base branch's files, when reading a merge read them. */
  readonly base?: BaseFiles;
}

/**
 * Reads the recorded PR once. What happened last decides: a merge promotes whatever came before it (a decline, a
 * block, a withdrawal); a close is the tool's own only when the state recorded the withdrawal (or, for a renamed
 * config or a superseded branch, its comment says so); a close that came from deleting the open PR's branch asks for
 * the change again; any other close is a decline, and the declined PR is still read by later runs so that a reopen
 * or a merge of it is seen.
 */
export async function readPullRequest(context: RunContext, record: PullRequestRecord | undefined): Promise<PullRequestReading> {
  const none = { promotions: new Map<string, Cidr[]>(), problems: [] };
  if (!record || record.state === 'merged' || !context.config.github) return { pullRequest: record, ...none };
  try {
    const github = await context.github();
    const pr = await github.getPullRequest(record.number);
    // An earlier release took some PRs for its own by their branch name alone: one it did not open is forgotten.
    if (!(await github.ownsPullRequest(pr, record))) {
      const from =
        pr.headRepo === `${context.config.github.owner}/${context.config.github.repo}` ? '' : ` from ${pr.headRepo ?? 'a deleted fork'}`;
      return {
        pullRequest: undefined,
        promotions: new Map(),
        problems: [],
        warnings: [
          {
            code: 'foreign-pull-request-dropped',
            message: `Pull request #${pr.number} by ${pr.author}${from} was recorded as this config's, but allowlist-drift did not open it; it is no longer read, commented on or closed, and its closing is no decline.`,
          },
        ],
      };
    }
    // Recorded from now on, so that the PR stays the tool's own after a change of credentials.
    const known = record.author === undefined ? { ...record, author: pr.author } : record;
    if (pr.state === 'merged') {
      const { promotions, base } = await mergedPromotions(context, known);
      context.log('info', `PR #${pr.number} was merged: what the base branch now holds of its proposal is the baseline`);
      return { pullRequest: undefined, promotions, undeclined: known.fingerprint, problems: [], base };
    }
    if (known.state === 'closed') {
      if (pr.state === 'closed') return { pullRequest: known, ...none };
      context.log('info', `PR #${pr.number} was reopened: it is the open PR again, and its proposal is no longer declined`);
      return { pullRequest: { ...known, state: 'open' }, openHead: pr.headSha, undeclined: known.fingerprint, ...none };
    }
    // Open: a withdrawal that did not get as far as closing it is over; the run decides afresh.
    const { withdrawal, ...current } = known;
    if (pr.state === 'open') return { pullRequest: current, openHead: pr.headSha, ...none };
    if (withdrawal?.number === pr.number) {
      // Our own withdrawal may have stopped half-way (the branch delete failed, the process died): finish it.
      await github.finishRecordedWithdrawal(pr, withdrawal.headSha);
      context.log('info', `PR #${pr.number} was withdrawn by allowlist-drift; its withdrawal is complete`);
      return { pullRequest: undefined, ...none };
    }
    if (await github.finishWithdrawal(pr.number)) {
      context.log('info', `PR #${pr.number} was withdrawn by allowlist-drift (its comment says so); its withdrawal is complete`);
      return { pullRequest: undefined, ...none };
    }
    if (await github.closedByBranchDeletion(pr.number)) {
      context.log('info', `PR #${pr.number} was closed by deleting its branch: not a decline, so its change is proposed again`);
      return { pullRequest: undefined, ...none };
    }
    context.log('info', `PR #${pr.number} was closed without merging: that proposal will not be proposed again`);
    return {
      pullRequest: { ...current, state: 'closed', updatedAt: context.now().toISOString() },
      declined: record.fingerprint,
      ...none,
    };
  } catch (error) {
    return { pullRequest: record, ...none, problems: [toProblem(error, 'github-error')] };
  }
}

/**
 * Merging approves what was merged: per target, the part of its proposal that every one of its files on the base
 * branch holds after the merge, whatever commits people added to the branch or whenever the merge happened. A target written to no file
 * has nothing to read back; its proposal is what was approved.
 */
async function mergedPromotions(
  context: RunContext,
  record: PullRequestRecord,
): Promise<{ promotions: Map<string, Cidr[]>; base: BaseFiles }> {
  const { config } = context;
  const base = await (await context.github()).readBase(config.files.map((file) => file.path));
  const onBase = new Map(config.files.map((file) => [file.path, fileEntriesOnBase(file, base.files)]));
  const promotions = new Map(
    Object.entries(record.proposal).map(([targetId, proposal]) => {
      const files = config.files.filter((file) => file.targets.includes(targetId));
      if (files.length === 0) return [targetId, proposal];
      // Every file of the target must hold an address for it to count as merged: one hand-emptied file is a gap to fill.
      // A file of one family never holds the other, so it says nothing about those addresses.
      return [
        targetId,
        files.reduce(
          (held, file) =>
            intersection(
              held,
              union(
                onBase.get(file.path)!,
                held.filter((cidr) => !fileTakes(file, cidr)),
              ),
            ),
          proposal,
        ),
      ];
    }),
  );
  return { promotions, base };
}

export interface ReconcileInput {
  /** The state as this run will store it, with the PR record as `readPullRequest` left it. */
  readonly snapshot: Snapshot;
  readonly drifts: ReadonlyMap<string, TargetDrift>;
  /** Every configured target's entries, as `proposedSets` computed them. */
  readonly proposed: ReadonlyMap<string, Cidr[]>;
  readonly openHead: string | undefined;
  /**
   * Stores the open PR's record with its withdrawal before anything is said on GitHub, so that only a close the state
   * knows is read as the tool's own.
   */
  readonly recordWithdrawal: (pullRequest: PullRequestRecord) => Promise<void>;
  /** The base branch as this run already read it (to judge a target without a baseline), so it is read once. */
  readonly base?: BaseFiles;
  /** The limited files as the run judged them from the proposal alone (capacityOfSets), for the PR text. */
  readonly capacity?: readonly CapacityDecision[];
}

export interface Reconciliation {
  readonly report: PullRequestReport;
  /** Run-level warnings: entries on the base branch this config does not manage, kept as they are. */
  readonly warnings: readonly Problem[];
  /** The PR record to store: undefined when no PR is open any more. */
  readonly pullRequest: PullRequestRecord | undefined;
  /** The repository already holds the proposal: target id -> its new baseline. */
  readonly promotions: ReadonlyMap<string, Cidr[]>;
  readonly problems: readonly Problem[];
  /** The base branch's files, when this step read them (to publish or refresh the PR text). */
  readonly base?: BaseFiles;
  /** The limited files as planned against the base branch (their entries the config does not manage counted too). */
  readonly capacity?: readonly CapacityDecision[];
}

/** Why a run sends nothing to GitHub. */
export type HoldReason = 'no-change' | 'blocked' | 'no-files' | 'no-github' | 'unknown-targets' | 'declined' | 'unchanged';

/** What a run does about the PR, decided from the state alone before GitHub is read; a dry run asks the same. */
export type PublishGate =
  | { readonly kind: 'hold'; readonly reason: HoldReason; readonly report: PullRequestReport }
  | { readonly kind: 'withdraw'; readonly open: PullRequestRecord }
  | { readonly kind: 'publish'; readonly changed: ReadonlySet<string>; readonly fingerprint: string };

export function publishGate(
  config: Config,
  snapshot: Snapshot,
  proposed: ReadonlyMap<string, Cidr[]>,
  openHead: string | undefined,
): PublishGate {
  const open = openPullRequest(snapshot);
  const hold = (reason: HoldReason, report: PullRequestReport): PublishGate => ({ kind: 'hold', reason, report });
  const changed = changedTargets(snapshot, proposed);

  if (changed.size === 0) {
    if (!open) return hold('no-change', { action: 'none' });
    // People pushed to the branch: closing the PR would delete their commits with it.
    if (open.blockedNotice) {
      return hold('blocked', {
        action: 'blocked',
        number: open.number,
        url: open.url,
        message: 'no change is needed any more, but people pushed to the PR branch; it is theirs to close',
      });
    }
    return { kind: 'withdraw', open };
  }

  if (config.files.length === 0)
    return hold('no-files', { action: 'none', message: 'drift found, but the config lists no files to change' });
  // A file shared with a target whose addresses are not known yet (never checked well, nothing approved) would be
  // written without that target's entries: a removal no check has shown. One PR carries every file, so it waits.
  const unknown = unknownTargets(config, snapshot).filter((id) => config.files.some((f) => f.targets.includes(id)));
  if (unknown.length > 0) {
    const [verb, them] = unknown.length === 1 ? ['has', 'it'] : ['have', 'them'];
    const files = config.files.filter((f) => f.targets.some((id) => unknown.includes(id))).map((f) => f.path);
    return hold('unknown-targets', {
      action: 'none',
      message: `drift found, but ${unknown.join(', ')} ${verb} no known addresses yet (no good check, nothing approved); publishing waits for ${them} (${files.join(', ')} ${files.length === 1 ? 'holds' : 'hold'} ${them === 'it' ? 'its' : 'their'} entries)`,
    });
  }

  if (!config.github)
    return hold('no-github', { action: 'none', message: 'drift found, but the config has no "github" block to publish to' });
  const fingerprint = proposalFingerprint(config, proposed);
  if (snapshot.config.declined.includes(fingerprint) && !open) {
    return hold('declined', {
      action: 'declined',
      message: 'this exact proposal was closed without merging before; waiting for a different drift',
    });
  }
  // The open PR already holds exactly these files in our own commit, and nobody pushed since: there is nothing
  // to send. A moved base needs no rebase to merge, and the description is refreshed with the next change. While a
  // file is over its limit the files are planned again: the capacity keys leave the fingerprint as it was, and the
  // open PR may still carry the file from before its limit.
  const waiting = capacityOfSets(config, proposed).some((decision) => decision.outcome === 'exceeded');
  if (open && !open.blockedNotice && open.fingerprint === fingerprint && openHead === open.headSha && !waiting) {
    return hold('unchanged', { action: 'unchanged', number: open.number, url: open.url });
  }
  return { kind: 'publish', changed, fingerprint };
}

/** Brings the PR in line with the proposal: opens, updates, leaves, withdraws, or explains why not. */
export async function reconcilePullRequest(context: RunContext, input: ReconcileInput): Promise<Reconciliation> {
  const { snapshot, proposed } = input;
  const open = openPullRequest(snapshot);
  const keep = (report: PullRequestReport, problems: readonly Problem[] = []): Reconciliation => ({
    report,
    pullRequest: snapshot.config.pullRequest,
    promotions: new Map(),
    problems,
    warnings: [],
  });
  const gate = publishGate(context.config, snapshot, proposed, input.openHead);
  // The files are what the open PR holds; its description is refreshed only when what it says changed.
  if (gate.kind === 'hold' && gate.reason === 'unchanged' && open) {
    const changed = changedTargets(snapshot, proposed);
    const described = describedDrifts(context.config, input, changed);
    const textFingerprint = describedFingerprint(context.config, described, input.capacity ?? []);
    if (open.textFingerprint === textFingerprint) return keep(gate.report);
    return redescribe(context, input, { open, changed, fingerprint: open.fingerprint, textFingerprint });
  }
  if (gate.kind === 'hold') return keep(gate.report);
  if (gate.kind === 'withdraw') {
    const { number, headSha } = gate.open;
    const withdrawing: PullRequestRecord = { ...gate.open, withdrawal: { number, headSha, at: context.now().toISOString() } };
    let recorded = false;
    try {
      await input.recordWithdrawal(withdrawing);
      recorded = true;
      await (
        await context.github()
      ).withdraw({ number, headSha }, 'The addresses it proposed match the approved baseline again, so no change is needed.');
      return {
        report: { action: 'closed', number: gate.open.number, url: gate.open.url },
        pullRequest: undefined,
        promotions: new Map(),
        problems: [],
        warnings: [],
      };
    } catch (error) {
      // Recorded, the withdrawal stays in the state until a run reads the PR closed (ours) or open (over).
      const kept = keep({ action: 'none', number, url: gate.open.url }, [toProblem(error, 'github-error')]);
      return recorded ? { ...kept, pullRequest: withdrawing } : kept;
    }
  }
  const { changed, fingerprint } = gate;

  try {
    const github = await context.github();
    const base = input.base ?? (await github.readBase(context.config.files.map((file) => file.path)));
    const plan = buildPublishPlan(context, input, { changed, fingerprint, base });
    const known = open
      ? {
          number: open.number,
          headSha: open.headSha,
          ...(open.blockedNotice ? { blockedNotice: open.blockedNotice } : {}),
          ...(open.author ? { author: open.author } : {}),
        }
      : undefined;
    const result = await github.publish(plan.plan, known);
    // The repository already says what this run proposes: that is the approval, as a merge would be. A file withheld
    // for capacity says nothing of the kind: what it would have added is not on the base branch, and stays pending.
    const promotions = new Map<string, Cidr[]>(
      result.alreadyOnBase
        ? [...input.drifts.keys()].map((id) => [
            id,
            withheldPromotion(plan.changes, { id, proposed: proposed.get(id) ?? [], baseline: baselineOf(snapshot, id) }),
          ])
        : [],
    );
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
          author: pr.author,
          proposal: blocked ? open.proposal : Object.fromEntries(proposed),
          updatedAt: context.now().toISOString(),
          ...(result.action === 'blocked' ? { blockedNotice: pr.headSha } : {}),
          // A blocked PR's description was not touched either.
          ...(blocked
            ? open.textFingerprint
              ? { textFingerprint: open.textFingerprint }
              : {}
            : { textFingerprint: plan.textFingerprint }),
        }
      : snapshot.config.pullRequest;
    const waiting = plan.changes.filter((change) => change.withheld).map((change) => change.file.path);
    const message =
      result.alreadyOnBase && waiting.length > 0
        ? `${waiting.join(', ')} ${waiting.length === 1 ? 'waits' : 'wait'} for room (capacity-exceeded), and the base branch already holds the rest: there is nothing to propose`
        : result.message;
    return {
      report: {
        action: result.action,
        ...(pr ? { number: pr.number, url: pr.url } : {}),
        ...(message ? { message } : {}),
      },
      pullRequest,
      promotions,
      problems: [],
      warnings: [...plan.warnings, ...(result.warnings ?? [])],
      base,
      capacity: plan.capacity,
    };
  } catch (error) {
    return keep({ action: 'none', ...(open ? { number: open.number, url: open.url } : {}) }, [toProblem(error, 'github-error')]);
  }
}

/** The files as they will be pushed, and the targets the PR text describes: a full run and a dry run both plan with this. */
export interface FilesPlan {
  /** Every file, those withheld for capacity too (see writtenChanges). */
  readonly changes: FileChange[];
  /** The limited files, judged with every entry they would hold. */
  readonly capacity: CapacityDecision[];
  readonly described: TargetDrift[];
  /** Entries on the base branch this config does not manage, kept as they are. */
  readonly warnings: Problem[];
}

/**
 * Computes every file against the base branch's current files. Throws (nothing is pushed) when a file cannot be
 * rendered or would lose an entry the PR does not name as a confirmed removal.
 */
export function planPublishedFiles(
  config: Config,
  input: Pick<ReconcileInput, 'snapshot' | 'drifts' | 'proposed'>,
  changed: ReadonlySet<string>,
  base: ReadonlyMap<string, string | null>,
): FilesPlan {
  const { snapshot, proposed } = input;
  const described = describedDrifts(config, input, changed);
  const open = openPullRequest(snapshot);
  const baselines = new Map(config.targets.map((t) => [t.id, baselineOf(snapshot, t.id)]));
  const managed = new Map(
    config.targets.map((t) => {
      const record = snapshot.targets.get(t.id);
      return [t.id, union(record?.baseline ?? [], record?.proposed ?? [], open?.proposal[t.id] ?? [])];
    }),
  );
  const changes = planFiles(config, { base, proposed, baselines, managed });
  // An approved address the config now excludes is a removal the config itself names.
  assertRemovalsNamed(
    changes,
    union(...described.filter((d) => changed.has(d.report.id)).flatMap((d) => [d.report.removed, d.report.excluded ?? []])),
  );
  const baseBranch = config.github?.base ?? 'the base branch';
  const warnings = changes
    .filter((c) => c.kept.length > 0)
    .map((c) => ({
      code: 'unmanaged-entries',
      message: `${c.file.path} on ${baseBranch} holds ${c.kept.length} ${c.kept.length === 1 ? 'entry' : 'entries'} no target of config "${config.name}" produced (${c.kept.slice(0, 5).join(', ')}${c.kept.length > 5 ? ', …' : ''}); kept as they are. A hand edit, or another config writing the same file?`,
    }));
  for (const change of changes) {
    for (const stay of change.stays) {
      warnings.push({
        code: 'still-allowed',
        message:
          stay.by === WIDENED_COVER
            ? `${stay.cidr} is no longer listed by any target of config "${config.name}", but stays allowed in ${change.file.path} by ${stay.entry}, a cover the file needs to fit its limit (fit)`
            : `${stay.cidr} is no longer listed by any target of config "${config.name}", but stays allowed in ${change.file.path} by ${stay.entry} (${stay.by}), an entry this config does not manage; that entry is kept whole`,
      });
    }
  }
  return { changes, described, warnings, capacity: changes.flatMap((c) => c.capacity ?? []) };
}

/** The targets the PR text describes: the changed ones and any others worth a reviewer's attention, in config order. */
function describedDrifts(
  config: Config,
  input: Pick<ReconcileInput, 'snapshot' | 'drifts' | 'proposed'>,
  changed: ReadonlySet<string>,
): TargetDrift[] {
  const { snapshot, drifts, proposed } = input;
  return [
    ...[...drifts.values()].filter(
      (d) => changed.has(d.report.id) || d.report.status !== 'ok' || d.report.warnings.length > 0 || d.report.excluded !== undefined,
    ),
    // Targets this run did not check still change the files through their stored proposal: the reviewer sees them too.
    ...config.targets
      .filter((t) => changed.has(t.id) && !drifts.has(t.id))
      .map((t) => carriedDrift(t, snapshot.targets.get(t.id), proposed.get(t.id) ?? [], config)),
  ];
}

/** What the PR text says, without what changes every run (run id, times): equal fingerprints need no PATCH. */
function describedFingerprint(config: Config, described: readonly TargetDrift[], capacity: readonly CapacityDecision[]): string {
  const attention = capacityAttention(config, capacity, { stable: true });
  return pullRequestTextFingerprint({
    configName: config.name,
    configFingerprint: configFingerprint(config),
    drifts: described,
    ...(attention.length > 0 ? { attention } : {}),
  });
}

/**
 * The open PR's files stay; its text changed (a new warning, a hold, a miss count): the base is read to describe
 * the files' change against it, and the description alone is sent.
 */
async function redescribe(
  context: RunContext,
  input: ReconcileInput,
  what: { open: PullRequestRecord; changed: ReadonlySet<string>; fingerprint: string; textFingerprint: string },
): Promise<Reconciliation> {
  const { open } = what;
  const unchanged = { action: 'unchanged' as const, number: open.number, url: open.url };
  try {
    const github = await context.github();
    const base = input.base ?? (await github.readBase(context.config.files.map((file) => file.path)));
    const { plan, warnings, capacity } = buildPublishPlan(context, input, { changed: what.changed, fingerprint: what.fingerprint, base });
    await github.redescribe(open.number, { title: plan.title, body: plan.body });
    return {
      report: { ...unchanged, message: 'the files stay as they are; the description was refreshed' },
      pullRequest: { ...open, textFingerprint: what.textFingerprint, updatedAt: context.now().toISOString() },
      promotions: new Map(),
      problems: [],
      warnings,
      base,
      capacity,
    };
  } catch (error) {
    return { report: unchanged, pullRequest: open, promotions: new Map(), problems: [toProblem(error, 'github-error')], warnings: [] };
  }
}

/** The planned files and the PR text that describes exactly that change (the publisher carries the plan out). */
function buildPublishPlan(
  context: RunContext,
  input: ReconcileInput,
  { changed, fingerprint, base }: { changed: ReadonlySet<string>; fingerprint: string; base: BaseFiles },
): { plan: PublishPlan; warnings: Problem[]; textFingerprint: string; changes: FileChange[]; capacity: CapacityDecision[] } {
  const { config } = context;
  const github = config.github!;
  const { changes: planned, described, warnings, capacity } = planPublishedFiles(config, input, changed, base.files);
  // A file withheld for capacity is not pushed: the PR's warning block says which file waits and why.
  const changes = writtenChanges(planned);
  const total = totalChange(changes);
  const attention = [...capacityAttention(config, capacity, { drifts: input.drifts }), ...releasedAttention(changes)];
  const reports = withWideningVerdicts(
    config,
    capacity,
    described.map((drift) => drift.report),
  );
  const text = renderPullRequest({
    configName: config.name,
    runId: context.runId,
    configFingerprint: configFingerprint(config),
    drifts: described.map((drift, index) => ({ ...drift, report: reports[index]! })),
    change: total,
    files: changes.filter((c) => c.content !== c.before).map((c) => ({ path: c.file.path, before: c.before, after: c.content })),
    checkedAt: context.now().toISOString(),
    ...(attention.length > 0 ? { attention } : {}),
  });
  return {
    plan: {
      fingerprint,
      title: text.title,
      body: `${pullRequestMarker(
        config.name,
        config.files.map((file) => file.path),
      )}\n${text.body}`,
      paths: config.files.map((file) => file.path),
      base: { sha: base.sha, tree: base.tree },
      files: changes.map((c) => ({ path: c.file.path, content: c.content })),
      labels: github.labels,
      reviewers: github.reviewers,
      teamReviewers: github.teamReviewers,
    },
    warnings,
    textFingerprint: describedFingerprint(config, described, capacity),
    changes: planned,
    capacity,
  };
}
