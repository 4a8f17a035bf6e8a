import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { tryParseCidr } from '../../../shared/ipset.js';
import { parseCasPage } from '../../../shared/sources/cas-docs/page.js';
import { normaliseDataCenter } from '../../../shared/sources/cas-docs/schema.js';

/**
 * Issue 11, the accounting property: on any page in the shapes the real revisions used (tables with extra and
 * empty-header columns and cells beyond the header, <br> variants, commas, bullets and nested lists, prose, notes,
 * code blocks, a notice under the title, headings no rule maps) every address-like word the page holds is either
 * observed, under the section and data center it stands in, or named in an issue with its line; nothing else is
 * observed or named. The generator knows where it put each word and what should become of it.
 */

/** What must become of one generated word. */
interface Expected {
  readonly text: string;
  readonly line: number;
  readonly fate: 'observed' | 'named';
  /** For an observed word: "cidr section dataCenter". */
  readonly key?: string;
}

/** One item of a list: words that are addresses, words that only look like one, or plain words. */
interface Item {
  /** The text as it stands on the page. */
  readonly text: string;
  /** Its address-like words, each readable as an address or not. */
  readonly words: ReadonlyArray<{ readonly text: string; readonly readable: boolean }>;
}

const letter = fc.constantFrom(...'ghkmnpqrstuvwxyz');
const v4 = fc.ipV4();
const readable: fc.Arbitrary<Item> = fc
  .oneof(
    { arbitrary: v4, weight: 6 },
    { arbitrary: fc.ipV6(), weight: 2 },
    { arbitrary: fc.tuple(v4, fc.integer({ min: 8, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`), weight: 2 },
  )
  .map((text) => ({ text, words: [{ text, readable: true }] }));
const unreadable: fc.Arbitrary<Item> = fc
  .oneof(
    // A letter glued to an address, before or after it (issue 11: "13.64.16.132m 13.64.16.129").
    fc.tuple(v4, letter).map(([ip, l]) => `${ip}${l}`),
    fc.tuple(letter, v4).map(([l, ip]) => `${l}${ip}`),
    fc.tuple(fc.ipV6(), letter).map(([ip, l]) => `${ip}${l}`),
    // Two addresses run together, an octet out of range, a prefix too long.
    fc.tuple(v4, v4).map(([a, b]) => `${a}${b}`),
    fc.tuple(v4, fc.integer({ min: 256, max: 999 })).map(([ip, octet]) => ip.replace(/\d+$/, String(octet))),
    fc.tuple(v4, fc.integer({ min: 33, max: 99 })).map(([ip, bits]) => `${ip}/${bits}`),
    fc.tuple(v4, v4).map(([a, b]) => `${a}-${b}`),
  )
  .map((text) => ({ text, words: [{ text, readable: false }] }));
/** Several words that are unreadable together: a range written out, a prefix length set apart. */
const unreadableGroup: fc.Arbitrary<Item> = fc.oneof(
  fc
    .tuple(v4, fc.constantFrom(' - ', ' – ', '–', ' to '), v4)
    .map(([a, joiner, b]) => ({ text: `${a}${joiner}${b}`, words: [a, b].map((text) => ({ text, readable: false })) })),
  fc.tuple(v4, fc.integer({ min: 8, max: 32 })).map(([ip, bits]) => ({ text: `${ip} /${bits}`, words: [{ text: ip, readable: false }] })),
);
const plain: fc.Arbitrary<Item> = fc
  .constantFrom('n/a', 'and', 'port', '443', 'HTTPS', '*.portal.cloudappsecurity.com', 'Outbound')
  .map((text) => ({ text, words: [] }));
const item = fc.oneof(
  { arbitrary: readable, weight: 8 },
  { arbitrary: unreadable, weight: 2 },
  { arbitrary: unreadableGroup, weight: 1 },
  { arbitrary: plain, weight: 1 },
);
const items = (max: number, min = 0) => fc.array(item, { minLength: min, maxLength: max });
const cellSeparator = fc.constantFrom(', ', ',', ' ,', ' ', '<br>', '<br/>', '<br />', '<br></br>', '<br /><br />', ' <br></br> ');
const proseSeparator = fc.constantFrom(', ', ' and ', ', and ');

/** Column headers after the data-center column; an empty header after an IP column continues it. */
const headers = fc.constantFrom(
  ['IP addresses'],
  ['IP addresses', ''],
  ['IP addresses', '', ''],
  ['IP addresses', 'DNS name'],
  ['IP addresses', '', 'DNS name'],
  ['IP addresses', 'DNS name', ''],
  ['**IP Addresses**', '**DNS Name**'],
);

type Block =
  | {
      kind: 'table';
      headers: string[];
      rows: Array<{ label: string; cells: Item[][]; separator: string }>;
      delimiter: -1 | 0 | 1;
      container: 'none' | 'quote' | 'list';
    }
  | { kind: 'bullets'; entries: Array<{ nested: boolean; items: Item[]; separator: string }> }
  | { kind: 'prose'; lines: Array<{ items: Item[]; separator: string }> }
  | { kind: 'note'; items: Item[]; separator: string }
  | { kind: 'code'; items: Item[] };

const row = (width: number) =>
  fc.record({
    label: fc.constantFrom('US1', 'US', 'EU2', 'Gov US1', 'GCC'),
    // One cell per column, and sometimes one more beyond the header.
    cells: fc.array(items(5), { minLength: width, maxLength: width + 1 }),
    separator: cellSeparator,
  });
const table: fc.Arbitrary<Block> = headers.chain((columns) =>
  fc.record({
    kind: fc.constant('table' as const),
    headers: fc.constant([...columns] as string[]),
    rows: fc.array(row(columns.length), { minLength: 1, maxLength: 4 }),
    delimiter: fc.constantFrom(-1 as const, 0 as const, 1 as const),
    container: fc.constantFrom('none' as const, 'quote' as const, 'list' as const),
  }),
);
const block: fc.Arbitrary<Block> = fc.oneof(
  { arbitrary: table, weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('bullets' as const),
      entries: fc.array(fc.record({ nested: fc.boolean(), items: items(3, 1), separator: proseSeparator }), { minLength: 1, maxLength: 4 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('prose' as const),
      lines: fc.array(fc.record({ items: items(4), separator: proseSeparator }), { minLength: 1, maxLength: 3 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('note' as const), items: items(4), separator: proseSeparator }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('code' as const), items: items(3) }), weight: 1 },
);
const SECTIONS = [
  ['Portal access', 'portal'],
  ['SIEM agent connection', 'siem'],
  ['App connector', 'app-connector'],
  ['Third-party DLP integration', 'dlp'],
  ['Mail server', 'mail'],
  ['Partner telemetry', 'notice'],
] as const;
const section = fc.record({
  heading: fc.constantFrom(...SECTIONS),
  subheading: fc.boolean(),
  blocks: fc.array(block, { minLength: 1, maxLength: 3 }),
});
const pageShape = fc.record({
  first: v4,
  notice: fc.option(fc.record({ items: items(5), separator: proseSeparator }), { nil: undefined }),
  sections: fc.array(section, { minLength: 1, maxLength: 4 }),
});

type Shape = typeof pageShape extends fc.Arbitrary<infer T> ? T : never;

/** Builds the markdown and, line by line, what must become of every address-like word on it. */
function build(shape: Shape): { markdown: string; expected: Expected[] } {
  const lines: string[] = ['---', 'title: Network requirements', 'ms.date: 06/20/2024', '---', '', '# Network requirements', ''];
  const expected: Expected[] = [];
  /** Pushes one line holding `list`, recording its words as observed at `where` or as to be named. */
  const push = (text: string, list: readonly Item[] = [], where: { section: string; dataCenter: string } | 'named' = 'named') => {
    lines.push(text);
    for (const { words } of list) {
      for (const word of words) {
        const cidr = word.readable && where !== 'named' ? tryParseCidr(word.text) : undefined;
        expected.push(
          cidr !== undefined && where !== 'named'
            ? { text: word.text, line: lines.length, fate: 'observed', key: `${cidr} ${where.section} ${where.dataCenter}` }
            : { text: word.text, line: lines.length, fate: 'named' },
        );
      }
    }
  };
  const join = (list: readonly Item[], separator: string) => list.map((i) => i.text).join(separator);

  // Issue 11: the current page opens with a notice under the title, in no section.
  if (shape.notice)
    (push(`> [!IMPORTANT]`),
      push(`> Starting soon, also allow ${join(shape.notice.items, shape.notice.separator)} in your firewall.`, shape.notice.items, {
        section: 'notice',
        dataCenter: 'global',
      }),
      push(''));
  // A first portal row, so that every page lists something under a known section.
  (push('## Portal access'), push(''), push('|Data center|IP addresses|'), push('|----|----|'));
  push(`|US1|${shape.first}|`, [{ text: shape.first, words: [{ text: shape.first, readable: true }] }], {
    section: 'portal',
    dataCenter: 'US1',
  });
  push('');

  for (const { heading: named, subheading, blocks } of shape.sections) {
    const [heading, key]: readonly [string, string] = named;
    (push(`## ${heading}`), push(''));
    if (subheading) (push('### Commercial customers'), push(''));
    const global = { section: key, dataCenter: 'global' };
    for (const b of blocks) {
      switch (b.kind) {
        case 'table': {
          const prefix = b.container === 'quote' ? '> ' : b.container === 'list' ? '   ' : '';
          if (b.container === 'list') (push('1. If you cannot use service tags, allow these addresses:'), push(''));
          const address: boolean[] = [];
          b.headers.forEach((h, column) => (address[column] = /ip/i.test(h) || (h === '' && column > 0 && address[column - 1] === true)));
          // A delimiter row one cell longer or shorter is padded to match, as DocFX renders it.
          const listColumn = (column: number) => address[column] ?? address[b.headers.length - 1] === true;
          push(`${prefix}|Data center|${b.headers.join('|')}|`);
          push(
            `${prefix}|${Array(b.headers.length + 1 + b.delimiter)
              .fill('----')
              .join('|')}|`,
          );
          for (const r of b.rows) {
            const dataCenter = normaliseDataCenter(r.label);
            const text = `${prefix}|${r.label}|${r.cells.map((cell) => join(cell, r.separator)).join('|')}|`;
            lines.push(text);
            r.cells.forEach((cell, column) => {
              for (const { words } of cell) {
                for (const word of words) {
                  const cidr = word.readable && listColumn(column) ? tryParseCidr(word.text) : undefined;
                  expected.push(
                    cidr !== undefined
                      ? { text: word.text, line: lines.length, fate: 'observed', key: `${cidr} ${key} ${dataCenter}` }
                      : { text: word.text, line: lines.length, fate: 'named' },
                  );
                }
              }
            });
          }
          push('');
          break;
        }
        case 'bullets':
          for (const entry of b.entries) push(`${entry.nested ? '  - ' : '- '}${join(entry.items, entry.separator)}`, entry.items, global);
          push('');
          break;
        case 'prose':
          b.lines.forEach((line, index) =>
            push(
              `${index === 0 ? 'Add' : 'also'} ${join(line.items, line.separator)} to your allowlist${index === b.lines.length - 1 ? '.' : ''}`,
              line.items,
              global,
            ),
          );
          push('');
          break;
        case 'note':
          (push('> [!NOTE]'), push(`> Also allow ${join(b.items, b.separator)} on port 443.`, b.items, global), push(''));
          break;
        case 'code':
          push('```ini');
          for (const entry of b.items) push(entry.text, [entry], global);
          (push('```'), push(''));
          break;
      }
    }
  }
  (push('## Next steps'), push(''), push('[Best practices](best-practices.md)'));
  return { markdown: lines.join('\n'), expected };
}

const figures = { pages: 0, words: 0, observed: 0, named: 0, issues: 0 };

describe('every address-like word is observed or named (issue 11)', () => {
  it('on generated pages in every layout the page has used', () => {
    fc.assert(
      fc.property(pageShape, (shape) => {
        const { markdown, expected } = build(shape);
        const page = parseCasPage(markdown);
        const observed = new Set(page.entries.map((e) => `${e.cidr} ${e.section} ${e.dataCenter}`));
        const named = page.issues.flatMap((issue) => issue.tokens.map((token) => `${issue.line} ${token.replace(/[.:]+$/, '')}`));
        const namedExactly = new Set(page.issues.flatMap((issue) => issue.tokens.map((token) => `${issue.line} ${token}`)));
        for (const word of expected) {
          if (word.fate === 'observed')
            expect(observed.has(word.key!), `line ${word.line}: ${word.text} observed as ${word.key}\n${markdown}`).toBe(true);
          else
            expect(
              namedExactly.has(`${word.line} ${word.text}`) || named.includes(`${word.line} ${word.text}`),
              `line ${word.line}: ${word.text} named\n${markdown}`,
            ).toBe(true);
        }
        // And nothing else: every entry and every named address-like word was generated as such.
        const keys = new Set(expected.flatMap((word) => (word.key ? [word.key] : [])));
        for (const key of observed) expect(keys.has(key), `${key} was not on the page as a listed address\n${markdown}`).toBe(true);
        const words = new Set(expected.map((word) => `${word.line} ${word.text}`));
        for (const issue of page.issues) {
          for (const token of issue.tokens) {
            if (/^(-|–|—|to|\/\d+)$/.test(token)) continue;
            expect(
              words.has(`${issue.line} ${token}`) || words.has(`${issue.line} ${token.replace(/[.:]+$/, '')}`),
              `line ${issue.line}: ${token} named but not generated\n${markdown}`,
            ).toBe(true);
          }
        }
        figures.pages++;
        figures.words += expected.length;
        figures.observed += expected.filter((word) => word.fate === 'observed').length;
        figures.named += expected.filter((word) => word.fate === 'named').length;
        figures.issues += page.issues.length;
      }),
      { numRuns: 300, seed: 20_261_111 },
    );
    // Enough of each fate that the property says something.
    expect(figures.observed).toBeGreaterThan(5_000);
    expect(figures.named).toBeGreaterThan(1_000);
  });
});

afterAll(() => {
  console.info(
    `accounting property: ${figures.pages} pages, ${figures.words} address-like words (${figures.observed} observed, ${figures.named} named in ${figures.issues} issues)`,
  );
});
