import { createHash } from 'node:crypto';
import type { Problem } from '../problem.js';
import type { BaseFiles } from '../publish/github/types.js';
import type { BaseRecord, TargetRecord } from '../state/records.js';
import type { RunContext } from './context.js';
import { missingFromBase } from './files.js';

/**
 * The base branch read as the truth it is: approved addresses its files no longer hold (a hand removal, a revert)
 * are reported as `base-differs` on every run until they are back, excluded, or no longer approved. A run that read
 * the base anyway compares what it read; any other run asks GitHub only whether the branch moved (one conditional
 * request, answered 304 when it did not) and reads the files again only when it did.
 */

export interface BaseCheckInput {
  /** What the last run found, as stored. */
  readonly stored: BaseRecord | undefined;
  /** The target records as this run stores them (baselines after any promotion). */
  readonly records: ReadonlyMap<string, TargetRecord>;
  /** The base branch's files, when this run read them anyway (to publish or refresh the PR). */
  readonly read?: BaseFiles;
}

export interface BaseCheck {
  /** What to store for the next run; undefined when nothing is approved yet, so nothing is asked. */
  readonly record: BaseRecord | undefined;
  readonly warnings: Problem[];
}

export async function checkBase(context: RunContext, input: BaseCheckInput): Promise<BaseCheck> {
  const { config } = context;
  const baselines = new Map(config.targets.map((target) => [target.id, input.records.get(target.id)?.baseline ?? []]));
  if (!config.github || config.files.length === 0 || [...baselines.values()].every((cidrs) => cidrs.length === 0)) {
    return { record: undefined, warnings: [] };
  }
  const fingerprint = comparedFingerprint(context, baselines);
  const compare = (files: BaseFiles, etag: string | undefined): BaseRecord => ({
    sha: files.sha,
    tree: files.tree,
    ...(etag ? { etag } : {}),
    fingerprint,
    differs: missingFromBase(config, baselines, files.files),
  });
  const paths = config.files.map((file) => file.path);
  let record: BaseRecord;
  try {
    const { stored, read } = input;
    if (read) record = compare(read, read.etag ?? (stored?.sha === read.sha ? stored.etag : undefined));
    else {
      const github = await context.github();
      const head = await github.baseHeadIfChanged(stored?.etag);
      if (head === 'unchanged' && stored!.fingerprint === fingerprint) record = stored!;
      else {
        const at = head === 'unchanged' ? { sha: stored!.sha, tree: stored!.tree } : head;
        record = compare(await github.readBase(paths, at), head === 'unchanged' ? stored!.etag : head.etag);
      }
    }
  } catch (error) {
    // Reading the base is a check beside the run's work: what was found before still stands until it can be read.
    context.log('warn', `the base branch could not be compared with the approved addresses: ${(error as Error).message}`);
    return { record: input.stored, warnings: (input.stored?.differs ?? []).map((differs) => baseDiffers(context, differs)) };
  }
  return { record, warnings: record.differs.map((differs) => baseDiffers(context, differs)) };
}

function baseDiffers(context: RunContext, differs: BaseRecord['differs'][number]): Problem {
  const { config } = context;
  const shown = differs.missing.slice(0, 10).join(', ');
  const more = differs.missing.length > 10 ? ` and ${differs.missing.length - 10} more` : '';
  const targets = config.files.find((file) => file.path === differs.path)?.targets.join(', ') ?? '';
  return {
    code: 'base-differs',
    message: `${differs.path} on ${config.github!.base} lacks ${shown}${more}, approved for config "${config.name}" (${targets}): removed by hand, or a merge was reverted? The next pull request of this config writes ${differs.missing.length === 1 ? 'it' : 'them'} back, listed under "Restored"; to keep ${differs.missing.length === 1 ? 'it' : 'them'} out for good, add ${differs.missing.length === 1 ? 'it' : 'them'} to the target's "exclude" in the config.`,
  };
}

/** The approved sets, exclusions and file settings the stored result was computed from. */
function comparedFingerprint(context: RunContext, baselines: ReadonlyMap<string, readonly string[]>): string {
  const { config } = context;
  const excludes = config.targets.map((target) => [target.id, target.exclude ?? []]);
  return createHash('sha256')
    .update(JSON.stringify([config.files, [...baselines], excludes]))
    .digest('hex')
    .slice(0, 16);
}
