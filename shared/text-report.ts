import type { StatusReport } from './engine.js';
import type { Report, TargetReport } from './report.js';

/** Human output of the CLI: one compact row per target, then details worth reading. */
export function formatReport(report: Report): string {
  const lines = [`Run ${report.runId} (${report.dryRun ? 'dry run' : 'full check'}) for config "${report.configName}"`, ''];
  lines.push(...table(
    ['target', 'status', 'added', 'removed', 'pending', 'problems'],
    report.targets.map((t) => [t.id, t.status, `+${t.added.length}`, `-${t.removed.length}`, String(t.pendingRemoval.length), String(t.errors.length + t.warnings.length)]),
  ));
  for (const target of report.targets) lines.push(...details(target));
  for (const problem of report.errors) lines.push(`error ${problem.code}: ${problem.message}`);
  const pr = report.pullRequest;
  lines.push('', `Pull request: ${pr.action}${pr.number ? ` #${pr.number}` : ''}${pr.url ? ` ${pr.url}` : ''}${pr.message ? ` (${pr.message})` : ''}`);
  if (pr.diff) lines.push('', pr.diff.trimEnd());
  return `${lines.join('\n')}\n`;
}

export function formatTarget(target: TargetReport): string {
  return `${[`${target.id}: ${target.status}, baseline ${target.baseline.length} entries`, ...details(target)].join('\n')}\n`;
}

export function formatStatus(status: StatusReport): string {
  const lines = [`Config "${status.configName}", last run ${status.lastRunAt ?? 'never'}`, ''];
  lines.push(...table(
    ['target', 'status', 'last check', 'baseline', 'observed', 'pending', 'errors'],
    status.targets.map((t) => [t.id, t.status, t.lastCheckAt ?? '-', String(t.baselineCount), String(t.observedCount), String(t.pendingRemoval.length), t.lastErrors.map((e) => e.code).join(',') || '-']),
  ));
  lines.push('', status.pullRequest ? `Open pull request #${status.pullRequest.number} ${status.pullRequest.url}` : 'No open pull request');
  return `${lines.join('\n')}\n`;
}

function details(target: TargetReport): string[] {
  const lines: string[] = [];
  const show = (label: string, items: readonly string[]) => {
    if (items.length > 0) lines.push(`  ${target.id} ${label}: ${items.slice(0, 20).join(', ')}${items.length > 20 ? `, … (${items.length} in all)` : ''}`);
  };
  show('added', target.added);
  show('removed', target.removed);
  show('pending removal', target.pendingRemoval.map((p) => `${p.cidr} (${p.misses} misses)`));
  for (const e of target.errors) lines.push(`  ${target.id} error ${e.code}: ${e.message}`);
  for (const w of target.warnings) lines.push(`  ${target.id} warning ${w.code}: ${w.message}`);
  for (const v of target.verdicts.filter((v) => v.outcome === 'hold')) lines.push(`  ${target.id} held by ${v.guard}: ${v.message}`);
  return lines;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}
