import { describe, expect, it } from 'vitest';
import type { Report } from '../shared/report.js';
import { runLogEntries, runLogLine } from '../shared/run-log.js';

const report: Report = {
  runId: 'run-1',
  configName: 'prod',
  trigger: 'timer',
  startedAt: '2026-11-23T10:00:00.000Z',
  finishedAt: '2026-11-23T10:00:02.500Z',
  dryRun: false,
  targets: [
    {
      id: 'partners',
      type: 'static',
      status: 'ok',
      observed: [],
      baseline: [],
      added: [],
      removed: [],
      pendingRemoval: [],
      warnings: [],
      errors: [],
      verdicts: [],
    },
  ],
  pullRequest: { action: 'blocked', number: 7, message: 'people pushed to the PR branch; it is theirs to close' },
  errors: [{ code: 'github-error', message: 'GitHub POST ref failed with 500' }],
  warnings: [{ code: 'unmanaged-entries', message: 'edl/acme.txt holds 1 entry no target produced' }],
};

describe('run log entries', () => {
  it('a clean target says nothing; run problems, a PR waiting for a person and the summary each get one line', () => {
    expect(runLogEntries(report).map((entry) => [entry.level, entry.text, entry.properties.event, entry.properties.code])).toEqual([
      ['error', 'run problem: github-error', 'allowlist-drift.run-problem', 'github-error'],
      ['warn', 'run problem: unmanaged-entries', 'allowlist-drift.run-problem', 'unmanaged-entries'],
      ['warn', 'pull request blocked #7: waits for a person', 'allowlist-drift.pull-request', 'pull-request-blocked'],
      ['info', 'check done: 1 target(s): 1 ok, 0 partial, 0 held, 0 error; pull request: blocked #7', 'allowlist-drift.run', undefined],
    ]);
  });

  it('puts an urgent address that no file can take first, before the targets', () => {
    const urgent = { code: 'capacity-exceeded', message: 'URGENT: a new address of acme (52.9.9.9/32) … cannot be written: …' };
    const waiting = { code: 'capacity-exceeded', message: 'sg.json is not written: …' };
    const held = { ...report.targets[0]!, status: 'held' as const };
    const entries = runLogEntries({ ...report, targets: [held], errors: [waiting, urgent] });
    expect(entries.slice(0, 3).map((entry) => [entry.level, entry.text, entry.properties.reason])).toEqual([
      ['error', 'URGENT run problem: capacity-exceeded', urgent.message],
      ['warn', expect.stringContaining('partners'), expect.anything()],
      ['error', 'run problem: capacity-exceeded', waiting.message],
    ]);
  });

  it('ends each line with its properties as one JSON object, the first "{" of the line', () => {
    for (const entry of runLogEntries(report)) {
      const line = runLogLine(entry);
      expect(JSON.parse(line.slice(line.indexOf('{')))).toEqual(entry.properties);
    }
    expect(runLogEntries(report).at(-1)!.properties).toMatchObject({
      durationMs: 2500,
      runErrors: 1,
      runWarnings: 1,
      pullRequestNumber: 7,
    });
  });
});
