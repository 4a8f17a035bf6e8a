import type { Html, PhrasingContent, Root, RootContent, Table, TableCell } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { gfmTable } from 'micromark-extension-gfm-table';
import type { Cidr } from '../../ipset.js';
import { AddressLedger, addressLikeWords, addressOf, looksLikeAddress, tokensOf, type Token } from '../address-words.js';
import { AllowlistError } from '../../problem.js';
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

/** Parses the page source (DocFX-flavoured markdown) into addresses per section and data center. */
export function parseCasPage(markdown: string): CasPage {
  if (markdown.trim() === '') throw new AllowlistError('cas-empty', 'the CAS network-requirements page is empty');
  if (/^\s*<(!doctype\s+html|html|head|body)[\s>]/i.test(markdown)) {
    throw new AllowlistError(
      'cas-not-markdown',
      'the CAS network-requirements URL returned HTML, not the markdown page source (use the raw file URL)',
    );
  }
  const { revision, body } = splitFrontMatter(markdown);
  const source = normaliseDocfx(body);
  const tree = fromMarkdown(source, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
  assertLastTableComplete(tree, source);
  assertBlocksClosed(tree, source);

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
  return reader.result(revision);
}

interface HeadingLevel {
  readonly depth: number;
  readonly text: string;
}

/** Text of a cell or paragraph as pieces: text to read, HTML (the <br> variants, comments, anything else). */
type Piece =
  | { readonly kind: 'text'; readonly tokens: Token[] }
  | { readonly kind: 'html'; readonly value: string; readonly tokens: Token[] }
  | { readonly kind: 'break' };

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
  private readonly places: Array<{ readonly line: number; readonly place: Place }> = [];
  private readonly entries = new Map<string, CasPageEntry>();
  private readonly unrecognised = new Set<string>();
  private readonly issues: CasPageIssue[] = [];
  /** "line\0token" -> how many times the walk read that token on that line. */
  private readonly ledger = new AddressLedger();

  readBlocks(blocks: readonly RootContent[]): void {
    blocks.forEach((block, index) => {
      switch (block.type) {
        case 'heading': {
          const text = phrasingText(block.children).trim();
          this.headings = [...this.headings.filter((h) => h.depth < block.depth), { depth: block.depth, text }];
          const line = block.position?.start.line ?? 0;
          if (block.depth > 1) this.belowTitle = true;
          if (casSectionsOfHeading(text).length > 0) this.lastSectionLine = line;
          if (CLOSING_HEADING.test(text)) this.closingLine = line;
          this.places.push({ line, place: this.place() });
          this.readProse(pieces(block.children), text);
          return;
        }
        case 'table':
          this.readTable(block, captionOf(blocks[index - 1]));
          return;
        case 'paragraph':
          this.readProse(pieces(block.children), phrasingText(block.children));
          return;
        case 'code': {
          // A fenced block's text starts on the line after its fence; an indented block's on its own first line.
          const start = (block.position?.start.line ?? 0) + (fenceOf(block, this.source) === undefined ? 0 : 1);
          this.readProse([{ kind: 'text', tokens: tokensOf(block.value, start) }], block.value);
          return;
        }
        case 'html':
          this.readHtml(block);
          return;
        default:
          if ('children' in block) this.readBlocks(block.children as RootContent[]);
      }
    });
  }

  /**
   * The accounting pass: every address-like token in the source that the walk did not read (raw HTML, a link
   * target, an image's alt text) becomes an issue, so no address can be lost between the parser and the reader.
   */
  sweep(lines: readonly string[]): void {
    for (const [line, tokens] of this.ledger.unread(lines)) {
      const place = this.placeAt(line);
      this.issue(
        'cas-address-not-read',
        line,
        tokens,
        lines[line - 1] ?? '',
        place.heading,
        'outside the text this reader understands (raw HTML, a link target or the like)',
        place.sections.map((section) => ({ section })),
        place,
      );
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
      place,
      heading,
      undefined,
      'the header row',
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
      const scan = scanTokens(tokens, true);
      const rowDataCenter = label === '' ? (labelled ? undefined : CAS_GLOBAL_DATA_CENTER) : normaliseDataCenter(label);
      scan.groups.forEach((group) => {
        if (group.addresses.length === 0) return;
        const dataCenter = group.region === undefined ? rowDataCenter : slug(group.region);
        this.ledger.consume(group.addresses.map((a) => a.token));
        if (dataCenter === undefined) {
          const first = group.addresses[0]!.token;
          this.issue(
            'cas-unlabelled-row',
            first.line,
            group.addresses.map((a) => a.token.text),
            texts,
            heading,
            'in a table row that names no data center',
            place.sections.map((section) => ({ section })),
            place,
          );
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
        this.issue(
          'cas-unreadable-address',
          bad.tokens[0]!.line,
          bad.tokens.map((t) => t.text),
          texts,
          `${heading}, ${rowName}`,
          `${bad.why}; ${context}`,
          scopes,
          place,
        );
      }
      this.readCells(otherCells, place, heading, rowDataCenter, rowName);
    }
  }

  /** Addresses in a column that lists no addresses (a DNS name, the data-center label): reported, never guessed at. */
  private readCells(
    cells: ReadonlyArray<{ cell: TableCell; column: number }>,
    place: Place,
    heading: string,
    dataCenter: string | undefined,
    rowName: string,
  ): void {
    for (const { cell } of cells) {
      const found = this.tokenStream(pieces(cell.children), place).filter(
        (token): token is Token => token !== BREAK && looksLikeAddress(token.text),
      );
      if (found.length === 0) continue;
      this.ledger.consume(found);
      const scopes = place.sections.map((section) => (dataCenter === undefined ? { section } : { section, dataCenter }));
      this.issue(
        'cas-address-outside-list',
        found[0]!.line,
        found.map((t) => t.text),
        cellText(cell),
        `${heading}, ${rowName}`,
        'in a column that is not a list of IP addresses',
        scopes,
        place,
      );
    }
  }

  /** Prose, bullets, notes and code blocks: addresses count for every data center of the section they stand under. */
  private readProse(parts: readonly Piece[], text: string): void {
    const place = this.place();
    const tokens = this.tokenStream(parts, place);
    if (!tokens.some((token) => token !== BREAK && looksLikeAddress(token.text))) return;
    const scan = scanTokens(tokens, false);
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
      this.issue(
        'cas-unreadable-address',
        bad.tokens[0]!.line,
        bad.tokens.map((t) => t.text),
        text,
        place.heading,
        `${bad.why}; ${aroundText(bad.before, bad.after, 'in the same paragraph')}`,
        scopes,
        place,
      );
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
    if (part.value.trimStart().startsWith('<!--')) {
      this.issue(
        'cas-address-commented-out',
        found[0]!.line,
        found.map((t) => t.text),
        part.value,
        place.heading,
        'inside an HTML comment, so not listed on the page; not observed',
        [],
        place,
      );
    } else {
      this.issue(
        'cas-address-not-read',
        found[0]!.line,
        found.map((t) => t.text),
        part.value,
        place.heading,
        'inside raw HTML, which this reader does not read',
        place.sections.map((section) => ({ section })),
        place,
      );
    }
  }

  private issue(
    code: CasIssueCode,
    line: number,
    tokens: readonly string[],
    text: string,
    heading: string,
    what: string,
    scopes: readonly CasScope[],
    place: Place,
  ): void {
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

  private placeAt(line: number): Place {
    let found: Place = { sections: [CAS_NOTICE_SECTION], known: false, unrecognised: false, heading: '(before the first heading)' };
    for (const entry of this.places) if (entry.line <= line) found = entry.place;
    return found;
  }

  /** The page title (the first-level heading) adds nothing to a reviewer, so the path starts below it. */
  private path(): string {
    const below = this.headings.filter((h) => h.depth > 1);
    const shown = below.length > 0 ? below : this.headings;
    return shown.map((h) => h.text).join(' > ') || '(before the first heading)';
  }
}

/** Marks where HTML (the <br> variants) or a hard break separated words: a range or region label never spans it. */
const BREAK: unique symbol = Symbol('break');

/** Between two addresses these make a range ("1.2.3.4 - 1.2.3.9"), not two addresses. */
const RANGE_WORD = /^(?:-|\u2013|\u2014|to|through|thru)$/i;
const PREFIX_APART = /^\/\d{1,3}$/;

interface Unreadable {
  readonly tokens: Token[];
  readonly why: string;
  readonly region: string | undefined;
  readonly before: Cidr | undefined;
  after: Cidr | undefined;
}

interface Scan {
  /** Proxy tables group addresses by region inside one cell: "West Europe: ip, ip<br /><br />UK West: ...". */
  readonly groups: Array<{ readonly region?: string; readonly addresses: Array<{ readonly cidr: Cidr; readonly token: Token }> }>;
  readonly unreadable: Unreadable[];
}

/**
 * Reads a list of words: addresses, region labels ("West Europe:") when `regions` is set, and everything
 * address-like that is not one address or CIDR (a typo, a letter glued to an address, two addresses run
 * together, a range, a prefix length set apart), which is set aside with the addresses read around it.
 */
function scanTokens(tokens: ReadonlyArray<Token | typeof BREAK>, regions: boolean): Scan {
  const groups: Scan['groups'] = [{ addresses: [] }];
  const unreadable: Unreadable[] = [];
  let words: string[] = [];
  let before: Cidr | undefined;
  let waiting: Unreadable[] = [];
  const word = (index: number): Token | undefined => {
    const token = tokens[index];
    return token === undefined || token === BREAK ? undefined : token;
  };
  const setAside = (found: Token[], why: string) => {
    const item: Unreadable = { tokens: found, why, region: groups.at(-1)!.region, before, after: undefined };
    unreadable.push(item);
    waiting.push(item);
    words = [];
  };
  for (let index = 0; index < tokens.length; index++) {
    const token = word(index);
    if (token === undefined) {
      words = [];
      continue;
    }
    const cidr = addressOf(token.text);
    if (cidr !== undefined) {
      const joiner = word(index + 1);
      const end = word(index + 2);
      if (joiner && end && RANGE_WORD.test(joiner.text) && addressOf(end.text) !== undefined) {
        setAside([token, joiner, end], 'is a range of addresses, not one address or CIDR');
        index += 2;
        continue;
      }
      if (joiner && PREFIX_APART.test(joiner.text)) {
        setAside([token, joiner], 'is an address with its prefix length set apart, so it is unclear which network is meant');
        index += 1;
        continue;
      }
      groups.at(-1)!.addresses.push({ cidr, token });
      for (const item of waiting) item.after = cidr;
      waiting = [];
      before = cidr;
      words = [];
    } else if (looksLikeAddress(token.text)) {
      setAside([token], 'is not an IP address or CIDR');
    } else if (regions && token.text.length > 1 && token.text.endsWith(':')) {
      groups.push({ region: [...words, token.text.slice(0, -1)].join(' '), addresses: [] });
      words = [];
    } else {
      words.push(token.text);
    }
  }
  return { groups, unreadable };
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

/** Inline content as pieces: text with source lines, HTML apart (its comments and tags are read differently). */
function pieces(nodes: readonly PhrasingContent[]): Piece[] {
  return nodes.flatMap((node): Piece[] => {
    switch (node.type) {
      case 'text':
      case 'inlineCode':
        return [{ kind: 'text', tokens: tokensOf(node.value, node.position?.start.line ?? 0) }];
      case 'html':
        return [{ kind: 'html', value: node.value, tokens: tokensOf(node.value, node.position?.start.line ?? 0) }];
      case 'break':
        return [{ kind: 'break' }];
      case 'image':
      case 'imageReference':
      case 'footnoteReference':
        return [];
      default:
        return 'children' in node ? pieces(node.children) : [];
    }
  });
}

/** Inline content as text; HTML (the <br> variants) and hard breaks become line breaks so they separate words. */
function phrasingText(nodes: readonly PhrasingContent[]): string {
  return nodes
    .map((node) => {
      switch (node.type) {
        case 'text':
        case 'inlineCode':
          return node.value;
        case 'html':
        case 'break':
          return '\n';
        case 'image':
        case 'imageReference':
        case 'footnoteReference':
          return '';
        default:
          return 'children' in node ? phrasingText(node.children) : '';
      }
    })
    .join('');
}

/**
 * DocFX pages start with YAML front matter. Only ms.date is read, so a targeted line match is enough;
 * the block is blanked, not removed, so line numbers in messages still match the page.
 */
function splitFrontMatter(markdown: string): { revision: string | undefined; body: string } {
  const text = markdown.replace(/^\uFEFF/, '');
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '---') return { revision: undefined, body: text };
  const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (end === -1)
    throw new AllowlistError('cas-truncated', 'the CAS network-requirements page has unclosed front matter; it looks cut short');
  const date = lines
    .slice(1, end)
    .map((line) => /^ms\.date:\s*(.*?)\s*$/.exec(line)?.[1])
    .find((value) => value);
  return {
    revision: date === undefined ? undefined : isoDate(date),
    body: [...lines.slice(0, end + 1).map(() => ''), ...lines.slice(end + 1)].join('\n'),
  };
}

function isoDate(date: string): string {
  const match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(date);
  if (!match) return date;
  return `${match[3]}-${match[1]!.padStart(2, '0')}-${match[2]!.padStart(2, '0')}`;
}

const CONTAINER_PREFIX = /^[ \t]*(?:>[ \t]?)*[ \t]*/;
const DELIMITER_ROW = /^\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

/**
 * Two targeted line repairs where DocFX (markdig) is more lenient than GFM, applied before parsing:
 * - `[!div class="mx-tableFixed"]` directive lines are dropped (keeping any `>` markers). In 2017 the
 *   table follows the quoted directive without a blank line, so GFM reads the table as a lazy
 *   continuation of the directive's paragraph and never sees a table.
 * - a header row and delimiter row with different cell counts (2024 App connector: 2 header cells,
 *   3 delimiter cells) are padded to the same count, since GFM then rejects the whole table.
 * Nothing else is rewritten; everything else is left to the markdown parser.
 */
function normaliseDocfx(body: string): string {
  const lines = body
    .split('\n')
    .map((line) =>
      /^\s*\[!div\b[^\]]*\]\s*$/.test(line.replace(CONTAINER_PREFIX, '')) ? (CONTAINER_PREFIX.exec(line)?.[0] ?? '').trimEnd() : line,
    );
  for (let index = 1; index < lines.length; index++) {
    const delimiter = lines[index]!;
    const header = lines[index - 1]!;
    const prefix = CONTAINER_PREFIX.exec(delimiter)?.[0] ?? '';
    const delimiterCells = delimiter.slice(prefix.length).trim();
    if (!delimiterCells.includes('|') || !DELIMITER_ROW.test(delimiterCells) || !header.includes('|')) continue;
    const headerCount = cellCount(header.replace(CONTAINER_PREFIX, ''));
    const delimiterCount = cellCount(delimiterCells);
    if (headerCount < delimiterCount) lines[index - 1] = padRow(header, delimiterCount - headerCount, ' ');
    if (delimiterCount < headerCount) lines[index] = padRow(delimiter, headerCount - delimiterCount, '---');
  }
  return lines.join('\n');
}

function cellCount(row: string): number {
  const inner = row
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).length;
}

function padRow(row: string, missing: number, filler: string): string {
  const trimmed = row.trimEnd();
  const closed = /(?<!\\)\|$/.test(trimmed) ? trimmed : `${trimmed}|`;
  return closed + `${filler}|`.repeat(missing);
}

/**
 * A download cut off inside a table leaves a last row without its closing pipe, or with fewer cells
 * than the header. Only the table that ends the page is checked: elsewhere that is an authoring slip.
 */
function assertLastTableComplete(tree: Root, source: string): void {
  const table = lastTable(tree.children);
  const end = table?.position?.end.offset;
  if (!table || end === undefined || source.slice(end).trim() !== '') return;
  const rows = table.children;
  const header = rows[0];
  const last = rows.at(-1);
  if (!header || !last || header === last) return;
  const rowText = (row: typeof header) => source.slice(row.position?.start.offset, row.position?.end.offset).trimEnd();
  const cutMidCell = rowText(header).endsWith('|') && !rowText(last).endsWith('|');
  if (cutMidCell || last.children.length < header.children.length) {
    throw new AllowlistError(
      'cas-truncated',
      `the CAS network-requirements page ends in the middle of a table row (line ${last.position?.start.line ?? '?'}); it looks cut short`,
    );
  }
}

function lastTable(blocks: readonly RootContent[]): Table | undefined {
  const block = blocks.at(-1);
  if (!block) return undefined;
  if (block.type === 'table') return block;
  return 'children' in block ? lastTable(block.children as RootContent[]) : undefined;
}

/**
 * Blocks that run to the end of the document when their end is missing: an HTML comment never closed hides
 * the rest of the page, and a code fence left open at the very end means the download stopped inside it.
 */
function assertBlocksClosed(tree: Root, source: string): void {
  const visit = (nodes: readonly RootContent[]): void => {
    for (const node of nodes) {
      const line = node.position?.start.line ?? '?';
      if (node.type === 'html' && node.value.trimStart().startsWith('<!--') && !node.value.includes('-->')) {
        throw new AllowlistError(
          'cas-truncated',
          `the CAS network-requirements page has an HTML comment that never ends (line ${line}); it looks cut short`,
        );
      }
      if (node.type === 'code' && source.slice(node.position?.end.offset).trim() === '') {
        const fence = fenceOf(node, source);
        const text = source.slice(node.position?.start.offset, node.position?.end.offset).split('\n');
        const closing = text.length > 1 ? text.at(-1)!.replace(CONTAINER_PREFIX, '') : '';
        if (fence && !new RegExp(`^${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(closing)) {
          throw new AllowlistError(
            'cas-truncated',
            `the CAS network-requirements page ends inside a code block opened on line ${line}; it looks cut short`,
          );
        }
      }
      if ('children' in node) visit(node.children as RootContent[]);
    }
  };
  visit(tree.children);
}

/** The opening fence of a fenced code block ("```", "~~~~"), or undefined for an indented one. */
function fenceOf(node: RootContent, source: string): string | undefined {
  const start = node.position?.start.offset;
  if (start === undefined) return undefined;
  return /^[ \t]*(`{3,}|~{3,})/.exec(
    source.slice(start, source.indexOf('\n', start) === -1 ? undefined : source.indexOf('\n', start)),
  )?.[1];
}
