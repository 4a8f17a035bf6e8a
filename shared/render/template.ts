import type { FileSpec } from '../config.js';
import { prefixLengthOf, tryParseCidr, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';

export type TemplateFileSpec = Extract<FileSpec, { format: 'template' }>;

type MarkerKind = 'BEGIN' | 'END';

/** RegExp source for the byte-order mark some Windows editors put first; it is not part of the first line's text. */
const BOM = '\\uFEFF';

/**
 * Rewrites only the lines strictly between the file's BEGIN and END marker lines, one `file.line` per
 * CIDR; everything else, including the markers, stays byte for byte, so the rest of a hand-kept rule
 * file (nginx, iptables-restore, ...) is never touched. Generated lines take the BEGIN line's
 * indentation and line ending, so a CRLF file stays CRLF.
 */
export function renderTemplate(file: TemplateFileSpec, cidrs: readonly Cidr[], existing: string | null): string {
  const begin = markerText(file, 'BEGIN');
  const end = markerText(file, 'END');
  const addMarkers = `add the two lines "${begin}" and "${end}" where the generated lines belong`;
  if (existing === null) {
    throw new AllowlistError(
      'template-missing',
      `${file.path} does not exist in the repository; a template file is edited in place, so create it and ${addMarkers}`,
    );
  }
  // Each element keeps its own line ending, so joining them again reproduces the input exactly.
  const lines = existing.split(/(?<=\n)/);
  const begins = findMarkers(lines, file, 'BEGIN');
  const ends = findMarkers(lines, file, 'END');
  const fail = (why: string) => new AllowlistError('template-markers', `${file.path}: ${why}`);

  if (begins.length === 0 && ends.length === 0) throw fail(`no allowlist-drift markers for file "${file.id}"; ${addMarkers}`);
  if (begins.length > 1) throw fail(`"${begin}" is on lines ${lineList(begins)}; keep exactly one`);
  if (ends.length > 1) throw fail(`"${end}" is on lines ${lineList(ends)}; keep exactly one`);
  const [beginAt] = begins;
  const [endAt] = ends;
  if (beginAt === undefined) throw fail(`"${end}" is on line ${endAt! + 1} but no line "${begin}" comes before it; add it above the first line to replace`);
  if (endAt === undefined) throw fail(`"${begin}" is on line ${beginAt + 1} but no line "${end}" follows it; add it below the last line to replace`);
  if (endAt < beginAt) throw fail(`"${end}" (line ${endAt + 1}) comes before "${begin}" (line ${beginAt + 1}); put the BEGIN line first`);

  const beginLine = lines[beginAt]!;
  const indentation = new RegExp(`^${BOM}?([ \\t]*)`).exec(beginLine)![1]!;
  const lineEnding = beginLine.endsWith('\r\n') ? '\r\n' : '\n';
  const generated = cidrs.map((cidr) => `${indentation}${fillPlaceholders(file.line, cidr)}${lineEnding}`);
  return [...lines.slice(0, beginAt + 1), ...generated, ...lines.slice(endAt)].join('');
}

function markerText(file: TemplateFileSpec, kind: MarkerKind): string {
  return `${file.commentPrefix} ${kind} allowlist-drift:${file.id}`;
}

/**
 * Indexes of the lines that are this file's marker of one kind. A line that names the marker but
 * does not start with the comment prefix is an error rather than ignored: treating it as text would
 * leave the generated block in the wrong place without anyone noticing.
 */
function findMarkers(lines: readonly string[], file: TemplateFileSpec, kind: MarkerKind): number[] {
  const named = new RegExp(`${kind} allowlist-drift:${escapeRegExp(file.id)}(?=\\s|$)`);
  const proper = new RegExp(`^${BOM}?[ \\t]*${escapeRegExp(file.commentPrefix)}[ \\t]*${kind} allowlist-drift:${escapeRegExp(file.id)}(?=\\s|$)`);
  const found: number[] = [];
  lines.forEach((line, index) => {
    if (!named.test(line)) return;
    if (!proper.test(line)) {
      throw new AllowlistError(
        'template-markers',
        `${file.path}: line ${index + 1} names "${kind} allowlist-drift:${file.id}" but does not start with the comment prefix "${file.commentPrefix}"; write it as "${markerText(file, kind)}"`,
      );
    }
    found.push(index);
  });
  return found;
}

function fillPlaceholders(line: string, cidr: Cidr): string {
  const values = { cidr, ip: cidr.slice(0, cidr.lastIndexOf('/')), prefix: String(prefixLengthOf(cidr)) };
  // One pass, so a value is never scanned for placeholders itself.
  return line.replace(/\{(cidr|ip|prefix)\}/g, (_, name: keyof typeof values) => values[name]);
}

function lineList(indexes: readonly number[]): string {
  const numbers = indexes.map((index) => String(index + 1));
  return numbers.length === 2 ? numbers.join(' and ') : `${numbers.slice(0, -1).join(', ')} and ${numbers.at(-1)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The addresses between the markers, read back through the file's own line template; outside the markers
 * nothing is the tool's. A line there that the template does not produce is an error, not skipped.
 */
export function readTemplateEntries(file: TemplateFileSpec, content: string): Cidr[] {
  const lines = content.split(/(?<=\n)/);
  const [beginAt] = findMarkers(lines, file, 'BEGIN');
  const [endAt] = findMarkers(lines, file, 'END');
  if (beginAt === undefined || endAt === undefined || endAt < beginAt) return [];
  const named = new Set<string>();
  const placeholder = (name: string) => {
    if (named.has(name)) return `\\k<${name}>`;
    named.add(name);
    return `(?<${name}>${name === 'prefix' ? '\\d{1,3}' : `[0-9A-Fa-f:.]+${name === 'cidr' ? '/\\d{1,3}' : ''}`})`;
  };
  const pattern = new RegExp(`^[ \\t]*${escapeRegExp(file.line).replace(/\\\{(cidr|ip|prefix)\\\}/g, (_, name: string) => placeholder(name))}[ \\t]*$`);
  return lines.slice(beginAt + 1, endAt).flatMap((raw, index) => {
    const line = raw.replace(/\r?\n$/, '');
    if (line.trim() === '') return [];
    const groups = pattern.exec(line)?.groups;
    const text = groups?.cidr ?? (groups?.ip !== undefined ? `${groups.ip}${groups.prefix !== undefined ? `/${groups.prefix}` : ''}` : undefined);
    const cidr = text === undefined ? undefined : tryParseCidr(text);
    if (cidr === undefined) {
      throw new AllowlistError(
        'rule-file-unreadable',
        `${file.path} line ${beginAt + 2 + index} between the allowlist-drift markers does not match the line template ${JSON.stringify(file.line)}; nothing was pushed, so no entry of it is lost. Fix or remove the line.`,
      );
    }
    return [cidr];
  });
}
