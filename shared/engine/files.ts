import type { Config, FileSpec, Target } from '../config.js';
import { aggregate, difference, semanticDiff, union, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';
import { readFileEntries } from '../render/read.js';
import { renderFile } from '../render/index.js';
import { fileCidrs, fileTakes } from './proposal.js';

/**
 * What each rule file becomes, computed against the file as it is on the base branch now: the tool owns only the
 * entries its targets produced. Everything else on the base branch (a hand edit, another config's entries) stays,
 * and an entry leaves a file only when it is a confirmed removal that the PR text names.
 */

export interface FilePlanInput {
  /** Each configured file's content on the base branch, null when it does not exist. */
  readonly base: ReadonlyMap<string, string | null>;
  /** Per target, what its part of the files should be. */
  readonly proposed: ReadonlyMap<string, Cidr[]>;
  /** Per target, its approved baseline: what is there and not proposed any more is a confirmed removal. */
  readonly baselines: ReadonlyMap<string, Cidr[]>;
  /** Per target, every entry this config has produced for it (baseline, stored and open proposals). */
  readonly managed: ReadonlyMap<string, Cidr[]>;
}

export interface FileChange {
  readonly file: FileSpec;
  readonly before: string | null;
  readonly content: string;
  /** Address changes against the base branch's file, read back from the rendered content. */
  readonly added: Cidr[];
  readonly removed: Cidr[];
  /** Entries on the base branch that no target of this config produced: kept as they are. */
  readonly kept: Cidr[];
}

export function planFiles(config: Config, input: FilePlanInput): FileChange[] {
  return config.files.map((file) => {
    const before = input.base.get(file.path) ?? null;
    const onBase = readFileEntries(file, before);
    const proposed = fileCidrs(file, input.proposed);
    const confirmedRemovals = difference(fileCidrs(file, input.baselines), proposed);
    const next = union(difference(onBase, confirmedRemovals), proposed);
    const rendered = renderFile(file, next, { configName: config.name, existing: before });
    // The change is read back from what will be pushed, so a renderer that narrows a set shows up as a removal.
    const { added, removed } = semanticDiff(onBase, readFileEntries(file, rendered));
    // A file whose addresses stay the same stays byte for byte: a new header, order or layout alone is no change to
    // propose, so a header an older release wrote (or a hand-sorted list) is rewritten only with a real change.
    const content = before !== null && added.length === 0 && removed.length === 0 ? before : rendered;
    const kept = difference(onBase, union(fileCidrs(file, input.managed), proposed));
    return { file, before, content, added, removed, kept };
  });
}

/**
 * The publishing invariant: no file loses an address that the PR text does not name as a confirmed removal.
 * Checked on the final contents before anything is pushed; a failure is a bug to report, and nothing is sent.
 */
export function assertRemovalsNamed(changes: readonly FileChange[], named: readonly Cidr[]): void {
  for (const change of changes) {
    const unnamed = difference(change.removed, named);
    if (unnamed.length > 0) {
      throw new AllowlistError(
        'publish-invariant',
        `refusing to publish: ${change.file.path} would lose ${aggregate(unnamed).join(', ')}, which the pull request does not name as a confirmed removal; nothing was pushed`,
      );
    }
  }
}

/** The whole change across files, counted once per address range. */
export function totalChange(changes: readonly FileChange[]): { added: Cidr[]; removed: Cidr[]; kept: Cidr[] } {
  return {
    added: union(...changes.map((c) => c.added)),
    removed: union(...changes.map((c) => c.removed)),
    kept: union(...changes.map((c) => c.kept)),
  };
}

/**
 * Per target, what the base branch's files that list it already hold (every entry of those files, of the family
 * each takes): what a target with no approved baseline is judged against, so a rename does not reset the guards.
 */
export function entriesOnBase(config: Config, targets: readonly Target[], base: ReadonlyMap<string, string | null>): Map<string, Cidr[]> {
  const onBase = new Map(config.files.map((file) => [file.path, readFileEntries(file, base.get(file.path) ?? null)] as const));
  return new Map(
    targets.map((target) => {
      const files = config.files.filter((file) => file.targets.includes(target.id));
      return [target.id, union(...files.map((file) => onBase.get(file.path)!.filter((cidr) => fileTakes(file, cidr))))];
    }),
  );
}
