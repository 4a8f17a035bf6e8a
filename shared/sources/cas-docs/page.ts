import type { Html, RootContent, Table, TableCell } from 'mdast';
import type { Cidr } from '../../ipset.js';
import { AddressLedger, addressLikeWords, looksLikeAddress, tokensOf, type Token } from '../address-words.js';
import { AllowlistError } from '../../problem.js';
import {
  BREAK,
  descend,
  HeadingPlaces,
  parseMarkdownPage,
  phrasingText,
  pieces,
  scanTokens,
  type HeadingLevel,
  type Piece,
  type PageNames,
  walkBlocks,
} from '../markdown-page.js';
import { assertBlocksClosed, fenceOf, normaliseDocfx } from './docfx.js';
import { normaliseDataCenter, type CasSection } from './schema.js';

/** One address as the page lists it: where it stood decides which firewall rule needs it. */
export interface CasPageEntry {
  readonly cidr: Cidr;
  readonly section: CasSection;
  /** Data-center code (US1, EU2, GOV-US1, GCC), proxy region slug ("west-europe"), or "global". */
  readonly dataCenter: string;
  /** Heading path, lead-in caption and proxy row label, joined with " > ". */
  readonly heading: string;
}

/** A part of the page: one section in one data center, or (without `dataCenter`) in every data center. */
export interface CasScope {
  readonly section: CasSection;
  readonly dataCenter?: string;
}

export type CasIssueCode =
  /** Address-like text that is not one address or CIDR: a typo, a letter glued on, a lost separator, a range. */
  | 'cas-unreadable-address'
  /** An address in a table column that is not an IP column, or in a table without one. */
  | 'cas-address-outside-list'
  /** Addresses in a table row that names no data center. */
  | 'cas-unlabelled-row'
  /** Address-like text the reader never reached (raw HTML, a link target): nothing is known about it. */
  | 'cas-address-not-read'
  /** Addresses inside an HTML comment: not listed on the rendered page, so not observed and hiding nothing. */
  | 'cas-address-commented-out';

/**
 * Address-like text the page holds but the reader could not take as listed addresses. Every such token is
 * named in exactly one issue, so nothing is dropped without a word; the page around it is read as usual.
 */
export interface CasPageIssue {
  readonly code: CasIssueCode;
  /** Line in the page source (front matter included), 1-based. */
  readonly line: number;
  /** The address-like tokens concerned, verbatim. */
  readonly tokens: readonly string[];
  /** The cell or paragraph text they stood in, shortened around them. */
  readonly text: string;
  /** Heading path (and row label) they stood under. */
  readonly heading: string;
  /** One sentence for people: where, what, and what was read around it. */
  readonly message: string;
  /** What the page may list there that this reading cannot see; empty when the text hides nothing. */
  readonly scopes: readonly CasScope[];
}

export interface CasPage {
  /** The front matter's ms.date, as YYYY-MM-DD when it is a M/D/YYYY date. */
  readonly revision?: string;
  /** Unique (cidr, section, dataCenter, heading) tuples in page order. */
  readonly entries: readonly CasPageEntry[];
  readonly sections: ReadonlySet<CasSection>;
  readonly dataCenters: ReadonlySet<string>;
  /**
   * Heading paths below the first section heading that hold addresses but map to no section: the page changed
   * in a way we cannot place. Their addresses are entries of the `notice` section.
   */
  readonly unrecognised: readonly string[];
  /** Address-like text not read as addresses, in page order. */
  readonly issues: readonly CasPageIssue[];
}

/** Addresses not tied to one data center (the mail servers, addresses in prose) apply to all of them. */
export const CAS_GLOBAL_DATA_CENTER = 'global';

/** Addresses outside every known section: the notice under the title, and anything under a heading no rule maps. */
export const CAS_NOTICE_SECTION = 'notice' satisfies CasSection;

/**
 * How headings map to sections. A heading may name several sections (2017: "Portal access, SIEM agent,
 * authentication gateway, and log collector"); its addresses then count for each. The nearest heading
 * that maps to something decides, so "### Commercial customers" under "## Access and session controls" is proxy.
 */
export const CAS_HEADING_RULES: ReadonlyArray<{ readonly pattern: RegExp; readonly section: CasSection }> = [
  { pattern: /\bportal\b/i, section: 'portal' },
  { pattern: /\bsiem\b/i, section: 'siem' },
  { pattern: /\blog collector\b/i, section: 'log-collector' },
  { pattern: /\b(app|api) connector\b/i, section: 'app-connector' },
  { pattern: /\bdlp\b/i, section: 'dlp' },
  { pattern: /\b(e-?)?mail server\b/i, section: 'mail' },
  { pattern: /\baccess and session controls?\b|\bsession controls?\b|\breverse proxy\b/i, section: 'proxy' },
];

/**
 * Headings that close a docs page. Every revision ends with one ("See Also" until 2018, "Next steps" since), so a
 * page without one after its last section was cut short, whatever sections that revision happened to have.
 */
const CLOSING_HEADING =
  /^(see also|next steps?|related (content|articles|topics|links)|learn more|more information|additional resources)\b/i;

export function casSectionsOfHeading(heading: string): CasSection[] {
  return CAS_HEADING_RULES.filter((rule) => rule.pattern.test(heading)).map((rule) => rule.section);
}

const CAS_PAGE: PageNames = {
  code: 'cas',
  title: 'the CAS network-requirements page',
  page: 'the CAS network-requirements page',
  url: 'the CAS network-requirements URL',
};

/** Parses the page source (DocFX-flavoured markdown) into addresses per section and data center. */
export function parseCasPage(markdown: string): CasPage {
  const { source, tree, frontMatter } = parseMarkdownPage(markdown, { names: CAS_PAGE, normalise: normaliseDocfx, nestedLastTable: true });
  assertBlocksClosed(tree, source);
  // DocFX front matter is YAML; only ms.date is read, so a targeted line match is enough.
  const date = frontMatter.map((line) => /^ms\.date:\s*(.*?)\s*$/.exec(line)?.[1]).find((value) => value);

  const reader = new PageReader(source);
  reader.readBlocks(tree.children);
  reader.sweep(source.split('\n'));
  reader.assertClosed();
  if (reader.placed === 0) {
    throw new AllowlistError(
      'cas-no-addresses',
      'the CAS network-requirements page lists no addresses under a known section; its layout may have changed',
    );
  }
  return reader.result(date === undefined ? undefined : isoDate(date));
}

/** An issue as the walk finds it: `what` completes the message, `place` decides what the issue blinds. */
interface IssueDraft extends Omit<CasPageIssue, 'message'> {
  readonly what: string;
  readonly place: Place;
}

/** Where text stands: the sections it counts for, and whether a known heading placed it. */
interface Place {
  readonly sections: readonly CasSection[];
  readonly known: boolean;
  /** Under a heading below the title that no rule maps: the page changed in a way we cannot place. */
  readonly unrecognised: boolean;
  readonly heading: string;
}

/** Walks the tree in document order, keeping the heading path that gives every address its section. */
class PageReader {
  /** Tokens (addresses or unreadable address-like text) that stand under a known section. */
  placed = 0;
  /** The normalised page source: code blocks need it to tell a fence from an indent. */
  constructor(private readonly source: string) {}

  private headings: HeadingLevel[] = [];
  /** Whether a heading below the title has been seen: above it is the page's notice, not an unknown section. */
  private belowTitle = false;
  private lastSectionLine = 0;
  private closingLine = 0;
  /** Sections in force from each heading's line on, for text the walk did not reach. */
  private readonly places = new HeadingPlaces<Place>({
    sections: [CAS_NOTICE_SECTION],
    known: false,
    unrecognised: false,
    heading: '(before the first heading)',
  });
  private readonly entries = new Map<string, CasPageEntry>();
  private readonly unrecognised = new Set<string>();
  private readonly issues: CasPageIssue[] = [];
  /** What the walk read, word by word, so that the sweep can name every address-like word it did not. */
  private readonly ledger = new AddressLedger();

  readBlocks(blocks: readonly RootContent[]): void {
    walkBlocks(blocks, {
      heading: (block) => {
        const text = phrasingText(block.children).trim();
        this.headings = descend(this.headings, { depth: block.depth, text });
        const line = block.position?.start.line ?? 0;
        if (block.depth > 1) this.belowTitle = true;
        if (casSectionsOfHeading(text).length > 0) this.lastSectionLine = line;
        if (CLOSING_HEADING.test(text)) this.closingLine = line;
        this.places.mark(line, this.place());
        this.readProse(pieces(block.children), text);
      },
      table: (block, previous) => this.readTable(block, captionOf(previous)),
      paragraph: (block) => this.readProse(pieces(block.children), phrasingText(block.children)),
      code: (block) => {
        // A fenced block's text starts on the line after its fence; an indented block's on its own first line.
        const start = (block.position?.start.line ?? 0) + (fenceOf(block, this.source) === undefined ? 0 : 1);
        this.readProse([{ kind: 'text', tokens: tokensOf(block.value, start) }], block.value);
      },
      html: (block) => this.readHtml(block),
    });
  }

  /**
   * The accounting pass: every address-like token in the source that the walk did not read (raw HTML, a link
   * target, an image's alt text) becomes an issue, so no address can be lost between the parser and the reader.
   */
  sweep(lines: readonly string[]): void {
    for (const [line, tokens] of this.ledger.unread(lines)) {
      const place = this.places.at(line);
      this.issue({
        code: 'cas-address-not-read',
        line,
        tokens,
        text: lines[line - 1] ?? '',
        heading: place.heading,
        what: 'outside the text this reader understands (raw HTML, a link target or the like)',
        scopes: place.sections.map((section) => ({ section })),
        place,
      });
    }
  }

  /** A page cut after its last section heading ends without the closing section every revision has. */
  assertClosed(): void {
    if (this.closingLine === 0 || this.closingLine < this.lastSectionLine) {
      throw new AllowlistError(
        'cas-truncated',
        'the CAS network-requirements page has no closing section (such as "Next steps" or "See also") after its last address section; it looks cut short',
      );
    }
  }

  result(revision: string | undefined): CasPage {
    const entries = [...this.entries.values()];
    return {
      ...(revision === undefined ? {} : { revision }),
      entries,
      sections: new Set(entries.map((e) => e.section)),
      dataCenters: new Set(entries.map((e) => e.dataCenter)),
      unrecognised: [...this.unrecognised],
      issues: [...this.issues].sort((a, b) => a.line - b.line),
    };
  }

  private readTable(table: Table, caption: string | undefined): void {
    const [header, ...rows] = table.children;
    if (!header) return;
    const place = this.place();
    const heading = [place.heading, caption].filter(Boolean).join(' > ');
    const headers = header.children.map((cell) => cellText(cell).trim());
    // An IP column, and the columns after it whose header is empty (or missing: cells beyond the header),
    // which some revisions use to continue a long list.
    const addressColumn: boolean[] = [];
    headers.forEach((text, column) => {
      addressColumn[column] = isAddressHeader(text) || (text === '' && column > 0 && addressColumn[column - 1] === true);
    });
    const labelled = addressColumn[0] !== true;
    this.readCells(
      header.children.map((cell, column) => ({ cell, column })),
      { place, heading, dataCenter: undefined, rowName: 'the header row' },
    );
    for (const row of rows) {
      // A label that is itself address-like names no data center (and is reported with the other cells).
      const written = labelled && row.children[0] ? cellText(row.children[0]).trim() : '';
      const label = addressLikeWords(written).length > 0 ? '' : written;
      const cells = row.children.map((cell, column) => ({ cell, column }));
      const continues = (column: number) => addressColumn[column] ?? (headers.length > 0 && addressColumn[headers.length - 1] === true);
      const listCells = cells.filter(({ column }) => continues(column));
      const otherCells = cells.filter(({ column }) => !continues(column));
      const rowName = label === '' ? 'a row without a data-center name' : `row ${label}`;
      // The columns of one row form one list: a cell may continue the previous one, and a region label may span them.
      const tokens = listCells.flatMap(({ cell }): Array<Token | typeof BREAK> => [
        ...this.tokenStream(pieces(cell.children), place),
        BREAK,
      ]);
      const texts = listCells.map(({ cell }) => cellText(cell)).join(' | ');
      const scan = scanTokens(tokens, { regions: true });
      const rowDataCenter = label === '' ? (labelled ? undefined : CAS_GLOBAL_DATA_CENTER) : normaliseDataCenter(label);
      scan.groups.forEach((group) => {
        if (group.addresses.length === 0) return;
        const dataCenter = group.region === undefined ? rowDataCenter : slug(group.region);
        this.ledger.consume(group.addresses.map((a) => a.token));
        if (dataCenter === undefined) {
          const first = group.addresses[0]!.token;
          this.issue({
            code: 'cas-unlabelled-row',
            line: first.line,
            tokens: group.addresses.map((a) => a.token.text),
            text: texts,
            heading,
            what: 'in a table row that names no data center',
            scopes: place.sections.map((section) => ({ section })),
            place,
          });
          return;
        }
        const where = [heading, group.region === undefined ? undefined : label].filter(Boolean).join(' > ');
        this.add(
          group.addresses.map((a) => a.cidr),
          dataCenter,
          where,
          place,
        );
      });
      for (const bad of scan.unreadable) {
        this.ledger.consume(bad.tokens);
        const dataCenter = bad.region === undefined ? rowDataCenter : slug(bad.region);
        const scopes = place.sections.map((section) => (dataCenter === undefined ? { section } : { section, dataCenter }));
        const context = aroundText(bad.before, bad.after, 'in the same row');
        this.issue({
          code: 'cas-unreadable-address',
          line: bad.tokens[0]!.line,
          tokens: bad.tokens.map((t) => t.text),
          text: texts,
          heading: `${heading}, ${rowName}`,
          what: `${bad.why}; ${context}`,
          scopes,
          place,
        });
      }
      this.readCells(otherCells, { place, heading, dataCenter: rowDataCenter, rowName });
    }
  }

  /** Addresses in a column that lists no addresses (a DNS name, the data-center label): reported, never guessed at. */
  private readCells(
    cells: ReadonlyArray<{ cell: TableCell; column: number }>,
    { place, heading, dataCenter, rowName }: { place: Place; heading: string; dataCenter: string | undefined; rowName: string },
  ): void {
    for (const { cell } of cells) {
      const found = this.tokenStream(pieces(cell.children), place).filter(
        (token): token is Token => token !== BREAK && looksLikeAddress(token.text),
      );
      if (found.length === 0) continue;
      this.ledger.consume(found);
      const scopes = place.sections.map((section) => (dataCenter === undefined ? { section } : { section, dataCenter }));
      this.issue({
        code: 'cas-address-outside-list',
        line: found[0]!.line,
        tokens: found.map((t) => t.text),
        text: cellText(cell),
        heading: `${heading}, ${rowName}`,
        what: 'in a column that is not a list of IP addresses',
        scopes,
        place,
      });
    }
  }

  /** Prose, bullets, notes and code blocks: addresses count for every data center of the section they stand under. */
  private readProse(parts: readonly Piece[], text: string): void {
    const place = this.place();
    const tokens = this.tokenStream(parts, place);
    if (!tokens.some((token) => token !== BREAK && looksLikeAddress(token.text))) return;
    const scan = scanTokens(tokens, { regions: false });
    for (const group of scan.groups) {
      this.ledger.consume(group.addresses.map((a) => a.token));
      this.add(
        group.addresses.map((a) => a.cidr),
        CAS_GLOBAL_DATA_CENTER,
        place.heading,
        place,
      );
    }
    for (const bad of scan.unreadable) {
      this.ledger.consume(bad.tokens);
      const scopes = place.sections.map((section) => ({ section, dataCenter: CAS_GLOBAL_DATA_CENTER }));
      this.issue({
        code: 'cas-unreadable-address',
        line: bad.tokens[0]!.line,
        tokens: bad.tokens.map((t) => t.text),
        text,
        heading: place.heading,
        what: `${bad.why}; ${aroundText(bad.before, bad.after, 'in the same paragraph')}`,
        scopes,
        place,
      });
    }
  }

  private readHtml(block: Html): void {
    const tokens = tokensOf(block.value, block.position?.start.line ?? 0);
    this.readInlineHtml({ kind: 'html', value: block.value, tokens }, this.place());
  }

  /** The words of some text, with a break wherever HTML or a line break stood; HTML itself is read aside. */
  private tokenStream(parts: readonly Piece[], place: Place): Array<Token | typeof BREAK> {
    const tokens: Array<Token | typeof BREAK> = [];
    for (const part of parts) {
      if (part.kind === 'text') {
        tokens.push(...part.tokens);
        continue;
      }
      if (part.kind === 'html') this.readInlineHtml(part, place);
      tokens.push(BREAK);
    }
    return tokens;
  }

  /** An HTML comment hides its text from readers of the page; other raw HTML is not read, so what it lists is unknown. */
  private readInlineHtml(part: Extract<Piece, { kind: 'html' }>, place: Place): void {
    const found = part.tokens.filter((token) => looksLikeAddress(token.text));
    if (found.length === 0) return;
    this.ledger.consume(found);
    const commented = part.value.trimStart().startsWith('<!--');
    this.issue({
      code: commented ? 'cas-address-commented-out' : 'cas-address-not-read',
      line: found[0]!.line,
      tokens: found.map((t) => t.text),
      text: part.value,
      heading: place.heading,
      what: commented
        ? 'inside an HTML comment, so not listed on the page; not observed'
        : 'inside raw HTML, which this reader does not read',
      scopes: commented ? [] : place.sections.map((section) => ({ section })),
      place,
    });
  }

  private issue({ code, line, tokens, text, heading, what, scopes, place }: IssueDraft): void {
    if (place.known) this.placed += tokens.length;
    if (place.unrecognised && scopes.length > 0) this.unrecognised.add(place.heading);
    const shown = shorten(text.replace(/\s+/g, ' ').trim(), tokens[0] ?? '');
    const named = tokens.map((token) => `"${token}"`).join(' ');
    this.issues.push({
      code,
      line,
      tokens,
      text: shown,
      heading,
      message: `line ${line} of the CAS page, under "${heading}": ${named} ${what} (the text reads "${shown}")`,
      scopes: uniqueScopes(scopes),
    });
  }

  /** Records addresses under every section of their place; addresses under no known section go to `notice`. */
  private add(cidrs: readonly Cidr[], dataCenter: string, heading: string, place: Place): void {
    if (cidrs.length === 0) return;
    if (place.known) this.placed += cidrs.length;
    if (place.unrecognised) this.unrecognised.add(place.heading);
    for (const section of place.sections) {
      for (const cidr of cidrs) {
        const entry: CasPageEntry = { cidr, section, dataCenter, heading };
        this.entries.set(`${cidr} ${section} ${dataCenter} ${heading}`, entry);
      }
    }
  }

  /** The sections in force here: the nearest heading that maps to some, or `notice` when none does. */
  private place(): Place {
    const heading = this.path();
    for (let level = this.headings.length - 1; level >= 0; level--) {
      const sections = casSectionsOfHeading(this.headings[level]!.text);
      if (sections.length > 0) return { sections, known: true, unrecognised: false, heading };
    }
    return { sections: [CAS_NOTICE_SECTION], known: false, unrecognised: this.belowTitle, heading };
  }

  /** The page title (the first-level heading) adds nothing to a reviewer, so the path starts below it. */
  private path(): string {
    const below = this.headings.filter((h) => h.depth > 1);
    const shown = below.length > 0 ? below : this.headings;
    return shown.map((h) => h.text).join(' > ') || '(before the first heading)';
  }
}
function aroundText(before: Cidr | undefined, after: Cidr | undefined, where: string): string {
  if (before && after) return `read ${before} before it and ${after} after it ${where}`;
  if (before) return `read ${before} before it ${where} and nothing after it`;
  if (after) return `read ${after} after it ${where} and nothing before it`;
  return `read no other address ${where}`;
}

/** Long cells (70 addresses) are cut to the part around the text in question. */
function shorten(text: string, around: string): string {
  const limit = 160;
  if (text.length <= limit) return text;
  const at = Math.max(0, text.indexOf(around));
  const start = Math.max(0, Math.min(at - 60, text.length - limit));
  const end = Math.min(text.length, start + limit);
  return `${start > 0 ? '…' : ''}${text.slice(start, end)}${end < text.length ? '…' : ''}`;
}

function uniqueScopes(scopes: readonly CasScope[]): CasScope[] {
  const seen = new Map<string, CasScope>();
  for (const scope of scopes) seen.set(`${scope.section}\0${scope.dataCenter ?? ''}`, scope);
  return [...seen.values()];
}

/** Header cells that name a list of addresses: "IP addresses", "**IP Addresses**", "IPv6 ranges", "CIDR". */
function isAddressHeader(text: string): boolean {
  return /\b(ip|ipv4|ipv6)\b|\baddress(es)?\b|\bcidrs?\b|\bprefix(es)?\b/i.test(text);
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Sibling tables under one heading are told apart by a short lead-in line such as
 * "For **US Government GCC High** customers:"; long sentences are instructions, not captions.
 */
function captionOf(block: RootContent | undefined): string | undefined {
  if (block?.type !== 'paragraph') return undefined;
  const text = phrasingText(block.children).replace(/\s+/g, ' ').trim();
  if (!text.endsWith(':') || text.split(' ').length > 8) return undefined;
  return text.slice(0, -1);
}

function cellText(cell: TableCell): string {
  return phrasingText(cell.children);
}

function isoDate(date: string): string {
  const match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(date);
  if (!match) return date;
  return `${match[3]}-${match[1]!.padStart(2, '0')}-${match[2]!.padStart(2, '0')}`;
}
