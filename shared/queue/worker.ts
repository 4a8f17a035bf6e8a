// What the queue-triggered function does with one message: run that config's check of that schedule's targets, or
// say why not. The Functions host retries what this throws and moves it to the poison queue after maxDequeueCount.
import type { Config } from '../config.js';
import { selectConfig, type ConfigSet } from '../config-set.js';
import { AllowlistError, toProblem, type Problem } from '../problem.js';
import type { Report } from '../report.js';
import { LeaseBusyError } from '../state/errors.js';
import { parseRunMessage, type RunMessage } from './run-message.js';

/** A held lease puts the message back this long at least, and at most: a run usually ends well before its lease expires. */
export const DEFER_MIN_SECONDS = 10;
export const DEFER_MAX_SECONDS = 60;

export type QueuedRun =
  | { readonly outcome: 'ran'; readonly message: RunMessage; readonly report: Report }
  /** Another run holds the config's lease: a fresh copy of the message was enqueued to become visible after the delay. */
  | { readonly outcome: 'deferred'; readonly message: RunMessage; readonly delaySeconds: number; readonly holder: string }
  /** Not a run message: retrying cannot help, so it goes to the poison queue at once. */
  | { readonly outcome: 'rejected'; readonly problem: Problem }
  /** The config is gone from the set or is not valid: retrying cannot help, and the next tick asks again. */
  | { readonly outcome: 'skipped'; readonly message: RunMessage; readonly problem: Problem };

export interface QueuedRunOptions {
  /** The queue item as the host hands it over (a parsed JSON object, or a string). */
  readonly entry: unknown;
  readonly set: ConfigSet;
  readonly run: (config: Config, message: RunMessage) => Promise<Report>;
  /** Enqueues `message` again, invisible for `delaySeconds` (shared/queue/requeue.ts). */
  readonly requeue: (message: RunMessage, delaySeconds: number) => Promise<void>;
}

/**
 * Runs one message. A held lease is not a failure: failing would count a dequeue toward the poison queue, and the
 * host has no other way to put a trigger's message back with a delay, so a copy is enqueued with a visibility
 * delay and this message completes. Any other error is thrown for the host to retry.
 */
export async function runQueuedMessage(options: QueuedRunOptions): Promise<QueuedRun> {
  let message: RunMessage;
  try {
    message = parseRunMessage(options.entry);
  } catch (error) {
    return { outcome: 'rejected', problem: toProblem(error) };
  }
  let config: Config;
  try {
    const entry = selectConfig(options.set, message.config);
    if (entry.error) return { outcome: 'skipped', message, problem: entry.error.toProblem() };
    config = entry.config;
  } catch (error) {
    if (error instanceof AllowlistError) return { outcome: 'skipped', message, problem: error.toProblem() };
    throw error;
  }
  try {
    return { outcome: 'ran', message, report: await options.run(config, message) };
  } catch (error) {
    if (!(error instanceof LeaseBusyError)) throw error;
    const delaySeconds = Math.min(DEFER_MAX_SECONDS, Math.max(DEFER_MIN_SECONDS, error.retryAfterSeconds));
    await options.requeue(message, delaySeconds);
    return { outcome: 'deferred', message, delaySeconds, holder: error.holder };
  }
}
