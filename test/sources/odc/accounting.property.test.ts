import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { tryParseCidr } from '../../../shared/ipset.js';
import { parseOdcPage } from '../../../shared/sources/odc/page.js';
import { regionKey } from '../../../shared/sources/odc/schema.js';

/**
 * Issue 15, the accounting rule of the CAS page (issue 11) on the ODC page: on any page in the shapes its revisions
 * used (a heading per region over a stage table, "Stage" or "Stage type"; a table keyed by region; a data-platform
 * table keyed by several customer regions per row; prose under a known purpose; a section no rule maps) every
 * address-like word is either observed, under the purpose, region and stage it stands in, or named in an issue with
 * its line; nothing else is observed or named. The generator knows where it put each word and what should become of it.
 */

interface Item {
  readonly text: string;
  readonly words: ReadonlyArray<{ readonly text: string; readonly readable: boolean }>;
}
interface Expected {
  readonly text: string;
  readonly line: number;
  /** "cidr purpose region stage" for each place it must be observed; empty: it must be named. */
  readonly keys: readonly string[];
}

const letter = fc.constantFrom(...'ghkmnpqrstuvwxyz');
const v4 = fc.ipV4();
const readable: fc.Arbitrary<Item> = fc
  .oneof(
    { arbitrary: v4, weight: 6 },
    { arbitrary: fc.ipV6(), weight: 1 },
    { arbitrary: fc.tuple(v4, fc.integer({ min: 8, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`), weight: 1 },
  )
  .map((text) => ({ text, words: [{ text, readable: true }] }));
const unreadable: fc.Arbitrary<Item> = fc
  .oneof(
    fc.tuple(v4, letter).map(([ip, l]) => `${ip}${l}`),
    fc.tuple(letter, v4).map(([l, ip]) => `${l}${ip}`),
    fc.tuple(v4, fc.integer({ min: 256, max: 999 })).map(([ip, octet]) => ip.replace(/\d+$/, String(octet))),
    fc.tuple(v4, v4).map(([a, b]) => `${a}-${b}`),
  )
  .map((text) => ({ text, words: [{ text, readable: false }] }));
const range: fc.Arbitrary<Item> = fc
  .tuple(v4, fc.constantFrom(' - ', ' to '), v4)
  .map(([a, joiner, b]) => ({ text: `${a}${joiner}${b}`, words: [a, b].map((text) => ({ text, readable: false })) }));
const plain: fc.Arbitrary<Item> = fc.constantFrom('n/a', 'TCP', '443', 'port').map((text) => ({ text, words: [] }));
const items = (max: number) =>
  fc.array(
    fc.oneof(
      { arbitrary: readable, weight: 8 },
      { arbitrary: unreadable, weight: 2 },
      { arbitrary: range, weight: 1 },
      { arbitrary: plain, weight: 1 },
    ),
    { maxLength: max },
  );
const separator = fc.constantFrom(', ', ',', ' ', '<br>');

const REGIONS = ['US East (North Virginia)', 'Europe (Frankfurt)', 'Asia Pacific (Tokyo)', 'Canada (Central)'];
const STAGES = ['Development', 'Non-production', 'Production'];

const pageShape = fc.record({
  runtime: fc.array(
    fc.record({
      region: fc.constantFrom(...REGIONS),
      header: fc.constantFrom('Stage type', 'Stage'),
      rows: fc.array(fc.record({ stage: fc.constantFrom(...STAGES), items: items(4), separator }), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  runtimeProse: items(3),
  unification: fc.array(fc.record({ region: fc.constantFrom(...REGIONS), items: items(4), separator }), { maxLength: 3 }),
  dataPlatform: fc.array(fc.record({ customers: fc.subarray(REGIONS, { minLength: 1 }), items: items(3), separator }), { maxLength: 2 }),
  unknown: fc.option(
    fc.record({ prose: items(3), rows: fc.array(fc.record({ region: fc.constantFrom(...REGIONS), items: items(3) }), { maxLength: 2 }) }),
    {
      nil: undefined,
    },
  ),
});
type Shape = typeof pageShape extends fc.Arbitrary<infer T> ? T : never;

function build(shape: Shape): { markdown: string; expected: Expected[] } {
  const lines: string[] = ['---', 'summary: Allowlisting', '---', '', '# Allowlisting ODC public IP addresses', ''];
  const expected: Expected[] = [];
  /** One line holding `list`; readable words become observed at `places` (none: named). */
  const push = (text: string, list: readonly Item[] = [], places: readonly string[] = []) => {
    lines.push(text);
    for (const { words } of list) {
      for (const word of words) {
        const cidr = word.readable ? tryParseCidr(word.text) : undefined;
        expected.push({ text: word.text, line: lines.length, keys: cidr === undefined ? [] : places.map((place) => `${cidr} ${place}`) });
      }
    }
  };
  const join = (list: readonly Item[], between: string) => list.map((i) => i.text).join(between);

  push('## Runtime applications accessing internal resources');
  push('');
  push(`As a fallback, allow ${join(shape.runtimeProse, ', ')} too.`, shape.runtimeProse);
  push('');
  push('### ODC public runtime IP addresses');
  for (const table of shape.runtime) {
    push('');
    push(`#### ${table.region}`);
    push('');
    push(`| ${table.header} | IP addresses |`);
    push('| ----- | ----- |');
    for (const row of table.rows) {
      push(`| ${row.stage} | ${join(row.items, row.separator)} |`, row.items, [
        `runtime ${regionKey(table.region)} ${regionKey(row.stage)}`,
      ]);
    }
  }
  if (shape.dataPlatform.length > 0) {
    push('');
    push('## Streaming analytics and audit trail data {#streaming-analytics-audit-trail}');
    push('');
    push('| Customer regions | Data platform region | Data platform IPs |');
    push('| --- | --- | --- |');
    for (const row of shape.dataPlatform) {
      const places = row.customers.map((region) => `data-platform ${regionKey(region)} -`);
      push(`| ${row.customers.join(', ')} | ${row.customers[0]} | ${join(row.items, row.separator)} |`, row.items, places);
    }
  }
  if (shape.unknown) {
    push('');
    push('## Agent workflows egress');
    push('');
    push(`Also allow ${join(shape.unknown.prose, ', ')} on port 443.`, shape.unknown.prose, ['other unplaced -']);
    push('');
    push('| Region | IP addresses |');
    push('| --- | --- |');
    for (const row of shape.unknown.rows)
      push(`| ${row.region} | ${join(row.items, ', ')} |`, row.items, [`other ${regionKey(row.region)} -`]);
  }
  // Last, as on the page: a table that must end whole, and always something under a known purpose.
  push('');
  push('## Platform unification between O11 and ODC{#platform-unification}');
  push('');
  push('| Region | IP addresses |');
  push('| --- | --- |');
  push(
    '| Europe (London) | 13.41.171.86 |',
    [{ text: '13.41.171.86', words: [{ text: '13.41.171.86', readable: true }] }],
    ['platform-unification europe-london -'],
  );
  for (const row of shape.unification) {
    push(`| ${row.region} | ${join(row.items, row.separator)} |`, row.items, [`platform-unification ${regionKey(row.region)} -`]);
  }
  return { markdown: lines.join('\n'), expected };
}

const figures = { pages: 0, words: 0, observed: 0, named: 0 };

describe('every address-like word on the ODC page is observed or named (issue 15)', () => {
  it('on generated pages in the layouts the page has used', () => {
    fc.assert(
      fc.property(pageShape, (shape) => {
        const { markdown, expected } = build(shape);
        const page = parseOdcPage(markdown);
        const observed = new Set(page.entries.map((e) => `${e.cidr} ${e.purpose} ${e.region} ${e.stage ?? '-'}`));
        // A sentence's full stop stays on the word it ends ("0.0.0.256.").
        const named = new Set(
          page.issues.flatMap((issue) =>
            issue.tokens.flatMap((token) => [`${issue.line} ${token}`, `${issue.line} ${token.replace(/[.:]+$/, '')}`]),
          ),
        );
        for (const word of expected) {
          if (word.keys.length > 0)
            for (const key of word.keys) expect(observed.has(key), `line ${word.line}: ${key}\n${markdown}`).toBe(true);
          else expect(named.has(`${word.line} ${word.text}`), `line ${word.line}: ${word.text} named\n${markdown}`).toBe(true);
        }
        const keys = new Set(expected.flatMap((word) => word.keys));
        for (const key of observed) expect(keys.has(key), `${key} was not on the page as a listed address\n${markdown}`).toBe(true);
        const words = new Set(expected.map((word) => `${word.line} ${word.text}`));
        for (const issue of page.issues) {
          for (const token of issue.tokens) {
            if (/^(-|to)$/.test(token)) continue;
            const found = words.has(`${issue.line} ${token}`) || words.has(`${issue.line} ${token.replace(/[.:]+$/, '')}`);
            expect(found, `line ${issue.line}: ${token} named but not generated\n${markdown}`).toBe(true);
          }
        }
        figures.pages++;
        figures.words += expected.length;
        figures.observed += expected.filter((word) => word.keys.length > 0).length;
        figures.named += expected.filter((word) => word.keys.length === 0).length;
      }),
      { numRuns: 200, seed: 20_260_105 },
    );
    expect(figures.observed).toBeGreaterThan(1_500);
    expect(figures.named).toBeGreaterThan(500);
  });
});

afterAll(() => {
  console.info(
    `ODC accounting property: ${figures.pages} pages, ${figures.words} address-like words (${figures.observed} observed, ${figures.named} named)`,
  );
});
