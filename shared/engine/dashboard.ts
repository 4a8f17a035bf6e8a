import { createHash } from 'node:crypto';
import { pendingRemovals, releasable } from '../drift/drift.js';
import { toProblem, type Problem } from '../problem.js';
import { dashboardMarker, renderDashboard, tickedApprovals, type DashboardTarget, type TickedApproval } from '../publish/dashboard.js';
import type { DashboardIssue } from '../publish/github/types.js';
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
    const github = await context.github();
    const issue = await github.getIssue(recorded.number);
    if (!issue) return { ...NOTHING_READ, record: null };
    // Only a box in the tool's own issue is an approval: people without triage or write access cannot edit it.
    if (!(await github.ownsIssue(issue, recorded))) return { ...NOTHING_READ, record: null, warnings: [notOwn(issue)] };
    // Reopened by a person: what it shows is stale, so the end of this run writes it again.
    const record: DashboardRecord =
      recorded.state === 'closed' && issue.state === 'open'
        ? { number: recorded.number, state: 'open', author: issue.author }
        : { ...recorded, state: issue.state, author: issue.author };
    if (issue.state === 'closed') return { ...NOTHING_READ, record };
    const approvals = new Map<string, Approval>();
    const refused: TickedApproval[] = [];
    const at = context.now().toISOString();
    for (const tick of tickedApprovals(issue.body)) {
      const target = records.get(tick.targetId);
      const held = target?.lastStatus === 'held' ? target.held : undefined;
      if (!target || !held || target.approval?.fingerprint === tick.fingerprint) continue;
      if (held.fingerprint !== tick.fingerprint) refused.push(tick);
      else
        approvals.set(tick.targetId, {
          fingerprint: held.fingerprint,
          at,
          source: 'github',
          by: await github.approver(issue.number, tick),
        });
    }
    for (const [targetId, approval] of approvals) {
      context.log(
        'info',
        `${targetId}: held change ${approval.fingerprint} approved on the dashboard (#${issue.number}) by ${approval.by}; this run proposes it`,
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
    /** The run's capacity problems: files that wait for room, or are near their limit. */
    readonly capacity?: readonly Problem[];
  },
): Promise<DashboardUpdate> {
  const { config: stored, records, reading } = input;
  const capacity = input.capacity ?? [];
  let known = reading.record === null ? undefined : (reading.record ?? stored.dashboard);
  if (!context.config.github?.dashboard) return known ? { record: known, warnings: [] } : { warnings: [] };
  const render = (pending: readonly TickedApproval[] = []) =>
    renderDashboard({
      configName: context.config.name,
      targets: context.config.targets.map((target) => dashboardTarget(target.id, target.type, records.get(target.id), context)),
      ...(stored.pullRequest?.state === 'open' ? { pullRequest: { number: stored.pullRequest.number, url: stored.pullRequest.url } } : {}),
      refused: reading.refused,
      ...(pending.length > 0 ? { pending } : {}),
      ...(capacity.length > 0 ? { capacity } : {}),
    });
  const { title, body } = render();
  const bodyHash = hashOf(body);
  if (known?.bodyHash === bodyHash) return { record: known, warnings: [] };
  const warnings: Problem[] = [];
  try {
    const github = await context.github();
    const held = anyHeld(records.values());
    const written = (issue: DashboardIssue, text: string): DashboardRecord => ({
      number: issue.number,
      state: issue.state,
      bodyHash: hashOf(text),
      author: issue.author,
    });
    /** The body to write over `current`: boxes ticked there since this run read them stay ticked. */
    const over = (current: DashboardIssue) => {
      const pending = held ? stillPending(current.body, records) : [];
      return pending.length > 0 ? render(pending).body : body;
    };
    if (known) {
      // Read right before the edit while something is held, so that a box ticked during this run is not lost;
      // closed and not read this run, so that a dashboard a person reopened comes back to life; and a record of
      // an earlier release (no author) once, to know that the issue is the tool's own.
      const mustRead = known.state === 'closed' ? reading.record === undefined : held || known.author === undefined;
      const issue = mustRead ? await github.getIssue(known.number) : undefined;
      if (mustRead && !issue) return { warnings }; // gone: opened again when something is next held
      if (issue && !(await github.ownsIssue(issue, known))) {
        warnings.push(notOwn(issue));
        known = undefined;
      } else {
        const state = issue?.state ?? known.state;
        const author = issue?.author ?? known.author;
        // Remembering what it would show now keeps a closed dashboard from costing a read on every run.
        if (state === 'closed') return { record: { ...known, state, bodyHash, ...(author ? { author } : {}) }, warnings };
        const text = issue ? over(issue) : body;
        const edited = await github.editIssueBody(known.number, text);
        return edited ? { record: written(edited, text), warnings } : { warnings }; // gone, as above
      }
    }
    // A file that waits for room needs a person as much as a held change does.
    if (!held && !capacity.some((problem) => problem.code === 'capacity-exceeded')) return { warnings };
    const found = await github.findIssue(dashboardMarker(context.config.name));
    if (found?.state === 'closed') {
      return { record: { number: found.number, state: 'closed', bodyHash, author: found.author }, warnings };
    }
    if (found) {
      const text = over(found);
      const current = found.body === text ? found : await github.editIssueBody(found.number, text);
      return current ? { record: written(current, text), warnings } : { warnings };
    }
    const created = await github.createIssue({ title, body });
    context.log('info', `Opened the drift dashboard, issue #${created.number}`);
    return { record: written(created, body), warnings };
  } catch (error) {
    return { ...(known ? { record: known } : {}), warnings: [...warnings, dashboardProblem(error)] };
  }
}

function hashOf(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

/** Boxes ticked for the change still held and not yet approved: a person ticked them after this run read the issue. */
function stillPending(body: string, records: ReadonlyMap<string, TargetRecord>): TickedApproval[] {
  return tickedApprovals(body).filter((tick) => {
    const record = records.get(tick.targetId);
    return (
      record?.lastStatus === 'held' && record.held?.fingerprint === tick.fingerprint && record.approval?.fingerprint !== tick.fingerprint
    );
  });
}

/** The state named an issue as the dashboard that the tool did not open (an earlier release adopted it): dropped. */
function notOwn(issue: DashboardIssue): Problem {
  return {
    code: 'foreign-dashboard-dropped',
    message: `Issue #${issue.number} by ${issue.author} was recorded as the drift dashboard, but allowlist-drift did not open it; it is no longer read or edited, and the tool opens its own when something is next held.`,
  };
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
