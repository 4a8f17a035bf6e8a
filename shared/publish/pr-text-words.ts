// The small wording pieces of the PR text: citations, reasons, problems, fences, safe titles.
import { addedRows, type TargetDrift } from '../drift/drift.js';
import type { Problem } from '../problem.js';
import type { Verdict } from '../report.js';
import { citeEvidence } from '../sources/registry.js';
import type { Citation, EntryEvidence } from '../sources/source.js';
import { escapeMarkdown, markdownLink } from './inert.js';

/** Places named in a target's one-line "why" before "and N more". */
const WHY_PLACES = 3;

export interface RenderMode {
  /** For the text fingerprint: leave out what varies between runs that say the same thing. */
  readonly stable: boolean;
}

/** "7 Nov 2025, 10:00 UTC": for people; the run details keep the ISO time. */
export function humanTime(iso: string): string {
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) return escapeMarkdown(iso);
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][time.getUTCMonth()]!;
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${time.getUTCDate()} ${month} ${time.getUTCFullYear()}, ${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())} UTC`;
}

export function cite(evidence: EntryEvidence): Citation {
  return citeEvidence(evidence, (text) => escapeMarkdown(text), markdownLink);
}

/** Citations stated once per source: "CAS page revision 2024-02-29, Portal access, EU1; SIEM agent connection, EU1". */
export function citationsText(citations: readonly Citation[], mode: RenderMode): string {
  const sources = uniqueBy(citations, (citation) => citation.source).map((citation) => citation.source);
  return sources
    .map(
      (source) =>
        `${source}, ${placesText(
          citations.filter((citation) => citation.source === source),
          mode,
        ).join('; ')}`,
    )
    .join('; ');
}

/** The places citations name, each once, with their detail (a TTL, a tag's changeNumber) unless the text must stay stable. */
export function placesText(citations: readonly Citation[], mode: RenderMode): string[] {
  const places = citations.map((citation) => `${citation.place}${citation.detail && !mode.stable ? `, ${citation.detail}` : ''}`);
  return [...new Set(places)];
}

/** Why a target changes, in one table cell: its sources, then the places they name. */
export function whyText(drift: TargetDrift): string {
  const added = addedRows(drift).flatMap((row) => row.evidence.map(cite));
  const parts: string[] = [];
  const bySource = new Map<string, string[]>();
  for (const citation of added) {
    const places = bySource.get(citation.source) ?? [];
    if (!places.includes(citation.place)) places.push(citation.place);
    bySource.set(citation.source, places);
  }
  for (const [source, places] of bySource) {
    const shown = places.slice(0, WHY_PLACES).join(', ');
    parts.push(`${source}: ${shown}${places.length > WHY_PLACES ? ` and ${places.length - WHY_PLACES} more` : ''}`);
  }
  const removed = drift.report.removed.length;
  if (removed > 0) parts.push(`${removed} no longer listed`);
  return parts.length > 0 ? parts.join('; ') : 'the approved baseline';
}

export function outcomeText(verdict: Verdict): string {
  return verdict.outcome === 'hold' ? '**hold**' : 'pass';
}

export function problemText(problem: Problem): string {
  return `${escapeMarkdown(problem.code, 80)}: ${escapeMarkdown(problem.message, 1_000)}`;
}

/** A code fence longer than any run of backticks in the lines it encloses. */
export function fenceFor(lines: readonly string[]): string {
  const longest = Math.max(0, ...lines.map((line) => Math.max(0, ...[...line.matchAll(/`+/g)].map((match) => match[0].length))));
  return '`'.repeat(Math.max(3, longest + 1));
}

export function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

/** Titles are plain text, but a line break would still end them early. */
export function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ');
}
