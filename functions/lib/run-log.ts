import type { InvocationContext } from '@azure/functions';
import type { Log } from '../../shared/log.js';
import type { Report } from '../../shared/report.js';
import { runLogEntries, runLogLine } from '../../shared/run-log.js';

/** Writes a finished run's lines (shared/run-log.ts) to the invocation's log, at their levels. */
export function logRun(context: InvocationContext, report: Report): void {
  for (const entry of runLogEntries(report)) context[entry.level](runLogLine(entry));
}

/** The engine's progress and trouble lines, at their levels, in the invocation's log. */
export function engineLog(context: InvocationContext): Log {
  return (level, message) => context[level](message);
}
