import { output } from '@azure/functions';
import { poisonQueueOf, RUN_QUEUE_CONNECTION, runQueueName } from '../../shared/queue/queue-name.js';

/** The run queue (ALLOWLIST_QUEUE, default allowlist-drift-runs), read once when the functions are registered. */
export const RUN_QUEUE = runQueueName(process.env);

/** The fan-out of the timers and of `POST /api/check` without config=: one message per config of the set. */
export const runQueueOutput = output.storageQueue({ queueName: RUN_QUEUE, connection: RUN_QUEUE_CONNECTION });

/** Where the worker puts a message that is not a run message at once: retrying it could only fail again. */
export const poisonQueueOutput = output.storageQueue({ queueName: poisonQueueOf(RUN_QUEUE), connection: RUN_QUEUE_CONNECTION });
