import { afterEach, describe, expect, it } from 'vitest';
import { numberedPaths } from '../../shared/capacity/split-path.js';
import { aggregate, covers, parseCidr, sameAddresses } from '../../shared/ipset.js';
import { BRANCH, TAGS_PATH, startHarness, weeklyTag, type Harness } from './harness.js';

/**
 * Issue 24, "Split": the MicrosoftCloudAppSecurity service tag (2,302 prefixes) in AWS security groups of 60 rules
 * each, through a path with {n}; then one new prefix, one removed prefix and a file that empties.
 */

const TAG = 'MicrosoftCloudAppSecurity';
const PATTERN = 'sg/cas-{n}.auto.tfvars.json';
const GITHUB_BASE = 'main';

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

const tagPrefixes = (): string[] => weeklyTag(TAG).values[0]!.properties.addressPrefixes;

function serveTag(prefixes: readonly string[]): void {
  h.serveServiceTags(weeklyTag(TAG, () => [...prefixes]));
}

/** The numbered files of the set on a branch, by path, each as its IPv4 and IPv6 lists. */
function splitFiles(branch: string): Map<string, { ipv4: string[]; ipv6: string[] }> {
  const tree = h.github.git.tree(h.github.commit(h.github.refSha(branch)!).tree)!;
  return new Map(
    numberedPaths(PATTERN, tree.keys()).map(({ path }) => {
      const parsed = JSON.parse(h.github.readFile(branch, path)!) as { cas_ipv4: string[]; cas_ipv6: string[] };
      return [path, { ipv4: parsed.cas_ipv4, ipv6: parsed.cas_ipv6 }];
    }),
  );
}

/** Paths whose content differs between two branches or commits (added, changed or removed). */
function changedPaths(from: string, to: string): string[] {
  const before = splitFiles(from);
  const after = splitFiles(to);
  return [...new Set([...before.keys(), ...after.keys()])].filter(
    (path) => JSON.stringify(before.get(path)) !== JSON.stringify(after.get(path)),
  );
}

async function splitConfig(limit: unknown = 'aws-security-group'): Promise<void> {
  h = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      targets: [{ id: 'cas-tag', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: [TAG] }],
      files: [{ path: PATTERN, format: 'tfvars-json', variable: 'cas', limit, targets: ['cas-tag'] }] as never,
    }),
  });
}

describe('engine: a path with {n} splits a set over numbered files', () => {
  it('opens a PR of 60-entry files covering the tag exactly; after the merge one added or removed prefix changes one file, and a file that empties is removed', async () => {
    await splitConfig();
    const prefixes = tagPrefixes();
    expect(prefixes).toHaveLength(2_302);
    serveTag(prefixes);

    const first = await h.run();
    expect(first.report.errors).toEqual([]);
    // Full files of a set are by design: no capacity warning for them.
    expect(first.report.warnings.filter((w) => w.code.startsWith('capacity'))).toEqual([]);
    expect(first.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    const files = splitFiles(BRANCH);
    const entries = [...files.values()].flatMap((file) => [...file.ipv4, ...file.ipv6]);
    for (const file of files.values()) {
      expect(file.ipv4.length).toBeLessThanOrEqual(60);
      expect(file.ipv6.length).toBeLessThanOrEqual(60);
    }
    expect(sameAddresses(entries.map(parseCidr), prefixes.map(parseCidr))).toBe(true);
    // Each entry once: no entry in two files, no overlap.
    expect(aggregate(entries.map(parseCidr))).toHaveLength(entries.length);
    expect([...files.keys()]).toEqual(Array.from({ length: files.size }, (_, i) => `sg/cas-${i + 1}.auto.tfvars.json`));
    // The marker names the pattern; the body lists the files it adds.
    const body = h.github.pullRequest(1).body;
    expect(body).toContain(`files=${encodeURIComponent(PATTERN)}`);
    expect(body).toContain('sg/cas-1.auto.tfvars.json (new)');

    h.github.mergePullRequest(1);
    expect((await h.run()).report.errors).toEqual([]);
    expect((await h.state()).targets.get('cas-tag')!.baseline).toHaveLength(aggregate(prefixes.map(parseCidr)).length);

    // One new prefix: one file changes.
    const added = '52.16.250.7/32';
    expect(covers(prefixes.map(parseCidr), parseCidr(added))).toBe(false);
    serveTag([...prefixes, added]);
    const grown = await h.run();
    expect(grown.report.pullRequest).toMatchObject({ action: 'created', number: 2 });
    const changedByAdd = changedPaths(GITHUB_BASE, BRANCH);
    expect(changedByAdd).toHaveLength(1);
    expect(splitFiles(BRANCH).get(changedByAdd[0]!)!.ipv4).toContain(added);
    h.github.mergePullRequest(2);
    await h.run();

    // The last file's prefixes leave the tag: after the configured misses the PR removes that file, and only it.
    const before = splitFiles(GITHUB_BASE);
    const last = [...before.keys()].at(-1)!;
    const lastEntries = before.get(last)!.ipv4.map(parseCidr);
    const kept = [...prefixes, added].filter((p) => !covers(lastEntries, parseCidr(p)));
    serveTag(kept);
    let removal = await h.run();
    for (let run = 1; run < 5 && removal.report.pullRequest.action !== 'created'; run += 1) removal = await h.run();
    expect(removal.report.errors).toEqual([]);
    expect(removal.report.pullRequest).toMatchObject({ action: 'created', number: 3 });
    expect(changedPaths(GITHUB_BASE, BRANCH)).toEqual([last]);
    expect(h.github.readFile(BRANCH, last)).toBeNull();
    expect(h.github.pullRequest(3).body).toContain(`${last} (removed)`);
    h.github.mergePullRequest(3);
    expect(h.github.readFile(GITHUB_BASE, last)).toBeNull();
    await h.run();

    // One prefix of another file leaves: after the misses, that one file changes.
    const victimFile = [...splitFiles(GITHUB_BASE).keys()][1]!;
    const victim = splitFiles(GITHUB_BASE).get(victimFile)!.ipv4[0]!;
    serveTag(kept.filter((p) => !covers([parseCidr(victim)], parseCidr(p))));
    removal = await h.run();
    for (let run = 1; run < 5 && removal.report.pullRequest.action !== 'created'; run += 1) removal = await h.run();
    expect(removal.report.pullRequest).toMatchObject({ action: 'created', number: 4 });
    expect(changedPaths(GITHUB_BASE, BRANCH)).toEqual([victimFile]);
    expect(splitFiles(BRANCH).get(victimFile)!.ipv4).not.toContain(victim);
  }, 300_000);

  it('refuses to guess when GitHub cuts the tree listing short, and publishes once the listing is whole', async () => {
    h = await startHarness({
      config: (defaults) => ({
        ...defaults,
        targets: [{ id: 'web', type: 'static', entries: ['52.16.0.1', '52.16.0.3'] }],
        files: [{ path: 'sg/web-{n}.json', format: 'json', limit: { maxEntries: 1 }, targets: ['web'] }],
      }),
    });
    h.github.failNext(
      { method: 'GET', route: /\/git\/trees\// },
      { status: 200, body: { sha: 'a'.repeat(40), url: 'https://api.github.com/x', truncated: true, tree: [] } },
    );
    const cut = await h.run();
    expect(cut.report.errors).toEqual([expect.objectContaining({ code: 'github-error', message: expect.stringContaining('one read') })]);
    expect(h.github.pullRequests()).toHaveLength(0);

    const whole = await h.run();
    expect(whole.report.errors).toEqual([]);
    expect(whole.report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    expect(JSON.parse(h.github.readFile(BRANCH, 'sg/web-1.json')!)).toEqual(['52.16.0.1/32']);
    expect(JSON.parse(h.github.readFile(BRANCH, 'sg/web-2.json')!)).toEqual(['52.16.0.3/32']);
  });
});
