import { configOf, selectConfig, type ConfigSet } from '../config-set.js';
import type { StateStore } from '../state/store.js';
import { configRunError, type ConfigRunError } from './check-set.js';
import { readStatus, type StatusReport } from './status.js';

/** One config of an app in one line: what GET /api/status and `status --config-dir` list for a set of configs. */
export interface ConfigStatusLine {
  readonly name: string;
  /** The file or blob the config was read from. */
  readonly origin: string;
  readonly lastRunAt: string | null;
  /**
   * The oldest of its targets' last good (ok or partial) checks: every target was last seen good at or after it.
   * Null while a target has had none.
   */
  readonly lastGoodCheckAt: string | null;
  readonly targets: number;
  /** Ids of the targets held at their last check (released by `approve` or the dashboard), partial, and failed. */
  readonly held: string[];
  readonly partial: string[];
  readonly failed: string[];
  readonly pullRequest: { readonly number: number; readonly url: string } | null;
  /** As StatusReport's: the run messages that went to the poison queue; absent when none did. */
  readonly poisoned?: string[];
  /** Set when the config is not valid (its problems) or its state could not be read; the rest is then empty. */
  readonly error?: ConfigRunError;
}

export interface ConfigSetStatus {
  readonly configs: ConfigStatusLine[];
  /** Files of the folder or container skipped as not configs. */
  readonly warnings: readonly string[];
}

/**
 * What GET /api/status answers: the full status of the config named, or of an app's single config (as before sets
 * existed); for a folder or container without a name, one line per config.
 */
export async function configStatus(set: ConfigSet, store: StateStore, name: string | undefined): Promise<StatusReport | ConfigSetStatus> {
  if (name !== undefined || set.kind === 'single') return readStatus(configOf(selectConfig(set, name)), store);
  return readSetStatus(set, store);
}

/** The stored state of every config of the set, one line each, one state query per config. */
export async function readSetStatus(set: ConfigSet, store: StateStore): Promise<ConfigSetStatus> {
  const configs = await Promise.all(
    set.entries.map(async (entry): Promise<ConfigStatusLine> => {
      const empty = {
        name: entry.name,
        origin: entry.origin,
        lastRunAt: null,
        lastGoodCheckAt: null,
        targets: 0,
        held: [],
        partial: [],
        failed: [],
        pullRequest: null,
      };
      if (entry.error) return { ...empty, error: configRunError(entry.error) };
      try {
        return { ...statusLine(await readStatus(entry.config, store)), origin: entry.origin };
      } catch (error) {
        return { ...empty, targets: entry.config.targets.length, error: configRunError(error) };
      }
    }),
  );
  return { configs, warnings: set.warnings };
}

export function statusLine(status: StatusReport): Omit<ConfigStatusLine, 'origin'> {
  const good = status.targets.map((t) => t.lastGoodCheckAt);
  const ids = (wanted: string) => status.targets.filter((t) => t.status === wanted).map((t) => t.id);
  return {
    name: status.configName,
    lastRunAt: status.lastRunAt,
    lastGoodCheckAt: good.length === 0 || good.includes(null) ? null : good.sort()[0]!,
    targets: status.targets.length,
    held: ids('held'),
    partial: ids('partial'),
    failed: ids('error'),
    pullRequest: status.pullRequest ? { number: status.pullRequest.number, url: status.pullRequest.url } : null,
    ...(status.poisoned ? { poisoned: status.poisoned } : {}),
  };
}
