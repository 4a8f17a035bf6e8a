import type { PhrasingContent, Root, RootContent, Table, TableCell } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { gfmTable } from 'micromark-extension-gfm-table';
import { parseCidr, tryParseCidr, type Cidr } from '../../ipset.js';
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

export interface CasPage {
  /** The front matter's ms.date, as YYYY-MM-DD when it is a M/D/YYYY date. */
  readonly revision?: string;
  /** Unique (cidr, section, dataCenter, heading) tuples in page order. */
  readonly entries: readonly CasPageEntry[];
  readonly sections: ReadonlySet<CasSection>;
  readonly dataCenters: ReadonlySet<string>;
  /** Heading paths that hold addresses but map to no section: the page changed in a way we cannot place. */
  readonly unrecognised: readonly string[];
}

/** Addresses not tied to one data center (the mail servers, addresses in prose) apply to all of them. */
export const CAS_GLOBAL_DATA_CENTER = 'global';

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
 * Sections every revision since 2017 has (portal, app connector, mail server, in that order of
 * appearance). A page without one of them is taken as cut short rather than as a page that dropped it.
 */
export const CAS_REQUIRED_SECTIONS: readonly CasSection[] = ['portal', 'app-connector', 'mail'];

export function casSectionsOfHeading(heading: string): CasSection[] {
  return CAS_HEADING_RULES.filter((rule) => rule.pattern.test(heading)).map((rule) => rule.section);
}

/** Parses the page source (DocFX-flavoured markdown) into addresses per section and data center. */
export function parseCasPage(markdown: string): CasPage {
  if (markdown.trim() === '') throw new AllowlistError('cas-empty', 'the CAS network-requirements page is empty');
  if (/^\s*<(!doctype\s+html|html|head|body)[\s>]/i.test(markdown)) {
    throw new AllowlistError('cas-not-markdown', 'the CAS network-requirements URL returned HTML, not the markdown page source (use the raw file URL)');
  }
  const { revision, body } = splitFrontMatter(markdown);
  const source = normaliseDocfx(body);
  const tree = fromMarkdown(source, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
  assertLastTableComplete(tree, source);

  const reader = new PageReader();
  reader.readBlocks(tree.children);
  const page = reader.result(revision);
  if (reader.tableAddresses === 0) {
    throw new AllowlistError('cas-no-addresses', 'the CAS network-requirements page has no table of IP addresses under a known section; its layout may have changed');
  }
  const missing = CAS_REQUIRED_SECTIONS.filter((section) => !page.sections.has(section));
  if (missing.length > 0) {
    throw new AllowlistError('cas-truncated', `the CAS network-requirements page has no ${missing.join(', ')} addresses, which every revision has; it looks cut short`);
  }
  return page;
}

interface HeadingLevel {
  readonly depth: number;
  readonly text: string;
}

/** Walks the tree in document order, keeping the heading path that gives every address its section. */
class PageReader {
  /** Addresses read from tables under known sections; prose alone is not enough to trust the page. */
  tableAddresses = 0;
  private headings: HeadingLevel[] = [];
  private readonly entries = new Map<string, CasPageEntry>();
  private readonly unrecognised = new Set<string>();

  readBlocks(blocks: readonly RootContent[]): void {
    blocks.forEach((block, index) => {
      switch (block.type) {
        case 'heading':
          this.headings = [...this.headings.filter((h) => h.depth < block.depth), { depth: block.depth, text: plainText(block.children).trim() }];
          return;
        case 'table':
          this.readTable(block, captionOf(blocks[index - 1]));
          return;
        case 'paragraph':
          this.readProse(plainText(block.children));
          return;
        case 'code':
          this.readProse(block.value);
          return;
        default:
          if ('children' in block) this.readBlocks(block.children as RootContent[]);
      }
    });
  }

  result(revision: string | undefined): CasPage {
    const entries = [...this.entries.values()];
    return {
      ...(revision === undefined ? {} : { revision }),
      entries,
      sections: new Set(entries.map((e) => e.section)),
      dataCenters: new Set(entries.map((e) => e.dataCenter)),
      unrecognised: [...this.unrecognised],
    };
  }

  private readTable(table: Table, caption: string | undefined): void {
    const [header, ...rows] = table.children;
    if (!header) return;
    const ipColumns = header.children.flatMap((cell, column) => (/\bip\s+address(es)?\b/i.test(cellText(cell)) ? [column] : []));
    if (ipColumns.length === 0) return;
    for (const row of rows) {
      const label = row.children[0] ? cellText(row.children[0]).trim() : '';
      for (const column of ipColumns) {
        const cell = row.children[column];
        if (!cell) continue;
        for (const group of readAddressCell(cellText(cell), cell.position?.start.line)) {
          if (group.cidrs.length === 0) continue;
          if (group.region === undefined && label === '') {
            throw new AllowlistError('cas-unexpected-layout', `a row of the IP table under "${this.path()}" (line ${cell.position?.start.line ?? '?'}) names no data center`);
          }
          const dataCenter = group.region === undefined ? normaliseDataCenter(label) : slug(group.region);
          const heading = [this.path(), caption, group.region === undefined ? undefined : label].filter(Boolean).join(' > ');
          if (this.add(group.cidrs, dataCenter, heading)) this.tableAddresses += group.cidrs.length;
        }
      }
    }
  }

  /** Prose holds the 2017/2018 mail server sentence, the 2024 mail bullet list and, on newer pages, CIDRs repeated in notes. */
  private readProse(text: string): void {
    const cidrs = tokens(text).flatMap((token) => (looksLikeAddress(token) ? [tryParseCidr(token)].filter((c) => c !== undefined) : []));
    this.add(cidrs, CAS_GLOBAL_DATA_CENTER, this.path());
  }

  /** Returns whether the addresses could be placed in a section. */
  private add(cidrs: readonly Cidr[], dataCenter: string, heading: string): boolean {
    if (cidrs.length === 0) return false;
    const sections = this.sections();
    if (sections.length === 0) {
      this.unrecognised.add(heading);
      return false;
    }
    for (const section of sections) {
      for (const cidr of cidrs) {
        const entry: CasPageEntry = { cidr, section, dataCenter, heading };
        this.entries.set(`${cidr} ${section} ${dataCenter} ${heading}`, entry);
      }
    }
    return true;
  }

  private sections(): CasSection[] {
    for (let level = this.headings.length - 1; level >= 0; level--) {
      const sections = casSectionsOfHeading(this.headings[level]!.text);
      if (sections.length > 0) return sections;
    }
    return [];
  }

  /** The page title (the first-level heading) adds nothing to a reviewer, so the path starts below it. */
  private path(): string {
    const below = this.headings.filter((h) => h.depth > 1);
    const shown = below.length > 0 ? below : this.headings;
    return shown.map((h) => h.text).join(' > ') || '(before the first heading)';
  }
}

interface AddressGroup {
  /** Proxy tables group addresses by region inside one cell: "West Europe: ip, ip<br /><br />UK West: ...". */
  readonly region?: string;
  readonly cidrs: Cidr[];
}

/**
 * In an IP column every token that looks like an address must be one: a typo or a range we cannot read
 * is an error, because skipping it would drop the entry from the allowlist.
 */
function readAddressCell(text: string, line: number | undefined): AddressGroup[] {
  const groups: AddressGroup[] = [{ cidrs: [] }];
  let words: string[] = [];
  for (const token of tokens(text)) {
    if (looksLikeAddress(token)) {
      try {
        groups.at(-1)!.cidrs.push(parseCidr(token));
      } catch (error) {
        throw new AllowlistError('cas-invalid-address', `line ${line ?? '?'} of the CAS page lists "${token}", which is not a valid IP address or CIDR`, { cause: error });
      }
      words = [];
    } else if (mentionsAddress(token)) {
      throw new AllowlistError('cas-invalid-address', `line ${line ?? '?'} of the CAS page lists "${token}", which is not an IP address or CIDR this tool can read`);
    } else if (token.endsWith(':')) {
      groups.push({ region: [...words, token.slice(0, -1)].join(' '), cidrs: [] });
      words = [];
    } else {
      words.push(token);
    }
  }
  return groups;
}

const IPV4_SHAPE = /^\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,3})?$/;
const IPV6_SHAPE = /^(?=[^:]*:[^:]*:)(?=.*[0-9a-f])[0-9a-f:.]+(?:\/\d{1,3})?$/i;

function looksLikeAddress(token: string): boolean {
  return IPV4_SHAPE.test(token) || IPV6_SHAPE.test(token);
}

/** Ranges ("1.2.3.4-1.2.3.9"), four-digit octets and the like: address-like text that is not one address. */
function mentionsAddress(token: string): boolean {
  return /\d{1,3}\.\d{1,3}\.\d{1,3}/.test(token) || /^[0-9a-f]{0,4}:[0-9a-f]{0,4}:[0-9a-f]{0,4}/i.test(token);
}

/** Separators seen in cells and prose: commas with irregular spacing, <br> variants (already newlines), parentheses. */
function tokens(text: string): string[] {
  return text
    .split(/[\s,;()[\]"'`|<>]+/)
    .map((token) => token.replace(/\.+$/, ''))
    .filter((token) => token !== '');
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/**
 * Sibling tables under one heading are told apart by a short lead-in line such as
 * "For **US Government GCC High** customers:"; long sentences are instructions, not captions.
 */
function captionOf(block: RootContent | undefined): string | undefined {
  if (block?.type !== 'paragraph') return undefined;
  const text = plainText(block.children).replace(/\s+/g, ' ').trim();
  if (!text.endsWith(':') || text.split(' ').length > 8) return undefined;
  return text.slice(0, -1);
}

function cellText(cell: TableCell): string {
  return plainText(cell.children);
}

/** Inline content as text; HTML (the <br> variants) and hard breaks become line breaks so they separate tokens. */
function plainText(nodes: readonly PhrasingContent[]): string {
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
          return 'children' in node ? plainText(node.children) : '';
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
  if (end === -1) throw new AllowlistError('cas-truncated', 'the CAS network-requirements page has unclosed front matter; it looks cut short');
  const date = lines.slice(1, end).map((line) => /^ms\.date:\s*(.*?)\s*$/.exec(line)?.[1]).find((value) => value);
  return { revision: date === undefined ? undefined : isoDate(date), body: [...lines.slice(0, end + 1).map(() => ''), ...lines.slice(end + 1)].join('\n') };
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
  const lines = body.split('\n').map((line) => (/^\s*\[!div\b[^\]]*\]\s*$/.test(line.replace(CONTAINER_PREFIX, '')) ? (CONTAINER_PREFIX.exec(line)?.[0] ?? '').trimEnd() : line));
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
  const inner = row.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
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
    throw new AllowlistError('cas-truncated', `the CAS network-requirements page ends in the middle of a table row (line ${last.position?.start.line ?? '?'}); it looks cut short`);
  }
}

function lastTable(blocks: readonly RootContent[]): Table | undefined {
  const block = blocks.at(-1);
  if (!block) return undefined;
  if (block.type === 'table') return block;
  return 'children' in block ? lastTable(block.children as RootContent[]) : undefined;
}
