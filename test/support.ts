import type { Config } from '../shared/config.js';
import type { RunOptions } from '../shared/engine/context.js';
import { AllowlistError } from '../shared/problem.js';
import { createGitHubPublisher } from '../shared/publish/github/publisher.js';
import type { PublisherTuning, ThrottleGroups } from '../shared/publish/github/types.js';

/** A stand-in for plugin-throttling's limiter groups that lets every request through at once. */
const unpaced = { key: () => ({ schedule: <T>(_options: unknown, run: () => Promise<T>) => run() }) } as unknown as NonNullable<
  ThrottleGroups['write']
>;

/** GitHub retries shrunk to milliseconds and writes unpaced, so fault tests stay fast; the protocol is unchanged. */
export const FAST_GITHUB: PublisherTuning = { retryDelayUnitMs: 1, throttleGroups: { write: unpaced, notifications: unpaced } };

export function fastPublisher(env: Record<string, string | undefined>): NonNullable<RunOptions['publisher']> {
  return (config: Config) => createGitHubPublisher({ github: config.github!, configName: config.name, env, tuning: FAST_GITHUB });
}

/** The error a promise rejected with, asserted to be a typed AllowlistError. */
export async function rejection(promise: Promise<unknown>): Promise<AllowlistError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value).slice(0, 300)}`);
  if (!(outcome.error instanceof AllowlistError)) throw outcome.error;
  return outcome.error;
}

/** The error a function threw, asserted to be a typed AllowlistError. */
export function rejectionSync(run: () => unknown): AllowlistError {
  try {
    run();
  } catch (error) {
    if (error instanceof AllowlistError) return error;
    throw error;
  }
  throw new Error('expected a throw, got a return');
}
