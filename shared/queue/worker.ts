// What the queue-triggered function does with one message: run that config's check of that schedule's targets, or
// say why not. The Functions host retries what this throws and moves it to the poison queue after maxDequeueCount.
import type { Config } from '../config.js';
import { selectConfig, type ConfigSet } from '../config-set.js';
import { AllowlistError, toProblem, type Problem } from '../problem.js';
import type { Report } from '../report.js';
import { LeaseBusyError } from '../state/errors.js';
import type { QueueFailures } from '../state/queue-failures.js';
import { poisonQueueOf } from './queue-name.js';
import { parseRunMessage, type RunMessage } from './run-message.js';

/** A held lease puts the message back this long at least, and at most: a run usually ends well before its lease expires. */
export const DEFER_MIN_SECONDS = 10;
export const DEFER_MAX_SECONDS = 60;
/** host.json's extensions.queues.maxDequeueCount (a test holds the two together): the attempts before the poison queue. */
export const MAX_DEQUEUE_COUNT = 5;

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
  /** The app's configs, or how to read them for the message (the worker shares one read among a tick's messages). */
  readonly set: ConfigSet | ((message: RunMessage) => Promise<ConfigSet>);
  readonly run: (config: Config, message: RunMessage) => Promise<Report>;
  /** Enqueues `message` again, invisible for `delaySeconds` (shared/queue/requeue.ts). */
  readonly requeue: (message: RunMessage, delaySeconds: number) => Promise<void>;
  /** The host's dequeue count of this message (its trigger metadata): which attempt this is. */
  readonly dequeueCount?: number;
  /** The run queue's name, for the line that says where a message that failed for the last time goes. */
  readonly queue: string;
  /** Says which config's attempt failed and what follows, before the error is thrown to the host. */
  readonly failed: (line: string) => void;
  /**
   * Where the last failed attempt is recorded, so that status and doctor name a poisoned config until a later run of
   * that config and kind completes (they judge that from the config's state: shared/queue/poisoned.ts, so a good run
   * costs no request here); `warn` says when recording fails (the run's outcome stands).
   */
  readonly failures?: { readonly store: QueueFailures; readonly warn: (line: string) => void; readonly now: () => Date };
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
  // Failing to read the set (a container that cannot be listed) is a failed attempt like a failed run: named, and recorded when it is the last.
  const set = await failingAttempt({ options, message }, async () =>
    typeof options.set === 'function' ? options.set(message) : options.set,
  );
  let config: Config;
  try {
    const entry = selectConfig(set, message.config);
    if (entry.error) return { outcome: 'skipped', message, problem: entry.error.toProblem() };
    config = entry.config;
  } catch (error) {
    if (error instanceof AllowlistError) return { outcome: 'skipped', message, problem: error.toProblem() };
    throw error;
  }
  let report: Report;
  try {
    report = await options.run(config, message);
  } catch (error) {
    if (!(error instanceof LeaseBusyError)) {
      await attemptFailed({ options, message }, error);
      throw error;
    }
    const delaySeconds = Math.min(DEFER_MAX_SECONDS, Math.max(DEFER_MIN_SECONDS, error.retryAfterSeconds));
    await failingAttempt({ options, message }, () => options.requeue(message, delaySeconds));
    return { outcome: 'deferred', message, delaySeconds, holder: error.holder };
  }
  return { outcome: 'ran', message, report };
}

/** `work`, with a failure logged as this attempt's (and recorded when it is the last) before it is thrown to the host. */
async function failingAttempt<T>(attempt: { options: QueuedRunOptions; message: RunMessage }, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    await attemptFailed(attempt, error);
    throw error;
  }
}

async function attemptFailed(attempt: { options: QueuedRunOptions; message: RunMessage }, error: unknown): Promise<void> {
  const { options, message } = attempt;
  const problem = toProblem(error);
  options.failed(failedAttemptLine({ message, problem, dequeueCount: options.dequeueCount, queue: options.queue }));
  if (isLastAttempt(options.dequeueCount)) await recordPoisoned({ options, message, problem });
}

function isLastAttempt(dequeueCount: number | undefined): boolean {
  return (attemptOf(dequeueCount) ?? 0) >= MAX_DEQUEUE_COUNT;
}

function attemptOf(dequeueCount: number | undefined): number | undefined {
  return dequeueCount !== undefined && Number.isInteger(dequeueCount) && dequeueCount > 0 ? dequeueCount : undefined;
}

async function recordPoisoned(args: { options: QueuedRunOptions; message: RunMessage; problem: Problem }): Promise<void> {
  const { options, message, problem } = args;
  if (!options.failures) return;
  const { store, warn, now } = options.failures;
  const failure = { config: message.config, kind: message.kind, tick: message.tick, code: problem.code, message: problem.message };
  await store
    .record({ ...failure, at: now().toISOString() })
    .catch((error: unknown) =>
      warn(`${message.config}: ${message.kind} poisoned, but status and doctor cannot show it: ${describe(error)}`),
    );
}

function describe(error: unknown): string {
  const problem = toProblem(error);
  return `${problem.code}: ${problem.message}`;
}

/**
 * One line per failed attempt naming the config and the error; the last attempt's line says the message now goes to
 * the poison queue, so the log holds the config and its last error beside the poison message.
 */
export function failedAttemptLine(options: {
  readonly message: RunMessage;
  readonly problem: Problem;
  readonly dequeueCount: number | undefined;
  readonly queue: string;
}): string {
  const { message, problem, dequeueCount, queue } = options;
  const attempt = attemptOf(dequeueCount);
  const which = attempt === undefined ? '' : ` (attempt ${attempt} of ${MAX_DEQUEUE_COUNT})`;
  const next = isLastAttempt(dequeueCount)
    ? `that was the last attempt: the host moves the message to ${poisonQueueOf(queue)}`
    : 'the host retries it';
  return `${message.config}: ${message.kind} failed${which}: ${problem.code}: ${problem.message}; ${next}`;
}
