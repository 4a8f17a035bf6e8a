import type { FileSpec } from '../config.js';
import { sortCidrs, type Cidr } from '../ipset.js';
import { renderJson } from './json.js';
import { renderPlain } from './plain.js';
import { renderTemplate } from './template.js';
import { renderTfvarsJson } from './tfvars-json.js';

export interface RenderContext {
  readonly configName: string;
  /** The file's current content in the repository, or null when it does not exist; only templates read it. */
  readonly existing: string | null;
}

/**
 * The full new content of one rule file. Byte-for-byte deterministic: the same addresses in any order
 * give the same text (no timestamps), so an unchanged allowlist never produces a commit.
 */
export function renderFile(file: FileSpec, cidrs: readonly Cidr[], context: RenderContext): string {
  const sorted = sortCidrs(cidrs);
  switch (file.format) {
    case 'plain':
      return renderPlain(sorted, { configName: context.configName, fileId: file.id });
    case 'json':
      return renderJson(sorted);
    case 'tfvars-json':
      return renderTfvarsJson(sorted, file.variable);
    case 'template':
      return renderTemplate(file, sorted, context.existing);
  }
}
