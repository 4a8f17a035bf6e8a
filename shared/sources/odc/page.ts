import type { RootContent, Table, TableCell } from 'mdast';
import type { Cidr } from '../../ipset.js';
import { AllowlistError } from '../../problem.js';
import { AddressLedger, looksLikeAddress, type Token } from '../address-words.js';
import {
  descend,
  HeadingPlaces,
  parseMarkdownPage,
  phrasingText,
  scanTokens,
  textTokens,
  type HeadingLevel,
  type PageNames,
  type Scan,
  walkBlocks,
} from '../markdown-page.js';
import { regionKey, stageKey, type OdcPurpose } from './schema.js';

/** One address as the page lists it: its purpose, region and stage decide which firewall rule needs it. */
export interface OdcPageEntry {
  readonly cidr: Cidr;
  readonly purpose: OdcPurpose;
  /** Region key ("europe-frankfurt"), or "unplaced" for an address in prose under a section no rule maps. */
  readonly region: string;
  /** Runtime tables only: the stage type key. */
  readonly stage?: string;
  /** Heading path and row label, joined with " > ". */
  readonly heading: string;
}

/** A part of the page: a purpose, narrowed to a region and a stage when the page tells them. */
export interface OdcScope {
  readonly purpose: OdcPurpose;
  readonly region?: string;
  readonly stage?: string;
}

export type OdcIssueCode =
  /** Address-like text that is not one address or CIDR: a typo, a letter glued on, a range. */
  | 'odc-unreadable-address'
  /** An address outside the IP column of a table, or in prose under a section whose tables give its region. */
  | 'odc-address-outside-list'
  /** A table row whose region or stage cannot be told. */
  | 'odc-unlabelled-row'
  /** Address-like text the reader never reached (raw HTML, a link target): nothing is known about it. */
  | 'odc-address-not-read';

/** Address-like text not taken as a listed address; every such word is named in exactly one issue. */
export interface OdcPageIssue {
  readonly code: OdcIssueCode;
  /** Line in the page source (front matter included), 1-based. */
  readonly line: number;
  readonly tokens: readonly string[];
  readonly message: string;
  /** What the page may list there that this reading cannot see. */
  readonly scopes: readonly OdcScope[];
}

/** A region as the page names it, with every spelling it was met under (squashed: letters and digits only). */
export interface OdcRegion {
  readonly key: string;
  readonly name: string;
  readonly spellings: ReadonlySet<string>;
}

export interface OdcPage {
  /** Unique (cidr, purpose, region, stage) tuples in page order. */
  readonly entries: readonly OdcPageEntry[];
  /** Every region the page names, by key. */
  readonly regions: ReadonlyMap<string, OdcRegion>;
  /** Per purpose, the regions it lists rows for; per runtime region, its stages. */
  readonly rows: ReadonlyMap<OdcPurpose, ReadonlyMap<string, ReadonlySet<string>>>;
  /** Headings below the title that hold addresses but map to no purpose: their addresses are `other`. */
  readonly unrecognised: readonly string[];
  readonly issues: readonly OdcPageIssue[];
}

/** Region of an `other` address that no table placed. */
export const ODC_UNPLACED = 'unplaced';

/**
 * How headings map to purposes; the nearest heading below the title that maps decides. Order matters: "Data platform
 * public IP addresses" is data-platform, not runtime. The first revisions called the runtime section "ODC public IP
 * addresses".
 */
export const ODC_HEADING_RULES: ReadonlyArray<{ readonly pattern: RegExp; readonly purpose: OdcPurpose }> = [
  { pattern: /\bdata platform\b|\bstreaming\b|\banalytics\b|\baudit trails?\b/i, purpose: 'data-platform' },
  { pattern: /\bplatform unification\b/i, purpose: 'platform-unification' },
  { pattern: /\bidentity\b|\bcustom domains?\b/i, purpose: 'identity' },
  { pattern: /\bruntime\b|^ODC public IP addresses$/i, purpose: 'runtime' },
];

export function purposeOfHeading(heading: string): OdcPurpose | undefined {
  return ODC_HEADING_RULES.find((rule) => rule.pattern.test(heading))?.purpose;
}

/** Letters and digits only: how a configured region is compared with the page's names and anchors. */
export function squash(text: string): string {
  return regionKey(text).replace(/-/g, '');
}

const ODC_PAGE: PageNames = {
  code: 'odc',
  title: 'the ODC public IP addresses page',
  page: 'the ODC page',
  url: 'the ODC page URL',
};

/** Parses the page source into addresses per purpose, region and stage. */
export function parseOdcPage(markdown: string): OdcPage {
  // The page ends with a table at the top level, so a download cut short ends in the middle of its last row.
  const { source, tree } = parseMarkdownPage(markdown, { names: ODC_PAGE, nestedLastTable: false });
  const reader = new PageReader();
  reader.readBlocks(tree.children);
  reader.sweep(source.split('\n'));
  const page = reader.result();
  if (!page.entries.some((entry) => entry.purpose !== 'other')) {
    throw new AllowlistError(
      'odc-no-addresses',
      'the ODC page lists no addresses under a known section (runtime, identity, data platform, platform unification); its layout may have changed',
    );
  }
  return page;
}

interface Heading extends HeadingLevel {
  readonly anchor?: string;
}

/** Where text stands: its purpose, the heading that set it, and the region heading below that, if any. */
interface Place {
  readonly purpose: OdcPurpose;
  readonly path: string;
  /** A heading below the purpose's own (the runtime tables sit under one heading per region). */
  readonly regionHeading?: Heading;
  /** Under a heading below the title that no rule maps. */
  readonly unrecognised: boolean;
}

/** A row's label texts and the columns they came from (-1: the table has no such column). */
interface RowColumns {
  readonly stageText: string;
  readonly stageColumn: number;
  readonly regionText: string;
  readonly customerColumn: number;
  readonly regionColumn: number;
}

/** An issue as the walk finds it: `where` is the heading path (and row), `what` completes the message. */
interface IssueDraft extends Omit<OdcPageIssue, 'message'> {
  readonly where: string;
  readonly what: string;
}

class PageReader {
  private headings: Heading[] = [];
  /** The purpose in force from each heading's line on, for text the walk did not reach. */
  private readonly places = new HeadingPlaces<Place>({ purpose: 'other', path: '(before the first section)', unrecognised: false });
  private readonly entries = new Map<string, OdcPageEntry>();
  private readonly regions = new Map<string, { name: string; spellings: Set<string> }>();
  private readonly rows = new Map<OdcPurpose, Map<string, Set<string>>>();
  private readonly unrecognised = new Set<string>();
  private readonly issues: OdcPageIssue[] = [];
  /** What the walk read, word by word, so that the sweep can name every address-like word it did not. */
  private readonly ledger = new AddressLedger();

  /** Raw HTML and code are not read as lists; the sweep names any address in them. */
  readBlocks(blocks: readonly RootContent[]): void {
    walkBlocks(blocks, {
      heading: (block) => {
        const { text, anchor } = withoutAnchor(phrasingText(block.children));
        this.headings = descend(this.headings, { depth: block.depth, text, ...(anchor ? { anchor } : {}) });
        this.places.mark(block.position?.start.line ?? 0, this.place());
        this.readProse(textTokens(block.children));
      },
      table: (block) => this.readTable(block),
      paragraph: (block) => this.readProse(textTokens(block.children)),
    });
  }

  /** Every address-like word in the source the walk did not read becomes an issue, so none is lost unseen. */
  sweep(lines: readonly string[]): void {
    for (const [line, tokens] of this.ledger.unread(lines)) {
      const place = this.places.at(line);
      this.issue({
        code: 'odc-address-not-read',
        line,
        tokens,
        where: place.path,
        what: 'outside the text this reader understands (raw HTML, a link target or the like)',
        scopes: [{ purpose: place.purpose }],
      });
    }
  }

  result(): OdcPage {
    return {
      entries: [...this.entries.values()],
      regions: new Map([...this.regions].map(([key, region]) => [key, { key, name: region.name, spellings: region.spellings }] as const)),
      rows: this.rows,
      unrecognised: [...this.unrecognised],
      issues: [...this.issues].sort((a, b) => a.line - b.line),
    };
  }

  private readTable(table: Table): void {
    const [header, ...rows] = table.children;
    if (!header) return;
    const place = this.place();
    const headers = header.children.map((cell) => phrasingText(cell.children).trim());
    const ipColumn = headers.map((text) => /\bips?\b|\bipv[46]\b|\baddress(es)?\b|\bcidrs?\b/i.test(text));
    const stageColumn = headers.findIndex((text) => /^stages?( types?)?$/i.test(text));
    const customerColumn = headers.findIndex((text) => /\bcustomer regions?\b/i.test(text));
    const regionColumn = headers.findIndex((text) => /^(odc |your )?regions?$/i.test(text));
    const isList = (column: number) => ipColumn[column] ?? false;
    this.readStray(
      header.children.map((cell) => ({ cell, column: -1 })),
      `${place.path}, the header row`,
      [{ purpose: place.purpose }],
    );
    for (const row of rows) {
      const cellText = (column: number) => (column >= 0 && row.children[column] ? phrasingText(row.children[column]!.children).trim() : '');
      const rowKeys = this.rowKeys(place, {
        stageText: cellText(stageColumn),
        stageColumn,
        regionText: cellText(customerColumn >= 0 ? customerColumn : regionColumn),
        customerColumn,
        regionColumn,
      });
      const where = [place.path, rowKeys.labels.join(', ')].filter(Boolean).join(' > ');
      const scopes: OdcScope[] = rowKeys.regions.length
        ? rowKeys.regions.map((region) => ({ purpose: place.purpose, region, ...(rowKeys.stage ? { stage: rowKeys.stage } : {}) }))
        : [{ purpose: place.purpose }];
      const listCells = row.children.map((cell, column) => ({ cell, column })).filter(({ column }) => isList(column));
      const tokens = listCells.flatMap(({ cell }) => textTokens(cell.children));
      const scan = scanList(tokens);
      if (scan.addresses.length > 0 && rowKeys.regions.length === 0) {
        this.ledger.consume(scan.addresses.map((a) => a.token));
        this.issue({
          code: 'odc-unlabelled-row',
          line: scan.addresses[0]!.token.line,
          tokens: scan.addresses.map((a) => a.token.text),
          where,
          what: `in a table row whose ${rowKeys.missing} cannot be told`,
          scopes,
        });
      } else {
        for (const { cidr, token } of scan.addresses) {
          this.ledger.consume([token]);
          rowKeys.regions.forEach((region, index) => {
            const heading = [place.path, rowKeys.labels[index]].filter(Boolean).join(' > ');
            this.add({ cidr, purpose: place.purpose, region, ...(rowKeys.stage ? { stage: rowKeys.stage } : {}), heading }, place);
          });
        }
      }
      this.readUnreadable(scan.unreadable, where, scopes);
      if (rowKeys.regions.length > 0) this.noteRow(place.purpose, rowKeys.regions, rowKeys.stage);
      const others = row.children.map((cell, column) => ({ cell, column })).filter(({ column }) => !isList(column));
      this.readStray(others, where, scopes);
    }
  }

  /** The regions (and stage) a row stands for, from its stage, customer-region or region column, or the heading above it. */
  private rowKeys(
    place: Place,
    { stageText, stageColumn, regionText, customerColumn, regionColumn }: RowColumns,
  ): { regions: string[]; labels: string[]; stage?: string; missing: string } {
    if (stageColumn >= 0) {
      const stage = stageText === '' || looksLikeAddress(stageText) ? undefined : stageKey(stageText);
      const region = place.regionHeading && this.region(place.regionHeading.text, place.regionHeading.anchor);
      if (region === undefined || stage === undefined)
        return { regions: [], labels: [stageText], missing: region === undefined ? 'region' : 'stage type' };
      return { regions: [region], labels: [stageText], stage, missing: '' };
    }
    if (customerColumn >= 0 || regionColumn >= 0) {
      const names = customerColumn >= 0 ? splitNames(regionText) : [regionText].filter((name) => name !== '' && !looksLikeAddress(name));
      return { regions: names.map((name) => this.region(name, undefined, customerColumn >= 0)), labels: names, missing: 'region' };
    }
    if (place.regionHeading) {
      return { regions: [this.region(place.regionHeading.text, place.regionHeading.anchor)], labels: [''], missing: 'region' };
    }
    return { regions: [], labels: [], missing: 'region' };
  }

  /**
   * The key of a region the page names. A name in the data-platform table may be spelt differently from the region's
   * own heading ("CA (Canada Central)" for "Canada (Central)"); it is the same region when the words of one name
   * hold all the words of exactly one region named before.
   */
  private region(name: string, anchor?: string, alias = false): string {
    let key = regionKey(name);
    if (alias && !this.regions.has(key)) {
      const words = new Set(key.split('-'));
      const fits = [...this.regions.keys()].filter((known) => {
        const knownWords = known.split('-');
        return knownWords.every((word) => words.has(word)) || [...words].every((word) => knownWords.includes(word));
      });
      if (fits.length === 1) key = fits[0]!;
    }
    const region = this.regions.get(key) ?? { name, spellings: new Set<string>() };
    region.spellings.add(squash(name));
    region.spellings.add(key.replace(/-/g, ''));
    if (anchor) region.spellings.add(squash(anchor));
    this.regions.set(key, region);
    return key;
  }

  private noteRow(purpose: OdcPurpose, regions: readonly string[], stage: string | undefined): void {
    const byRegion = this.rows.get(purpose) ?? new Map<string, Set<string>>();
    for (const region of regions) {
      const stages = byRegion.get(region) ?? new Set<string>();
      if (stage) stages.add(stage);
      byRegion.set(region, stages);
    }
    this.rows.set(purpose, byRegion);
  }

  /** Addresses in a column that is not the IP list (a label, a port): reported, never guessed at. */
  private readStray(cells: ReadonlyArray<{ cell: TableCell; column: number }>, where: string, scopes: readonly OdcScope[]): void {
    for (const { cell } of cells) {
      const found = textTokens(cell.children).filter((token) => looksLikeAddress(token.text));
      if (found.length === 0) continue;
      this.ledger.consume(found);
      this.issue({
        code: 'odc-address-outside-list',
        line: found[0]!.line,
        tokens: found.map((t) => t.text),
        where,
        what: 'in a table column that is not a list of IP addresses',
        scopes,
      });
    }
  }

  /**
   * Prose, bullets and code: the page lists its addresses in tables, where region and stage are told. Under a known
   * purpose an address in prose cannot be placed and is named; under a section no rule maps it is observed as `other`.
   */
  private readProse(tokens: readonly Token[]): void {
    if (!tokens.some((token) => looksLikeAddress(token.text))) return;
    const place = this.place();
    const scan = scanList(tokens);
    if (scan.addresses.length > 0) {
      this.ledger.consume(scan.addresses.map((a) => a.token));
      if (place.purpose === 'other') {
        for (const { cidr } of scan.addresses) this.add({ cidr, purpose: 'other', region: ODC_UNPLACED, heading: place.path }, place);
      } else {
        this.issue({
          code: 'odc-address-outside-list',
          line: scan.addresses[0]!.token.line,
          tokens: scan.addresses.map((a) => a.token.text),
          where: place.path,
          what: 'in text outside a table, so its region and stage cannot be told',
          scopes: [{ purpose: place.purpose }],
        });
      }
    }
    this.readUnreadable(scan.unreadable, place.path, [{ purpose: place.purpose }]);
  }

  /** Address-like words that are not one address or CIDR: each named where it stood. */
  private readUnreadable(unreadable: Scan['unreadable'], where: string, scopes: readonly OdcScope[]): void {
    for (const bad of unreadable) {
      this.ledger.consume(bad.tokens);
      this.issue({
        code: 'odc-unreadable-address',
        line: bad.tokens[0]!.line,
        tokens: bad.tokens.map((t) => t.text),
        where,
        what: bad.why,
        scopes,
      });
    }
  }

  private issue({ code, line, tokens, where, what, scopes }: IssueDraft): void {
    const named = tokens.map((token) => `"${token}"`).join(' ');
    this.issues.push({ code, line, tokens, message: `line ${line} of the ODC page, under "${where}": ${named} ${what}`, scopes });
  }

  private add(entry: OdcPageEntry, place: Place): void {
    if (place.unrecognised) this.unrecognised.add(place.path);
    this.entries.set(`${entry.cidr} ${entry.purpose} ${entry.region} ${entry.stage ?? ''}`, entry);
  }

  /** The purpose in force here: the nearest heading below the title that maps to one, or `other`. */
  private place(): Place {
    const below = this.headings.filter((h) => h.depth > 1);
    const path = below.map((h) => h.text).join(' > ') || '(before the first section)';
    for (let level = below.length - 1; level >= 0; level--) {
      const purpose = purposeOfHeading(below[level]!.text);
      if (purpose === undefined) continue;
      const deepest = below.at(-1)!;
      return { purpose, path, ...(level < below.length - 1 ? { regionHeading: deepest } : {}), unrecognised: false };
    }
    const deepest = below.at(-1);
    return { purpose: 'other', path, ...(below.length > 1 && deepest ? { regionHeading: deepest } : {}), unrecognised: below.length > 0 };
  }
}

/** The page lists addresses one per cell or paragraph, with no region labels inside: one list of words. */
function scanList(tokens: readonly Token[]): { addresses: Scan['groups'][number]['addresses']; unreadable: Scan['unreadable'] } {
  const scan = scanTokens(tokens, { regions: false });
  return { addresses: scan.groups.flatMap((group) => group.addresses), unreadable: scan.unreadable };
}

/** "US East (North Virginia), CA (Canada Central)": names separated by commas outside parentheses. */
function splitNames(text: string): string[] {
  const names: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth = Math.max(0, depth - 1);
    if ((char === ',' || char === ';' || char === '\n') && depth === 0) {
      names.push(current);
      current = '';
    } else current += char;
  }
  names.push(current);
  return names.map((name) => name.trim()).filter((name) => name !== '' && !looksLikeAddress(name));
}

/** "Platform unification between O11 and ODC{#platform-unification}" -> its text and its anchor. */
function withoutAnchor(heading: string): { text: string; anchor?: string } {
  const match = /\s*\{\s*#([\w-]+)\s*\}\s*$/.exec(heading);
  if (!match) return { text: heading.trim() };
  return { text: heading.slice(0, match.index).trim(), anchor: match[1]! };
}
