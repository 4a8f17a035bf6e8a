import pLimit from 'p-limit';
import { ConfigError, type Config } from '../config.js';
import type { ConfigEntry, ConfigSet } from '../config-set.js';
import { withSharedFetches } from '../net/shared-fetch.js';
import { toProblem, type Problem } from '../problem.js';
import type { Report } from '../report.js';

/**
 * How many configs of a set one process checks at once: each run mostly waits on DNS, HTTP and GitHub, so a few
 * overlap well, and few enough that GitHub's secondary rate limit and the 2-core plans stay comfortable.
 */
export const SET_CONCURRENCY = 4;

/** One config's part of a run over a set: its report, or why it has none. */
export type ConfigRun =
  | { readonly name: string; readonly origin: string; readonly report: Report; readonly error?: undefined }
  | { readonly name: string; readonly origin: string; readonly report?: undefined; readonly error: ConfigRunError };

/** A config error keeps its problem lines; anything else that stopped the config is one problem. */
export type ConfigRunError = Problem & { readonly problems?: readonly string[] };

/**
 * Runs `run` for every config of the set, at most `concurrency` at once, in name order. A config error, or a run
 * that throws (another run holds the config's lease, the state is unreachable), ends that config only: the others
 * still run, and a document several configs watch is fetched once for the run (shared/net/shared-fetch.ts). This is
 * the loop a queue replaces: one message per config.
 */
export async function runConfigSet(options: {
  readonly set: ConfigSet;
  readonly run: (config: Config, entry: ConfigEntry) => Promise<Report>;
  readonly concurrency?: number;
}): Promise<ConfigRun[]> {
  const limit = pLimit(options.concurrency ?? SET_CONCURRENCY);
  // Configs that watch the same document read it once in this run.
  return withSharedFetches(() =>
    Promise.all(
      options.set.entries.map((entry) =>
        limit(async (): Promise<ConfigRun> => {
          const { name, origin } = entry;
          if (entry.error) return { name, origin, error: configRunError(entry.error) };
          try {
            return { name, origin, report: await options.run(entry.config, entry) };
          } catch (error) {
            return { name, origin, error: configRunError(error) };
          }
        }),
      ),
    ),
  );
}

export function configRunError(error: unknown): ConfigRunError {
  if (error instanceof ConfigError) return { ...error.toProblem(), problems: [...error.problems] };
  return toProblem(error);
}

/** Whether a config's run checked every target in full. */
export function runSucceeded(run: ConfigRun): boolean {
  return run.report !== undefined && run.report.errors.length === 0 && run.report.targets.every((t) => t.status === 'ok');
}
