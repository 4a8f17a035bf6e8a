import { describe, expect, it } from 'vitest';
import { commandAsTyped, packageVersion } from '../../bin/invocation.js';
import { formatReport, formatStatus, nextStep, type NextStepContext } from '../../bin/text-report.js';
import type { StatusReport } from '../../shared/engine/status.js';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import type { Report, TargetReport } from '../../shared/report.js';

const cidrs = (...texts: string[]): Cidr[] => texts.map(parseCidr);

function target(overrides: Partial<TargetReport> = {}): TargetReport {
  return {
    id: 'tags',
    type: 'service-tags',
    status: 'ok',
    observed: [],
    baseline: cidrs('20.0.0.1'),
    added: [],
    removed: [],
    pendingRemoval: [],
    warnings: [],
    errors: [],
    verdicts: [],
    ...overrides,
  };
}

function report(overrides: Partial<Report> = {}): Report {
  return {
    runId: '00000000-0000-4000-8000-000000000000',
    configName: 'prod',
    trigger: 'cli',
    startedAt: '2026-12-07T18:00:00.000Z',
    finishedAt: '2026-12-07T18:00:01.000Z',
    dryRun: false,
    targets: [target()],
    pullRequest: { action: 'none' },
    errors: [],
    warnings: [],
    ...overrides,
  };
}

const context: NextStepContext = {
  command: 'npx allowlist-drift',
  configArgument: 'prod.config.json',
  config: { github: { owner: 'acme', repo: 'rules' } as NonNullable<NextStepContext['config']['github']> },
  credentials: true,
};

const everything = target({
  status: 'held',
  verdicts: [{ guard: 'broad-prefix', outcome: 'hold', message: '0.0.0.0/0 would allow every address' }],
  held: { added: cidrs('0.0.0.0/1', '128.0.0.0/1'), removed: [], fingerprint: '0123456789abcdef', since: '2026-12-07T18:00:00.000Z' },
});

describe('a hold no approval can release', () => {
  it('says so and prints no release command, in the report and in status', () => {
    const text = formatReport(report({ targets: [everything] }), context);
    expect(text).toContain(
      '  tags cannot be released: with the baseline the change would allow every address, and no approval releases that',
    );
    expect(text).not.toContain('approve --target');
    expect(nextStep(report({ targets: [everything] }), context)).toMatch(
      /^Next: tags cannot be released \(the change would allow every address\)/,
    );

    const status: StatusReport = {
      configName: 'prod',
      lastRunAt: null,
      pullRequest: null,
      capacity: [],
      baseDiffers: [],
      targets: [
        {
          id: 'tags',
          type: 'service-tags',
          lastCheckAt: null,
          lastGoodCheckAt: null,
          status: 'held',
          heldBy: [],
          baselineCount: 1,
          observedCount: 2,
          pendingRemoval: [],
          lastErrors: [],
          warnings: [],
          held: { ...everything.held!, verdicts: everything.verdicts, releasable: false },
        },
      ],
    };
    expect(formatStatus(status, context)).toContain('tags cannot be released');
    expect(formatStatus(status, context)).not.toContain('approve --target');
  });

  it('a releasable hold prints the command as typed, with the --config given', () => {
    const held = target({ ...everything, held: { ...everything.held!, added: cidrs('20.0.0.0/16') } });
    expect(formatReport(report({ targets: [held] }), context)).toContain(
      '  tags release it with: npx allowlist-drift approve --target tags --fingerprint 0123456789abcdef --config prod.config.json',
    );
    expect(formatReport(report({ targets: [held] }), { command: 'allowlist-drift', configArgument: 'my rules.json' })).toContain(
      "--fingerprint 0123456789abcdef --config 'my rules.json'",
    );
  });
});

describe('Next: always a true last step', () => {
  it('a dry run that would publish nothing does not promise a pull request', () => {
    const unchanged = report({
      dryRun: true,
      pullRequest: { action: 'dry-run', message: 'main already holds this proposal: a full run pushes nothing and takes it as approved' },
    });
    const line = nextStep(unchanged, context);
    expect(line).toBe(
      'Next: run `npx allowlist-drift check --config prod.config.json` (without --dry-run) for a full check, which stores what it observed; the rule files need no change, so it opens no pull request.',
    );
    const wouldOpen = report({
      dryRun: true,
      pullRequest: { action: 'dry-run', message: 'a full run would open a pull request changing 1 file', diff: '--- a/x\n+++ b/x\n' },
    });
    expect(nextStep(wouldOpen, context)).toContain('opens or updates the pull request');
    const unreachable = report({
      dryRun: true,
      pullRequest: {
        action: 'dry-run',
        message:
          'a full run would open a pull request changing 1 file; acme/rules could not be read (github-unreachable: ENOTFOUND api.github.com: …)',
        diff: '--- a/x\n+++ b/x\n',
      },
    });
    expect(nextStep(unreachable, context)).toMatch(
      /^Next: make acme\/rules readable \(the pull request line above says what stopped it; `npx allowlist-drift doctor --config prod.config.json` checks GitHub\), then run/,
    );
  });

  it.each([
    [
      'created',
      { action: 'created', number: 7, url: 'https://github.test/acme/rules/pull/7' },
      /^Next: review and merge pull request #7 https/,
    ],
    [
      'unchanged',
      { action: 'unchanged', number: 7, url: 'https://github.test/acme/rules/pull/7' },
      /^Next: review and merge pull request #7/,
    ],
    ['none', { action: 'none' }, /^Next: nothing to do: the rule files already match what was observed/],
    [
      'none, with a reason',
      { action: 'none', message: 'drift found, but the config lists no files to change' },
      /^Next: nothing was published/,
    ],
    [
      'declined',
      { action: 'declined', message: 'closed before' },
      /^Next: nothing to do: this exact proposal was closed without merging before/,
    ],
    ['blocked', { action: 'blocked', number: 7, url: 'u' }, /^Next: people pushed to pull request #7 u; merge or close it/],
    ['closed', { action: 'closed', number: 7 }, /^Next: nothing to do: no change is needed any more, so pull request #7 was closed/],
  ] as const)('a full check whose pull request is %s', (_name, pullRequest, expected) => {
    expect(nextStep(report({ pullRequest }), context)).toMatch(expected);
  });
});

describe('the command as typed', () => {
  it('npx and npm scripts, an installed bin, or node and the path', () => {
    expect(commandAsTyped('/repo/dist/bin/allowlist-drift.js', { npm_command: 'exec', npm_lifecycle_event: 'npx' }, '/repo')).toBe(
      'npx allowlist-drift',
    );
    expect(commandAsTyped('/repo/dist/bin/allowlist-drift.js', { npm_command: 'start', npm_lifecycle_event: 'start' }, '/repo')).toBe(
      'npx allowlist-drift',
    );
    expect(commandAsTyped('/usr/local/bin/allowlist-drift', {}, '/home/me')).toBe('allowlist-drift');
    expect(commandAsTyped('/repo/dist/bin/allowlist-drift.js', {}, '/repo')).toBe('node dist/bin/allowlist-drift.js');
    expect(commandAsTyped('/repo/dist/bin/allowlist-drift.js', {}, '/elsewhere')).toBe('node /repo/dist/bin/allowlist-drift.js');
  });

  it('the version comes from the package.json above the code', () => {
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
