import { afterEach, describe, expect, it } from 'vitest';
import { formatReport, formatStatus } from '../../bin/text-report.js';
import { readStatus } from '../../shared/engine/status.js';
import { aggregate, parseCidr } from '../../shared/ipset.js';
import { BRANCH, FE1_V4, FE1_V6, FE2_V4, FILES, NEW_V4, TAGS_PATH, startHarness, weeklyTag, type Harness } from './harness.js';
import { lines } from './held-tags.js';

/**
 * Issue 24, an ordinary file: a file over its limit is not proposed (the other files are), the run says why with the
 * numbers, and nothing it would have added is taken as approved; a file near its limit is warned about.
 */

const TAG = 'MicrosoftCloudAppSecurity';
const SG = 'sg/cas.auto.tfvars.json';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

/** The weekly file of the repository cut down to the MicrosoftCloudAppSecurity tag (2,302 IPv4 prefixes). */
const casTag = () => weeklyTag(TAG);

const casEntries = aggregate(casTag().values[0]!.properties.addressPrefixes.map((p) => parseCidr(p))).length;

/** Front-ends in a file that takes three entries, and the tag in an AWS security group's file. */
async function start(): Promise<void> {
  h = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      github: { ...defaults.github!, dashboard: true },
      targets: [defaults.targets[0]!, { id: 'mcas', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
      files: [
        { path: FILES.outsystems, format: 'plain', targets: ['acme-prod'], limit: { maxEntries: 3 } },
        { path: SG, format: 'tfvars-json', variable: 'cas', targets: ['mcas'], limit: 'aws-security-group' },
      ],
    }),
  });
  h.serveServiceTags(casTag());
}

describe('engine: a file over its limit', () => {
  it('publishes the other file, withholds the tag with the numbers, and says so everywhere', async () => {
    await start();
    // A dry run says the same and shows no diff of the waiting file.
    const preview = await h.run({ dryRun: true });
    expect(preview.report.errors.map((e) => e.code)).toEqual(['capacity-exceeded']);
    expect(preview.report.pullRequest.diff).toContain(FILES.outsystems);
    expect(preview.report.pullRequest.diff).not.toContain(SG);

    const { report } = await h.run();
    expect(report.targets.map((t) => t.status)).toEqual(['ok', 'ok']);
    expect(report.errors).toEqual([
      {
        code: 'capacity-exceeded',
        message: expect.stringContaining(
          `${SG} is not written: it would hold ${casEntries.toLocaleString('en-US')} entries (IPv4 ${casEntries.toLocaleString('en-US')}, IPv6 0), over its limit of 60 entries per address family ("aws-security-group")`,
        ),
      },
    ]);
    expect(report.errors[0]!.message).toMatch(/\{n\} in the path.*"fit": \{"widenTo": N\}.*larger limit/);
    // Three front-end entries in a file that takes three: it is written, and warned about.
    expect(report.warnings).toContainEqual({
      code: 'capacity-headroom',
      message: expect.stringContaining(`${FILES.outsystems} holds 3 entries (IPv4 2, IPv6 1), 100 % of its limit of 3 entries`),
    });

    // The PR carries the front-ends only, and says which file waits and why.
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(h.github.readFile(BRANCH, SG)).toBeNull();
    expect(lines(h.github.readFile(BRANCH, FILES.outsystems))).toEqual([`${FE1_V4}/32`, `${FE2_V4}/32`, `${FE1_V6}/128`]);
    const body = h.github.pullRequest(1).body;
    expect(body).toContain(`**${SG}**: capacity-exceeded: ${SG} is not written`);
    expect(body).toContain(`**${FILES.outsystems}**: capacity-headroom:`);

    // The dashboard opens for a file that waits, and status and the text report say the same.
    const [issue] = h.github.issues();
    expect(issue!.body).toContain('### Firewall capacity');
    expect(issue!.body).toContain(`capacity-exceeded: ${SG} is not written`);
    const status = await readStatus(h.config, h.store);
    expect(status.capacity).toEqual([
      expect.objectContaining({ path: FILES.outsystems, outcome: 'headroom', entries: { ipv4: 2, ipv6: 1 }, maxEntries: 3 }),
      expect.objectContaining({ path: SG, outcome: 'exceeded', entries: { ipv4: casEntries, ipv6: 0 }, maxEntries: 60, perFamily: true }),
    ]);
    expect(formatStatus(status)).toContain(`capacity-exceeded: ${SG} is not written`);
    expect(formatReport(report)).toContain(`error capacity-exceeded: ${SG} is not written`);
  }, 240_000);

  it('takes none of what the withheld file would add as approved, and puts an urgent address that cannot fit first', async () => {
    await start();
    await h.run();
    h.github.mergePullRequest(1);
    const after = await h.run();

    const state = await h.state();
    expect(state.targets.get('acme-prod')!.baseline).toHaveLength(3);
    // The merge held none of the tag: its addresses stay pending, and the file keeps waiting.
    expect(state.targets.get('mcas')!.baseline).toEqual([]);
    expect(state.targets.get('mcas')!.proposed ?? []).toHaveLength(casEntries);
    expect(after.report.errors.map((e) => e.code)).toEqual(['capacity-exceeded']);
    expect(after.report.pullRequest).toMatchObject({ action: 'none', message: expect.stringContaining(`${SG} waits for room`) });
    expect(h.github.pullRequests()).toHaveLength(1);

    // A run that finds the base branch holding every written file promotes nothing of the waiting one either.
    await h.run();
    expect((await h.state()).targets.get('mcas')!.baseline).toEqual([]);

    // A new front-end address the front-ends' file cannot take: the loudest line of the run.
    h.dns.set('fe2.acme.test', { kind: 'answer', a: [FE2_V4, NEW_V4] });
    const { report } = await h.run();
    expect(report.errors.map((e) => e.code)).toEqual(['capacity-exceeded', 'capacity-exceeded']);
    expect(report.errors[0]!.message).toMatch(
      new RegExp(
        `^URGENT: a new address of acme-prod \\(${NEW_V4.replace(/\./g, '\\.')}/32\\), whose traffic is blocked until allowlisted, cannot be written: ${FILES.outsystems} is not written: it would hold 4 entries`,
      ),
    );
    expect(formatReport(report).split('\n')[2]).toMatch(/^error capacity-exceeded: URGENT: /);
    // Nothing is proposed that the firewall could not take.
    expect(h.github.pullRequests()).toHaveLength(1);
    expect((await h.state()).targets.get('acme-prod')!.baseline).not.toContain(`${NEW_V4}/32`);
    // Not a time limit on the code: observing and diffing 2,302 prefixes a few times is slow on a shared machine.
  }, 240_000);
});
