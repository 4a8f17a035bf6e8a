import type { Config } from '../shared/config.js';
import type { RunOptions } from '../shared/engine/context.js';
import { AllowlistError } from '../shared/problem.js';
import { createGitHubPublisher } from '../shared/publish/github.js';

/** GitHub retries and write pacing shrunk to milliseconds, so fault tests stay fast. */
export const FAST_GITHUB = { retryDelayUnitMs: 1, paceWrites: false } as const;

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
