import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report, TargetReport } from '../../shared/report.js';
import { runLogEntries, runLogLine } from '../../shared/run-log.js';

// Bicep cannot be compiled here: the alert rules are read as text and their queries held to the lines the app writes.

const root = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const alerts = read('infra/modules/alerts.bicep');
const main = read('infra/main.bicep');

const target = (id: string, status: TargetReport['status'], extra: Partial<TargetReport> = {}): TargetReport => ({
  id,
  type: 'cas-docs',
  status,
  observed: [],
  baseline: [],
  added: [],
  removed: [],
  pendingRemoval: [],
  warnings: [],
  errors: [],
  verdicts: [],
  ...extra,
});

/** A timer run with a target in error, a held one and a run-level error: every line the alerts look for. */
const report: Report = {
  runId: 'run-1',
  configName: 'prod',
  trigger: 'timer',
  startedAt: '2026-11-23T10:00:00.000Z',
  finishedAt: '2026-11-23T10:00:02.500Z',
  dryRun: false,
  targets: [
    target('cas-mail', 'error', { errors: [{ code: 'http-status', message: 'GET failed with 503' }] }),
    target('acme-prod', 'held', {
      verdicts: [{ guard: 'mass-removal', outcome: 'hold', message: 'would remove 40 %' }],
      held: { added: [], removed: [], fingerprint: '0123456789abcdef', since: '2026-11-01T06:07:00.000Z' },
    }),
  ],
  pullRequest: { action: 'none' },
  errors: [{ code: 'github-unreachable', message: 'ENOTFOUND api.github.com' }],
  warnings: [],
};
const entries = runLogEntries(report);
const lines = entries.map(runLogLine);

/** The query of a rule as Bicep builds it: the ''' block of its variable with the module's replacements applied. */
function query(variable: string): string {
  const text = new RegExp(`^var ${variable} = '''\\n([\\s\\S]*?)'''$`, 'm').exec(alerts)?.[1];
  expect(text, `alerts.bicep declares ${variable}`).toBeDefined();
  const parsed = /^var parsed = '(.+)'$/m.exec(alerts)?.[1];
  expect(parsed).toBeDefined();
  return text!.replace('| PARSED', `| ${parsed}`).replace('HOLD_DAYS', '7');
}

const QUERIES = ['noSuccessQuery', 'targetErrorQuery', 'oldHoldQuery'];

describe('alerts in the Bicep', () => {
  it('main.bicep has the three parameters with defaults and bounds, fed by azd values, and passes them on', () => {
    expect(main).toMatch(/^param alertEmail string = ''$/m);
    expect(main).toMatch(/@minValue\(1\)\n@maxValue\(48\)\n@description\([^\n]+\)\nparam alertNoSuccessHours int = 24$/m);
    expect(main).toMatch(/@minValue\(1\)\n@maxValue\(365\)\n@description\([^\n]+\)\nparam alertHoldDays int = 7$/m);
    const parameters = JSON.parse(read('infra/main.parameters.json')).parameters as Record<string, { value: string }>;
    expect(parameters.alertEmail?.value).toBe('${ALERT_EMAIL}');
    expect(parameters.alertNoSuccessHours?.value).toBe('${ALERT_NO_SUCCESS_HOURS=24}');
    expect(parameters.alertHoldDays?.value).toBe('${ALERT_HOLD_DAYS=7}');
    const module = /^module alerts 'modules\/alerts\.bicep' = \{\n([\s\S]*?)\n\}$/m.exec(main)?.[1];
    expect(module).toBeDefined();
    expect(module).toContain('applicationInsightsId: monitoring.outputs.id');
    expect(module).toContain('alertEmail: alertEmail');
    expect(module).toContain('noSuccessHours: alertNoSuccessHours');
    expect(module).toContain('holdDays: alertHoldDays');
  });

  it('an action group e-mails every address given, and exists only when one is', () => {
    expect(alerts).toMatch(/^resource actionGroup 'Microsoft\.Insights\/actionGroups@[\d-]+' = if \(!empty\(alertEmail\)\) \{$/m);
    expect(alerts).toMatch(
      /for \(address, index\) in split\(alertEmail, ','\): \{\n\s+name: 'email-\$\{index\}'\n\s+emailAddress: trim\(address\)/,
    );
    expect(alerts).toContain('actionGroups: empty(alertEmail) ? [] : [actionGroup.id]');
    expect(/groupShortName: '([^']+)'/.exec(alerts)?.[1]?.length).toBeLessThanOrEqual(12);
  });

  it('three log search rules on the Application Insights, each with the action group, their windows from the parameters', () => {
    const rules = [...alerts.matchAll(/^resource (\w+) 'Microsoft\.Insights\/scheduledQueryRules@[\d-]+' = \{$/gm)].map((m) => m[1]);
    expect(rules).toEqual(['noSuccessfulRun', 'targetError', 'oldHold']);
    expect(alerts.match(/scopes: \[applicationInsightsId\]/g)).toHaveLength(3);
    expect(alerts.match(/actions: actions$/gm)).toHaveLength(3);
    expect(alerts).toContain("overrideQueryTimeRange: 'PT${noSuccessHours}H'");
    expect(alerts).toContain("query: replace(noSuccessQuery, '| PARSED', '| ${parsed}')");
    expect(alerts).toContain("query: replace(replace(oldHoldQuery, '| PARSED', '| ${parsed}'), 'HOLD_DAYS', string(holdDays))");
    expect(query('oldHoldQuery')).toContain('todatetime(d.heldSince) < ago(7d)');
    // No successful run: fewer than one matching line; the other two: any matching line.
    const criteria = [...alerts.matchAll(/operator: '(\w+)'\n\s+threshold: (\d+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(criteria).toEqual(['LessThan 1', 'GreaterThan 0', 'GreaterThan 0']);
  });

  it.each(QUERIES)('%s reads the JSON the run log writes, by fields and values the app really logs', (name) => {
    const text = query(name);
    // The JSON follows the first "{" of the line, as runLogLine writes it.
    expect(text).toContain('extend d = parse_json(substring(message, indexof(message, "{")))');
    for (const line of lines) expect(JSON.parse(line.slice(line.indexOf('{')))).toBeTypeOf('object');
    // Every filter on the message text matches a real line.
    for (const [, needle] of text.matchAll(/message contains '([^']+)'/g)) {
      expect(
        lines.some((line) => line.includes(needle!)),
        `${name}: contains '${needle}'`,
      ).toBe(true);
    }
    // Every field it reads is a property some line has, and every value it compares with is one a line carries.
    const fields = [...text.matchAll(/\bd\.(\w+)/g)].map((m) => m[1]!);
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields)
      expect(
        entries.some((entry) => field in entry.properties),
        `${name}: d.${field}`,
      ).toBe(true);
    for (const [, field, value] of text.matchAll(/tostring\(d\.(\w+)\) == "([^"]+)"/g)) {
      expect(
        entries.some((entry) => entry.properties[field!] === value),
        `${name}: d.${field} == "${value}"`,
      ).toBe(true);
    }
    for (const [, field] of text.matchAll(/toint\(d\.(\w+)\)/g)) {
      expect(
        entries.some((entry) => typeof entry.properties[field!] === 'number'),
        `${name}: toint(d.${field})`,
      ).toBe(true);
    }
    for (const [, field] of text.matchAll(/todatetime\(d\.(\w+)\)/g)) {
      const dated = entries.filter((entry) => typeof entry.properties[field!] === 'string');
      expect(dated.length, `${name}: todatetime(d.${field})`).toBeGreaterThan(0);
      for (const entry of dated) expect(Date.parse(String(entry.properties[field!]))).not.toBeNaN();
    }
  });

  it('the error rule catches what the app logs at error level, and the severity it compares is that level', () => {
    const text = query('targetErrorQuery');
    expect(text).toContain('tostring(d.status) == "error"');
    // Application Insights severityLevel 3 is Error: the level runLogEntries gives a run-level error.
    expect(entries.find((entry) => entry.properties.event === 'allowlist-drift.run-problem')?.level).toBe('error');
    expect(text).toContain('severityLevel == 3');
    expect(entries.find((entry) => entry.properties.status === 'error')?.level).toBe('error');
  });

  it('the README says how to change each alert', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('\n### Alerts\n'));
    expect(section.length).toBeLessThan(readme.length);
    for (const name of ['ALERT_EMAIL', 'ALERT_NO_SUCCESS_HOURS', 'ALERT_HOLD_DAYS']) expect(section).toContain(`azd env set ${name}`);
    expect(section).toContain('azd provision');
  });
});
