import { decideCapacity, type CapacityDecision } from '../capacity/capacity.js';
import { countEntries } from '../capacity/count.js';
import { fitFile, type Widening } from '../capacity/fit.js';
import { widenedCovers } from '../capacity/widen.js';
import type { Config, FileSpec, Target } from '../config.js';
import { aggregate, difference, intersection, PrefixIndex, semanticDiff, union, type Cidr } from '../ipset.js';
import { AllowlistError } from '../problem.js';
import { assignSplit } from '../capacity/split.js';
import { isSplitPath, numberedPath, numberedPaths } from '../capacity/split-path.js';
import { ownerComment, readFileEntries, readWrittenEntries, type WrittenEntry, type WrittenFile } from '../render/read.js';
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
  /** For a numbered file of a split set, the spec with that file's path. */
  readonly file: FileSpec;
  readonly before: string | null;
  /** Null: the file is removed (a numbered file of a split set that emptied). */
  readonly content: string | null;
  /** The pattern of the split set the file belongs to (its path with `{n}`). */
  readonly split?: string;
  /** Address changes against the base branch's file, read back from the rendered content. */
  readonly added: Cidr[];
  readonly removed: Cidr[];
  /** Entries on the base branch that no target of this config produced: kept as they are. */
  readonly kept: Cidr[];
  /** The entries this config does not manage, as the file writes them, and whose they are as far as it says. */
  readonly unmanaged: Array<{ readonly entry: string; readonly by: string }>;
  /** Confirmed removals that entries this config does not manage still allow, and which entry does. */
  readonly stays: StillAllowed[];
  /** Approved addresses the base branch's file lacks (removed by hand, or a revert) that this change writes back. */
  readonly restored: Cidr[];
  /** A file with a limit: whether what it would hold fits. */
  readonly capacity?: CapacityDecision;
  /**
   * Set when the file would hold more than its limit: it is not written (content stays the base branch's, '' for a
   * file the base branch lacks, and is never pushed: see writtenChanges; nothing is added or removed), and `onBase`
   * is what it holds there, so that nothing it would have added is taken as approved (see withheldPromotion).
   */
  readonly withheld?: { readonly onBase: Cidr[] };
  /**
   * Set when the file holds covering supernets to fit its limit (`fit`): what they allow beyond the published
   * addresses, and the addresses an earlier widening of the file allowed that this content no longer does (named in
   * the PR, so they may leave the file).
   */
  readonly widening?: Widening & { readonly released: Cidr[] };
}

/** Who a StillAllowed entry is by when it is a cover of a file widened to fit its limit. */
export const WIDENED_COVER = 'a cover this config widened the file with (fit)';

/** A confirmed removal that stays allowed, because an entry this config does not manage (or a widened cover) covers it. */
export interface StillAllowed {
  readonly cidr: Cidr;
  /** The covering entry as the file writes it. */
  readonly entry: string;
  /** Whose the entry is, as far as the file says: another config, a person's comment, or neither. */
  readonly by: string;
}

export function planFiles(config: Config, input: FilePlanInput): FileChange[] {
  return config.files.flatMap((file) => (isSplitPath(file.path) ? planSplitFiles(config, file, input) : [planFile(config, file, input)]));
}

/** A file on the base branch, its entries told apart: this config's own, and the ones it keeps for others. */
interface OwnedFile {
  readonly before: string | null;
  readonly written: WrittenFile;
  /** This config's entries, aggregated. */
  readonly own: Cidr[];
  /** The entries this config does not manage, as written, and whose they are as far as the file says. */
  readonly foreign: (WrittenEntry & { readonly by: string })[];
  /** Covers an earlier widening (`fit`) wrote: the tool's own, standing only for the managed addresses inside them. */
  readonly earlierCovers: Cidr[];
}

function readOwned(config: Config, file: FileSpec, input: FilePlanInput, sets: FileSets): OwnedFile {
  const before = input.base.get(file.path) ?? null;
  const written = readWrittenEntries(file, before);
  const covering = file.fit
    ? widenedCovers(
        written.entries.map((entry) => entry.cidr),
        sets.managed,
        file.fit,
      )
    : new Set<Cidr>();
  const isCover = (entry: WrittenEntry) => covering.has(entry.cidr);
  // Entries this config does not manage are written back whole and verbatim, never split around a removal or
  // merged with its own entries, so every later read still tells them apart.
  const isForeign = (entry: WrittenEntry) => {
    const owner = ownerOf(entry, written.header, config.name);
    return (
      owner !== 'self' &&
      (owner !== undefined || sets.managedIndex.containing(entry.cidr) === undefined) &&
      !(owner === undefined && isCover(entry))
    );
  };
  const foreign = written.entries
    .filter(isForeign)
    .map((entry) => ({ ...entry, by: ownerOf(entry, written.header, config.name) ?? 'added by hand; no comment says by whom' }));
  const ownEntries = written.entries.filter((entry) => !isForeign(entry));
  const earlierCovers = ownEntries.filter(isCover).map((entry) => entry.cidr);
  const own = union(
    ownEntries.filter((entry) => !isCover(entry)).map((entry) => entry.cidr),
    earlierCovers.length > 0 ? intersection(sets.managed, earlierCovers) : [],
  );
  return { before, written, own, foreign, earlierCovers };
}

type FileSets = ReturnType<typeof fileSets>;

/** The managed addresses of a file's targets, and what it should hold of them, from the plan's input. */
function fileSets(file: FileSpec, input: FilePlanInput) {
  const proposed = fileCidrs(file, input.proposed);
  const managed = union(fileCidrs(file, input.managed), proposed);
  const confirmedRemovals = difference(fileCidrs(file, input.baselines), proposed);
  // Aggregated, so an entry is covered exactly when one member contains it: a lookup per entry, not a scan.
  const managedIndex = new PrefixIndex(managed.map((cidr) => [cidr, true] as const));
  return { proposed, managed, managedIndex, confirmedRemovals };
}

/** One file; `owned` and `next` (what of the config's entries it holds) are given for a numbered file of a split set. */
function planFile(
  config: Config,
  file: FileSpec,
  input: FilePlanInput,
  split?: { owned: OwnedFile; next: Cidr[]; sets: FileSets },
): FileChange {
  const sets = split?.sets ?? fileSets(file, input);
  const { proposed, managed, managedIndex, confirmedRemovals } = sets;
  const { before, written, own, foreign, earlierCovers } = split?.owned ?? readOwned(config, file, input, sets);
  const onBase = aggregate(written.entries.map((entry) => entry.cidr));
  const next = split?.next ?? union(difference(own, confirmedRemovals), proposed);
  const kept = foreign.map((entry) =>
    // An owner taken from the header alone is written down, so the other config's entries stay known as its own.
    entry.note.length === 0 && entry.owner === undefined && written.header !== undefined && written.header !== config.name
      ? { ...entry, note: [ownerComment(written.header)], owner: written.header }
      : entry,
  );
  const unmanaged = foreign.map((entry) => ({ entry: entry.text, by: entry.by }));
  // Only entries no managed prefix contains can hold unmanaged addresses: the set difference runs on those alone.
  const uncovered = onBase.filter((cidr) => managedIndex.containing(cidr) === undefined);
  const notOwn = uncovered.length > 0 ? difference(uncovered, union(managed, earlierCovers)) : [];
  // Counted before rendering: a file over its limit is not written, so it cannot fail the run's other files.
  const fitted = fitFile(file, next, kept);
  const counted = fitted.decision;
  if (counted?.outcome === 'exceeded') return withheldChange({ file, before, onBase, kept: notOwn, unmanaged, capacity: counted });
  const rendered = renderFile(file, fitted.entries, { configName: config.name, existing: before, foreign: kept });
  const capacity = counted && {
    ...counted,
    ...decideCapacity(file, countEntries(file, fitted.entries, kept), Buffer.byteLength(rendered)),
  };
  if (capacity?.outcome === 'exceeded') return withheldChange({ file, before, onBase, kept: notOwn, unmanaged, capacity });
  // The change is read back from what will be pushed, so a renderer that narrows a set shows up as a removal.
  const { added, removed } = semanticDiff(onBase, readFileEntries(file, rendered));
  const released = earlierCovers.length > 0 ? intersection(removed, difference(earlierCovers, managed)) : [];
  const widening = fitted.widening || released.length > 0 ? { extra: 0n, covers: [], ...fitted.widening, released } : undefined;
  // A file whose addresses stay the same stays byte for byte: a new header, order or layout alone is no change to
  // propose, so a header an older release wrote (or a hand-sorted list) is rewritten only with a real change.
  const content = before !== null && added.length === 0 && removed.length === 0 ? before : rendered;
  const stays = [
    ...foreign.flatMap((entry) => intersection(confirmedRemovals, [entry.cidr]).map((cidr) => ({ cidr, entry: entry.text, by: entry.by }))),
    // A removal inside a cover stays allowed by it, as long as the file needs the cover to fit.
    ...(fitted.widening?.covers ?? []).flatMap(({ cover }) =>
      intersection(confirmedRemovals, [cover]).map((cidr) => ({ cidr, entry: cover as string, by: WIDENED_COVER })),
    ),
  ];
  const restored = added.length > 0 ? intersection(added, fileCidrs(file, input.baselines)) : [];
  return {
    ...{ file, before, content, added, removed, kept: notOwn, unmanaged, stays, restored },
    ...(capacity ? { capacity } : {}),
    ...(widening ? { widening } : {}),
  };
}

/**
 * A path with `{n}`: the set's entries spread over numbered files, each within the limit, by a stable assignment
 * (shared/capacity/split.ts), so one new address changes one file. The tool writes only numbered files that hold
 * entries of this config (or that are exactly the empty file it writes); any other file under the pattern is a
 * person's, left as it is, its number never used. An emptied file is removed only when it is byte for byte what
 * the tool wrote; otherwise it stays, empty.
 */
function planSplitFiles(config: Config, spec: FileSpec, input: FilePlanInput): FileChange[] {
  const sets = fileSets(spec, input);
  const { proposed, confirmedRemovals } = sets;
  const render = (file: FileSpec, cidrs: readonly Cidr[], before: string | null) =>
    renderFile(file, cidrs, { configName: config.name, existing: before, foreign: [] });
  const found = numberedPaths(spec.path, input.base.keys()).map(({ n, path }) => {
    const file = { ...spec, path };
    return { n, file, owned: readOwned(config, file, input, sets) };
  });
  const isToolFile = ({ file, owned }: (typeof found)[number]) =>
    owned.own.length > 0 || (owned.foreign.length === 0 && owned.before === render(file, [], owned.before));
  const files = found.filter(isToolFile);
  const want = union(difference(union(...files.map(({ owned }) => owned.own)), confirmedRemovals), proposed);
  const assignment = assignSplit({
    files: files.map(({ n, owned }) => ({ n, entries: owned.own, fixed: owned.foreign.map((entry) => entry.cidr) })),
    reserved: found.filter((file) => !isToolFile(file)).map(({ n }) => n),
    want,
    limit: spec.limit!,
  });
  return [...assignment].map(([n, next]) => {
    const existing = files.find((file) => file.n === n);
    const file = existing?.file ?? { ...spec, path: numberedPath(spec.path, n) };
    const owned: OwnedFile = existing?.owned ?? { before: null, written: { entries: [] }, own: [], foreign: [], earlierCovers: [] };
    const change = planFile(config, file, input, { owned, next, sets });
    const removable =
      next.length === 0 && owned.foreign.length === 0 && owned.before !== null && owned.before === render(file, owned.own, owned.before);
    // A full file of a set is no warning: the next entries open the next file.
    const capacity = change.capacity?.outcome === 'headroom' ? { capacity: { ...change.capacity, outcome: 'fits' as const } } : {};
    return { ...change, ...capacity, split: spec.path, ...(removable ? { content: null } : {}) };
  });
}

/** A file over its limit: left as the base branch has it (absent stays absent), and said why. */
function withheldChange(input: {
  file: FileSpec;
  before: string | null;
  onBase: Cidr[];
  kept: Cidr[];
  unmanaged: FileChange['unmanaged'];
  capacity: CapacityDecision;
}): FileChange {
  const { file, before, onBase, kept, unmanaged, capacity } = input;
  return {
    file,
    before,
    content: before ?? '',
    added: [],
    removed: [],
    kept,
    unmanaged,
    stays: [],
    restored: [],
    capacity,
    withheld: { onBase },
  };
}

/** The changes that are written: every file but those withheld for capacity. */
export function writtenChanges(changes: readonly FileChange[]): FileChange[] {
  return changes.filter((change) => !change.withheld);
}

/**
 * What a target's baseline becomes when the base branch is found to hold the proposal already, while some of its
 * files were withheld for capacity: of the addresses such a file takes, only what the file holds on the base branch
 * counts as approved (what it would have added stays pending, what it still holds stays approved).
 */
export function withheldPromotion(changes: readonly FileChange[], target: { id: string; proposed: Cidr[]; baseline: Cidr[] }): Cidr[] {
  let promoted = target.proposed;
  for (const change of changes) {
    if (!change.withheld || !change.file.targets.includes(target.id)) continue;
    const takes = (cidr: Cidr) => fileTakes(change.file, cidr);
    const missing = difference(promoted.filter(takes), change.withheld.onBase);
    const stillHeld = intersection(target.baseline.filter(takes), change.withheld.onBase);
    promoted = union(difference(promoted, missing), stillHeld);
  }
  return promoted;
}

/**
 * Whose an entry is, as far as the file says: 'self' or another config's name (an owner comment above it, or the
 * generated header of a plain file another config wrote last), a person's comment above it, or undefined when the
 * file says nothing and only this config's own entries can tell.
 */
function ownerOf(entry: WrittenEntry, header: string | undefined, self: string): string | undefined {
  const named = (name: string) => (name === self ? 'self' : `allowlist-drift config "${name}"`);
  if (entry.owner !== undefined) return named(entry.owner);
  if (entry.note.length > 0) return entry.note.join(' ');
  if (header !== undefined && header !== self) return named(header);
  return undefined;
}

/**
 * The publishing invariant: no file loses an address that the PR text does not name as a confirmed removal.
 * Checked on the final contents before anything is pushed; a failure is a bug to report, and nothing is sent.
 */
export function assertRemovalsNamed(changes: readonly FileChange[], named: readonly Cidr[]): void {
  const refuse = (where: string, unnamed: readonly Cidr[]) =>
    new AllowlistError(
      'publish-invariant',
      `refusing to publish: ${where} would lose ${aggregate(unnamed).join(', ')}, which the pull request does not name as a confirmed removal; nothing was pushed`,
    );
  // A cover's extra addresses were never published; the PR names those a narrower widening gives up.
  const allowed = (set: readonly FileChange[]) => union(named, ...set.map((c) => c.widening?.released ?? []));
  for (const change of changes.filter((c) => c.split === undefined)) {
    const unnamed = difference(change.removed, allowed([change]));
    if (unnamed.length > 0) throw refuse(change.file.path, unnamed);
  }
  // A split set is judged as a whole: what a removal left of a wider entry may move to another of its files.
  for (const pattern of new Set(changes.flatMap((c) => (c.split === undefined ? [] : [c.split])))) {
    const set = changes.filter((c) => c.split === pattern);
    const lost = difference(union(...set.map((c) => c.removed)), union(...set.map((c) => c.added)));
    const unnamed = difference(lost, allowed(set));
    if (unnamed.length > 0) throw refuse(`the files of ${pattern}`, unnamed);
  }
}

/** The whole change across files, counted once per address range. */
export function totalChange(changes: readonly FileChange[]): {
  added: Cidr[];
  removed: Cidr[];
  kept: Cidr[];
  stays: (StillAllowed & { path: string })[];
  restored: Cidr[];
  unmanaged: { entry: string; by: string; path: string }[];
} {
  return {
    added: union(...changes.map((c) => c.added)),
    removed: union(...changes.map((c) => c.removed)),
    kept: union(...changes.map((c) => c.kept)),
    stays: changes.flatMap((c) => c.stays.map((stay) => ({ ...stay, path: c.file.path }))),
    restored: union(...changes.map((c) => c.restored)),
    unmanaged: changes.flatMap((c) => c.unmanaged.map((entry) => ({ ...entry, path: c.file.path }))),
  };
}

/**
 * Per target, what the base branch's files that list it already hold (every entry of those files, of the family
 * each takes): what a target with no approved baseline is judged against, so a rename does not reset the guards.
 */
export function entriesOnBase(config: Config, targets: readonly Target[], base: ReadonlyMap<string, string | null>): Map<string, Cidr[]> {
  const onBase = new Map(config.files.map((file) => [file.path, fileEntriesOnBase(file, base)] as const));
  return new Map(
    targets.map((target) => {
      const files = config.files.filter((file) => file.targets.includes(target.id));
      return [target.id, union(...files.map((file) => onBase.get(file.path)!.filter((cidr) => fileTakes(file, cidr))))];
    }),
  );
}

/** What a configured file holds on the base branch: for a path with `{n}`, every numbered file of its set together. */
export function fileEntriesOnBase(file: FileSpec, base: ReadonlyMap<string, string | null>): Cidr[] {
  if (!isSplitPath(file.path)) return readFileEntries(file, base.get(file.path) ?? null);
  return union(...numberedPaths(file.path, base.keys()).map(({ path }) => readFileEntries({ ...file, path }, base.get(path) ?? null)));
}

/** Per file, the approved addresses of its targets that the base branch's file does not hold. */
export interface MissingFromBase {
  readonly path: string;
  readonly missing: Cidr[];
}

/**
 * What the base branch lacks of what was approved: a person removed it by hand, or reverted a merge. Addresses a
 * target now excludes are not missing: they are on their way out. A file that cannot be read is left to the run
 * that publishes, which reports it.
 */
export function missingFromBase(
  config: Config,
  baselines: ReadonlyMap<string, Cidr[]>,
  base: ReadonlyMap<string, string | null>,
): MissingFromBase[] {
  return config.files.flatMap((file) => {
    const excluded = union(...file.targets.map((id) => config.targets.find((t) => t.id === id)?.exclude ?? []));
    const approved = difference(fileCidrs(file, baselines), excluded);
    if (approved.length === 0) return [];
    let onBase: Cidr[];
    try {
      onBase = fileEntriesOnBase(file, base);
    } catch {
      return [];
    }
    const missing = difference(approved, onBase);
    return missing.length > 0 ? [{ path: file.path, missing }] : [];
  });
}
