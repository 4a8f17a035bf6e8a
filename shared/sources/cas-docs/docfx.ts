import type { Root, RootContent } from 'mdast';
import { AllowlistError } from '../../problem.js';

/** Where the DocFX (markdig) page source needs more than GFM gives: its line repairs and the blocks it must see closed. */

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
export function normaliseDocfx(body: string): string {
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
 * Blocks that run to the end of the document when their end is missing: an HTML comment never closed hides
 * the rest of the page, and a code fence left open at the very end means the download stopped inside it.
 */
export function assertBlocksClosed(tree: Root, source: string): void {
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
export function fenceOf(node: RootContent, source: string): string | undefined {
  const start = node.position?.start.offset;
  if (start === undefined) return undefined;
  return /^[ \t]*(`{3,}|~{3,})/.exec(
    source.slice(start, source.indexOf('\n', start) === -1 ? undefined : source.indexOf('\n', start)),
  )?.[1];
}
