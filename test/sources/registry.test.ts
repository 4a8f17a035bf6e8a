import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.js';
import {
  citeEvidence,
  describeEvidence,
  EVIDENCE_SCHEMAS,
  SOURCES,
  TARGET_TYPES,
  type EntryEvidence,
} from '../../shared/sources/registry.js';

const SOURCES_DIR = join(import.meta.dirname, '../../shared/sources');
const IMPORT = /^import\s(?:type\s)?[^;]*?from\s'([^']+)';/gms;
const importsOf = (path: string) => [...readFileSync(path, 'utf8').matchAll(IMPORT)].map((match) => match[1]!);

describe('source registry', () => {
  it('has one folder with schema.ts and index.ts per registered type, and no folder it does not register', () => {
    const folders = readdirSync(SOURCES_DIR, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.sort()).toEqual([...TARGET_TYPES].sort());
    for (const type of TARGET_TYPES) {
      expect(readdirSync(join(SOURCES_DIR, type))).toEqual(expect.arrayContaining(['index.ts', 'schema.ts']));
    }
  });

  it('keeps schema.ts light: validating a config loads no source behaviour (zod, schema-kit and the CIDR parser only)', () => {
    const light = new Set(['zod', '../../schema-kit.js', '../../ipset.js', '../source.js']);
    for (const type of TARGET_TYPES) {
      const heavy = importsOf(join(SOURCES_DIR, type, 'schema.ts')).filter((specifier) => !light.has(specifier));
      expect(heavy, `${type}/schema.ts imports`).toEqual([]);
    }
    // The registry reaches behaviour only through import() on first use.
    expect(importsOf(join(SOURCES_DIR, 'registry.ts')).filter((specifier) => specifier.endsWith('/index.js'))).toEqual([]);
  });

  it('gives every evidence kind exactly one source, which describes it', () => {
    const kinds = EVIDENCE_SCHEMAS.map((schema) => schema.shape.kind.value);
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const kind of kinds) {
      const owners = TARGET_TYPES.filter((type) => SOURCES[type].evidence.some((schema) => schema.shape.kind.value === kind));
      expect(owners, kind).toHaveLength(1);
    }
    const samples: EntryEvidence[] = [
      { kind: 'dns', hostname: 'fe1.example.com', recordType: 'A', ttl: 60, resolver: '127.0.0.1:53', at: '2026-01-01T00:00:00.000Z' },
      { kind: 'vpn' },
      { kind: 'cas', section: 'mail', dataCenter: 'global', heading: 'Mail server' },
      { kind: 'service-tag', tag: 'MicrosoftCloudAppSecurity', tagChangeNumber: 3, fileChangeNumber: 400 },
      {
        kind: 'odc',
        purpose: 'runtime',
        region: 'europe-frankfurt',
        stage: 'production',
        heading: 'ODC public runtime IP addresses > Europe (Frankfurt) > Production',
        revision: 'sha256:0123456789abcdef',
      },
      { kind: 'github-meta', key: 'hooks', revision: 'sha256:0123456789abcdef' },
      {
        kind: 'm365',
        instance: 'Worldwide',
        version: '2025110700',
        endpointSetId: '56',
        serviceArea: 'Common',
        category: 'Allow',
        required: true,
        tcpPorts: '443,80',
      },
      { kind: 'static' },
      {
        kind: 'json',
        url: 'https://www.gstatic.com/ipranges/cloud.json',
        select: "prefixes[?scope=='europe-west1'].[ipv4Prefix || ipv6Prefix]",
      },
      { kind: 'text', url: 'https://www.cloudflare.com/ips-v4' },
      {
        kind: 'aws-ip-range',
        service: 'EC2',
        region: 'us-west-2',
        networkBorderGroup: 'us-west-2-lax-1',
        syncToken: '1787411825',
        createDate: '2026-08-22-15-17-05',
        url: 'https://ip-ranges.amazonaws.com/ip-ranges.json',
      },
    ];
    expect(samples.map((sample) => sample.kind).sort()).toEqual([...kinds].sort());
    for (const sample of samples) {
      expect(
        EVIDENCE_SCHEMAS.some((schema) => schema.safeParse(sample).success),
        sample.kind,
      ).toBe(true);
      expect(
        describeEvidence(sample, (text) => `<${text}>`),
        sample.kind,
      ).not.toBe('');
    }
    const dns = describeEvidence(samples[0]!, (text) => `<${text}>`);
    expect(dns).toBe('DNS A record of <fe1.example.com>, TTL <60> s, from resolver <127.0.0.1:53>');
    // The page's own caveat reaches the reviewer: shared addresses, and custom code does not leave through them.
    const odc = describeEvidence(samples[4]!, (text) => `<${text}>`);
    expect(odc).toBe(
      'ODC public IP page, runtime egress of ODC region <europe-frankfurt>, stage <production>, under “<ODC public runtime IP addresses > Europe (Frankfurt) > Production>” ' +
        '(shared by every ODC customer in that region and stage; custom code does not use them (ODC Private Gateway does)); page <sha256:0123456789abcdef>',
    );
    // An AWS address: the document's version, and its service and region (the border group when it is not the region).
    expect(describeEvidence(samples[10]!, (text) => `<${text}>`)).toBe(
      'AWS ip-ranges.json, service <EC2>, region <us-west-2>, network border group <us-west-2-lax-1>, syncToken <1787411825> (created <2026-08-22-15-17-05>)',
    );
    expect(
      citeEvidence(
        samples[10]!,
        (text) => text,
        (url, text) => `[${text}](${url})`,
      ),
    ).toEqual({
      source: '[AWS ip-ranges.json](https://ip-ranges.amazonaws.com/ip-ranges.json) syncToken 1787411825 (created 2026-08-22-15-17-05)',
      place: 'EC2, us-west-2, network border group us-west-2-lax-1',
    });
    // An ODC address is cited by purpose, region and stage; the page's caveat travels as the detail.
    expect(
      citeEvidence(
        { ...samples[4]!, url: 'https://example.com/odc.md' } as EntryEvidence,
        (text) => text,
        (url, text) => `[${text}](${url})`,
      ),
    ).toEqual({
      source: '[ODC public IP page](https://example.com/odc.md) revision sha256:0123456789abcdef',
      place: 'runtime, europe-frankfurt, production',
      detail: 'shared by every ODC customer in that region and stage; custom code does not use them (ODC Private Gateway does)',
    });
    // Cited for a PR body: the TTL is a detail, the hostname the place, the resolver's answer the source.
    const link = (url: string, text: string) => `[${text}](${url})`;
    expect(citeEvidence(samples[0]!, (text) => `<${text}>`, link)).toEqual({
      source: 'DNS A answer from resolver <127.0.0.1:53>',
      place: '<fe1.example.com>',
      detail: 'TTL <60> s',
    });
    // Evidence stored before the page's URL was recorded still cites, without a link.
    expect(citeEvidence(samples[2]!, (text) => text, link)).toEqual({ source: 'CAS page, not dated', place: 'Mail server, global' });
    // A listed address is cited by its document, and a JSON one by the expression that selected it.
    expect(citeEvidence(samples[8]!, (text) => `<${text}>`, link)).toEqual({
      source: '[JSON document](https://www.gstatic.com/ipranges/cloud.json)',
      place: "select <prefixes[?scope=='europe-west1'].[ipv4Prefix || ipv6Prefix]>",
    });
    expect(citeEvidence(samples[9]!, (text) => `<${text}>`, link)).toEqual({
      source: '[text list](https://www.cloudflare.com/ips-v4)',
      place: 'the list',
    });
    expect(
      citeEvidence({ ...samples[2]!, revision: '2024-02-29', url: 'https://example.com/page.md' } as EntryEvidence, (text) => text, link),
    ).toEqual({ source: '[CAS page](https://example.com/page.md) revision 2024-02-29', place: 'Mail server, global' });
  });

  it('validates every registered type as a config target, in registry order', () => {
    const config = parseConfig({
      targets: [
        { id: 'os', type: 'outsystems', frontEnds: ['prodfe1'] },
        { id: 'cas', type: 'cas-docs', url: 'https://example.com/page.md', dataCenters: '*', sections: '*' },
        { id: 'tags', type: 'service-tags', url: 'https://example.com/tags.json', tags: ['AzureCloud'] },
        { id: 'odc', type: 'odc', regions: ['Europe (Frankfurt)'], stages: ['Production'], purposes: ['runtime'] },
        { id: 'aws', type: 'aws-ip-ranges', services: ['EC2'], regions: '*' },
        { id: 'gh', type: 'github-meta', keys: ['hooks'] },
        { id: 'm365', type: 'm365', serviceAreas: ['Exchange'] },
        { id: 'fixed', type: 'static', entries: ['192.0.2.1'] },
        { id: 'list', type: 'json', url: 'https://example.com/ranges.json', select: 'prefixes[].ip' },
        { id: 'lines', type: 'text', url: 'https://example.com/ranges.txt' },
      ],
    });
    expect(config.targets.map((target) => target.type)).toEqual(TARGET_TYPES);
    expect(TARGET_TYPES).toEqual([
      'outsystems',
      'cas-docs',
      'service-tags',
      'odc',
      'aws-ip-ranges',
      'github-meta',
      'm365',
      'static',
      'json',
      'text',
    ]);
  });
});
