import type { DoctorReport } from './checks.js';

/** The doctor's report as people and logs read it, and the parts of a check's line that must not leak (URLs). */

/** One line per check, then a summary line; for people. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map(
    (check) => `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)}  ${check.detail}${check.fix ? ` Fix: ${check.fix}` : ''}`,
  );
  return `${[...lines, doctorSummary(report)].join('\n')}\n`;
}

/** "all 8 checks passed" or "2 of 8 checks failed: storage, github-credentials". */
export function doctorSummary(report: DoctorReport): string {
  const failed = report.checks.filter((c) => !c.ok);
  if (failed.length === 0) return `doctor: all ${report.checks.length} checks passed`;
  return `doctor: ${failed.length} of ${report.checks.length} checks failed: ${failed.map((c) => c.name).join(', ')}`;
}

/** One line per failed check, for logs. */
export function doctorFailures(report: DoctorReport): string[] {
  return report.checks.filter((c) => !c.ok).map((c) => `doctor ${c.name}: ${c.detail}${c.fix ? ` Fix: ${c.fix}` : ''}`);
}

export function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
