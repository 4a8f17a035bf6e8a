import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../shared/config.js';
import { assertRemovalsNamed, fileEntriesOnBase, planFiles, type FileChange, type FilePlanInput } from '../../shared/engine/files.js';
import { parseCidr, type Cidr } from '../../shared/ipset.js';
import { renderFile } from '../../shared/render/index.js';
import { rejectionSync } from '../support.js';

/** The files a split set writes against the base branch: whose file is whose, and what leaves. */

const PATTERN = 'sg/web-{n}.json';
const [A, B, C, D] = ['52.16.0.1/32', '52.16.0.3/32', '52.16.0.5/32', '52.16.0.7/32'].map(parseCidr) as [Cidr, Cidr, Cidr, Cidr];
const config: Config = parseConfig({
  name: 'prod',
  targets: [{ id: 'web', type: 'static', entries: ['52.16.0.1'] }],
  files: [{ path: PATTERN, format: 'json', limit: { maxEntries: 2 }, targets: ['web'] }],
});
const spec = config.files[0]!;
/** A numbered file as the tool writes it. */
const written = (n: number, cidrs: Cidr[]) =>
  renderFile({ ...spec, path: `sg/web-${n}.json` }, cidrs, { configName: 'prod', existing: null });

function plan(base: Record<string, string>, sets: { proposed: Cidr[]; baseline: Cidr[] }): FileChange[] {
  const input: FilePlanInput = {
    base: new Map(Object.entries(base)),
    proposed: new Map([['web', sets.proposed]]),
    baselines: new Map([['web', sets.baseline]]),
    managed: new Map([['web', [...sets.baseline, ...sets.proposed]]]),
  };
  return planFiles(config, input);
}

const paths = (changes: readonly FileChange[]) =>
  Object.fromEntries(
    changes.map((c) => [c.file.path, c.content === null ? 'removed' : c.content === c.before ? 'same' : JSON.parse(c.content)]),
  );

describe('a split set against the base branch', () => {
  it('writes numbered files from 1, each within the limit, and reads them back together', () => {
    const changes = plan({}, { proposed: [A, B, C], baseline: [] });
    expect(paths(changes)).toEqual({ 'sg/web-1.json': ['52.16.0.1/32', '52.16.0.3/32'], 'sg/web-2.json': ['52.16.0.5/32'] });
    expect(changes.every((c) => c.split === PATTERN)).toBe(true);
    const base = new Map(changes.map((c) => [c.file.path, c.content]));
    expect(fileEntriesOnBase(spec, base)).toEqual([A, B, C]);
  });

  it('leaves a file under the pattern that holds nothing of this config alone, and never takes its number', () => {
    const person = '[\n  "52.99.0.1/32"\n]\n';
    const changes = plan({ 'sg/web-1.json': written(1, [A, B]), 'sg/web-2.json': person }, { proposed: [A, B, C], baseline: [A, B] });
    expect(paths(changes)).toEqual({ 'sg/web-1.json': 'same', 'sg/web-3.json': ['52.16.0.5/32'] });
  });

  it('removes a file the tool wrote once it empties, and empties (never deletes) one a person reformatted', () => {
    const base = { 'sg/web-1.json': written(1, [A, B]), 'sg/web-2.json': written(2, [C, D]) };
    expect(paths(plan(base, { proposed: [A, B], baseline: [A, B, C, D] }))).toEqual({
      'sg/web-1.json': 'same',
      'sg/web-2.json': 'removed',
    });
    const reformatted = { ...base, 'sg/web-2.json': '["52.16.0.5/32","52.16.0.7/32"]' };
    expect(paths(plan(reformatted, { proposed: [A, B], baseline: [A, B, C, D] }))).toEqual({
      'sg/web-1.json': 'same',
      'sg/web-2.json': [],
    });
  });

  it('keeps a hand-added entry in its file, counted against the limit, and never removes that file', () => {
    const base = { 'sg/web-1.json': written(1, [A]).replace('"52.16.0.1/32"', '"52.16.0.1/32",\n  "52.99.0.1/32"') };
    const full = plan(base, { proposed: [A, C], baseline: [A] });
    expect(paths(full)).toEqual({ 'sg/web-1.json': 'same', 'sg/web-2.json': ['52.16.0.5/32'] });
    expect(full[0]!.kept).toEqual([parseCidr('52.99.0.1/32')]);
    // Its own entry confirmed gone, the file keeps the hand-added one, and the room it made is used.
    expect(paths(plan(base, { proposed: [C], baseline: [A] }))).toEqual({ 'sg/web-1.json': ['52.16.0.5/32', '52.99.0.1/32'] });
  });

  it('judges the publish invariant over the whole set: an address moved between its files is no loss, a dropped one is', () => {
    const moved = plan({}, { proposed: [A, B, C], baseline: [] }).map((change, index) =>
      index === 0 ? { ...change, removed: [D] } : { ...change, added: [...change.added, D] },
    );
    expect(() => assertRemovalsNamed(moved, [])).not.toThrow();
    const dropped = moved.map((change, index) => (index === 0 ? change : { ...change, added: [] }));
    expect(rejectionSync(() => assertRemovalsNamed(dropped, []))).toMatchObject({
      code: 'publish-invariant',
      message: expect.stringContaining(`the files of ${PATTERN} would lose 52.16.0.7/32`),
    });
    expect(() => assertRemovalsNamed(dropped, [D])).not.toThrow();
  });
});
