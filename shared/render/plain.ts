import type { Cidr } from '../ipset.js';

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
export function renderPlain(cidrs: readonly Cidr[], origin: PlainOrigin): string {
  const header = [
    `# Kept up to date by allowlist-drift (config "${origin.configName}", file "${origin.fileId}"). Lines added by hand are kept.`,
    '# To remove an address for good, remove it from its source or the allowlist-drift config: an address a target',
    '# still lists is written back with the next change.',
  ];
  return [...header, ...cidrs].map((line) => `${line}\n`).join('');
}
