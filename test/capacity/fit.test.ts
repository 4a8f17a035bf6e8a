import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capacityProblem } from '../../shared/capacity/capacity.js';
import { ConfigError, parseConfig, type Config } from '../../shared/config.js';
import { capacityOfSets, releasedAttention, withWideningVerdicts } from '../../shared/engine/capacity.js';
import { assertRemovalsNamed, planFiles, WIDENED_COVER, type FileChange } from '../../shared/engine/files.js';
import { aggregate, covers, difference, parseCidr, union, type Cidr } from '../../shared/ipset.js';
import { readFileEntries } from '../../shared/render/read.js';
import type { TargetReport } from '../../shared/report.js';

const cidrs = (...texts: string[]) => texts.map((text) => parseCidr(text));
/** Two tight pairs: widened to two entries, each pair becomes its /30 (2 addresses beyond the published ones each). */
const PAIRS = cidrs('52.1.0.1', '52.1.0.2', '52.1.0.8', '52.1.0.11');

function config(file: Record<string, unknown>): Config {
  return parseConfig({
    name: 'prod',
    targets: [{ id: 'a', type: 'static', entries: ['52.1.0.1'] }],
    files: [{ path: 'fw/list.json', format: 'json', targets: ['a'], ...file }],
  });
}

function plan(cfg: Config, base: string | null, proposed: Cidr[] = PAIRS): FileChange {
  const sets = new Map([['a', proposed]]);
  return planFiles(cfg, { base: new Map([['fw/list.json', base]]), proposed: sets, baselines: sets, managed: sets })[0]!;
}

/** Only what withWideningVerdicts reads of a target's report. */
const report = (id: string) => ({ id, verdicts: [] }) as unknown as TargetReport;

const widened = config({ limit: { maxEntries: 2 }, fit: { widenTo: 24 } });

describe('a file with a limit and fit', () => {
  it('writes the widened cover when it would not fit otherwise, and says what it allows beyond the published addresses', () => {
    const change = plan(widened, null);
    expect(JSON.parse(change.content!)).toEqual(['52.1.0.0/30', '52.1.0.8/30']);
    for (const prefix of PAIRS) expect(covers(readFileEntries(widened.files[0]!, change.content!), prefix)).toBe(true);
    expect(change.widening).toMatchObject({ extra: 4n, released: [] });
    expect(change.capacity).toMatchObject({ outcome: 'headroom', widened: { extraAddresses: '4', covers: 2, replaced: 4 } });
    expect(change.kept).toEqual([]);
    // The run's own judgement (without the base branch) widens the same way, so the file does not count as waiting.
    expect(capacityOfSets(widened, new Map([['a', PAIRS]]))[0]).toMatchObject({ outcome: 'headroom', widened: { extraAddresses: '4' } });
  });

  it('reads its own covers back as its own: not foreign, not unmanaged, and no change while nothing changes', () => {
    const first = plan(widened, null);
    const again = plan(widened, first.content);
    expect(again).toMatchObject({ content: first.content, added: [], removed: [], kept: [], unmanaged: [] });
  });

  it('gives the extra addresses back when the file fits again, naming them so the publish invariant lets them go', () => {
    const first = plan(widened, null);
    const roomy = config({ limit: { maxEntries: 10 }, fit: { widenTo: 24 } });
    const change = plan(roomy, first.content);
    expect(JSON.parse(change.content!)).toEqual(['52.1.0.1/32', '52.1.0.2/32', '52.1.0.8/32', '52.1.0.11/32']);
    expect(change.removed).toEqual(cidrs('52.1.0.0/32', '52.1.0.3/32', '52.1.0.9/32', '52.1.0.10/32'));
    expect(change.widening).toMatchObject({ covers: [], released: change.removed });
    expect(() => assertRemovalsNamed([change], [])).not.toThrow();
    // Without the widening's own record of them, the same removals are refused.
    expect(() => assertRemovalsNamed([{ ...change, widening: undefined } as FileChange], [])).toThrow(
      /publish-invariant|refusing to publish/,
    );
    expect(releasedAttention([change])).toEqual([
      { subject: 'fw/list.json', message: expect.stringContaining('no longer allows 4 ranges an earlier widening of the file allowed') },
    ]);
  });

  it('says when a confirmed removal stays allowed by a cover the file still needs', () => {
    const cfg = config({ limit: { maxEntries: 2 }, fit: { widenTo: 24 } });
    const proposed = cidrs('52.1.0.1', '52.1.0.8', '52.1.0.11', '52.1.0.64');
    const sets = new Map([['a', proposed]]);
    const [change] = planFiles(cfg, {
      base: new Map([['fw/list.json', null]]),
      proposed: sets,
      baselines: new Map([['a', [...proposed, parseCidr('52.1.0.2')]]]),
      managed: new Map([['a', [...proposed, parseCidr('52.1.0.2')]]]),
    });
    // 52.1.0.0/28 covers the first three at the fewest extra addresses; the removed 52.1.0.2 lies in it.
    expect(JSON.parse(change!.content!)).toEqual(['52.1.0.0/28', '52.1.0.64/32']);
    expect(change!.stays).toEqual([{ cidr: parseCidr('52.1.0.2'), entry: '52.1.0.0/28', by: WIDENED_COVER }]);
  });

  it('records the widening as a verdict on the targets of the file', () => {
    const change = plan(widened, null);
    const [a, other] = withWideningVerdicts(widened, [change.capacity!], [report('a'), report('other')]);
    expect(a!.verdicts.at(-1)).toEqual({
      guard: 'widening',
      outcome: 'pass',
      message: 'fw/list.json is widened to fit its limit: 2 covering prefixes, and it allows 4 addresses beyond what the sources publish',
    });
    expect(other!.verdicts).toEqual([]);
  });

  it('keeps an entry it did not write whole, counting it against the limit', () => {
    // A hand-added range is neither a cover of the managed prefixes nor covered by them: it stays, and takes a place.
    // With /29 at widest, the pairs take two entries (their /28 is too wide), so with it they need three.
    const change = plan(config({ limit: { maxEntries: 2 }, fit: { widenTo: 29 } }), JSON.stringify(['52.9.0.0/24']));
    expect(change.withheld).toBeDefined();
    expect(change.capacity).toMatchObject({ outcome: 'exceeded', unfit: { minEntries: 3, widenTo: 29 } });
    const roomier = config({ limit: { maxEntries: 3 }, fit: { widenTo: 29 } });
    expect(JSON.parse(plan(roomier, JSON.stringify(['52.9.0.0/24'])).content!)).toEqual(['52.1.0.0/30', '52.1.0.8/30', '52.9.0.0/24']);
  });

  it('withholds the file when even the widest cover it allows does not fit, saying the smallest entry count', () => {
    const narrow = config({ limit: { maxEntries: 1 }, fit: { widenTo: 29 } });
    const change = plan(narrow, null);
    expect(change).toMatchObject({ withheld: { onBase: [] }, capacity: { outcome: 'exceeded', unfit: { minEntries: 2, widenTo: 29 } } });
    expect(capacityProblem(change.capacity!)).toMatchObject({
      code: 'capacity-exceeded',
      message: expect.stringContaining('even widened as far as its fit allows (IPv4 to /29), it needs at least 2 entries'),
    });
  });

  it('leaves a file that fits as it is, and one without fit over its limit withheld as before', () => {
    expect(plan(config({ limit: { maxEntries: 4 }, fit: { widenTo: 24 } }), null)).not.toHaveProperty('widening');
    expect(plan(config({ limit: { maxEntries: 2 } }), null)).toMatchObject({ withheld: { onBase: [] } });
    expect(plan(config({ limit: { maxEntries: 2 } }), null).capacity).not.toHaveProperty('unfit');
  });
});

describe('the fit key', () => {
  const problems = (file: Record<string, unknown>): string[] => {
    try {
      parseConfig({
        name: 'prod',
        targets: [{ id: 'a', type: 'static', entries: ['52.1.0.1'] }],
        files: [{ path: 'a.json', format: 'json', targets: ['a'], ...file }],
      });
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
    return [];
  };

  it('is refused where it could never act, naming the key path', () => {
    expect(problems({ fit: { widenTo: 16 } })).toEqual([
      expect.stringMatching(/^files\[0\]\.fit: a file is widened only to fit its limit/),
    ]);
    expect(problems({ limit: { maxEntries: 10 }, fit: {} })).toEqual([
      expect.stringMatching(/^files\[0\]\.fit: give widenTo \(IPv4\) or widenTo6/),
    ]);
    const perAddress = { path: 'rules.conf', format: 'template', line: 'allow {ip};', limit: { maxEntries: 10 }, fit: { widenTo: 24 } };
    expect(problems(perAddress)).toEqual([expect.stringMatching(/^files\[0\]\.fit: this template writes a line per address/)]);
    expect(problems({ limit: { maxEntries: 10 }, fit: { widenTo: 7 } })).toEqual([
      'files[0].fit.widenTo: must be /8 or narrower (at least 8)',
    ]);
    expect(problems({ limit: { maxEntries: 10 }, fit: { widenTo6: 129 } })).toEqual([
      expect.stringMatching(/^files\[0\]\.fit\.widenTo6: /),
    ]);
    expect(problems({ limit: { maxEntries: 10 }, fit: { widenTo: 16, widen: 8 } })).toEqual([expect.stringMatching(/^files\[0\]\.fit/)]);
    expect(problems({ limit: { maxEntries: 10 }, fit: { widenTo: 16, widenTo6: 48 } })).toEqual([]);
  });
});

describe('planning a widened file, over two runs', () => {
  /** A small block of public space, so random sets nest, touch and need widening often. */
  const smallCidr = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 27, max: 32 }))
    .map(([low, third, prefix]) => parseCidr(`52.16.${third}.${low}/${prefix}`));
  const smallSet = fc.array(smallCidr, { minLength: 1, maxLength: 8 }).map((set) => aggregate(set));

  it('covers every proposed address within the limit, and drops only confirmed removals and extra addresses it names', () => {
    fc.assert(
      fc.property(smallSet, smallSet, fc.integer({ min: 1, max: 4 }), (first, second, maxEntries) => {
        const cfg = config({ limit: { maxEntries }, fit: { widenTo: 22 } });
        const spec = cfg.files[0]!;
        const one = plan(cfg, null, first);
        if (one.withheld) return;
        const held = readFileEntries(spec, one.content!);
        for (const prefix of first) expect(covers(held, prefix)).toBe(true);
        expect((JSON.parse(one.content!) as string[]).length).toBeLessThanOrEqual(maxEntries);

        // The next run: the first proposal approved and merged, the sources now publishing `second`.
        const [two] = planFiles(cfg, {
          base: new Map([['fw/list.json', one.content]]),
          proposed: new Map([['a', second]]),
          baselines: new Map([['a', first]]),
          managed: new Map([['a', union(first, second)]]),
        });
        expect(two!.unmanaged).toEqual([]);
        if (two!.withheld) return;
        expect(() => assertRemovalsNamed([two!], difference(first, second))).not.toThrow();
        const now = readFileEntries(spec, two!.content!);
        for (const prefix of second) expect(covers(now, prefix)).toBe(true);
        expect((JSON.parse(two!.content!) as string[]).length).toBeLessThanOrEqual(maxEntries);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
