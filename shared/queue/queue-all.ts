// What `POST /api/check` without config= does for a folder or container of configs: a full check of every config,
// queued rather than run, since a request cannot run a whole set inside the 230 s Azure gives it.
import { ConfigError } from '../config.js';
import type { ConfigSet } from '../config-set.js';
import { configRunError, type ConfigRunError } from '../engine/check-set.js';
import { fanOutMessages, RUN_KINDS, type RunMessage } from './run-message.js';

/** The 202 answer: what was queued, what was not and why, and where the results show. */
export interface QueuedAll {
  /** The run queue the messages were written to. */
  readonly queue: string;
  /** The time the messages carry, as a timer's would. */
  readonly tick: string;
  /** One entry per config queued: the kinds of run (one message each) and the status URL of that config. */
  readonly queued: Array<{ readonly config: string; readonly kinds: readonly RunMessage['kind'][]; readonly status: string }>;
  /** Configs that are not valid: nothing was queued for them, as a worker could only fail on them. */
  readonly notQueued: Array<{ readonly config: string; readonly origin: string; readonly error: ConfigRunError }>;
  /** GET this for one line per config; each run updates its config's line when it ends. */
  readonly status: string;
}

/**
 * One run message per valid config and kind (the messages both timers would write at `tick`), and the answer that
 * says so. A set without one valid config queues nothing: that is its config error, with every config's problems.
 */
export function queueEveryConfig(options: {
  readonly set: ConfigSet;
  readonly tick: string;
  readonly queue: string;
  readonly statusUrl: URL;
}): {
  messages: RunMessage[];
  answer: QueuedAll;
} {
  const { set, tick, queue, statusUrl } = options;
  const messages = RUN_KINDS.flatMap((kind) => fanOutMessages({ set, kind, tick }));
  const valid = set.entries.filter((entry) => entry.config !== undefined);
  if (valid.length === 0)
    throw new ConfigError(set.entries.flatMap((entry) => (entry.error?.problems ?? []).map((problem) => `${entry.origin}: ${problem}`)));
  const status = new URL(statusUrl);
  status.search = '';
  status.hash = '';
  const statusOf = (config: string) => {
    const url = new URL(status);
    url.searchParams.set('config', config);
    return url.href;
  };
  return {
    messages,
    answer: {
      queue,
      tick,
      queued: valid.map((entry) => ({ config: entry.name, kinds: RUN_KINDS, status: statusOf(entry.name) })),
      notQueued: set.entries
        .filter((entry) => entry.error !== undefined)
        .map((entry) => ({ config: entry.name, origin: entry.origin, error: configRunError(entry.error) })),
      status: status.href,
    },
  };
}
