// The run queue's name and connection, read when the functions are registered (so nothing heavy is imported here).
import { AllowlistError } from '../problem.js';

/** ALLOWLIST_QUEUE's default: the queue the timers fan out on and the worker function listens to. */
export const DEFAULT_RUN_QUEUE = 'allowlist-drift-runs';
/** The app setting (prefix) the queue trigger and output bindings name as their connection: the host's own storage. */
export const RUN_QUEUE_CONNECTION = 'AzureWebJobsStorage';
const POISON_SUFFIX = '-poison';
/** Storage queue names: lowercase letters, digits and single hyphens, starting and ending with a letter or digit. */
const QUEUE_NAME = /^(?!.*--)[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$/;

/** The host writes a message that failed maxDequeueCount times to this queue. */
export const poisonQueueOf = (queue: string): string => `${queue}${POISON_SUFFIX}`;

/** The queue name from ALLOWLIST_QUEUE, or the default; a name Storage would refuse is a clear error when the app starts. */
export function runQueueName(env: NodeJS.ProcessEnv): string {
  const name = env.ALLOWLIST_QUEUE?.trim() || DEFAULT_RUN_QUEUE;
  if (!QUEUE_NAME.test(name)) {
    throw new AllowlistError(
      'queue-name-invalid',
      `ALLOWLIST_QUEUE ${JSON.stringify(name)} is not a queue name: 3-56 lowercase letters, digits and single hyphens (56, so that "<name>${POISON_SUFFIX}" is one too)`,
    );
  }
  return name;
}
