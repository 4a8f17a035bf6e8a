export interface PlainOrigin {
  readonly configName: string;
  readonly fileId: string;
}

/**
 * One CIDR per line, for a Palo Alto Networks External Dynamic List or a FortiGate IP address threat feed.
 *
 * The header uses "#" lines because both consumers accept them:
 * - PAN-OS ignores any line that is not an address, range or subnet and keeps processing the list
 *   (knowledge-base article "What Happens When the Dynamic Block List Contains Incorrectly Formatted
 *   Lines?", which lists "#" among the skipped lines); its EDL formatting guidelines use "#" for comments.
 * - Fortinet documents "#" comment lines for threat feeds (FortiMail "Types and file formats of threat
 *   feeds"); FortiGate counts any unparsable line as an error line and still loads the valid ones.
 * The header says what the tool does with hand edits (shared/engine/files.ts keeps them); a file written under an
 * older header gets this one only with its next address change, never in a change of its own.
 * Lines end in LF only, with one after the last entry: PAN-OS does not support CR-LF in an EDL and needs
 * the final newline to read the last entry (LIVEcommunity "Working with External Block List (EBL) Formats
 * and Limitations").
 */
/** The header's lines after its first, which names the config; shared/render/read.ts skips them when reading back. */
export const PLAIN_HEADER_TAIL: readonly string[] = [
  '# To remove an address for good, remove it from its source or the allowlist-drift config: an address a target',
  '# still lists is written back with the next change.',
];

export function renderPlain(entries: readonly string[], origin: PlainOrigin, noted: readonly NotedEntries[] = []): string {
  const header = [
    `# Kept up to date by allowlist-drift (config "${origin.configName}", file "${origin.fileId}"). Lines added by hand are kept.`,
    ...PLAIN_HEADER_TAIL,
  ];
  // Each paragraph of entries the config does not manage keeps its comment above it; the blank line before it ends
  // the paragraph above, so the comment is read back as belonging to these entries alone.
  const paragraphs = noted.flatMap((paragraph) => ['', ...paragraph.note, ...paragraph.entries]);
  return [...header, ...entries, ...paragraphs].map((line) => `${line}\n`).join('');
}

/** Entries written as they stood, under the comment lines that say whose they are. */
export interface NotedEntries {
  readonly note: readonly string[];
  readonly entries: readonly string[];
}
