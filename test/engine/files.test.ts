import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Config, type FileSpec } from '../../shared/config.js';
import { assertRemovalsNamed, planFiles, totalChange, type FileChange } from '../../shared/engine/files.js';
import { covers, difference, intersects, parseCidr, sortCidrs, union, type Cidr } from '../../shared/ipset.js';
import { readFileEntries, readWrittenEntries } from '../../shared/render/read.js';
import { renderFile } from '../../shared/render/index.js';
import { rejectionSync } from '../support.js';

const cidr = (text: string) => parseCidr(text);

function configWith(file: Record<string, unknown>): Config {
  return parseConfig({
    name: 'prod',
    targets: [
      { id: 'a', type: 'static', entries: ['52.16.0.1'] },
      { id: 'b', type: 'static', entries: ['52.16.0.2'] },
    ],
    files: [{ targets: ['a', 'b'], ...file }],
  });
}

const TEMPLATE_BASE =
  '# hand-kept header\n# BEGIN allowlist-drift:rules.conf\n# END allowlist-drift:rules.conf\nallow 10.0.0.1; # not ours\n';

const FORMATS: Array<{ name: string; file: Record<string, unknown>; empty: string | null }> = [
  { name: 'plain', file: { path: 'fw/list.txt', format: 'plain' }, empty: null },
  { name: 'json', file: { path: 'fw/list.json', format: 'json' }, empty: null },
  { name: 'tfvars-json', file: { path: 'tf/list.auto.tfvars.json', format: 'tfvars-json', variable: 'allow' }, empty: null },
  { name: 'template {cidr}', file: { path: 'rules.conf', format: 'template', line: 'allow {cidr};' }, empty: TEMPLATE_BASE },
  {
    name: 'template {ip}/{prefix}',
    file: { path: 'rules.conf', format: 'template', line: 'allow {ip}/{prefix}; # {ip}' },
    empty: TEMPLATE_BASE,
  },
];

/** A small block of public space, so random sets overlap, nest and touch often. */
const smallCidr = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 28, max: 32 }))
  .map(([low, third, prefix]) => parseCidr(`52.16.${third}.${low}/${prefix}`));
const smallSet = fc.array(smallCidr, { maxLength: 8 });

describe('rule files: reading back what a file holds', () => {
  it.each(FORMATS)('reads back exactly what $name renders', ({ file, empty }) => {
    const config = configWith(file);
    const spec = config.files[0]!;
    const cidrs = [cidr('52.16.0.0/24'), cidr('52.16.9.7'), cidr('2a05:d018::/48')];
    const rendered = renderFile(spec, cidrs, { configName: 'prod', existing: empty });
    expect(readFileEntries(spec, rendered)).toEqual(union(cidrs));
  });

  it('reads a missing file as empty, and refuses garbage with the line or key that is wrong', () => {
    const plain = configWith({ path: 'fw/list.txt', format: 'plain' }).files[0]!;
    expect(readFileEntries(plain, null)).toEqual([]);
    expect(readFileEntries(plain, '# comment\n\n 52.16.0.1 \r\n')).toEqual([cidr('52.16.0.1')]);
    expect(rejectionSync(() => readFileEntries(plain, '52.16.0.1\nexample.com\n'))).toMatchObject({
      code: 'rule-file-unreadable',
      message: expect.stringContaining('line 2'),
    });

    const json = configWith({ path: 'fw/list.json', format: 'json' }).files[0]!;
    expect(rejectionSync(() => readFileEntries(json, '{"a": 1}'))).toMatchObject({ code: 'rule-file-unreadable' });
    expect(rejectionSync(() => readFileEntries(json, '["52.16.0.1", 7]'))).toMatchObject({
      message: expect.stringContaining('(root)[1] is not a string'),
    });
    expect(rejectionSync(() => readFileEntries(json, '["52.16.0.1",'))).toMatchObject({
      message: expect.stringContaining('not valid JSON'),
    });

    const tfvars = configWith({ path: 'x.tfvars.json', format: 'tfvars-json', variable: 'allow' }).files[0]!;
    expect(rejectionSync(() => readFileEntries(tfvars, '{"allow_ipv4": [], "other": []}'))).toMatchObject({
      message: expect.stringContaining('other'),
    });

    const template = configWith({ path: 'rules.conf', format: 'template', line: 'allow {cidr};' }).files[0]!;
    const bad = '# BEGIN allowlist-drift:rules.conf\nallow 52.16.0.1/32;\ndeny all;\n# END allowlist-drift:rules.conf\n';
    expect(rejectionSync(() => readFileEntries(template, bad))).toMatchObject({
      code: 'rule-file-unreadable',
      message: expect.stringContaining('line 3'),
    });
  });
});

describe('rule files: the change is computed against the base branch', () => {
  const config = configWith({ path: 'fw/list.json', format: 'json' });
  const base = (entries: string[]) => new Map([['fw/list.json', `${JSON.stringify(entries)}\n`]]);
  const sets = (a: string[], b: string[] = []) =>
    new Map<string, Cidr[]>([
      ['a', a.map(cidr)],
      ['b', b.map(cidr)],
    ]);

  it('keeps an entry added on main by hand and names it, and counts only the real change', () => {
    const [change] = planFiles(config, {
      base: base(['52.16.0.1/32', '52.9.9.9/32']),
      baselines: sets(['52.16.0.1']),
      proposed: sets(['52.16.0.1', '52.16.0.2']),
      managed: sets(['52.16.0.1']),
    });
    expect(JSON.parse(change!.content)).toEqual(['52.9.9.9/32', '52.16.0.1/32', '52.16.0.2/32']);
    expect(change!.added).toEqual([cidr('52.16.0.2')]);
    expect(change!.removed).toEqual([]);
    expect(change!.kept).toEqual([cidr('52.9.9.9')]);
  });

  it('removes a confirmed removal, and only that', () => {
    const [change] = planFiles(config, {
      base: base(['52.16.0.1/32', '52.16.0.3/32', '52.9.9.9/32']),
      baselines: sets(['52.16.0.1', '52.16.0.3']),
      proposed: sets(['52.16.0.1']),
      managed: sets(['52.16.0.1', '52.16.0.3']),
    });
    expect(change!.removed).toEqual([cidr('52.16.0.3')]);
    expect(() => assertRemovalsNamed([change!], [cidr('52.16.0.3')])).not.toThrow();
    expect(rejectionSync(() => assertRemovalsNamed([change!], []))).toMatchObject({
      code: 'publish-invariant',
      message: expect.stringContaining('52.16.0.3/32'),
    });
  });

  it('an entry missing from main that a target still proposes is added back, and counted as added', () => {
    const [change] = planFiles(config, {
      base: base([]),
      baselines: sets(['52.16.0.1']),
      proposed: sets(['52.16.0.1']),
      managed: sets(['52.16.0.1']),
    });
    expect(change!.added).toEqual([cidr('52.16.0.1')]);
  });

  it('refuses a file whose rendering narrowed the set (a renderer bug must not reach the repository)', () => {
    const narrowed: FileChange = {
      file: config.files[0]!,
      before: '[]',
      content: '[]',
      added: [],
      removed: [cidr('52.17.1.11')],
      kept: [],
      stays: [],
      restored: [],
    };
    expect(rejectionSync(() => assertRemovalsNamed([narrowed], []))).toMatchObject({ code: 'publish-invariant' });
  });
});

describe('rule files of one address family (plain and template "family")', () => {
  const IPTABLES = '# BEGIN allowlist-drift:v4\n# END allowlist-drift:v4\n';
  const sets = new Map<string, Cidr[]>([
    ['a', [cidr('52.16.0.1'), cidr('2a05:d018::1')]],
    ['b', [cidr('52.16.0.2'), cidr('2a05:d018::/48')]],
  ]);
  const plan = (file: Record<string, unknown>, base: string | null, baselines = new Map<string, Cidr[]>()) =>
    planFiles(configWith(file), { base: new Map([[String(file.path), base]]), baselines, proposed: sets, managed: sets })[0]!;

  it('an iptables template with family ipv4 gets no IPv6 line', () => {
    const change = plan(
      { id: 'v4', path: 'fw/rules.v4', format: 'template', line: 'iptables -A IN -s {cidr} -j ACCEPT', family: 'ipv4' },
      IPTABLES,
    );
    expect(change.content).toBe(
      '# BEGIN allowlist-drift:v4\niptables -A IN -s 52.16.0.1/32 -j ACCEPT\niptables -A IN -s 52.16.0.2/32 -j ACCEPT\n# END allowlist-drift:v4\n',
    );
    expect(change.added).toEqual([cidr('52.16.0.1'), cidr('52.16.0.2')]);
  });

  it('a plain file with family ipv6 gets only IPv6 entries', () => {
    const change = plan({ path: 'edl/v6.txt', format: 'plain', family: 'ipv6' }, null);
    expect(readFileEntries(configWith({ path: 'edl/v6.txt', format: 'plain' }).files[0]!, change.content)).toEqual([
      cidr('2a05:d018::/48'),
    ]);
  });

  it('an IPv6 entry already in an ipv4 file (from before "family") stays and is listed as kept, never removed', () => {
    const file = { path: 'edl/v4.txt', format: 'plain', family: 'ipv4' };
    const change = plan(file, '52.16.0.1/32\n2a05:d018::1/128\n', new Map([['a', [cidr('52.16.0.1'), cidr('2a05:d018::1')]]]));
    expect(change.removed).toEqual([]);
    expect(change.kept).toEqual([cidr('2a05:d018::1')]);
    expect(change.content).toContain('2a05:d018::1/128');
  });

  it('is refused on formats that hold both families by design', () => {
    expect(() => configWith({ path: 'fw/list.json', format: 'json', family: 'ipv4' })).toThrow(/files\[0\]\.family: unknown key/);
  });
});

describe('rule files: the publish invariant, property-tested', () => {
  it.each(FORMATS)(
    '$name: nothing leaves a file unless it is a confirmed removal; proposals and foreign entries are all there',
    ({ file, empty }) => {
      const config = configWith(file);
      const spec: FileSpec = config.files[0]!;
      fc.assert(
        fc.property(smallSet, smallSet, smallSet, smallSet, smallSet, (onBase, foreign, baselineA, proposedA, proposedB) => {
          const baseContent = renderFile(spec, union(onBase, foreign), { configName: 'other', existing: empty });
          const baselines = new Map([
            ['a', union(baselineA)],
            ['b', union(proposedB)],
          ]);
          const proposed = new Map([
            ['a', union(proposedA)],
            ['b', union(proposedB)],
          ]);
          const managed = new Map([
            ['a', union(baselineA, onBase)],
            ['b', union(proposedB)],
          ]);
          const changes = planFiles(config, { base: new Map([[spec.path, baseContent]]), baselines, proposed, managed });
          const confirmed = difference(union(baselineA, proposedB), union(proposedA, proposedB));
          assertRemovalsNamed(changes, confirmed);
          const after = readFileEntries(spec, changes[0]!.content);
          const before = readFileEntries(spec, baseContent);
          for (const range of union(proposedA, proposedB)) expect(covers(after, range)).toBe(true);
          for (const range of difference(before, confirmed)) expect(covers(after, range)).toBe(true);
          const { kept } = totalChange(changes);
          expect(intersects(kept, union(baselineA, onBase, proposedA, proposedB))).toBe(false);
          for (const range of kept) expect(covers(after, range)).toBe(true);
        }),
        { numRuns: 300 },
      );
    },
  );

  it.each(FORMATS)('$name: no foreign entry’s address set ever shrinks, and each is written back as it stood', ({ file, empty }) => {
    const config = configWith(file);
    const spec: FileSpec = config.files[0]!;
    fc.assert(
      fc.property(smallSet, smallSet, smallSet, smallSet, fc.boolean(), (onBase, foreignSet, baselineA, proposedA, noted) => {
        // Comments are a plain file's; elsewhere an entry is foreign when no target of the config produced it.
        const note = noted && spec.format === 'plain' ? ['# partner link, alice'] : [];
        const textOf = (range: Cidr) =>
          readWrittenEntries(spec, renderFile(spec, [range], { configName: 'prod', existing: empty })).entries[0]!.text;
        const foreign = sortCidrs(foreignSet).map((range) => ({ cidr: range, text: textOf(range), note }));
        const baseContent = renderFile(spec, union(onBase, baselineA), { configName: 'prod', existing: empty, foreign });
        const managed = new Map([
          ['a', union(baselineA, onBase)],
          ['b', []],
        ]);
        const changes = planFiles(config, {
          base: new Map([[spec.path, baseContent]]),
          baselines: new Map([['a', union(baselineA)]]),
          proposed: new Map([['a', union(proposedA)]]),
          managed,
        });
        const after = readWrittenEntries(spec, changes[0]!.content).entries;
        const cover = union(baselineA, onBase, proposedA);
        for (const entry of foreign) {
          if (note.length === 0 && covers(cover, entry.cidr)) continue;
          expect(covers(union(after.map((e) => e.cidr)), entry.cidr)).toBe(true);
          expect(after.some((e) => e.text === entry.text && e.cidr === entry.cidr)).toBe(true);
        }
        // What the PR says stays allowed is exactly what the foreign entries still cover of the confirmed removals.
        const confirmed = difference(union(baselineA), union(proposedA));
        const stays = union(changes[0]!.stays.map((stay) => stay.cidr));
        for (const range of stays) expect(covers(confirmed, range)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
