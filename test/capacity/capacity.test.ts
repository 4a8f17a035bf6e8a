import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capacityProblem, decideCapacity } from '../../shared/capacity/capacity.js';
import { countEntries } from '../../shared/capacity/count.js';
import { ConfigError, parseConfig, type Config } from '../../shared/config.js';
import { planFiles, withheldPromotion, writtenChanges } from '../../shared/engine/files.js';
import { emptyRecord, proposalFingerprint } from '../../shared/engine/proposal.js';
import { publishGate } from '../../shared/engine/reconcile.js';
import { aggregate, parseCidr, type Cidr } from '../../shared/ipset.js';
import { renderDashboard } from '../../shared/publish/dashboard.js';
import { readFileEntries } from '../../shared/render/read.js';

const cidrs = (...texts: string[]) => texts.map((text) => parseCidr(text));

/** The MicrosoftCloudAppSecurity tag of the weekly file kept in the repository: 2,302 IPv4 prefixes. */
function casPrefixes(): Cidr[] {
  const document = JSON.parse(
    readFileSync(new URL('../fixtures/service-tags/ServiceTags_Public_2025-11-07.json', import.meta.url), 'utf8'),
  ) as { values: { name: string; properties: { addressPrefixes: string[] } }[] };
  const tag = document.values.find((value) => value.name === 'MicrosoftCloudAppSecurity')!;
  return tag.properties.addressPrefixes.map((prefix) => parseCidr(prefix));
}

function config(files: Record<string, unknown>[], entries: string[] = ['52.1.1.1']): Config {
  return parseConfig({
    name: 'prod',
    targets: [{ id: 'a', type: 'static', entries }],
    files: files.map((f) => ({ targets: ['a'], ...f })),
  });
}

function configProblems(value: unknown): string[] {
  try {
    parseConfig(value);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('entries counted as the file will hold them', () => {
  it('counts the aggregated ranges per family, and every entry the config does not manage once', () => {
    const file = { format: 'plain' };
    expect(countEntries(file, cidrs('52.1.1.0/25', '52.1.1.128/25', '52.2.0.0/24', '2a01:111::/48'))).toEqual({ ipv4: 2, ipv6: 1 });
    expect(countEntries(file, cidrs('52.2.0.0/24'), [{ cidr: parseCidr('52.2.0.7') }, { cidr: parseCidr('2a01::1') }])).toEqual({
      ipv4: 2,
      ipv6: 1,
    });
  });

  it('counts every line of a template written once per address, and one per range otherwise', () => {
    expect(countEntries({ format: 'template', line: 'allow {ip};' }, cidrs('52.1.1.0/24', '52.2.2.2'))).toEqual({ ipv4: 257, ipv6: 0 });
    expect(countEntries({ format: 'template', line: 'allow {ip}/{prefix};' }, cidrs('52.1.1.0/24', '52.2.2.2'))).toEqual({
      ipv4: 2,
      ipv6: 0,
    });
  });

  it('counts the MicrosoftCloudAppSecurity tag after aggregation', () => {
    const prefixes = casPrefixes();
    expect(prefixes).toHaveLength(2_302);
    const count = countEntries({ format: 'json' }, prefixes);
    expect(count).toEqual({ ipv4: aggregate(prefixes).length, ipv6: 0 });
    expect(count.ipv4).toBeGreaterThan(60);
  });
});

describe('the capacity decision', () => {
  const sg = config([{ path: 'sg.json', format: 'json', limit: 'aws-security-group' }]).files[0]!;

  it('judges each family on its own under a per-family limit, and all entries together otherwise', () => {
    expect(decideCapacity(sg, { ipv4: 60, ipv6: 60 })).toMatchObject({ outcome: 'headroom', share: 1 });
    expect(decideCapacity(sg, { ipv4: 61, ipv6: 0 })).toMatchObject({ outcome: 'exceeded' });
    expect(decideCapacity(sg, { ipv4: 53, ipv6: 53 })).toMatchObject({ outcome: 'fits' });
    const nsg = config([{ path: 'nsg.json', format: 'json', limit: { maxEntries: 100 } }]).files[0]!;
    expect(decideCapacity(nsg, { ipv4: 60, ipv6: 41 })).toMatchObject({ outcome: 'exceeded', share: 1.01 });
  });

  it('warns at headroomWarn (0.9 unless the file says) and judges maxBytes on the rendered size', () => {
    const file = config([{ path: 'a.json', format: 'json', limit: { maxEntries: 100, maxBytes: 1_000 } }]).files[0]!;
    expect(decideCapacity(file, { ipv4: 89, ipv6: 0 })?.outcome).toBe('fits');
    expect(decideCapacity(file, { ipv4: 90, ipv6: 0 })?.outcome).toBe('headroom');
    expect(decideCapacity({ ...file, headroomWarn: 0.5 }, { ipv4: 50, ipv6: 0 })?.outcome).toBe('headroom');
    expect(decideCapacity(file, { ipv4: 1, ipv6: 0 }, 1_001)?.outcome).toBe('exceeded');
    expect(decideCapacity(file, { ipv4: 1, ipv6: 0 })?.outcome).toBe('fits');
    expect(decideCapacity(config([{ path: 'b.json', format: 'json' }]).files[0]!, { ipv4: 1e6, ipv6: 0 })).toBeUndefined();
  });

  it('names the file, the numbers, the limit and the options; an urgent address leads', () => {
    const exceeded = decideCapacity(sg, { ipv4: 1_234, ipv6: 3 })!;
    const problem = capacityProblem(exceeded)!;
    expect(problem.code).toBe('capacity-exceeded');
    expect(problem.message).toMatch(/^sg\.json is not written: it would hold 1,237 entries \(IPv4 1,234, IPv6 3\)/);
    expect(problem.message).toContain('over its limit of 60 entries per address family ("aws-security-group")');
    expect(problem.message).toMatch(/\{n\} in the path.*"fit": \{"widenTo": N\}.*larger limit/);
    const urgent = capacityProblem(exceeded, { cidrs: cidrs('52.9.9.9'), targets: ['fe'] })!;
    expect(urgent.message).toMatch(/^URGENT: a new address of fe \(52\.9\.9\.9\/32\), whose traffic is blocked until allowlisted/);
    expect(capacityProblem(decideCapacity(sg, { ipv4: 55, ipv6: 0 })!)).toMatchObject({
      code: 'capacity-headroom',
      message: expect.stringContaining('sg.json holds 55 entries (IPv4 55, IPv6 0), 91 % of its limit'),
    });
    expect(capacityProblem(decideCapacity(sg, { ipv4: 5, ipv6: 0 })!)).toBeUndefined();
  });
});

describe('planning a file over its limit', () => {
  const both = (limit: unknown) =>
    parseConfig({
      name: 'prod',
      targets: [
        { id: 'a', type: 'static', entries: ['52.1.1.1'] },
        { id: 'b', type: 'static', entries: ['52.9.9.9'] },
      ],
      files: [
        { path: 'small.json', format: 'json', targets: ['a'], limit },
        { path: 'other.json', format: 'json', targets: ['b'] },
      ],
    });
  const proposed = new Map<string, Cidr[]>([
    ['a', cidrs('52.1.1.1', '52.1.3.1', '52.1.5.1')],
    ['b', cidrs('52.9.9.9')],
  ]);
  const plan = (config: Config, base: Map<string, string | null>) =>
    planFiles(config, { base, proposed, baselines: new Map([['a', cidrs('52.1.1.1')]]), managed: proposed });

  it('leaves the file as the base branch has it, and writes the other files', () => {
    const changes = plan(both({ maxEntries: 2 }), new Map([['small.json', '["52.1.1.1"]\n']]));
    const [small, other] = changes;
    expect(small).toMatchObject({ content: '["52.1.1.1"]\n', added: [], removed: [], withheld: { onBase: cidrs('52.1.1.1') } });
    expect(small!.capacity).toMatchObject({ outcome: 'exceeded', count: { ipv4: 3, ipv6: 0 } });
    expect(readFileEntries(other!.file, other!.content)).toEqual(cidrs('52.9.9.9'));
    expect(writtenChanges(changes).map((c) => c.file.path)).toEqual(['other.json']);
  });

  it('counts the entries the config does not manage against the limit', () => {
    const base = new Map([['small.json', '["52.1.1.1", "10.20.0.0/16"]\n']]);
    // Three of its own (one approved, two new) and the /16 nobody of this config wrote.
    expect(plan(both({ maxEntries: 3 }), base)[0]!.capacity).toMatchObject({ outcome: 'exceeded', count: { ipv4: 4, ipv6: 0 } });
    expect(plan(both({ maxEntries: 3 }), new Map([['small.json', '["52.1.1.1"]\n']]))[0]!.withheld).toBeUndefined();
    const fits = plan(both({ maxEntries: 4 }), base)[0]!;
    expect(fits.capacity).toMatchObject({ outcome: 'headroom' });
    expect(fits.withheld).toBeUndefined();
    expect(fits.added).toEqual(cidrs('52.1.3.1', '52.1.5.1'));
  });

  it('never takes what a withheld file would have added as approved, and keeps what it still holds', () => {
    const changes = plan(both({ maxEntries: 2 }), new Map([['small.json', '["52.1.1.1", "52.1.7.1"]\n']]));
    const promoted = withheldPromotion(changes, { id: 'a', proposed: proposed.get('a')!, baseline: cidrs('52.1.1.1', '52.1.7.1') });
    expect(promoted).toEqual(cidrs('52.1.1.1', '52.1.7.1'));
    expect(withheldPromotion(changes, { id: 'b', proposed: cidrs('52.9.9.9'), baseline: [] })).toEqual(cidrs('52.9.9.9'));
  });
});

describe('the dashboard', () => {
  it('lists the files that wait or are near their limit above the targets, as inert text', () => {
    const { body } = renderDashboard({
      configName: 'prod',
      targets: [{ id: 'a', type: 'static', status: 'ok', pendingRemoval: [], errors: [], warnings: [] }],
      capacity: [{ code: 'capacity-exceeded', message: 'sg/*cas*.json is not written: <b>' }],
    });
    expect(body).toContain('### Firewall capacity\n\n- capacity-exceeded: sg/\\*cas\\*.json is not written: &lt;b&gt;\n\n| Target |');
    expect(renderDashboard({ configName: 'prod', targets: [] }).body).not.toContain('Firewall capacity');
  });
});

describe('the publish gate with a file over its limit', () => {
  it('plans the files again even when the open PR holds this exact proposal, which may still carry the file', () => {
    const input = (limit?: unknown) =>
      parseConfig({
        name: 'prod',
        targets: [{ id: 'a', type: 'static', entries: ['52.1.1.1'] }],
        files: [{ path: 'a.json', format: 'json', targets: ['a'], ...(limit ? { limit } : {}) }],
        github: { owner: 'acme', repo: 'rules' },
      });
    const proposed = new Map([['a', cidrs('52.1.1.1', '52.1.3.1')]]);
    const fingerprint = proposalFingerprint(input(), proposed);
    const snapshot = {
      config: {
        configName: 'prod',
        declined: [],
        pullRequest: {
          number: 1,
          url: 'https://github.test/acme/rules/pull/1',
          branch: 'allowlist-drift/prod',
          headSha: 'h'.repeat(40),
          fingerprint,
          state: 'open' as const,
          proposal: { a: proposed.get('a')! },
          updatedAt: '2026-12-01T00:00:00.000Z',
        },
      },
      targets: new Map([['a', { ...emptyRecord('a'), baseline: cidrs('52.1.1.1') }]]),
    };
    expect(publishGate(input(), snapshot, proposed, 'h'.repeat(40))).toMatchObject({ kind: 'hold', reason: 'unchanged' });
    // The limit leaves the fingerprint as it was, so only the capacity decision tells the PR is not what to propose.
    expect(publishGate(input({ maxEntries: 1 }), snapshot, proposed, 'h'.repeat(40))).toMatchObject({ kind: 'publish', fingerprint });
  });
});

describe('capacity keys in the config', () => {
  it('leave the fingerprint of a proposal as the release before named it', () => {
    /** The same proposal as in test/guards-flood.test.ts, named by the release before the capacity keys. */
    const DECLINED_BEFORE_UPGRADE = 'f3f39aa5c81fead6';
    const proposed = new Map([['partners', cidrs('52.1.1.1', '52.2.2.0/24')]]);
    const withKeys = (keys: Record<string, unknown>) =>
      parseConfig({
        name: 'prod',
        targets: [{ id: 'partners', type: 'static', entries: ['52.1.1.1'] }],
        files: [{ path: 'edl/partners.txt', format: 'plain', targets: ['partners'], ...keys }],
      });
    expect(proposalFingerprint(withKeys({}), proposed)).toBe(DECLINED_BEFORE_UPGRADE);
    expect(proposalFingerprint(withKeys({ limit: 'aws-security-group', headroomWarn: 0.8, fit: { widenTo: 24 } }), proposed)).toBe(
      DECLINED_BEFORE_UPGRADE,
    );
  });

  const raw = (file: Record<string, unknown>, entries: string[] = ['52.1.1.1']) => ({
    name: 'prod',
    targets: [{ id: 'a', type: 'static', entries }],
    files: [{ path: 'a.json', format: 'json', targets: ['a'], ...file }],
  });

  it('refuse a limit the static entries of the file already break, counted as the file counts them', () => {
    const entries = ['52.1.1.1', '52.1.3.1', '52.1.5.1', '2a01::1'];
    expect(configProblems(raw({ limit: { maxEntries: 3 } }, entries))).toEqual([
      expect.stringMatching(
        /^files\[0\]\.limit: the static entries of the file's targets alone make 4 entries, over the limit of 3 entries;/,
      ),
    ]);
    expect(configProblems(raw({ limit: { maxEntries: 3, perFamily: true } }, entries))).toEqual([]);
    // Adjacent entries are one range in the file.
    expect(configProblems(raw({ limit: { maxEntries: 1 } }, ['52.1.1.0/25', '52.1.1.128/25']))).toEqual([]);
    expect(configProblems(raw({ limit: { maxEntries: 3 }, format: 'plain', family: 'ipv4' }, entries))).toEqual([]);
    const perAddress = { format: 'template', path: 'rules.conf', line: 'allow {ip};', limit: { maxEntries: 100 } };
    expect(configProblems(raw(perAddress, ['52.1.1.0/24']))).toEqual([
      expect.stringContaining("files[0].limit: the static entries of the file's targets alone make 256 entries"),
    ]);
  });

  it('refuse {n} in the path of a template file', () => {
    expect(configProblems(raw({ format: 'template', path: 'rules-{n}.conf', line: 'allow {cidr};' }))).toEqual([
      expect.stringMatching(/^files\[0\]\.path: a template file has a single generated block, so it cannot be split/),
    ]);
  });

  it.each([
    [{ limit: { maxEntries: -1 } }, 'files[0].limit.maxEntries: must be at least 1'],
    [{ limit: { maxEntries: 0 } }, 'files[0].limit.maxEntries: must be at least 1'],
    [
      { limit: 'aws-firewall' },
      'files[0].limit: must be a preset ("aws-security-group", "azure-nsg-rule", "azure-firewall-ip-group", "aws-prefix-list") or an object with maxEntries',
    ],
    [
      { limit: { preset: 'aws-prefix-list' } },
      'files[0].limit.maxEntries: an "aws-prefix-list" limit needs the max entries the list was created with',
    ],
    [
      { limit: 'aws-prefix-list' },
      'files[0].limit: an "aws-prefix-list" limit needs the max entries the list was created with: {"preset": "aws-prefix-list", "maxEntries": N}',
    ],
    [{ limit: { preset: 'aws-prefix-list', maxEntries: 1_001 } }, 'files[0].limit.maxEntries: must be at most 1000 for "aws-prefix-list"'],
    [{ fit: { widenTo: 7 } }, 'files[0].fit.widenTo: must be /8 or narrower (at least 8)'],
    [{ headroomWarn: 0 }, 'files[0].headroomWarn: '],
  ])('refuses %j naming the key path', (file, message) => {
    expect(configProblems(raw(file))).toEqual([expect.stringContaining(message)]);
  });

  it('accepts the presets and the object form', () => {
    expect(config([{ path: 'a.json', format: 'json', limit: { preset: 'aws-prefix-list', maxEntries: 500 } }]).files[0]!.limit).toEqual({
      maxEntries: 500,
      perFamily: false,
      preset: 'aws-prefix-list',
    });
    expect(config([{ path: 'a.json', format: 'json', limit: 'azure-nsg-rule' }]).files[0]!.limit).toMatchObject({ maxEntries: 4_000 });
  });
});
