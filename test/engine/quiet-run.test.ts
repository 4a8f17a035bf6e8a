import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { DocumentCache } from '../../shared/net/document-cache.js';
import { openDocumentCache } from '../../shared/state/blob-document-cache.js';
import { sharedFile } from '../peers/http.js';
import { CAS_PATH, TAGS_PATH, startHarness, type Harness } from './harness.js';

/**
 * Issue 25, "fetch only what changed": a config like the sample (OutSystems, two CAS targets on one page, the
 * service-tags file, static entries) plus an ODC target, with the document cache in Azurite's blob service. A second
 * run against unchanged documents downloads no body; a changed document is read in full, the others are not.
 */

const ODC_PATH = '/odc-public-ips.md';
const CAS_PAGE = sharedFile('fixtures/cas/network-requirements_2024-06-20.md');
const ODC_PAGE = sharedFile('fixtures/odc/odc-public-ips_2025-12-22.md');
const TAGS_FILE = sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json');
const DOCUMENT_PATHS = [CAS_PATH, TAGS_PATH, ODC_PATH];

let h: Harness;

afterEach(async () => {
  expect(h.github.violations).toEqual([]);
  await h.close();
});

async function sampleLike(): Promise<Harness> {
  const harness = await startHarness({
    config: (defaults, { http }) => ({
      ...defaults,
      // Every run asks: this scenario is about conditional requests (the reuse window: test/net/reuse-window.test.ts).
      http: { timeoutMs: 30_000, reuseWithinSeconds: 0 },
      targets: [
        defaults.targets[0]!,
        { id: 'cas-connectors', type: 'cas-docs', url: `${http.url}${CAS_PATH}`, dataCenters: ['US1', 'EU1'], sections: ['app-connector'] },
        { id: 'cas-mail', type: 'cas-docs', url: `${http.url}${CAS_PATH}`, dataCenters: '*', sections: ['mail'] },
        { id: 'cas-service-tag', type: 'service-tags', url: `${http.url}${TAGS_PATH}`, tags: ['MicrosoftCloudAppSecurity'] },
        { id: 'odc-eu', type: 'odc', url: `${http.url}${ODC_PATH}`, regions: '*', stages: ['production'], purposes: ['runtime'] },
        { id: 'partners', type: 'static', entries: ['52.16.9.0/28'] },
      ],
      files: [
        { path: 'edl/outsystems.txt', format: 'plain', targets: ['acme-prod'] },
        { path: 'allowlists/cas.json', format: 'json', targets: ['cas-connectors', 'cas-mail', 'cas-service-tag', 'odc-eu'] },
        {
          path: 'terraform/allowlist.auto.tfvars.json',
          format: 'tfvars-json',
          variable: 'partner_cidrs',
          targets: ['acme-prod', 'partners'],
        },
      ],
    }),
  });
  harness.serve(TAGS_PATH, TAGS_FILE, 'application/json');
  harness.serve(ODC_PATH, ODC_PAGE, 'text/plain; charset=utf-8');
  return harness;
}

function blobCache(): DocumentCache {
  return openDocumentCache(inject('azuriteConnectionString'), { container: `quiet-${randomBytes(4).toString('hex')}` });
}

/** Body bytes the HTTP peer served during `run`, and the document paths it was asked for. */
async function measured(run: () => Promise<unknown>): Promise<{ bytes: number; asked: string[] }> {
  const bytes = h.http.bodyBytes();
  const from = h.http.requests.length;
  await run();
  return { bytes: h.http.bodyBytes() - bytes, asked: [...new Set(h.http.requests.slice(from).map((r) => r.path))].sort() };
}

describe('engine: a quiet run downloads no document body', () => {
  it('the second run of the sample-like config gets 304s for every document; a changed page is read in full', async () => {
    h = await sampleLike();
    const documents = blobCache();
    const first = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.map((t) => [t.id, t.status])).toEqual([
        ['acme-prod', 'ok'],
        ['cas-connectors', 'ok'],
        ['cas-mail', 'ok'],
        ['cas-service-tag', 'ok'],
        ['odc-eu', 'ok'],
        ['partners', 'ok'],
      ]);
      expect(report.pullRequest).toMatchObject({ action: 'created', number: 1 });
    });
    // Both CAS targets read the page; each download is whole.
    expect(first.bytes).toBeGreaterThanOrEqual(CAS_PAGE.byteLength + TAGS_FILE.byteLength + ODC_PAGE.byteLength);

    // The PR is still open: a quiet run leaves it as it is ("unchanged since" is a citation detail, outside its fingerprint).
    const quiet = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.every((t) => t.status === 'ok')).toBe(true);
      expect(report.targets.flatMap((t) => t.warnings)).toEqual([]);
      expect(report.pullRequest.action).toBe('unchanged');
      expect(report.pullRequest).toMatchObject({ number: 1 });
    });
    expect(quiet.asked).toEqual([...DOCUMENT_PATHS].sort());
    expect(quiet.bytes).toBe(0);
    // What a reviewer reads: the evidence of a 304 says since when the document is unchanged.
    const stored = await h.state();
    const casEvidence = stored.targets.get('cas-mail')!.observation!.entries[0]!.evidence[0]!;
    expect(casEvidence).toMatchObject({ kind: 'cas', unchangedSince: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) });
    const tagEvidence = stored.targets.get('cas-service-tag')!.observation!.entries[0]!.evidence[0]!;
    expect(tagEvidence).toMatchObject({ kind: 'service-tag', unchangedSince: expect.any(String) });
    h.github.mergePullRequest(1);

    // An edit that moves no address: the page is downloaded again in full, the other documents are not.
    const edited = Buffer.concat([CAS_PAGE, Buffer.from('\n<!-- edited -->\n')]);
    h.serveCasPage(edited.toString('utf8'));
    const changed = await measured(async () => {
      const { report } = await h.run({ documents });
      expect(report.targets.every((t) => t.status === 'ok')).toBe(true);
    });
    // Both CAS targets were 200s (they ran side by side, neither had the new copy yet); the tags file and ODC page 304s.
    expect(changed.bytes).toBe(2 * edited.byteLength);
    const after = (await h.state()).targets.get('cas-mail')!.observation!.entries[0]!.evidence[0]!;
    expect(after).not.toHaveProperty('unchangedSince');

    // Without the cache (today's behaviour) every run downloads every body.
    const uncached = await measured(() => h.run());
    expect(uncached.bytes).toBe(2 * edited.byteLength + TAGS_FILE.byteLength + ODC_PAGE.byteLength);
  }, 120_000);
});
