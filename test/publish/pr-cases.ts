import { parseConfig, type CasDocsTarget, type Config, type ServiceTagsTarget, type Target } from '../../shared/config.js';
import { computeDrift, type TargetDrift } from '../../shared/drift/drift.js';
import { aggregate, parseCidr } from '../../shared/ipset.js';
import type { Problem } from '../../shared/problem.js';
import type { PullRequestInput } from '../../shared/publish/pr-text.js';
import { selectCasEntries } from '../../shared/sources/cas-docs/index.js';
import { parseCasPage } from '../../shared/sources/cas-docs/page.js';
import { extractServiceTags, readingOf, summariseServiceTags } from '../../shared/sources/service-tags/index.js';
import type { EntryEvidence, Observation } from '../../shared/sources/source.js';
import type { TargetRecord } from '../../shared/state/records.js';

/**
 * The pull requests of issue 13's golden files, built from what the sources make of the real upstream documents
 * (the CAS page, the ServiceTags file) and from records the drift engine wrote in earlier checks. Shared with the
 * bench, which reports the body sizes; the documents are passed in, since the bench and the tests find them differently.
 */
export interface UpstreamTexts {
  /** fixtures/cas/network-requirements_2024-06-20.md (page revision 2024-02-29). */
  readonly casPage: string;
  /** fixtures/service-tags/ServiceTags_Public_2025-11-07.json. */
  readonly serviceTags: string;
}

export const CAS_PAGE_URL =
  'https://raw.githubusercontent.com/MicrosoftDocs/defender-docs/public/CloudAppSecurityDocs/network-requirements.md';
export const SERVICE_TAGS_URL =
  'https://download.microsoft.com/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/ServiceTags_Public_20251103.json';
export const NOW = '2025-11-07T10:00:00.000Z';
export const RESOLVER = '168.63.129.16:53';
const RUN = { runId: 'run-7f3a', configFingerprint: 'c0ffee1234567890', checkedAt: NOW } as const;

// --- observations as the sources make them ------------------------------------------------------------------------

/** A front-end's A answer, as the OutSystems source records it. */
export function frontEnd(name: string, address: string, at = NOW, ttl = 300): readonly [string, EntryEvidence] {
  return [address, { kind: 'dns', hostname: `${name}.outsystemsenterprise.com`, recordType: 'A', ttl, resolver: RESOLVER, at }];
}

export function outsystems(
  target: Target,
  answers: ReadonlyArray<readonly [string, EntryEvidence]>,
  at = NOW,
  warnings: Problem[] = [],
): Observation {
  return {
    targetId: target.id,
    type: target.type,
    observedAt: at,
    status: 'ok',
    entries: answers.map(([cidr, evidence]) => ({ cidr: parseCidr(cidr), evidence: [evidence] })),
    warnings,
    errors: [],
  };
}

/** The CAS source's observation of the page (observeCasDocs without the fetch). */
export function cas(target: Target, page: string, at = NOW): Observation {
  const selection = selectCasEntries(parseCasPage(page), target as CasDocsTarget);
  const partial = selection.incomplete || selection.unknownScopes.length > 0;
  return {
    targetId: target.id,
    type: target.type,
    observedAt: at,
    status: partial ? 'partial' : 'ok',
    entries: selection.entries,
    warnings: selection.warnings,
    errors: [],
    ...(partial && !selection.incomplete ? { unknownScopes: selection.unknownScopes } : {}),
  };
}

/** The service-tags source's observation of the file (observeServiceTags without the fetch). */
export function serviceTags(target: Target, file: string, at = NOW): Observation {
  const { tags, url } = target as ServiceTagsTarget;
  const summary = summariseServiceTags(tags, extractServiceTags(file, tags), {
    reading: readingOf(target as ServiceTagsTarget, new Date(at)),
    from: { ...(url ? { url } : {}) },
  });
  return { targetId: target.id, type: target.type, observedAt: at, ...summary };
}

// --- drift over a record the engine wrote ---------------------------------------------------------------------------

function drift(config: Config, observation: Observation, record?: TargetRecord, now = observation.observedAt): TargetDrift {
  const target = config.targets.find((t) => t.id === observation.targetId)!;
  return computeDrift({ target, observation, record, policy: config.policy, now });
}

/** The record after a PR proposing this drift was merged: its proposal is the approved baseline. */
function merged(done: TargetDrift, at: string): TargetRecord {
  return { ...done.nextRecord, baseline: done.proposed, baselineAt: at };
}

/** A plain rule file, one range a line, before (null: new) and after this PR. */
function plainFile(path: string, before: readonly string[] | null, after: readonly string[]) {
  const lines = (cidrs: readonly string[]) => cidrs.map((cidr) => `${cidr}\n`).join('');
  return { path, before: before === null ? null : lines(before), after: lines(after) };
}

const byId = (config: Config) => (id: string) => config.targets.find((t) => t.id === id)!;

// --- the cases ------------------------------------------------------------------------------------------------------

/** Issue 13's example: two OutSystems front-ends and the US1 app-connector row of the CAS page, first run. */
export function firstRunInput(texts: Pick<UpstreamTexts, 'casPage'>): PullRequestInput {
  const config = parseConfig({
    name: 'prod',
    targets: [
      { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] },
      { id: 'cas-us1', type: 'cas-docs', url: CAS_PAGE_URL, dataCenters: ['US1'], sections: ['app-connector'] },
    ],
  });
  const target = byId(config);
  const drifts = [
    drift(config, outsystems(target('outsystems-prod'), [frontEnd('acmefe1', '52.17.1.11'), frontEnd('acmefe2', '52.17.1.12')])),
    drift(config, cas(target('cas-us1'), texts.casPage)),
  ];
  return {
    configName: 'prod',
    ...RUN,
    drifts,
    files: [
      plainFile('firewall/outsystems.txt', null, drifts[0]!.proposed),
      { path: 'firewall/cas.json', before: null, after: `${JSON.stringify(drifts[1]!.proposed, null, 2)}\n` },
    ],
  };
}

/** A first PR over all three kinds of source: two front-ends, the CAS portal and SIEM rows for EU1, one regional tag. */
export function firstPrThreeSourcesInput(texts: UpstreamTexts): PullRequestInput {
  const config = parseConfig({
    name: 'prod',
    targets: [
      { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] },
      { id: 'cas-eu1', type: 'cas-docs', url: CAS_PAGE_URL, dataCenters: ['EU1'], sections: ['portal', 'siem'] },
      { id: 'mcas-gwc', type: 'service-tags', url: SERVICE_TAGS_URL, tags: ['MicrosoftCloudAppSecurity.GermanyWestCentral'] },
    ],
  });
  const target = byId(config);
  const drifts = [
    drift(config, outsystems(target('outsystems-prod'), [frontEnd('acmefe1', '52.17.1.11'), frontEnd('acmefe2', '52.17.1.12')])),
    drift(config, cas(target('cas-eu1'), texts.casPage)),
    drift(config, serviceTags(target('mcas-gwc'), texts.serviceTags)),
  ];
  return {
    configName: 'prod',
    ...RUN,
    drifts,
    files: [plainFile('firewall/saas-allowlist.txt', null, aggregate(drifts.flatMap((d) => d.proposed)))],
  };
}

const EARLIER = '2025-10-31T10:00:00.000Z';

/** A week after the first PR was merged, LifeTime's third front-end was added to the config and now resolves. */
export function updateNewFrontEndInput(): PullRequestInput {
  const before = parseConfig({ name: 'prod', targets: [{ id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] }] });
  const config = parseConfig({
    name: 'prod',
    targets: [{ id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2', 'acmefe3'] }],
  });
  const target = config.targets[0]!;
  const first = drift(
    before,
    outsystems(target, [frontEnd('acmefe1', '52.17.1.11', EARLIER), frontEnd('acmefe2', '52.17.1.12', EARLIER)], EARLIER),
  );
  const now = drift(
    config,
    outsystems(target, [frontEnd('acmefe1', '52.17.1.11'), frontEnd('acmefe2', '52.17.1.12'), frontEnd('acmefe3', '52.17.9.3')]),
    merged(first, EARLIER),
  );
  return {
    configName: 'prod',
    ...RUN,
    drifts: [now],
    files: [plainFile('firewall/outsystems.txt', first.proposed, now.proposed)],
  };
}

/**
 * acmefe2 moved to a new address; the old one missed three complete checks in a row (the default
 * removeAfterMisses) and this check removes it. Each check is computed from the record the one before wrote.
 */
export function removalInput(): PullRequestInput {
  const config = parseConfig({ name: 'prod', targets: [{ id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] }] });
  const target = config.targets[0]!;
  const first = drift(
    config,
    outsystems(target, [frontEnd('acmefe1', '52.17.1.11', EARLIER), frontEnd('acmefe2', '52.17.1.12', EARLIER)], EARLIER),
  );
  let record = merged(first, EARLIER);
  let latest = first;
  for (const at of ['2025-11-05T10:00:00.000Z', '2025-11-06T10:00:00.000Z', NOW]) {
    latest = drift(config, outsystems(target, [frontEnd('acmefe1', '52.17.1.11', at), frontEnd('acmefe2', '52.17.2.40', at)], at), record);
    // Unmerged proposals stay proposals: the baseline is still the first PR's, until this one is merged.
    record = latest.nextRecord;
  }
  return {
    configName: 'prod',
    ...RUN,
    drifts: [latest],
    files: [plainFile('firewall/outsystems.txt', first.proposed, latest.proposed)],
  };
}

/**
 * Two targets a reviewer must look at first: a service-tags target whose second tag is not in the file (partial:
 * the tag that is there is applied, the missing one's addresses are kept) and a front-end that suddenly answers
 * with private space (held by the special-range guard: not in this PR).
 */
export function partialAndHeldInput(texts: UpstreamTexts): PullRequestInput {
  const config = parseConfig({
    name: 'prod',
    targets: [
      { id: 'outsystems-prod', type: 'outsystems', frontEnds: ['acmefe1', 'acmefe2'] },
      {
        id: 'mcas-eu',
        type: 'service-tags',
        url: SERVICE_TAGS_URL,
        tags: ['MicrosoftCloudAppSecurity.GermanyWestCentral', 'MicrosoftCloudAppSecurity.SwitzerlandNorth'],
      },
    ],
  });
  const target = byId(config);
  const fe = target('outsystems-prod');
  const first = drift(
    config,
    outsystems(fe, [frontEnd('acmefe1', '52.17.1.11', EARLIER), frontEnd('acmefe2', '52.17.1.12', EARLIER)], EARLIER),
  );
  const held = drift(config, outsystems(fe, [frontEnd('acmefe1', '52.17.1.11'), frontEnd('acmefe2', '10.40.3.7')]), merged(first, EARLIER));
  const partial = drift(config, serviceTags(target('mcas-eu'), texts.serviceTags));
  return {
    configName: 'prod',
    ...RUN,
    drifts: [held, partial],
    files: [plainFile('firewall/mcas.txt', null, partial.proposed)],
  };
}

/**
 * The largest realistic first PR: every section and data center of the newest real CAS page, the global
 * MicrosoftCloudAppSecurity tag (2,302 prefixes) and five front-ends.
 */
export function largestFirstPrInput(texts: UpstreamTexts): PullRequestInput {
  const names = ['acmefe1', 'acmefe2', 'acmefe3', 'acmefe4', 'acmefe5'];
  const config = parseConfig({
    name: 'prod',
    targets: [
      { id: 'outsystems-prod', type: 'outsystems', frontEnds: names },
      { id: 'cas-all', type: 'cas-docs', url: CAS_PAGE_URL, dataCenters: '*', sections: '*' },
      { id: 'mcas', type: 'service-tags', url: SERVICE_TAGS_URL, tags: ['MicrosoftCloudAppSecurity'] },
    ],
  });
  const target = byId(config);
  const drifts = [
    drift(
      config,
      outsystems(
        target('outsystems-prod'),
        names.map((name, index) => frontEnd(name, `52.17.1.${11 + index}`)),
      ),
    ),
    drift(config, cas(target('cas-all'), texts.casPage)),
    drift(config, serviceTags(target('mcas'), texts.serviceTags)),
  ];
  return {
    configName: 'prod',
    ...RUN,
    drifts,
    files: [plainFile('firewall/saas-allowlist.txt', null, aggregate(drifts.flatMap((d) => d.proposed)))],
  };
}
