import type { ConfigRun } from '../shared/engine/check-set.js';
import type { ConfigSetStatus } from '../shared/engine/status-set.js';
import { formatReport, table, type CommandHint } from './text-report.js';

/** `check --config-dir`: each config's report under its name, then one line per config that has none, and a tally. */
export function formatSetRuns(runs: readonly ConfigRun[], warnings: readonly string[], hint: CommandHint): string {
  const parts = runs.map((run) =>
    run.report
      ? `== ${run.name} (${run.origin})\n${formatReport(run.report, hint)}`
      : `== ${run.name} (${run.origin})\n${run.error.code}: ${run.error.message.split('\n')[0]}\n${(run.error.problems ?? []).map((p) => `  - ${p}\n`).join('')}`,
  );
  const checked = runs.filter((run) => run.report);
  const clean = checked.filter((run) => run.report!.errors.length === 0 && run.report!.targets.every((t) => t.status === 'ok'));
  const tally = `${runs.length} configs: ${clean.length} checked in full, ${checked.length - clean.length} with a target not ok or a run error, ${runs.length - checked.length} not checked (config error or failure)`;
  return `${[...parts, ...warnings.map((w) => `warning: ${w}\n`)].join('\n')}\n${tally}\n`;
}

/** `status --config-dir`: one row per config. */
export function formatSetStatus(status: ConfigSetStatus): string {
  const list = (ids: readonly string[]) => (ids.length === 0 ? '-' : ids.join(','));
  const rows = status.configs.map((c) => [
    c.name,
    c.error ? `error (${c.error.code})` : (c.lastRunAt ?? 'never'),
    c.lastGoodCheckAt ?? '-',
    list(c.held),
    list(c.partial),
    list(c.failed),
    c.pullRequest ? `#${c.pullRequest.number}` : '-',
  ]);
  const lines = table(['config', 'last run', 'last good check', 'held', 'partial', 'failed', 'pull request'], rows);
  for (const c of status.configs.filter((c) => c.error))
    lines.push('', `${c.name} (${c.origin}): ${c.error!.message.split('\n')[0]}`, ...(c.error!.problems ?? []).map((p) => `  - ${p}`));
  for (const c of status.configs) for (const line of c.poisoned ?? []) lines.push(`${c.name}: poisoned: ${line}`);
  for (const warning of status.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}
