import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig, type ConfigInput } from '../shared/config.js';
import { runCheck } from '../shared/engine/check.js';
import type { DocumentCache } from '../shared/net/document-cache.js';
import { openDocumentCache } from '../shared/state/blob-document-cache.js';
import type { EmbeddedAzurite } from '../shared/state/embedded-azurite.js';
import { StateStore } from '../shared/state/store.js';
import { startDnsPeer } from '../test/peers/dns.js';
import { routes, startHttpPeer, type Route } from '../test/peers/http.js';
import type { Row } from './table.js';

/**
 * Issue 25, "fetch only what changed": bytes of document bodies a quiet run downloads (a second run against unchanged
 * documents), with the document cache in Azurite's blob service and without it (before the cache, every run
 * downloaded every body). The targets are the sample config's HTTP ones plus one target of each other type that reads
 * a document (ODC, aws-ip-ranges, github-meta, m365, json, text), each served by a peer that honours validators (ETag
 * and Last-Modified) with a real document, or a sample in the provider's published format, from test/fixtures/.
 */

type TargetInput = ConfigInput['targets'][number];

/** A document the peer serves. */
export interface QuietRunDocument {
  /** Where the peer serves the document; targets may share one. */
  readonly path: string;
  /** Under test/: a real document in the provider's published format. */
  readonly fixture: string;
  readonly contentType: string;
}

/** One document of the figure and the target that reads it. A new source type adds one entry to QUIET_RUN_TARGETS. */
export interface QuietRunTarget extends QuietRunDocument {
  /** Further documents the target reads (m365's version method). */
  readonly more?: readonly QuietRunDocument[];
  /** `url`: the document's; `base`: the peer's, for a target configured with its service's root. */
  readonly target: (url: string, base: string) => TargetInput;
}

export const QUIET_RUN_TARGETS: readonly QuietRunTarget[] = [
  {
    path: '/cas.md',
    fixture: 'fixtures/cas/network-requirements_2024-06-20.md',
    contentType: 'text/plain; charset=utf-8',
    target: (url) => ({ id: 'cas-connectors', type: 'cas-docs', url, dataCenters: ['US1', 'EU1'], sections: ['app-connector'] }),
  },
  {
    path: '/cas.md',
    fixture: 'fixtures/cas/network-requirements_2024-06-20.md',
    contentType: 'text/plain; charset=utf-8',
    target: (url) => ({ id: 'cas-mail', type: 'cas-docs', url, dataCenters: '*', sections: ['mail'] }),
  },
  {
    path: '/ServiceTags_Public.json',
    fixture: 'fixtures/service-tags/ServiceTags_Public_2025-11-07.json',
    contentType: 'application/json',
    target: (url) => ({ id: 'cas-service-tag', type: 'service-tags', url, tags: ['MicrosoftCloudAppSecurity'] }),
  },
  {
    path: '/odc.md',
    fixture: 'fixtures/odc/odc-public-ips_2025-12-22.md',
    contentType: 'text/plain; charset=utf-8',
    target: (url) => ({ id: 'odc-runtime', type: 'odc', url, regions: '*', stages: ['production'], purposes: ['runtime'] }),
  },
  {
    path: '/ip-ranges.json',
    fixture: 'fixtures/aws/ip-ranges_2021-01-13.json',
    contentType: 'application/json',
    target: (url) => ({ id: 'aws-ec2', type: 'aws-ip-ranges', url, services: ['EC2'], regions: ['eu-west-1'] }),
  },
  {
    // Served by the HTTP peer, not the GitHub one: no credentials here, the same conditional request.
    path: '/meta',
    fixture: 'fixtures/github-meta/meta_sample.json',
    contentType: 'application/json',
    target: (url) => ({ id: 'github-hooks', type: 'github-meta', url, keys: ['hooks'] }),
  },
  {
    // The version method is asked at most once an hour (m365's own gate), so a quiet run asks neither method.
    path: '/m365/endpoints/Worldwide',
    fixture: 'fixtures/m365/endpoints_Worldwide_sample.json',
    contentType: 'application/json',
    more: [{ path: '/m365/version/Worldwide', fixture: 'fixtures/m365/version_Worldwide_sample.json', contentType: 'application/json' }],
    target: (_url, base) => ({ id: 'm365-common', type: 'm365', url: `${base}/m365`, serviceAreas: ['Common'], categories: ['Allow'] }),
  },
  {
    path: '/ipranges/cloud.json',
    fixture: 'fixtures/recipes/google-cloud.json',
    contentType: 'application/json',
    target: (url) => ({ id: 'gcp-europe', type: 'json', url, select: "prefixes[?scope=='europe-west1'].[ipv4Prefix || ipv6Prefix]" }),
  },
  {
    path: '/ips-v4',
    fixture: 'fixtures/recipes/cloudflare-ips-v4.txt',
    contentType: 'text/plain; charset=utf-8',
    target: (url) => ({ id: 'cloudflare-v4', type: 'text', url }),
  },
];

export async function quietRun(azurite: EmbeddedAzurite, root: string): Promise<Row[]> {
  const served: Record<string, Route> = {};
  for (const { path, fixture, contentType } of QUIET_RUN_TARGETS.flatMap((target) => [target, ...(target.more ?? [])])) {
    served[path] = { body: readFileSync(resolve(root, 'test', fixture)), contentType };
  }
  const [http, dns] = await Promise.all([
    startHttpPeer(routes(served)),
    startDnsPeer({
      'acme-fe1.bench.example': { kind: 'answer', a: ['52.16.1.10'] },
      'acme-fe2.bench.example': { kind: 'answer', a: ['52.16.2.20'] },
    }),
  ]);
  try {
    const config = parseConfig({
      name: 'quiet',
      targets: [
        { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acme-fe1.bench.example', 'acme-fe2.bench.example'] },
        ...QUIET_RUN_TARGETS.map(({ path, target }) => target(`${http.url}${path}`, http.url)),
        { id: 'partners', type: 'static', entries: ['52.16.9.0/28'] },
      ],
      dns: { servers: [dns.server], tries: 1, stabilityQueries: 1 },
      http: { timeoutMs: 60_000 },
      // Cloudflare's /13s, Google's /14 and GitHub's /29 are broader than the default limits; the figure is about fetching.
      policy: { minPrefixLength: { ipv4: 8, ipv6: 16 } },
    });
    /** Body bytes of a first run and of the quiet run after it, on a fresh state table. */
    const twoRuns = async (documents: DocumentCache | undefined) => {
      const store = StateStore.fromSetting(azurite.connectionString, { tableName: `benchquiet${randomBytes(4).toString('hex')}` });
      await store.ensureTable();
      const run = async () => {
        const before = http.bodyBytes();
        const report = await runCheck({ config, store, env: {}, trigger: 'cli', dryRun: false, ...(documents ? { documents } : {}) });
        const failed = report.targets.filter((target) => target.status !== 'ok');
        if (failed.length > 0) throw new Error(`the quiet-run bench expected every target ok: ${failed.map((t) => t.id).join(', ')}`);
        return http.bodyBytes() - before;
      };
      return { first: await run(), quiet: await run() };
    };
    const cached = await twoRuns(openDocumentCache(azurite.connectionString, { container: `bench-${randomBytes(4).toString('hex')}` }));
    const uncached = await twoRuns(undefined);
    return [
      {
        figure: '10. quiet run: document body bytes downloaded',
        ours: cached.quiet,
        anchor: uncached.quiet,
        anchorName: 'the same run without the document cache',
        unit: 'bytes',
        goal: '0',
        note: `${QUIET_RUN_TARGETS.length} HTTP targets; the first run downloaded ${cached.first} bytes`,
      },
    ];
  } finally {
    await Promise.all([http.close(), dns.close()]);
  }
}
