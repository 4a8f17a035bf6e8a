import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../shared/config.js';
import type { DocumentCache } from '../../shared/net/document-cache.js';
import { openDocumentCache } from '../../shared/state/blob-document-cache.js';
import { sharedFile } from '../peers/http.js';
import { TOKEN, startHarness, type Harness } from './harness.js';

/**
 * Issue 25, "fetch only what changed", for the list types: an aws-ip-ranges, a github-meta, a json and a text target,
 * with the document cache in Azurite's blob service. A second run against unchanged documents downloads no body (the
 * HTTP peer answers 304, GitHub's /meta too, to the request that still carries the token); a changed document is read
 * in full; a changed selection re-reads the cached copy on a 304.
 */

const AWS_PATH = '/ip-ranges.json';
const GCP_PATH = '/ipranges/cloud.json';
const TEXT_PATH = '/ips-v4';
const DOCUMENT_PATHS = [AWS_PATH, GCP_PATH, TEXT_PATH];
const AWS = sharedFile('fixtures/aws/ip-ranges_2021-01-13.json');
const GCP = JSON.parse(sharedFile('fixtures/recipes/google-cloud.json').toString('utf8')) as { prefixes: object[] };
const GCP_TEXT = JSON.stringify(GCP);
const CLOUDFLARE = sharedFile('fixtures/recipes/cloudflare-ips-v4.txt').toString('utf8');
const META = JSON.parse(sharedFile('fixtures/github-meta/meta_sample.json').toString('utf8')) as Record<string, unknown>;
const TARGETS = ['aws', 'github', 'gcp', 'cloudflare'];

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

async function listsHarness(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults, { http, github }) => ({
      ...defaults,
      // Every run asks: this scenario is about conditional requests (the reuse window: test/net/reuse-window.test.ts).
      http: { timeoutMs: 30_000, reuseWithinSeconds: 0 },
      targets: [
        { id: 'aws', type: 'aws-ip-ranges', url: `${http.url}${AWS_PATH}`, services: ['EC2'], regions: ['eu-west-1'] },
        { id: 'github', type: 'github-meta', url: `${github.url}/meta`, keys: ['hooks'] },
        { id: 'gcp', type: 'json', url: `${http.url}${GCP_PATH}`, select: "prefixes[?scope=='europe-west1'].[ipv4Prefix || ipv6Prefix]" },
        { id: 'cloudflare', type: 'text', url: `${http.url}${TEXT_PATH}` },
      ],
      files: [{ path: 'firewall/lists.txt', format: 'plain', targets: TARGETS }],
      // Cloudflare's /13s and Google's /14 are broader than the default /16; this scenario is about fetching, not that guard.
      policy: { minPrefixLength: { ipv4: 8, ipv6: 16 } },
    }),
  });
  harness.serve(AWS_PATH, AWS, 'application/json');
  harness.serve(GCP_PATH, GCP_TEXT, 'application/json');
  harness.serve(TEXT_PATH, CLOUDFLARE, 'text/plain; charset=utf-8');
  harness.github.metaDocument = META;
  return harness;
}

function blobCache(): DocumentCache {
  return openDocumentCache(inject('azuriteConnectionString'), { container: `lists-${randomBytes(4).toString('hex')}` });
}

/** Body bytes the HTTP peer served during `run`, its requests, and the statuses GitHub's /meta answered. */
async function measured(run: () => Promise<unknown>) {
  const bytes = h.http.bodyBytes();
  const from = h.http.requests.length;
  const metaFrom = h.github.metaReads.length;
  await run();
  return {
    bytes: h.http.bodyBytes() - bytes,
    requests: h.http.requests.slice(from),
    meta: h.github.metaReads.slice(metaFrom),
  };
}

async function evidenceOf(id: string) {
  return (await h.state()).targets.get(id)!.observation!.entries[0]!.evidence[0]!;
}

describe('engine: a quiet run of the list types downloads no document body', () => {
  it('gets 304s for every list on the second run, reads a changed one in full, and re-reads a cached copy for a new selection', async () => {
    h = await listsHarness();
    const documents = blobCache();
    const first = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.map((t) => [t.id, t.status])).toEqual(TARGETS.map((id) => [id, 'ok']));
      expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    });
    expect(first.bytes).toBe(AWS.byteLength + Buffer.byteLength(GCP_TEXT) + Buffer.byteLength(CLOUDFLARE));
    expect(first.meta).toEqual([{ authorization: `Bearer ${TOKEN}`, status: 200 }]);

    // The PR is still open: a quiet run leaves it as it is ("unchanged since" is a citation detail).
    const quiet = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.map((t) => [t.id, t.status])).toEqual(TARGETS.map((id) => [id, 'ok']));
      expect(report.targets.flatMap((t) => t.warnings)).toEqual([]);
      expect(report.pullRequest).toMatchObject({ action: 'unchanged', number: 1 });
    });
    expect(quiet.bytes).toBe(0);
    expect(quiet.requests.map((r) => r.path).sort()).toEqual([...DOCUMENT_PATHS].sort());
    expect(quiet.requests.every((r) => typeof r.headers['if-none-match'] === 'string')).toBe(true);
    // The token still goes with the conditional request (GitHub does not count an authenticated 304 against the limit).
    expect(quiet.meta).toEqual([{ authorization: `Bearer ${TOKEN}`, status: 304 }]);
    for (const id of TARGETS) expect(await evidenceOf(id)).toMatchObject({ unchangedSince: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) });
    expect(h.github.pullRequest(1).body).not.toContain('unchanged since');
    h.github.mergePullRequest(1);

    // Three lists change; each is read in full, and the unchanged AWS file is not.
    const grownText = `${CLOUDFLARE}\n45.64.64.0/22\n`;
    const grownJson = JSON.stringify({ ...GCP, prefixes: [...GCP.prefixes, { ipv4Prefix: '35.206.128.0/18', scope: 'europe-west1' }] });
    h.serve(TEXT_PATH, grownText, 'text/plain');
    h.serve(GCP_PATH, grownJson, 'application/json');
    h.github.metaDocument = { ...META, hooks: [...(META.hooks as string[]), '4.208.26.197/32'] };
    const changed = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.map((t) => [t.id, t.status, t.added])).toEqual([
        ['aws', 'ok', []],
        ['github', 'ok', ['4.208.26.197/32']],
        ['gcp', 'ok', ['35.206.128.0/18']],
        ['cloudflare', 'ok', ['45.64.64.0/22']],
      ]);
    });
    expect(changed.bytes).toBe(Buffer.byteLength(grownText) + Buffer.byteLength(grownJson));
    expect(changed.meta.map((read) => read.status)).toEqual([200]);
    expect(await evidenceOf('cloudflare')).not.toHaveProperty('unchangedSince');
    expect(await evidenceOf('aws')).toHaveProperty('unchangedSince');

    // A wider selection over an unchanged file: a 304, and the cached copy is parsed again (the stale rule holds: same syncToken).
    const aws = (await h.state()).targets.get('aws')!.observation!.entries.length;
    const config: Config = {
      ...h.config,
      targets: h.config.targets.map((t) => (t.id === 'aws' ? { ...t, regions: ['eu-west-1', 'eu-north-1'] } : t)),
    };
    const widened = await measured(async () => {
      const { report } = await h.run({ documents, config });
      expect(report.targets.find((t) => t.id === 'aws')).toMatchObject({ status: 'ok', errors: [] });
    });
    expect(widened.bytes).toBe(0);
    expect((await h.state()).targets.get('aws')!.observation!.entries.length).toBeGreaterThan(aws);

    // Without the cache (before issue 25) every run downloads every body.
    const uncached = await measured(() => h.run());
    expect(uncached.bytes).toBe(AWS.byteLength + Buffer.byteLength(grownText) + Buffer.byteLength(grownJson));
    expect(uncached.meta.map((read) => read.status)).toEqual([200]);
  }, 120_000);
});
