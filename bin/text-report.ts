import { isUrgentProblem } from '../shared/capacity/capacity.js';
import type { Config } from '../shared/config.js';
import { heldCount, releasable } from '../shared/drift/drift.js';
import type { ApprovalResult } from '../shared/engine/approve.js';
import type { StatusReport } from '../shared/engine/status.js';
import type { Report, TargetReport, Verdict } from '../shared/report.js';
import type { Approval, HeldChange } from '../shared/state/records.js';

/** How the person ran the CLI, so the commands it suggests can be pasted back as they are. */
export interface CommandHint {
  /** "allowlist-drift", "npx allowlist-drift" or "node dist/bin/allowlist-drift.js": see bin/invocation.ts. */
  readonly command: string;
  /** The --config argument as given, repeated in the commands suggested. */
  readonly configArgument?: string | undefined;
}

const PLAIN: CommandHint = { command: 'allowlist-drift' };

/** " --config <path>", quoted for a POSIX shell when the path needs it. */
function configFlag(argument: string | undefined): string {
  if (!argument) return '';
  return ` --config ${/^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`}`;
}

/** Human output of the CLI: one compact row per target, then details worth reading. */
export function formatReport(report: Report, hint: CommandHint = PLAIN): string {
  const lines = [`Run ${report.runId} (${report.dryRun ? 'dry run' : 'full check'}) for config "${report.configName}"`, ''];
  // An urgent address that no file can take is the loudest line: above the table, before anything else.
  const urgent = report.errors.filter(isUrgentProblem);
  for (const problem of urgent) lines.push(`error ${problem.code}: ${problem.message}`, '');
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
  const detailLines = report.targets.flatMap((target) => details(target, hint));
  if (detailLines.length > 0) lines.push('', ...detailLines);
  for (const problem of report.errors.filter((p) => !isUrgentProblem(p))) lines.push(`error ${problem.code}: ${problem.message}`);
  for (const problem of report.warnings) lines.push(`warning ${problem.code}: ${problem.message}`);
  lines.push('', summary(report.targets), pullRequestLine(report.pullRequest));
  if (report.pullRequest.diff) lines.push('', report.pullRequest.diff.trimEnd());
  return `${lines.join('\n')}\n`;
}

export interface NextStepContext extends CommandHint {
  readonly config: Pick<Config, 'github'>;
  /** GitHub credentials are set (a full run could publish). */
  readonly credentials: boolean;
}

/** The preview's words when the repository could not be read with the credentials set (shared/engine/preview.ts). */
const UNREAD = /could not be read \(github-/;

/** The preview's words for a full run that would send nothing to GitHub (shared/engine/preview.ts). */
const PUBLISHES_NOTHING = /a full run (would )?(publish(es)?|push(es)?) nothing/;

/**
 * The one line a person reads last: what to do now. It promises a pull request only when the run shows one would be
 * opened or updated, and every command in it is written the way the person ran this one.
 */
export function nextStep(report: Report, context: NextStepContext): string {
  const config = configFlag(context.configArgument);
  const run = (args: string) => `\`${context.command} ${args}${config}\``;
  if (report.errors.length > 0 || report.targets.some((t) => t.status === 'error')) {
    return `Next: fix what the errors above name; ${run('doctor')} checks the set-up (storage, GitHub, the upstream documents, the resolvers) and says how to fix each part.`;
  }
  const held = report.targets.filter((t) => t.status === 'held' && t.held);
  if (held.length > 0) {
    const stuck = held.filter((t) => !releasable(t.baseline, t.held!)).map((t) => t.id);
    if (stuck.length === held.length)
      return `Next: ${stuck.join(', ')} cannot be released (the change would allow every address); it stays held until the source or the config no longer lists it, and the other targets go on as usual.`;
    return `Next: review the held change${held.length === 1 ? '' : 's'} above; release one with the approve command shown under it (the next run then proposes it), or leave it held until the source changes.`;
  }
  const pr = report.pullRequest;
  const { github } = context.config;
  if (report.dryRun) {
    const publishes = pr.diff !== undefined && !PUBLISHES_NOTHING.test(pr.message ?? '');
    const fullRun = `${run('check')} (without --dry-run) for a full check, which stores what it observed${publishes ? ' and opens or updates the pull request' : '; the rule files need no change, so it opens no pull request'}`;
    if (!github)
      return `Next: add a "github" block (owner, repo of your firewall rules) to the config and set GITHUB_TOKEN, then run ${fullRun}.`;
    if (!context.credentials) {
      return `Next: set GITHUB_TOKEN (or GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY) for ${github.owner}/${github.repo}, then run ${fullRun}.`;
    }
    if (UNREAD.test(pr.message ?? ''))
      return `Next: make ${github.owner}/${github.repo} readable (the pull request line above says what stopped it; ${run('doctor')} checks GitHub), then run ${fullRun}.`;
    return `Next: run ${fullRun}.`;
  }
  const link = pr.url ? ` ${pr.url}` : '';
  switch (pr.action) {
    case 'created':
    case 'updated':
    case 'unchanged':
      return `Next: review and merge pull request #${pr.number}${link}; the run after the merge takes what was merged as the approved baseline.`;
    case 'blocked':
      return `Next: people pushed to pull request #${pr.number}${link}; merge or close it, and the next run proposes the current changes.`;
    case 'closed':
      return `Next: nothing to do: no change is needed any more, so pull request #${pr.number} was closed; the next run checks again.`;
    case 'declined':
      return 'Next: nothing to do: this exact proposal was closed without merging before; a different drift opens a new pull request.';
    default:
      if (!github)
        return 'Next: add a "github" block (owner, repo of your firewall rules) to the config to have drift opened as a pull request.';
      return pr.message
        ? 'Next: nothing was published (the pull request line above says why); the next run checks again.'
        : 'Next: nothing to do: the rule files already match what was observed; the next run checks again.';
  }
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

export function formatTarget(target: TargetReport, hint: CommandHint = PLAIN): string {
  return `${[`${target.id}: ${target.status}, baseline of ${plural(target.baseline.length, 'entry', 'entries')}`, ...details(target, hint)].join('\n')}\n`;
}

export function formatStatus(status: StatusReport, hint: CommandHint = PLAIN): string {
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
    if (target.held) lines.push('', ...heldLines({ id: target.id, held: target.held, verdicts: target.held.verdicts, ...hint }));
    // A row written before held changes were recorded still names the guards that held it.
    else if (target.heldBy.length > 0)
      lines.push('', ...target.heldBy.map((verdict) => `  ${target.id} held by ${verdict.guard}: ${verdict.message}`));
  }
  for (const line of status.poisoned ?? []) lines.push('', `  poisoned: ${line}`);
  for (const differs of status.baseDiffers) {
    lines.push('', `  base-differs: ${differs.path} lacks ${differs.missing.join(', ')}, approved; the next pull request writes it back`);
  }
  for (const file of status.capacity) if (file.problem) lines.push('', `  ${file.problem.code}: ${file.problem.message}`);
  for (const file of status.capacity) {
    if (file.widened) {
      const extra = BigInt(file.widened.extraAddresses).toLocaleString('en-US');
      lines.push(
        '',
        `  capacity-widened: ${file.path} is written as ${file.widened.covers} covering prefixes and allows ${extra} addresses no source publishes`,
      );
    }
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
    `(+${heldCount(held, 'added')} -${heldCount(held, 'removed')}); the next run puts it in the pull request if its check still shows exactly this change\n`
  );
}

function details(target: TargetReport, hint: CommandHint): string[] {
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
      ...heldLines({
        id: target.id,
        held: { ...target.held, releasable: releasable(target.baseline, target.held) },
        verdicts: target.verdicts.filter((v) => v.outcome === 'hold'),
        ...hint,
      }),
    );
  if (target.approval) lines.push(`  ${target.id} released by ${approvalText(target.approval)}`);
  return lines;
}

interface HeldView extends CommandHint {
  readonly id: string;
  readonly held: HeldChange & { readonly releasable: boolean };
  readonly verdicts: readonly Verdict[];
}

/**
 * What a hold would change and how to release it, so nobody has to reconstruct it from the verdict text; a change
 * no approval can release (it would allow every address) says so instead of offering a command that is refused.
 */
function heldLines({ id, held, verdicts, command, configArgument }: HeldView): string[] {
  const list = (items: readonly string[], total: number) =>
    total === 0 ? 'nothing' : `${items.slice(0, 20).join(', ')}${total > 20 ? `, … (${total} in all)` : ''}`;
  return [
    ...verdicts.map((v) => `  ${id} held by ${v.guard}: ${v.message}`),
    `  ${id} held since ${held.since}: would add ${list(held.added, heldCount(held, 'added'))}; would remove ${list(held.removed, heldCount(held, 'removed'))}`,
    held.releasable
      ? `  ${id} release it with: ${command} approve --target ${id} --fingerprint ${held.fingerprint}${configFlag(configArgument)}`
      : `  ${id} cannot be released: with the baseline the change would allow every address, and no approval releases that; it stays held until the source (or the config) no longer lists it`,
  ];
}

function approvalText(approval: Approval): string {
  return `an approval (${approval.source}${approval.by ? ` by ${approval.by}` : ''}, ${approval.at})`;
}

export function table(header: string[], rows: string[][]): string[] {
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
