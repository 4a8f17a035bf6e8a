import type { Code, Heading, Html, Paragraph, PhrasingContent, Root, RootContent, Table } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmTableFromMarkdown } from 'mdast-util-gfm-table';
import { gfmTable } from 'micromark-extension-gfm-table';
import type { Target } from '../config.js';
import type { Cidr } from '../ipset.js';
import { fetchDocument, probeUrl, type FetchedText, type FetchOptions, type ProbedUrl } from '../net/http.js';
import { AllowlistError, toProblem, type Problem } from '../problem.js';
import { addressOf, looksLikeAddress, tokensOf, type Token } from './address-words.js';
import { stamp, type Observation, type ObservationStatus, type ObservedEntry, type SourceContext, type UnknownScope } from './source.js';

/**
 * What the readers of upstream docs pages (the CAS page, the ODC page) share below their own layout: fetching the
 * page and turning a selection into an observation, the guards that turn a page that is not a whole markdown page
 * into an error, the markdown tree, and the words of its inline text. Each reader keeps what its page means: which
 * headings map to what, how its tables read, what a target selects, and how its messages name the page.
 */

/** raw.githubusercontent.com serves the page source as text/plain; other mirrors use the markdown types. */
export const MARKDOWN_TYPES = ['text/plain', 'text/markdown', 'text/x-markdown', 'application/octet-stream'];

/** What a page reader keeps of its page for one target. */
export interface PageSelection {
  readonly entries: ObservedEntry[];
  readonly warnings: Problem[];
  /** Addresses stand where the reader cannot tell which selected part they belong to: every previous entry must stay. */
  readonly incomplete: boolean;
  /** Selected parts of the page that could not be read (a broken cell, a part gone): their previous entries stay. */
  readonly unknownScopes: UnknownScope[];
}

/** What is particular to a page reader's observation; fetching and the ok/partial/error verdict are shared. */
export interface PageObservationOptions<Page> {
  readonly target: Pick<Target, 'id' | 'type'> & { readonly url: string };
  readonly context: SourceContext;
  /** Reads the fetched page; what it throws makes the observation an error. */
  readonly parse: (fetched: FetchedText) => Page;
  readonly select: (page: Page) => PageSelection;
  /** The page's revision, kept in the observation's facts; undefined when the page names none. */
  readonly revision: (page: Page) => string | undefined;
  /** The error code of a failed fetch or parse whose error carries no code of its own ("cas-failed"). */
  readonly failCode: string;
  /** The error code of a selection without addresses ("cas-selection-empty"). */
  readonly emptyCode: string;
  /** The message of that error: which page and which selection. */
  readonly describeEmpty: (page: Page) => string;
}

/**
 * Fetches a markdown page, parses it and keeps the target's selection. A failed fetch or parse and a selection
 * without addresses are errors, never removals; a selection the page could not fully show is partial.
 */
export async function observeMarkdownPage<Page>(options: PageObservationOptions<Page>): Promise<Observation> {
  const { target, context } = options;
  const observation = (status: ObservationStatus, rest: Partial<Observation>): Observation =>
    stamp(target, context.now(), {
      status,
      entries: [],
      warnings: [],
      errors: [],
      ...rest,
    });
  let page: Page;
  let unchangedSince: string | undefined;
  try {
    const fetched = await fetchDocument(target.url, markdownFetch(context), context);
    unchangedSince = fetched.unchangedSince;
    page = options.parse(fetched);
  } catch (error) {
    return observation('error', { errors: [toProblem(error, options.failCode)] });
  }
  const revision = options.revision(page);
  const facts = revision === undefined ? {} : { facts: { revision } };
  const selection = withUnchangedSince(options.select(page), unchangedSince);
  if (selection.entries.length === 0) {
    const empty = new AllowlistError(options.emptyCode, options.describeEmpty(page));
    return observation('error', { warnings: selection.warnings, errors: [empty.toProblem()], ...facts });
  }
  if (selection.incomplete || selection.unknownScopes.length > 0) {
    const scopes = selection.incomplete ? {} : { unknownScopes: selection.unknownScopes };
    return observation('partial', { entries: selection.entries, warnings: selection.warnings, ...scopes, ...facts });
  }
  return observation('ok', { entries: selection.entries, warnings: selection.warnings, ...facts });
}

/**
 * A page the server confirmed unchanged (304) says so in every entry's evidence, with the time it was last sent in
 * full; each page reader's evidence schema has the optional `unchangedSince` this adds.
 */
function withUnchangedSince(selection: PageSelection, unchangedSince: string | undefined): PageSelection {
  if (unchangedSince === undefined) return selection;
  const entries = selection.entries.map((entry) => ({
    ...entry,
    evidence: entry.evidence.map((evidence) => ({ ...evidence, unchangedSince })),
  }));
  return { ...selection, entries };
}

/** allowlist-drift doctor: whether the page answers with a markdown type, as a run needs, without reading it. */
export function probeMarkdownPage(target: { readonly url: string }, context: Pick<SourceContext, 'config' | 'signal'>): Promise<ProbedUrl> {
  return probeUrl(target.url, markdownFetch(context));
}

function markdownFetch(context: Pick<SourceContext, 'config' | 'signal'>): FetchOptions {
  return {
    ...context.config.http,
    contentTypes: MARKDOWN_TYPES,
    ...(context.signal ? { signal: context.signal } : {}),
  };
}

/** How a reader's errors name its page: `code` prefixes the error codes ("cas" gives "cas-truncated"). */
export interface PageNames {
  readonly code: string;
  /** "the ODC public IP addresses page": how the empty-page error names it. */
  readonly title: string;
  /** "the ODC page" */
  readonly page: string;
  /** "the ODC page URL" */
  readonly url: string;
}

export interface MarkdownPageOptions {
  readonly names: PageNames;
  /** Line repairs applied to the body (front matter blanked) before parsing. */
  readonly normalise?: (body: string) => string;
  /** Whether the table that ends the page may stand inside a container (a quote, a list), not only at the top. */
  readonly nestedLastTable: boolean;
}

export interface MarkdownPage {
  /** The page source as parsed: front matter blanked, so lines still match the page. */
  readonly source: string;
  readonly tree: Root;
  /** The lines between the front matter's fences; empty without front matter. */
  readonly frontMatter: readonly string[];
}

/**
 * Parses a fetched page after the guards every page reader needs: an empty body, an HTML page (the rendered docs
 * page instead of its source), unclosed front matter, and a download cut off inside the table that ends the page.
 */
export function parseMarkdownPage(markdown: string, options: MarkdownPageOptions): MarkdownPage {
  const { names } = options;
  if (markdown.trim() === '') throw new AllowlistError(`${names.code}-empty`, `${names.title} is empty`);
  if (/^\s*<(!doctype\s+html|html|head|body)[\s>]/i.test(markdown)) {
    throw new AllowlistError(
      `${names.code}-not-markdown`,
      `${names.url} returned HTML, not the markdown page source (use the raw file URL)`,
    );
  }
  const { frontMatter, body } = blankFrontMatter(markdown, names);
  const source = options.normalise ? options.normalise(body) : body;
  const tree = fromMarkdown(source, { extensions: [gfmTable()], mdastExtensions: [gfmTableFromMarkdown()] });
  const table = options.nestedLastTable ? lastTable(tree.children) : topLevelTable(tree.children.at(-1));
  if (table) assertTableComplete(table, source, names);
  return { source, tree, frontMatter };
}

/** Front matter is blanked, not removed, so line numbers in messages still match the page. */
function blankFrontMatter(markdown: string, names: PageNames): { frontMatter: string[]; body: string } {
  const text = markdown.replace(/^\uFEFF/, '');
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '---') return { frontMatter: [], body: text };
  const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (end === -1) throw new AllowlistError(`${names.code}-truncated`, `${names.page} has unclosed front matter; it looks cut short`);
  return {
    frontMatter: lines.slice(1, end),
    body: [...lines.slice(0, end + 1).map(() => ''), ...lines.slice(end + 1)].join('\n'),
  };
}

function topLevelTable(block: RootContent | undefined): Table | undefined {
  return block?.type === 'table' ? block : undefined;
}

function lastTable(blocks: readonly RootContent[]): Table | undefined {
  const block = blocks.at(-1);
  if (!block) return undefined;
  if (block.type === 'table') return block;
  return 'children' in block ? lastTable(block.children as RootContent[]) : undefined;
}

/**
 * A download cut off inside a table leaves a last row without its closing pipe, or with fewer cells than the
 * header. Only the table that ends the page is checked: elsewhere that is an authoring slip.
 */
function assertTableComplete(table: Table, source: string, names: PageNames): void {
  const end = table.position?.end.offset;
  if (end === undefined || source.slice(end).trim() !== '') return;
  const [header, ...rows] = table.children;
  const last = rows.at(-1);
  if (!header || !last) return;
  const rowText = (row: typeof header) => source.slice(row.position?.start.offset, row.position?.end.offset).trimEnd();
  if ((rowText(header).endsWith('|') && !rowText(last).endsWith('|')) || last.children.length < header.children.length) {
    throw new AllowlistError(
      `${names.code}-truncated`,
      `${names.page} ends in the middle of a table row (line ${last.position?.start.line ?? '?'}); it looks cut short`,
    );
  }
}

/** What a reader does with each kind of block; code and raw HTML it may leave to the sweep. */
export interface BlockVisitor {
  heading(block: Heading): void;
  /** `previous` is the block before the table in its container: a lead-in line may caption the table. */
  table(block: Table, previous: RootContent | undefined): void;
  paragraph(block: Paragraph): void;
  code?(block: Code): void;
  html?(block: Html): void;
}

/** Walks the blocks in document order, into quotes, lists and the like, handing each block to the visitor. */
export function walkBlocks(blocks: readonly RootContent[], visitor: BlockVisitor): void {
  blocks.forEach((block, index) => {
    switch (block.type) {
      case 'heading':
        return visitor.heading(block);
      case 'table':
        return visitor.table(block, blocks[index - 1]);
      case 'paragraph':
        return visitor.paragraph(block);
      case 'code':
        return visitor.code?.(block);
      case 'html':
        return visitor.html?.(block);
      default:
        if ('children' in block) walkBlocks(block.children as RootContent[], visitor);
    }
  });
}

/** Inline content as text; HTML (the <br> variants) and hard breaks become line breaks so they separate words. */
export function phrasingText(nodes: readonly PhrasingContent[]): string {
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

/** Text of a cell or paragraph as pieces: text to read, HTML (the <br> variants, comments, anything else). */
export type Piece =
  | { readonly kind: 'text'; readonly tokens: Token[] }
  | { readonly kind: 'html'; readonly value: string; readonly tokens: Token[] }
  | { readonly kind: 'break' };

/** Inline content as pieces: text with source lines, HTML apart (its comments and tags are read differently). */
export function pieces(nodes: readonly PhrasingContent[]): Piece[] {
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

/** The words of inline content with their lines; HTML and link targets are left to the sweep. */
export function textTokens(nodes: readonly PhrasingContent[]): Token[] {
  return pieces(nodes).flatMap((piece) => (piece.kind === 'text' ? piece.tokens : []));
}

/** A heading as the walk keeps it, to know which part of the page text stands in. */
export interface HeadingLevel {
  readonly depth: number;
  readonly text: string;
}

/** The headings above a new one: those of lower depth stay, the new one closes the rest. */
export function descend<H extends HeadingLevel>(headings: readonly H[], heading: H): H[] {
  return [...headings.filter((h) => h.depth < heading.depth), heading];
}

/**
 * Where text stands from each heading's line on, for the words the walk did not reach: the sweep names them
 * with the place of the heading above them.
 */
export class HeadingPlaces<Place> {
  private readonly places: Array<{ readonly line: number; readonly place: Place }> = [];

  /** `before` is the place of text above the first heading. */
  constructor(private readonly before: Place) {}

  mark(line: number, place: Place): void {
    this.places.push({ line, place });
  }

  at(line: number): Place {
    let found = this.before;
    for (const entry of this.places) if (entry.line <= line) found = entry.place;
    return found;
  }
}

/** Marks where HTML (the <br> variants) or a hard break separated words: a range or region label never spans it. */
export const BREAK: unique symbol = Symbol('break');

/** Between two addresses these make a range ("1.2.3.4 - 1.2.3.9"), not two addresses. */
const RANGE_WORD = /^(?:-|\u2013|\u2014|to|through|thru)$/i;
const PREFIX_APART = /^\/\d{1,3}$/;

/** Address-like words set aside, with the addresses read around them so a reader can tell where they stood. */
export interface Unreadable {
  readonly tokens: Token[];
  readonly why: string;
  readonly region: string | undefined;
  readonly before: Cidr | undefined;
  after: Cidr | undefined;
}

export interface Scan {
  /** With `regions`, one group per region label ("West Europe: ip, ip<br /><br />UK West: ..."); else one group. */
  readonly groups: Array<{ readonly region?: string; readonly addresses: Array<{ readonly cidr: Cidr; readonly token: Token }> }>;
  readonly unreadable: Unreadable[];
}

/**
 * Reads a list of words: addresses, region labels ("West Europe:") when `regions` is set, and everything
 * address-like that is not one address or CIDR (a typo, a letter glued to an address, two addresses run
 * together, a range, a prefix length set apart), which is set aside with the addresses read around it.
 */
export function scanTokens(tokens: ReadonlyArray<Token | typeof BREAK>, options: { readonly regions: boolean }): Scan {
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
    } else if (options.regions && token.text.length > 1 && token.text.endsWith(':')) {
      groups.push({ region: [...words, token.text.slice(0, -1)].join(' '), addresses: [] });
      words = [];
    } else {
      words.push(token.text);
    }
  }
  return { groups, unreadable };
}
