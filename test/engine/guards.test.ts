import { afterEach, describe, expect, it } from 'vitest';
import { sharedFile } from '../peers/http.js';
import { BRANCH, FE1_V4, FE1_V6, FE2_V4, FILES, NEW_V4, TAGS_PATH, startHarness, type Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const lines = (text: string | null) => (text ?? '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));

async function approvedBaseline(): Promise<void> {
  await h.run();
  h.github.mergePullRequest(h.github.pullRequests().length);
  await h.run();
}

const TAG = 'AzureFrontDoor.MicrosoftSecurity';

/** The weekly service-tags file cut down to one tag, whose entry is kept verbatim. */
function serviceTagsDocument(extraPrefixes: string[] = []) {
  const file = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as {
    changeNumber: number;
    cloud: string;
    values: Array<{ name: string; properties: { addressPrefixes: string[] } }>;
  };
  const entry = file.values.find((value) => value.name === TAG)!;
  const prefixes = [...entry.properties.addressPrefixes, ...extraPrefixes];
  return {
    changeNumber: file.changeNumber,
    cloud: file.cloud,
    values: [{ ...entry, properties: { ...entry.properties, addressPrefixes: prefixes } }],
  };
}

describe('engine: removal hysteresis', () => {
  it('proposes a vanished address for removal only on the Nth complete check; a DNS timeout neither counts nor resets', async () => {
    h = await startHarness();
    await approvedBaseline();
    h.dns.set('fe2.acme.test', { kind: 'nxdomain' });

    const pending = (result: Awaited<ReturnType<Harness['run']>>) =>
      result.report.targets.find((t) => t.id === 'acme-prod')!.pendingRemoval;

    const first = await h.run();
    expect(pending(first)).toEqual([{ cidr: `${FE2_V4}/32`, misses: 1 }]);
    expect(first.report.pullRequest.action).toBe('none');
    // Only whether the base branch moved (base-differs), answered 304.
    expect(first.githubRequests).toBe(1);

    h.dns.set('fe1.acme.test', { kind: 'silence' });
    const timedOut = await h.run();
    expect(timedOut.report.targets[0]!.status).toBe('error');
    expect(timedOut.report.targets[0]!.errors.map((e) => e.code)).toContain('dns-timeout');
    expect(pending(timedOut)).toEqual([{ cidr: `${FE2_V4}/32`, misses: 1 }]);
    expect(timedOut.githubRequests).toBe(1);
    expect((await h.state()).targets.get('acme-prod')!.misses).toEqual({ [`${FE2_V4}/32`]: 1 });

    h.dns.set('fe1.acme.test', { kind: 'answer', a: [FE1_V4], aaaa: [FE1_V6] });
    const second = await h.run();
    expect(pending(second)).toEqual([{ cidr: `${FE2_V4}/32`, misses: 2 }]);
    expect(second.report.targets[0]!.removed).toEqual([]);
    expect(second.githubRequests).toBe(1);

    const third = await h.run();
    expect(third.report.targets[0]!.removed).toEqual([`${FE2_V4}/32`]);
    expect(third.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(h.github.pullRequest(2).title).toBe('allowlist: +0 -1 across acme-prod');
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE1_V6}/128`]);
    expect(h.github.pullRequest(2).body).toMatch(
      new RegExp(
        `^- \`${FE2_V4}/32\`: last listed by DNS A answer from resolver [^,]+, fe2\\.acme\\.test, TTL \\d+ s, last seen [^;]+; missing from 3 complete checks in a row; fe2\\.acme\\.test now holds no address\\.$`,
        'm',
      ),
    );
  });
});

describe('engine: held targets', () => {
  it('keeps a held target’s file at the baseline while another target’s drift is published', async () => {
    h = await startHarness({
      config: (defaults, { http }) => ({
        ...defaults,
        targets: [...defaults.targets, { id: 'mcas-tags', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
        files: [...(defaults.files ?? []), { path: FILES.tags, format: 'plain', targets: ['mcas-tags'] }],
      }),
    });
    h.serveServiceTags(serviceTagsDocument());
    await approvedBaseline();
    const approvedTags = h.github.readFile('main', FILES.tags);
    expect(lines(approvedTags)).toHaveLength(7);

    h.serveServiceTags(serviceTagsDocument(['10.0.0.0/8']));
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    const { report } = await h.run();

    const tags = report.targets.find((t) => t.id === 'mcas-tags')!;
    expect(tags.status).toBe('held');
    expect(tags.verdicts.filter((v) => v.outcome === 'hold').map((v) => v.guard)).toEqual([
      'mass-addition',
      'broad-prefix',
      'special-range',
    ]);
    expect(tags.added).toEqual([]);
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toContain(`${NEW_V4}/32`);
    expect(h.github.readFile(BRANCH, FILES.tags)).toBe(approvedTags);
    const tfvars = JSON.parse(h.github.readFile(BRANCH, FILES.tfvars)!) as Record<string, string[]>;
    expect(tfvars.allowlist_ipv4).not.toContain('10.0.0.0/8');
    const pull = h.github.pullRequest(2);
    expect(pull.title).toBe('allowlist: +1 -0 across acme-prod');
    expect(pull.body).toContain('Held back, not in this PR');
    expect(pull.body).toContain('**mcas-tags** (service-tags): held back');
  });
});

describe('engine: dry run', () => {
  it('writes no state, only reads the base branch on GitHub and shows the change as a unified diff', async () => {
    h = await startHarness();

    const { report, githubRequests, tableRequests } = await h.run({ dryRun: true });

    expect(report.dryRun).toBe(true);
    expect(report.pullRequest.action).toBe('dry-run');
    expect(report.pullRequest.message).toBe('a full run would open a pull request changing 3 files');
    expect(report.pullRequest.diff).toContain(`+++ b/${FILES.outsystems}`);
    expect(report.pullRequest.diff).toContain(`+${FE1_V4}/32\n`);
    expect(report.pullRequest.diff).toContain(`+++ b/${FILES.tfvars}`);
    // The base head and the three files on it, as a full run reads them before it plans.
    expect(githubRequests).toBe(4);
    expect(h.github.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'GET']);
    // One state read, no lease, no write.
    expect(tableRequests).toBe(1);
    expect(await rows()).toEqual([]);
  });

  it('leaves existing state and the open PR untouched', async () => {
    h = await startHarness();
    await h.run();
    const before = await rows();
    const head = h.github.refSha(BRANCH);
    const sent = h.github.requests.length;
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });

    const { report } = await h.run({ dryRun: true });

    expect(report.pullRequest).toMatchObject({ action: 'dry-run', message: 'a full run would update PR #1 changing 3 files' });
    // Against the base branch, which has none of the files yet, so the diff shows every proposed line, the new one included.
    expect(report.pullRequest.diff).toContain(`+${NEW_V4}/32\n`);
    expect(await rows()).toEqual(before);
    expect(h.github.requests.slice(sent).every((r) => r.method === 'GET')).toBe(true);
    expect(h.github.refSha(BRANCH)).toBe(head);
  });
});

async function rows(): Promise<Array<{ rowKey: string; etag: string }>> {
  const found: Array<{ rowKey: string; etag: string }> = [];
  for await (const entity of h.table.listEntities()) found.push({ rowKey: entity.rowKey!, etag: entity.etag });
  return found;
}
