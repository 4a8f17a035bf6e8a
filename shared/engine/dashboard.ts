import { createHash } from 'node:crypto';
import { pendingRemovals, releasable } from '../drift.js';
import { toProblem, type Problem } from '../problem.js';
import { dashboardMarker, renderDashboard, tickedApprovals, type DashboardTarget, type TickedApproval } from '../publish/dashboard.js';
import type { DashboardIssue } from '../publish/github.js';
import type { Approval, ConfigRecord, DashboardRecord, TargetRecord } from '../state/records.js';
import type { WritingRunContext } from './context.js';

/**
 * The drift dashboard issue of a writing run (never a dry run). Its cost is bounded by what the run has to show:
 * nothing held and nothing new to say is 0 requests; something held is 1 read (the ticked boxes), plus one edit
 * when the body changes. It is opened the first time something is held (before that nobody has anything to act
 * on), found again by its marker, and a person's close is final: it is never reopened nor replaced while recorded.
 */

export interface DashboardReading {
  /** Targets whose held change a person approved by ticking its box. */
  readonly approvals: ReadonlyMap<string, Approval>;
  /** Boxes ticked for a change that is no longer the held one (the same rule as `approve --fingerprint`). */
  readonly refused: readonly TickedApproval[];
  /** The record as this read found the issue (closed, reopened, gone); undefined when nothing was read. */
  readonly record?: DashboardRecord | null;
  readonly warnings: readonly Problem[];
}

const NOTHING_READ: DashboardReading = { approvals: new Map(), refused: [], warnings: [] };

/** Before the drift is computed: when a stored target is held, one read of the dashboard for ticked boxes. */
export async function readDashboard(
  context: WritingRunContext,
  stored: ConfigRecord,
  records: ReadonlyMap<string, TargetRecord>,
): Promise<DashboardReading> {
  const recorded = stored.dashboard;
  if (!context.config.github?.dashboard || !recorded || !anyHeld(records.values())) return NOTHING_READ;
  try {
    const issue = await (await context.github()).getIssue(recorded.number);
    if (!issue) return { ...NOTHING_READ, record: null };
    // Reopened by a person: what it shows is stale, so the end of this run writes it again.
    const record: DashboardRecord =
      recorded.state === 'closed' && issue.state === 'open'
        ? { number: recorded.number, state: 'open' }
        : { ...recorded, state: issue.state };
    if (issue.state === 'closed') return { ...NOTHING_READ, record };
    const approvals = new Map<string, Approval>();
    const refused: TickedApproval[] = [];
    const at = context.now().toISOString();
    for (const tick of tickedApprovals(issue.body)) {
      const target = records.get(tick.targetId);
      const held = target?.lastStatus === 'held' ? target.held : undefined;
      if (!target || !held || target.approval?.fingerprint === tick.fingerprint) continue;
      if (held.fingerprint !== tick.fingerprint) refused.push(tick);
      else approvals.set(tick.targetId, { fingerprint: held.fingerprint, at, source: 'github' });
    }
    for (const [targetId, approval] of approvals) {
      context.log(
        'info',
        `${targetId}: held change ${approval.fingerprint} approved on the dashboard (#${issue.number}); this run proposes it`,
      );
    }
    return { approvals, refused, record, warnings: [] };
  } catch (error) {
    return { ...NOTHING_READ, warnings: [dashboardProblem(error)] };
  }
}

export interface DashboardUpdate {
  readonly record?: DashboardRecord;
  readonly warnings: readonly Problem[];
}

/** After the PR is reconciled: the dashboard says what the stored records now say, edited only when that changed. */
export async function updateDashboard(
  context: WritingRunContext,
  input: {
    readonly config: ConfigRecord;
    readonly records: ReadonlyMap<string, TargetRecord>;
    readonly reading: DashboardReading;
  },
): Promise<DashboardUpdate> {
  const { config: stored, records, reading } = input;
  const known = reading.record === null ? undefined : (reading.record ?? stored.dashboard);
  if (!context.config.github?.dashboard) return known ? { record: known, warnings: [] } : { warnings: [] };
  const { title, body } = renderDashboard({
    configName: context.config.name,
    targets: context.config.targets.map((target) => dashboardTarget(target.id, target.type, records.get(target.id), context)),
    ...(stored.pullRequest?.state === 'open' ? { pullRequest: { number: stored.pullRequest.number, url: stored.pullRequest.url } } : {}),
    refused: reading.refused,
  });
  const bodyHash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  if (known?.bodyHash === bodyHash) return { record: known, warnings: [] };
  try {
    const github = await context.github();
    const written = (issue: DashboardIssue): DashboardRecord => ({ number: issue.number, state: issue.state, bodyHash });
    if (known) {
      // Closed and not read this run: one read, so that a dashboard a person reopened comes back to life.
      const state = known.state === 'closed' && reading.record === undefined ? (await github.getIssue(known.number))?.state : known.state;
      if (state === undefined) return { warnings: [] }; // gone: opened again when something is next held
      // Remembering what it would show now keeps a closed dashboard from costing a read on every run.
      if (state === 'closed') return { record: { ...known, state, bodyHash }, warnings: [] };
      const edited = await github.editIssueBody(known.number, body);
      return edited ? { record: written(edited), warnings: [] } : { warnings: [] }; // gone, as above
    }
    if (!anyHeld(records.values())) return { warnings: [] };
    const found = await github.findIssue(dashboardMarker(context.config.name));
    if (found?.state === 'closed') return { record: { number: found.number, state: 'closed', bodyHash }, warnings: [] };
    if (found) {
      const current = found.body === body ? found : await github.editIssueBody(found.number, body);
      return current ? { record: written(current), warnings: [] } : { warnings: [] };
    }
    const created = await github.createIssue({ title, body });
    context.log('info', `Opened the drift dashboard, issue #${created.number}`);
    return { record: written(created), warnings: [] };
  } catch (error) {
    return { ...(known ? { record: known } : {}), warnings: [dashboardProblem(error)] };
  }
}

function dashboardTarget(id: string, type: string, record: TargetRecord | undefined, context: WritingRunContext): DashboardTarget {
  const held = record?.lastStatus === 'held' ? record.held : undefined;
  return {
    id,
    type,
    status: record?.lastStatus ?? 'never-checked',
    ...(held ? { since: held.since } : {}),
    pendingRemoval: record ? pendingRemovals(record.misses, context.config.policy.removeAfterMisses) : [],
    errors: record?.lastErrors ?? [],
    warnings: record?.lastWarnings ?? [],
    ...(held
      ? {
          held: {
            ...held,
            verdicts: record!.verdicts.filter((verdict) => verdict.outcome === 'hold'),
            releasable: releasable(record!.baseline, held),
          },
        }
      : {}),
    ...(record?.approval ? { approval: record.approval } : {}),
  };
}

function anyHeld(records: Iterable<TargetRecord>): boolean {
  for (const record of records) if (record.lastStatus === 'held' && record.held) return true;
  return false;
}

/** The dashboard is a view: failing to read or write it is a warning, never a reason to stop the run. */
function dashboardProblem(error: unknown): Problem {
  const problem = toProblem(error);
  return { ...problem, code: 'dashboard-failed', message: `The drift dashboard issue could not be read or written: ${problem.message}` };
}
