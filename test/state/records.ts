import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { inject } from 'vitest';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import type { ObservedEntry } from '../../shared/sources/source.js';
import type { ConfigRecord, StoredObservation, TargetRecord } from '../../shared/state/records.js';
import { StateStore } from '../../shared/state/store.js';
import { sharedFile } from '../peers/http.js';

/** A table of its own for each test, so tests never see each other's rows. */
export function uniqueTableName(): string {
  return `state${randomUUID().replaceAll('-', '').slice(0, 20)}`;
}

export async function freshStore(options: { now?: () => Date } = {}): Promise<{ store: StateStore; tableName: string; raw: TableClient }> {
  const connectionString = inject('azuriteConnectionString');
  const tableName = uniqueTableName();
  const store = StateStore.fromSetting(connectionString, { tableName, ...options });
  await store.ensureTable();
  const raw = TableClient.fromConnectionString(connectionString, tableName, { allowInsecureConnection: true });
  return { store, tableName, raw };
}

export function emptyTarget(targetId: string): TargetRecord {
  return { targetId, baseline: null, misses: {}, firstSeen: {}, lastErrors: [], lastWarnings: [], verdicts: [] };
}

export function emptyConfig(configName: string): ConfigRecord {
  return { configName, declined: [] };
}

function observation(entries: ObservedEntry[], observedAt: string, facts?: Record<string, string | number>): StoredObservation {
  return { observedAt, status: 'ok', entries, warnings: [], errors: [], ...(facts ? { facts } : {}) };
}

export function typicalTarget(targetId: string): TargetRecord {
  const at = '2025-11-07T10:00:00.000Z';
  const entries: ObservedEntry[] = [
    {
      cidr: parseCidr('20.50.1.10'),
      evidence: [{ kind: 'dns', hostname: 'prodfe1.outsystemsenterprise.com', recordType: 'A', ttl: 300, resolver: '127.0.0.1:5353', at }],
    },
    {
      cidr: parseCidr('2603:1020::/48'),
      evidence: [
        { kind: 'cas', section: 'proxy', dataCenter: 'west-europe', heading: 'Access and session controls', revision: '06/20/2024' },
      ],
    },
    { cidr: parseCidr('192.0.2.0/24'), evidence: [{ kind: 'static' }] },
  ];
  const failed: StoredObservation = {
    observedAt: '2025-11-07T11:00:00.000Z',
    status: 'error',
    entries: [],
    warnings: [{ code: 'dns-ttl-low', message: 'TTL below 60 s' }],
    errors: [{ code: 'dns-timeout', message: 'prodfe1.outsystemsenterprise.com did not answer' }],
  };
  return {
    targetId,
    baseline: [parseCidr('20.50.1.10'), parseCidr('20.50.1.11')],
    baselineAt: '2025-11-01T00:00:00.000Z',
    observation: failed,
    lastGood: observation(entries, at, { fileChangeNumber: 274, source: 'dns' }),
    proposed: [parseCidr('20.50.1.10')],
    misses: { '20.50.1.11/32': 2 },
    firstSeen: { '20.50.1.10/32': '2025-10-01T00:00:00.000Z' },
    lastCheckAt: '2025-11-07T11:00:00.000Z',
    lastStatus: 'error',
    lastErrors: [{ code: 'dns-timeout', message: 'prodfe1.outsystemsenterprise.com did not answer' }],
    lastWarnings: [],
    verdicts: [{ guard: 'mass-removal', outcome: 'pass', message: '1 of 2 ranges removed' }],
  };
}

interface ServiceTagsFile {
  changeNumber: number;
  values: Array<{ name: string; properties: { changeNumber: number; addressPrefixes: string[] } }>;
}

/** The global MicrosoftCloudAppSecurity tag of the real weekly file, with service-tag evidence on every entry. */
export function cloudAppSecurityTarget(targetId: string): TargetRecord {
  const file = JSON.parse(sharedFile('fixtures/service-tags/ServiceTags_Public_2025-11-07.json').toString('utf8')) as ServiceTagsFile;
  const tag = file.values.find((value) => value.name === 'MicrosoftCloudAppSecurity');
  if (!tag) throw new Error('the fixture has no MicrosoftCloudAppSecurity tag');
  const cidrs = [...new Set(tag.properties.addressPrefixes.map(parseCidr))];
  const entries: ObservedEntry[] = cidrs.map((cidr) => ({
    cidr,
    evidence: [{ kind: 'service-tag', tag: tag.name, tagChangeNumber: tag.properties.changeNumber, fileChangeNumber: file.changeNumber }],
  }));
  const at = '2025-11-07T10:00:00.000Z';
  const seen = observation(entries, at, { fileChangeNumber: file.changeNumber });
  return {
    ...emptyTarget(targetId),
    baseline: cidrs,
    baselineAt: at,
    observation: seen,
    lastGood: seen,
    firstSeen: Object.fromEntries(cidrs.map((cidr) => [cidr, at])),
    lastCheckAt: at,
    lastStatus: 'ok',
  };
}

/** Deterministic, so a failure can be reproduced. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NON_PUBLIC_FIRST_OCTETS = new Set([0, 10, 100, 127, 169, 172, 192, 198, 203]);

export function randomPublicHosts(count: number, seed: number): Cidr[] {
  const random = mulberry32(seed);
  const cidrs = new Set<Cidr>();
  while (cidrs.size < count) {
    const first = 1 + Math.floor(random() * 223);
    if (NON_PUBLIC_FIRST_OCTETS.has(first)) continue;
    const rest = [0, 0, 0].map(() => Math.floor(random() * 256));
    cidrs.add(parseCidr(`${first}.${rest.join('.')}`));
  }
  return [...cidrs];
}

export function dnsTarget(targetId: string, cidrs: Cidr[]): TargetRecord {
  const at = '2025-11-07T10:00:00.000Z';
  const entries: ObservedEntry[] = cidrs.map((cidr, index) => ({
    cidr,
    evidence: [
      {
        kind: 'dns',
        hostname: `fe${index % 40}.outsystemsenterprise.com`,
        recordType: cidr.includes(':') ? 'AAAA' : 'A',
        ttl: 60 + (index % 240),
        resolver: '127.0.0.1:5353',
        at,
      },
    ],
  }));
  const seen = observation(entries, at);
  return {
    ...emptyTarget(targetId),
    baseline: cidrs,
    baselineAt: at,
    observation: seen,
    lastGood: seen,
    firstSeen: Object.fromEntries(cidrs.map((cidr) => [cidr, at])),
    lastStatus: 'ok',
  };
}

/** A record as read back compares equal to what was written, apart from the ETag the store adds. */
export function withoutEtag<T extends { etag?: string }>(record: T | undefined): Omit<T, 'etag'> | undefined {
  if (!record) return undefined;
  const { etag: _etag, ...rest } = record;
  return rest;
}
