import type { FileSpec } from '../config.js';
import { compareCidr, sortCidrs, type Cidr } from '../ipset.js';
import { renderJson } from './json.js';
import { renderPlain, type NotedEntries } from './plain.js';
import type { WrittenEntry } from './read.js';
import { renderTemplate } from './template.js';
import { renderTfvarsJson } from './tfvars-json.js';

export interface RenderContext {
  readonly configName: string;
  /** The file's current content in the repository, or null when it does not exist; only templates read it. */
  readonly existing: string | null;
  /**
   * Entries the config does not manage, written back exactly as they stood and never merged with its own: beside the
   * generated ones in address order, or (plain files) under the comment lines that say whose they are.
   */
  readonly foreign?: readonly WrittenEntry[];
}

/**
 * The full new content of one rule file. Byte-for-byte deterministic: the same addresses in any order
 * give the same text (no timestamps), so an unchanged allowlist never produces a commit.
 */
export function renderFile(file: FileSpec, cidrs: readonly Cidr[], context: RenderContext): string {
  const sorted = sortCidrs(cidrs);
  const foreign = context.foreign ?? [];
  const bare = foreign.filter((entry) => file.format !== 'plain' || entry.note.length === 0);
  // Verbatim text, in address order among the config's own entries.
  const texts = [...sorted.map((cidr) => ({ cidr, text: cidr as string })), ...bare]
    .sort((a, b) => compareCidr(a.cidr, b.cidr))
    .map((entry) => entry.text);
  switch (file.format) {
    case 'plain':
      return renderPlain(texts, { configName: context.configName, fileId: file.id }, paragraphs(foreign));
    case 'json':
      return renderJson(texts);
    case 'tfvars-json':
      return renderTfvarsJson(texts, file.variable);
    case 'template':
      return renderTemplate(file, sorted, context.existing, foreign);
  }
}

/** Noted entries grouped by their comment, in the order the comments first stood. */
function paragraphs(foreign: readonly WrittenEntry[]): NotedEntries[] {
  const byNote = new Map<string, { note: readonly string[]; entries: string[] }>();
  for (const entry of foreign) {
    if (entry.note.length === 0) continue;
    const key = entry.note.join('\n');
    const paragraph = byNote.get(key) ?? { note: entry.note, entries: [] };
    paragraph.entries.push(entry.text);
    byNote.set(key, paragraph);
  }
  return [...byNote.values()];
}
