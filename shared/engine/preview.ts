import type { CapacityDecision } from '../capacity/capacity.js';
import type { FileSpec } from '../config.js';
import { toProblem, type Problem } from '../problem.js';
import type { PullRequestReport } from '../report.js';
import type { RunContext } from './context.js';
import { writtenChanges } from './files.js';
import { changedTargets, openPullRequest } from './proposal.js';
import { planPublishedFiles, publishGate, type FilesPlan, type HoldReason, type ReconcileInput } from './reconcile.js';

export interface Preview {
  readonly report: PullRequestReport;
  readonly problems: Problem[];
  readonly warnings: Problem[];
  /** The limited files as the plan judged them, when the files were planned. */
  readonly capacity?: CapacityDecision[];
}

/**
 * A dry run's account of what a full run would publish. It asks the same gate and plans the files with the same
 * function against the base branch, which it reads and never writes; it takes the open PR as the last run recorded
 * it (nobody pushed, nothing merged since). Problems a full run would hit while planning (a file that cannot be
 * rendered, say) are reported as that run would report them, not thrown.
 */
export async function previewPullRequest(
  context: RunContext,
  input: Omit<ReconcileInput, 'openHead' | 'recordWithdrawal'>,
): Promise<Preview> {
  const { config } = context;
  const open = openPullRequest(input.snapshot);
  const gate = publishGate(config, input.snapshot, input.proposed, open?.headSha);
  const said = (message: string | undefined, problems: Problem[] = []): Preview => ({
    report: { action: 'dry-run', ...(message ? { message } : {}) },
    problems,
    warnings: [],
  });
  if (gate.kind === 'withdraw')
    return said(`no change is needed any more: a full run would close PR #${gate.open.number} (${gate.open.url})`);
  if (gate.kind === 'hold' && gate.reason !== 'no-github') return said(holdMessage(gate.reason, gate.report));

  const { base, unread } = input.base ? { base: input.base.files, unread: undefined } : await readBase(context);
  const changed = gate.kind === 'publish' ? gate.changed : changedTargets(input.snapshot, input.proposed);
  let plan: FilesPlan;
  try {
    plan = planPublishedFiles(config, input, changed, base);
  } catch (error) {
    const problem = toProblem(error);
    return said(`a full run would publish nothing: ${problem.code} (see the errors)`, [problem]);
  }
  const { createTwoFilesPatch } = await import('diff');
  const patches = writtenChanges(plan.changes)
    .filter((change) => change.content !== (change.before ?? ''))
    .map((change) => {
      const path = change.file.path;
      return createTwoFilesPatch(`a/${path}`, `b/${path}`, change.before ?? '', change.content, '', '', { context: 2 });
    });
  const files = patches.length === 1 ? '1 file' : `${patches.length} files`;
  const waiting = plan.changes.filter((change) => change.withheld).map((change) => change.file.path);
  const outcome =
    gate.kind === 'hold'
      ? `the config has no "github" block, so a full run publishes nothing; into a repository without these files it would write ${files}`
      : patches.length === 0 && !unread
        ? waiting.length > 0
          ? `a full run pushes nothing: ${waiting.join(', ')} ${waiting.length === 1 ? 'waits' : 'wait'} for room (capacity-exceeded), and ${config.github!.base} already holds the rest`
          : `${config.github!.base} already holds this proposal: a full run pushes nothing and takes it as approved`
        : `a full run would ${open ? `update PR #${open.number}` : 'open a pull request'} changing ${files}`;
  const message = unread ? `${outcome}; ${unread}` : outcome;
  const diff = patches.length > 0 ? { diff: patches.join('') } : {};
  return { report: { action: 'dry-run', message, ...diff }, problems: [], warnings: plan.warnings, capacity: plan.capacity };
}

function holdMessage(reason: HoldReason, report: PullRequestReport): string | undefined {
  switch (reason) {
    case 'no-change':
      return undefined;
    case 'unchanged':
      return `PR #${report.number} (${report.url}) already holds this proposal: a full run pushes nothing`;
    default:
      return `a full run would publish nothing: ${report.message}`;
  }
}

/**
 * The base branch's files as a full run reads them. When they cannot be read (no "github" block, no credentials,
 * no network) the files are planned as new ones, a template as its generated block alone, and the message says so.
 */
async function readBase(context: RunContext): Promise<{ base: ReadonlyMap<string, string | null>; unread?: string }> {
  const { config } = context;
  const paths = config.files.map((file) => file.path);
  const absent = () => new Map(config.files.map((file) => [file.path, file.format === 'template' ? templateSkeleton(file) : null]));
  if (!config.github) return { base: absent() };
  try {
    return { base: (await (await context.github()).readBase(paths)).files };
  } catch (error) {
    const problem = toProblem(error, 'github-error');
    return {
      base: absent(),
      unread: `${config.github.owner}/${config.github.repo} could not be read (${problem.code}: ${problem.message}), so the files are shown as new files (a template as its generated block alone)`,
    };
  }
}

function templateSkeleton(file: Extract<FileSpec, { format: 'template' }>): string {
  return `${file.commentPrefix} BEGIN allowlist-drift:${file.id}\n${file.commentPrefix} END allowlist-drift:${file.id}\n`;
}
