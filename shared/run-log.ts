import { isUrgentProblem } from './capacity/capacity.js';
import type { Problem } from './problem.js';
import type { PullRequestReport, Report, TargetReport } from './report.js';

/**
 * What a check run says in the function logs: one line per target that needs a look (not ok, or ok with warnings),
 * one per run-level problem, one when drift is found but not published, and one summary line. Pure: report in,
 * lines out; functions/lib/run-log.ts writes them.
 *
 * Why the properties travel inside the message: in the Node.js worker, `context.warn(...args)` formats its
 * arguments into one string (util.format) and sends only that string to the host, which writes it to Application
 * Insights as `traces.message`. The host adds its own customDimensions (Category "Function.<name>.User",
 * LogLevel, InvocationId, ...) but passes no properties from the worker; objects given as arguments arrive as
 * util.inspect text, not as dimensions (azure-functions-nodejs-library#227; the host declined structured worker
 * logs in favour of an Application Insights SDK in the worker, azure-functions-host#7452). So each line ends
 * with one compact JSON object that KQL reads back with parse_json (README, Observability).
 */

export type RunLogLevel = 'info' | 'warn' | 'error';

export interface RunLogEntry {
  readonly level: RunLogLevel;
  /** For people reading the log stream: short, with the target id, status and code. */
  readonly text: string;
  /** For queries: flat values only, so every one is a column after parse_json. */
  readonly properties: Readonly<Record<string, string | number | boolean>>;
}

/** The `event` property of each kind of line, which a query filters on. */
const RUN_LOG_EVENTS = {
  target: 'allowlist-drift.target',
  runProblem: 'allowlist-drift.run-problem',
  pullRequest: 'allowlist-drift.pull-request',
  summary: 'allowlist-drift.run',
} as const;

const STATUSES = ['ok', 'partial', 'held', 'error'] as const satisfies ReadonlyArray<TargetReport['status']>;

/** Pull-request outcomes that leave found drift unpublished, or a PR nobody can close but a person: someone has to act. */
const UNPUBLISHED: ReadonlySet<PullRequestReport['action']> = new Set(['blocked', 'declined']);

export function runLogEntries(report: Report): RunLogEntry[] {
  const run = { runId: report.runId, configName: report.configName, trigger: report.trigger, dryRun: report.dryRun };
  const entries: RunLogEntry[] = [];
  const problemEntry = (level: RunLogLevel, problem: Problem, text = `run problem: ${problem.code}`): RunLogEntry => ({
    level,
    text,
    properties: { event: RUN_LOG_EVENTS.runProblem, ...run, code: problem.code, reason: problem.message },
  });
  // An urgent address that no file can take is the first line of the run.
  const urgent = report.errors.filter(isUrgentProblem);
  for (const problem of urgent) entries.push(problemEntry('error', problem, `URGENT run problem: ${problem.code}`));
  for (const target of report.targets) {
    const entry = targetEntry(target, run);
    if (entry) entries.push(entry);
  }
  for (const problem of report.errors) if (!urgent.includes(problem)) entries.push(problemEntry('error', problem));
  for (const problem of report.warnings) entries.push(problemEntry('warn', problem));
  const pr = report.pullRequest;
  if (UNPUBLISHED.has(pr.action) || (pr.action === 'none' && pr.message !== undefined)) {
    entries.push({
      level: 'warn',
      text: `pull request ${pr.action}${pr.number ? ` #${pr.number}` : ''}: waits for a person`,
      properties: {
        event: RUN_LOG_EVENTS.pullRequest,
        ...run,
        code: `pull-request-${pr.action}`,
        reason: pr.message ?? pr.action,
        ...(pr.number ? { pullRequestNumber: pr.number } : {}),
      },
    });
  }
  entries.push(summaryEntry(report, run));
  return entries;
}

/** One line: the text for people, then the properties as JSON (target ids and codes never contain "{"). */
export function runLogLine(entry: RunLogEntry): string {
  return `${entry.text} ${JSON.stringify(entry.properties)}`;
}

type RunProperties = Pick<Report, 'runId' | 'configName' | 'trigger' | 'dryRun'>;

function targetEntry(target: TargetReport, run: RunProperties): RunLogEntry | undefined {
  const problems = [...target.errors, ...target.warnings];
  if (target.status === 'ok' && problems.length === 0) return undefined;
  const holds = target.verdicts.filter((verdict) => verdict.outcome === 'hold');
  // A held target is held by its guards; whatever else it reported comes after.
  const reasons: Problem[] = [...holds.map((verdict) => ({ code: verdict.guard, message: verdict.message })), ...problems];
  const first = reasons[0] ?? { code: `target-${target.status}`, message: `the check ended ${target.status} without a recorded reason` };
  const codes = [...new Set(reasons.map((reason) => reason.code))];
  return {
    level: target.status === 'error' ? 'error' : 'warn',
    text: `target ${target.id}: ${target.status} (${first.code})`,
    properties: {
      event: RUN_LOG_EVENTS.target,
      ...run,
      targetId: target.id,
      type: target.type,
      status: target.status,
      code: first.code,
      reason: first.message,
      codes: codes.join(','),
      problems: reasons.length,
      added: target.added.length,
      removed: target.removed.length,
      // When the held change was first seen: the alert on a hold nobody released reads it (infra/modules/alerts.bicep).
      ...(target.held ? { heldSince: target.held.since } : {}),
    },
  };
}

function summaryEntry(report: Report, run: RunProperties): RunLogEntry {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, report.targets.filter((t) => t.status === status).length]));
  const warned = report.targets.filter((t) => t.status === 'ok' && t.errors.length + t.warnings.length > 0).length;
  const pr = report.pullRequest;
  const prText = `${pr.action}${pr.number ? ` #${pr.number}` : ''}`;
  const countText = STATUSES.map((status) => `${counts[status]} ${status}`).join(', ');
  const durationMs = Date.parse(report.finishedAt) - Date.parse(report.startedAt);
  return {
    level: 'info',
    text: `check done: ${report.targets.length} target(s): ${countText}${warned > 0 ? ` (${warned} ok with warnings)` : ''}; pull request: ${prText}`,
    properties: {
      event: RUN_LOG_EVENTS.summary,
      ...run,
      targets: report.targets.length,
      ...counts,
      okWithWarnings: warned,
      pullRequest: pr.action,
      ...(pr.number ? { pullRequestNumber: pr.number } : {}),
      runErrors: report.errors.length,
      runWarnings: report.warnings.length,
      ...(Number.isFinite(durationMs) ? { durationMs } : {}),
    },
  };
}
