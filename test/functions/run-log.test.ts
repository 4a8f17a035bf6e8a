import { InvocationContext } from '@azure/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { logRun } from '../../functions/lib/run-log.js';
import type { Report } from '../../shared/report.js';
import { sharedFile } from '../peers/http.js';
import { CAS_PATH, FE1_V4, FE1_V6, startHarness, type Harness } from '../engine/harness.js';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

interface Line {
  readonly level: string;
  readonly text: string;
  /** Read back the way the README's KQL reads it: parse_json(substring(message, indexof(message, "{"))). */
  readonly properties: Record<string, unknown>;
}

/** What the host would receive from this invocation: each call formatted into one message, at its level. */
function logged(report: Report): Line[] {
  const lines: Line[] = [];
  const context = new InvocationContext({
    invocationId: report.runId,
    functionName: 'outsystemsCheck',
    logHandler: (level, ...args) => {
      const message = args.map(String).join(' ');
      const at = message.indexOf('{');
      lines.push({
        level,
        text: at < 0 ? message : message.slice(0, at).trimEnd(),
        properties: at < 0 ? {} : JSON.parse(message.slice(at)),
      });
    },
  });
  logRun(context, report);
  return lines;
}

const ofEvent = (lines: Line[], event: string) => lines.filter((line) => line.properties.event === event);

async function approvedBaseline(): Promise<void> {
  await h.run();
  h.github.mergePullRequest(h.github.pullRequests().length);
  await h.run();
}

describe('the lines a check run logs', () => {
  it('a held target: one warning with its id, status, guard and reason, and a summary counting it', async () => {
    h = await startHarness();
    await approvedBaseline();
    h.dns.set('fe2.acme.test', { kind: 'answer', a: ['192.0.2.55'] });
    const { report } = await h.run();
    const lines = logged(report);

    expect(ofEvent(lines, 'allowlist-drift.target')).toEqual([
      {
        level: 'warning',
        text: 'target acme-prod: held (special-range)',
        properties: {
          event: 'allowlist-drift.target',
          runId: report.runId,
          configName: 'prod',
          trigger: 'timer',
          dryRun: false,
          targetId: 'acme-prod',
          type: 'outsystems',
          status: 'held',
          code: 'special-range',
          reason: expect.stringContaining('192.0.2.55/32'),
          codes: 'special-range',
          problems: 1,
          added: 0,
          removed: 0,
          heldSince: report.targets.find((target) => target.id === 'acme-prod')!.held!.since,
        },
      },
    ]);
    expect(Date.parse(String(ofEvent(lines, 'allowlist-drift.target')[0]!.properties.heldSince))).not.toBeNaN();
    expect(lines.at(-1)).toEqual({
      level: 'information',
      text: 'check done: 2 target(s): 1 ok, 0 partial, 1 held, 0 error; pull request: none',
      properties: expect.objectContaining({
        event: 'allowlist-drift.run',
        runId: report.runId,
        targets: 2,
        ok: 1,
        partial: 0,
        held: 1,
        error: 0,
        okWithWarnings: 0,
        pullRequest: 'none',
        runErrors: 0,
      }),
    });
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('a partial check (a CAS heading no section maps): one warning naming the unplaced heading', async () => {
    h = await startHarness();
    const page = sharedFile('fixtures/cas/network-requirements_2024-06-20.md').toString('utf8');
    // A section the tool cannot place: the addresses under it may belong to a selected section that was renamed.
    const unplaced = page.replace(
      '## Next steps',
      '## Partner telemetry\n\n|Data center|IP addresses|\n|----|----|\n|EU1|52.16.9.9|\n\n## Next steps',
    );
    h.serve(CAS_PATH, unplaced, 'text/plain; charset=utf-8');
    const { report } = await h.run();
    const lines = logged(report);

    const targets = ofEvent(lines, 'allowlist-drift.target');
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatchObject({
      level: 'warning',
      text: 'target cas-eu: partial (cas-section-unrecognised)',
      properties: {
        targetId: 'cas-eu',
        status: 'partial',
        code: 'cas-section-unrecognised',
        reason: expect.stringContaining('Partner telemetry'),
      },
    });
    expect(lines.at(-1)!.properties).toMatchObject({ event: 'allowlist-drift.run', ok: 1, partial: 1, held: 0, error: 0 });
  });

  it('LifeTime reporting more front-ends than configured: a warning on a target that is otherwise ok', async () => {
    const token = 'lt-RunLog-Token-7c1e0b';
    const environmentKey = '8c5c1a5e-7e43-4b8f-9d1b-2f5d6c0b9a11';
    h = await startHarness({
      env: { LIFETIME_TOKEN: token },
      config: (defaults, { http }) => ({
        ...defaults,
        targets: defaults.targets.map((target) =>
          target.id === 'acme-prod' ? { ...target, lifetime: { url: `${http.url}/`, environmentKey } } : target,
        ),
      }),
    });
    h.serve(
      `/lifetimeapi/rest/v2/environments/${environmentKey}/`,
      JSON.stringify({ Key: environmentKey, Name: 'Production', NumberOfFrontEnds: 3 }),
      'application/json',
    );
    const { report } = await h.run();
    expect(report.targets.find((t) => t.id === 'acme-prod')!.observed).toEqual([`${FE1_V4}/32`, '52.16.2.20/32', `${FE1_V6}/128`]);
    const lines = logged(report);

    expect(ofEvent(lines, 'allowlist-drift.target')).toEqual([
      {
        level: 'warning',
        text: 'target acme-prod: ok (new-front-end)',
        properties: expect.objectContaining({
          targetId: 'acme-prod',
          status: 'ok',
          code: 'new-front-end',
          reason: expect.stringMatching(/LifeTime reports 3 front-end servers .* but 2 are configured/),
        }),
      },
    ]);
    expect(lines.at(-1)!.properties).toMatchObject({ ok: 2, okWithWarnings: 1, pullRequest: 'created' });
    expect(lines.at(-1)!.text).toContain('(1 ok with warnings)');
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});
