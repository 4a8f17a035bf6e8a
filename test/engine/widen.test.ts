import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../../bin/text-report.js';
import { readStatus } from '../../shared/engine/status.js';
import { addressCount, aggregate, covers, parseCidr, prefixLengthOf, type Cidr } from '../../shared/ipset.js';
import { BRANCH, TAGS_PATH, startHarness, weeklyTag, type Harness } from './harness.js';

/**
 * Issue 24, fit by widening: the MicrosoftCloudAppSecurity tag (2,302 IPv4 prefixes in 326 /16 blocks) in a file
 * that takes 400 entries is written as covers no wider than /16, and the PR says how many addresses that allows
 * beyond what the tag publishes; in a file that takes 200 it cannot fit, and the run says how many entries it needs.
 */

const TAG = 'MicrosoftCloudAppSecurity';
const LIST = 'firewall/cas-prefix-list.json';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

/** The weekly file of the repository cut down to the MicrosoftCloudAppSecurity tag (2,302 IPv4 prefixes). */
const casTag = () => weeklyTag(TAG);

const published = aggregate(casTag().values[0]!.properties.addressPrefixes.map((p) => parseCidr(p)));

async function start(maxEntries: number): Promise<void> {
  h = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      targets: [{ id: 'mcas', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
      files: [{ path: LIST, format: 'json', targets: ['mcas'], limit: { maxEntries }, fit: { widenTo: 16 } }],
    }),
  });
  h.serveServiceTags(casTag());
}

describe('engine: fit by widening', () => {
  it('publishes at most 400 covers holding every published address, and the PR states the extra address count', async () => {
    await start(400);
    const { report } = await h.run();
    expect(report.errors).toEqual([]);
    expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });

    const written = (JSON.parse(h.github.readFile(BRANCH, LIST)!) as string[]).map((text) => parseCidr(text));
    expect(written.length).toBeLessThanOrEqual(400);
    expect(written.length).toBeGreaterThanOrEqual(326);
    expect(written.every((cidr: Cidr) => prefixLengthOf(cidr) >= 16)).toBe(true);
    for (const prefix of published) expect(covers(written, prefix), prefix).toBe(true);

    const extra = addressCount(written) - addressCount(published);
    expect(extra).toBeGreaterThan(0n);
    const body = h.github.pullRequest(1).body;
    // Every published prefix not written as it is lies in a cover.
    const replaced = published.filter((prefix) => !written.includes(prefix)).length;
    const coverCount = written.filter((cidr) => !published.includes(cidr)).length;
    expect(body).toContain(
      `**${LIST}**: capacity-widened: ${LIST} is widened to fit its limit of 400 entries: ${coverCount} covering prefixes replace ${replaced.toLocaleString('en-US')} published ones`,
    );
    expect(body).toContain(`the file allows ${extra.toLocaleString('en-US')} addresses beyond what the sources publish`);
    // The guard verdict records it beside the others.
    expect(body).toMatch(
      new RegExp(
        `\\| mcas \\| widening \\| pass \\| ${LIST} is widened to fit its limit: \\d+ covering prefixes, and it allows ${extra.toLocaleString('en-US')} addresses`,
      ),
    );

    // The run report, status and its text say so too.
    expect(report.targets[0]!.verdicts).toContainEqual({
      guard: 'widening',
      outcome: 'pass',
      message: expect.stringContaining(`allows ${extra.toLocaleString('en-US')} addresses beyond what the sources publish`),
    });
    expect(report.warnings).toContainEqual({
      code: 'capacity-widened',
      message: expect.stringContaining(`${LIST} is widened to fit its limit of 400 entries`),
    });
    const status = await readStatus(h.config, h.store);
    expect(status.capacity).toEqual([
      expect.objectContaining({ path: LIST, widened: { extraAddresses: extra.toString(), covers: coverCount } }),
    ]);
    expect(formatStatus(status)).toContain(
      `capacity-widened: ${LIST} is written as ${coverCount} covering prefixes and allows ${extra.toLocaleString('en-US')} addresses no source publishes`,
    );

    // Merged, the covers are the tool's own entries: the next run finds nothing to change and nothing unmanaged.
    h.github.mergePullRequest(1);
    const next = await h.run();
    expect(next.report.pullRequest.action).toBe('none');
    expect(next.report.warnings.map((w) => w.code)).not.toContain('unmanaged-entries');
    expect((await h.state()).targets.get('mcas')!.baseline).toEqual(published);
    const quiet = await h.run();
    expect(quiet.report.pullRequest.action).toBe('none');

    // A new prefix in a /16 the tag never used: the file is widened again against the covers on the base branch, still
    // within 400 entries and covering every address, and whatever extra addresses the new cover gives up are named.
    const tag = casTag();
    tag.values[0]!.properties.addressPrefixes.push('23.236.64.1/32');
    h.serveServiceTags(tag);
    const grown = await h.run();
    expect(grown.report.errors).toEqual([]);
    expect(grown.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    const rewritten = (JSON.parse(h.github.readFile(BRANCH, LIST)!) as string[]).map((text) => parseCidr(text));
    expect(rewritten.length).toBeLessThanOrEqual(400);
    for (const prefix of [...published, parseCidr('23.236.64.1/32')]) expect(covers(rewritten, prefix), prefix).toBe(true);
    expect(h.github.pullRequest(2).body).toContain('capacity-widened');
  }, 120_000);

  it('cannot fit 200: capacity-exceeded says so, with the smallest entry count /16 allows, and nothing is written', async () => {
    await start(200);
    const { report } = await h.run();
    expect(report.errors).toEqual([
      {
        code: 'capacity-exceeded',
        message: expect.stringContaining(
          `${LIST} is not written: it would hold 2,302 entries, over its limit of 200 entries; even widened as far as its fit allows (IPv4 to /16), it needs at least 326 entries`,
        ),
      },
    ]);
    expect(report.pullRequest.action).toBe('none');
    expect(h.github.readFile(h.config.github!.base, LIST)).toBeNull();
  }, 120_000);
});
