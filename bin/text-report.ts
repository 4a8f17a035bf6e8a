import type { Config } from '../shared/config.js';
import type { ApprovalResult } from '../shared/engine/approve.js';
import type { StatusReport } from '../shared/engine/status.js';
import type { Report, TargetReport, Verdict } from '../shared/report.js';
import type { Approval, HeldChange } from '../shared/state/records.js';

/** Human output of the CLI: one compact row per target, then details worth reading. */
export function formatReport(report: Report): string {
  const lines = [`Run ${report.runId} (${report.dryRun ? 'dry run' : 'full check'}) for config "${report.configName}"`, ''];
  lines.push(
    ...table(
      ['target', 'status', 'added', 'removed', 'pending', 'problems'],
      report.targets.map((t) => [
        t.id,
        t.status,
        `+${t.added.length}`,
        `-${t.removed.length}`,
        String(t.pendingRemoval.length),
        String(t.errors.length + t.warnings.length),
      ]),
    ),
  );
  const detailLines = report.targets.flatMap(details);
  if (detailLines.length > 0) lines.push('', ...detailLines);
  for (const problem of report.errors) lines.push(`error ${problem.code}: ${problem.message}`);
  for (const problem of report.warnings) lines.push(`warning ${problem.code}: ${problem.message}`);
  lines.push('', summary(report.targets), pullRequestLine(report.pullRequest));
  if (report.pullRequest.diff) lines.push('', report.pullRequest.diff.trimEnd());
  return `${lines.join('\n')}\n`;
}

export interface NextStepContext {
  readonly config: Pick<Config, 'github'>;
  /** The --config argument as given, repeated in the commands suggested. */
  readonly configArgument?: string | undefined;
  /** GitHub credentials are set (a full run could publish). */
  readonly credentials: boolean;
}

/** The one line a person reads last: what to do now, after a first dry run above all. */
export function nextStep(report: Report, context: NextStepContext): string | undefined {
  const config = context.configArgument ? ` --config ${context.configArgument}` : '';
  if (report.errors.length > 0 || report.targets.some((t) => t.status === 'error')) {
    return `Next: fix what the errors above name; \`npx allowlist-drift doctor${config}\` checks the set-up (storage, GitHub, the upstream documents, the resolvers) and says how to fix each part.`;
  }
  const fullRun = `\`npx allowlist-drift check${config}\` (without --dry-run) for a full check, which stores what it observed and opens or updates the pull request`;
  if (report.dryRun) {
    const { github } = context.config;
    if (!github)
      return `Next: add a "github" block (owner, repo of your firewall rules) to the config and set GITHUB_TOKEN, then run ${fullRun}.`;
    if (!context.credentials) {
      return `Next: set GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY) for ${github.owner}/${github.repo}, then run ${fullRun}.`;
    }
    return `Next: run ${fullRun}.`;
  }
  const pr = report.pullRequest;
  if ((pr.action === 'created' || pr.action === 'updated') && pr.url) {
    return `Next: review and merge ${pr.url}; the run after the merge takes what was merged as the approved baseline.`;
  }
  return undefined;
}

function summary(targets: readonly TargetReport[]): string {
  const count = (status: TargetReport['status']) => targets.filter((t) => t.status === status).length;
  const partial = count('partial') > 0 ? `${count('partial')} partial, ` : '';
  return `${plural(targets.length, 'target')}: ${count('ok')} ok, ${partial}${count('error')} error, ${count('held')} held`;
}

function pullRequestLine(pr: Report['pullRequest']): string {
  if (pr.action === 'dry-run') {
    // The message says what a full run would do with the files, and why when it would not publish them.
    if (pr.message) return `Pull request: none (dry run): ${pr.message}${pr.diff ? '; the rule files would change like this:' : ''}`;
    return pr.diff
      ? 'Pull request: none (dry run); the rule files would change like this:'
      : 'Pull request: none (dry run); the rule files would not change';
  }
  return `Pull request: ${pr.action}${pr.number ? ` #${pr.number}` : ''}${pr.url ? ` ${pr.url}` : ''}${pr.message ? ` (${pr.message})` : ''}`;
}

export function formatTarget(target: TargetReport): string {
  return `${[`${target.id}: ${target.status}, baseline of ${plural(target.baseline.length, 'entry', 'entries')}`, ...details(target)].join('\n')}\n`;
}

export function formatStatus(status: StatusReport): string {
  const lines = [`Config "${status.configName}", last run ${status.lastRunAt ?? 'never'}`, ''];
  lines.push(
    ...table(
      ['target', 'status', 'last check', 'last good check', 'baseline', 'observed', 'pending', 'errors'],
      status.targets.map((t) => [
        t.id,
        t.status,
        t.lastCheckAt ?? '-',
        t.lastGoodCheckAt ?? '-',
        String(t.baselineCount),
        String(t.observedCount),
        String(t.pendingRemoval.length),
        t.lastErrors.map((e) => e.code).join(',') || '-',
      ]),
    ),
  );
  // A partial target has no error to show in the table: its warnings say what could not be read and why.
  const partial = status.targets.filter((t) => t.status === 'partial');
  if (partial.length > 0)
    lines.push('', ...partial.flatMap((t) => t.warnings.map((w) => `  ${t.id} partial, warning ${w.code}: ${w.message}`)));
  for (const target of status.targets) {
    if (target.held) lines.push('', ...heldLines(target.id, target.held, target.held.verdicts));
    // A row written before held changes were recorded still names the guards that held it.
    else if (target.heldBy.length > 0)
      lines.push('', ...target.heldBy.map((verdict) => `  ${target.id} held by ${verdict.guard}: ${verdict.message}`));
  }
  for (const differs of status.baseDiffers) {
    lines.push('', `  base-differs: ${differs.path} lacks ${differs.missing.join(', ')}, approved; the next pull request writes it back`);
  }
  const excluding = status.targets.filter((t) => t.excluded);
  if (excluding.length > 0)
    lines.push('', ...excluding.map((t) => `  ${t.id} excludes ${t.excluded!.join(', ')}: never proposed, even when observed`));
  lines.push('', status.pullRequest ? `Open pull request #${status.pullRequest.number} ${status.pullRequest.url}` : 'No open pull request');
  return `${lines.join('\n')}\n`;
}

export function formatApproval(result: ApprovalResult): string {
  const { held } = result;
  return (
    `${result.targetId}: held change ${held.fingerprint} approved at ${result.approval.at} ` +
    `(+${held.added.length} -${held.removed.length}); the next run puts it in the pull request if its check still shows exactly this change\n`
  );
}

function details(target: TargetReport): string[] {
  const lines: string[] = [];
  const show = (label: string, items: readonly string[]) => {
    if (items.length > 0)
      lines.push(`  ${target.id} ${label}: ${items.slice(0, 20).join(', ')}${items.length > 20 ? `, … (${items.length} in all)` : ''}`);
  };
  show('added', target.added);
  show('removed', target.removed);
  show('excluded by the config', target.excluded ?? []);
  show(
    'pending removal',
    target.pendingRemoval.map((p) => `${p.cidr} (${plural(p.misses, 'miss', 'misses')})`),
  );
  if (target.status === 'partial')
    lines.push(
      `  ${target.id} partial: what was read is applied; approved addresses of what could not be read are kept (see the warnings)`,
    );
  for (const e of target.errors) lines.push(`  ${target.id} error ${e.code}: ${e.message}`);
  for (const w of target.warnings) lines.push(`  ${target.id} warning ${w.code}: ${w.message}`);
  if (target.held)
    lines.push(
      ...heldLines(
        target.id,
        target.held,
        target.verdicts.filter((v) => v.outcome === 'hold'),
      ),
    );
  if (target.approval) lines.push(`  ${target.id} released by ${approvalText(target.approval)}`);
  return lines;
}

/** What a hold would change and how to release it, so nobody has to reconstruct it from the verdict text. */
function heldLines(id: string, held: HeldChange, verdicts: readonly Verdict[]): string[] {
  const list = (items: readonly string[]) =>
    items.length === 0 ? 'nothing' : `${items.slice(0, 20).join(', ')}${items.length > 20 ? `, … (${items.length} in all)` : ''}`;
  return [
    ...verdicts.map((v) => `  ${id} held by ${v.guard}: ${v.message}`),
    `  ${id} held since ${held.since}: would add ${list(held.added)}; would remove ${list(held.removed)}`,
    `  ${id} release it with: allowlist-drift approve --target ${id} --fingerprint ${held.fingerprint}`,
  ];
}

function approvalText(approval: Approval): string {
  return `an approval (${approval.source}${approval.by ? ` by ${approval.by}` : ''}, ${approval.at})`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
