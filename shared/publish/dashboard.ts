import { heldCount } from '../drift/drift.js';
import type { Problem } from '../problem.js';
import type { TargetReport, Verdict } from '../report.js';
import type { Approval, HeldChange } from '../state/records.js';
import { escapeMarkdown } from './inert.js';

/**
 * The drift dashboard issue (one per config, like Renovate's Dependency Dashboard): pure rendering, and reading
 * back the checkboxes a person ticked. The publisher does the I/O; it edits the issue only when the rendered body
 * differs, so the body holds nothing that changes from run to run on its own (no run time, no run id).
 */

export interface DashboardTarget {
  readonly id: string;
  readonly type: string;
  readonly status: TargetReport['status'] | 'never-checked';
  /** When the target last changed status, if known. */
  readonly since?: string;
  readonly pendingRemoval: ReadonlyArray<{ readonly cidr: string; readonly misses: number }>;
  readonly errors: readonly Problem[];
  readonly warnings: readonly Problem[];
  /** Set while held: the change, the verdicts that hold it, and false when no approval can release it. */
  readonly held?: HeldChange & { readonly verdicts: readonly Verdict[]; readonly releasable?: boolean };
  readonly approval?: Approval;
}

export interface DashboardInput {
  readonly configName: string;
  readonly targets: readonly DashboardTarget[];
  readonly pullRequest?: { readonly number: number; readonly url: string };
  /** Boxes ticked for a change that is no longer the held one: refused, and the body says so. */
  readonly refused?: readonly TickedApproval[];
  /** Boxes a person ticked while the run was working: they stay ticked, and the next run reads them. */
  readonly pending?: readonly TickedApproval[];
  /** Files over their limit (not written) or near it: capacity-exceeded and capacity-headroom. */
  readonly capacity?: readonly Problem[];
}

/** A ticked checkbox: a person's approval of one held change. */
export interface TickedApproval {
  readonly targetId: string;
  readonly fingerprint: string;
}

/** Found again by this marker, never by its title, which people may edit. */
export function dashboardMarker(configName: string): string {
  return `<!-- allowlist-drift:dashboard config=${configName} -->`;
}

const MAX_LISTED = 20;
const APPROVE_LINE = /^- \[([ xX])\] .*<!-- allowlist-drift:approve target=([a-z0-9][a-z0-9-]*) fingerprint=([0-9a-f]{16}) -->\s*$/;

export function renderDashboard(input: DashboardInput): { title: string; body: string } {
  const lines = [
    dashboardMarker(input.configName),
    `## Allowlist drift dashboard: ${escapeMarkdown(input.configName)}`,
    '',
    'Kept up to date by **allowlist-drift**. Ticking the box of a held change approves exactly that change: the next run ' +
      'puts it into the drift pull request, where it is reviewed and merged as usual. Closing this issue turns the dashboard off ' +
      'until it is reopened.',
    '',
    input.pullRequest ? `Open pull request: #${input.pullRequest.number}` : 'No open pull request.',
    '',
    ...capacityLines(input.capacity ?? []),
    '| Target | Type | Status | Since |',
    '| --- | --- | --- | --- |',
    ...input.targets.map((t) => `| ${escapeMarkdown(t.id)} | ${t.type} | ${statusText(t)} | ${t.since ? escapeMarkdown(t.since) : '-'} |`),
    '',
  ];
  const held = input.targets.filter((t) => t.held);
  if (held.length > 0) {
    lines.push('### Held changes', '');
    for (const target of held) {
      const pending = (input.pending ?? []).some((t) => t.targetId === target.id && t.fingerprint === target.held!.fingerprint);
      lines.push(...heldLines(target, target.held!, pending), '');
    }
  }
  const refused = input.refused ?? [];
  if (refused.length > 0) {
    lines.push('### Approvals refused', '');
    for (const tick of refused) {
      lines.push(
        `- **${escapeMarkdown(tick.targetId)}**: the ticked change ${tick.fingerprint} is no longer the one held (the proposal changed since it was shown); look at the held change again and tick that one`,
      );
    }
    lines.push('');
  }
  const released = input.targets.filter((t) => !t.held && t.approval);
  if (released.length > 0) {
    lines.push('### Approved changes', '');
    for (const target of released)
      lines.push(`- **${escapeMarkdown(target.id)}**: ${approvalText(target.approval!)}; released into the pull request`);
    lines.push('');
  }
  const pending = input.targets.filter((t) => t.pendingRemoval.length > 0);
  if (pending.length > 0) {
    lines.push('### Pending removals', '');
    for (const target of pending) {
      const shown = target.pendingRemoval.slice(0, MAX_LISTED).map((p) => `${p.cidr} (${p.misses} ${p.misses === 1 ? 'miss' : 'misses'})`);
      lines.push(`- **${escapeMarkdown(target.id)}**: ${shown.join(', ')}${more(target.pendingRemoval.length)}`);
    }
    lines.push('');
  }
  const problems = input.targets.flatMap((t) => [
    ...t.errors.map((p) => `- **${escapeMarkdown(t.id)}** error ${problemText(p)}`),
    ...t.warnings.map((p) => `- **${escapeMarkdown(t.id)}** warning ${problemText(p)}`),
  ]);
  if (problems.length > 0) lines.push('### Errors and warnings', '', ...problems, '');
  return { title: `Allowlist drift dashboard: ${input.configName}`, body: `${lines.join('\n')}\n` };
}

/** The held changes whose checkbox is ticked in a dashboard body; only lines this module rendered can match. */
export function tickedApprovals(body: string): TickedApproval[] {
  return body.split(/\r?\n/).flatMap((line) => {
    const match = APPROVE_LINE.exec(line);
    return match && match[1] !== ' ' ? [{ targetId: match[2]!, fingerprint: match[3]! }] : [];
  });
}

/** One version of an issue's body, as an edit left it, and who made that edit. */
export interface IssueRevision {
  readonly editor: string;
  readonly editedAt: string;
  readonly body: string;
}

/** Recorded as the approver when the edit history does not say who ticked the box. */
export const UNKNOWN_APPROVER = 'unknown';

/**
 * Who ticked a box: the editor of the edit that ticked it, i.e. the oldest of the latest unbroken run of versions
 * that show it ticked (the tool's own rewrites keep a tick, so they never count as the one that made it).
 * Undefined when no version shows the box ticked (the history is cut short or unavailable).
 */
export function tickedBy(revisions: readonly IssueRevision[], tick: TickedApproval): string | undefined {
  const newestFirst = [...revisions].sort((a, b) => b.editedAt.localeCompare(a.editedAt));
  const shows = (revision: IssueRevision) =>
    tickedApprovals(revision.body).some((t) => t.targetId === tick.targetId && t.fingerprint === tick.fingerprint);
  let ticker: IssueRevision | undefined;
  for (const revision of newestFirst) {
    if (!shows(revision)) break;
    ticker = revision;
  }
  return ticker?.editor;
}

function heldLines(target: DashboardTarget, held: NonNullable<DashboardTarget['held']>, pending: boolean): string[] {
  const approved = target.approval?.fingerprint === held.fingerprint ? target.approval : undefined;
  // A change that would allow every address has no box: ticking it could only be refused.
  const box =
    held.releasable === false
      ? `- **${escapeMarkdown(target.id)}**: cannot be released (held since ${escapeMarkdown(held.since)}): with the baseline the change would allow every address, and no approval releases that; it stays held until the source or the config no longer lists it`
      : approved
        ? `- [x] **${escapeMarkdown(target.id)}**: ${approvalText(approved)}; the next run puts it into the pull request`
        : `- [${pending ? 'x' : ' '}] **${escapeMarkdown(target.id)}**: approve this change (held since ${escapeMarkdown(held.since)})`;
  const stale =
    target.approval && !approved
      ? [`  - the approval of ${target.approval.fingerprint} was for an earlier change; it does not release this one`]
      : [];
  const list = (cidrs: readonly string[], total: number) =>
    total === 0 ? 'nothing' : `${cidrs.slice(0, MAX_LISTED).join(', ')}${more(total)}`;
  return [
    held.releasable === false ? box : `${box} <!-- allowlist-drift:approve target=${target.id} fingerprint=${held.fingerprint} -->`,
    `  - would add: ${list(held.added, heldCount(held, 'added'))}`,
    `  - would remove: ${list(held.removed, heldCount(held, 'removed'))}`,
    ...held.verdicts.map((v) => `  - held by ${v.guard}: ${escapeMarkdown(v.message, 1_000)}`),
    ...stale,
  ];
}

/** Above the targets: a file that waits is what a person has to act on. */
function capacityLines(capacity: readonly Problem[]): string[] {
  if (capacity.length === 0) return [];
  return ['### Firewall capacity', '', ...capacity.map((p) => `- ${problemText(p)}`), ''];
}

function approvalText(approval: Approval): string {
  return `approved via ${approval.source}${approval.by ? ` by ${escapeMarkdown(approval.by, 80)}` : ''} at ${escapeMarkdown(approval.at)}`;
}

function statusText(target: DashboardTarget): string {
  return target.status === 'held' || target.status === 'error' ? `**${target.status}**` : target.status;
}

function problemText(problem: Problem): string {
  return `${escapeMarkdown(problem.code, 80)}: ${escapeMarkdown(problem.message, 1_000)}`;
}

function more(total: number): string {
  return total > MAX_LISTED ? ` and ${total - MAX_LISTED} more` : '';
}
