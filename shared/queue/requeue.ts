// Puts a run message back on the run queue with a visibility delay. The Functions output binding cannot delay a
// message, and failing the invocation (the host's only "put back") counts a dequeue toward the poison queue, so this
// one operation goes through @azure/storage-queue, on the same connection the trigger listens to.
import type { TokenCredential } from '@azure/core-auth';
import type { QueueClient } from '@azure/storage-queue';
import { AllowlistError } from '../problem.js';
import { lazyDefaultAzureCredential } from '../state/table-endpoint.js';
import { RUN_QUEUE_CONNECTION } from './queue-name.js';
import type { RunMessage } from './run-message.js';

/**
 * The run queue's service as RUN_QUEUE_CONNECTION names it, read the way the Functions host reads it: a connection
 * string (UseDevelopmentStorage=true for Azurite), or, with the managed identity, its `__accountName` form.
 */
export function queueServiceOf(env: NodeJS.ProcessEnv): { connectionString: string } | { url: string } {
  const connectionString = env.AzureWebJobsStorage?.trim();
  if (connectionString) return { connectionString };
  const account = env.AzureWebJobsStorage__accountName?.trim();
  if (account) return { url: `https://${account}.queue.core.windows.net` };
  throw new AllowlistError(
    'queue-connection-missing',
    `No run queue connection: set ${RUN_QUEUE_CONNECTION} (a connection string) or ${RUN_QUEUE_CONNECTION}__accountName (the managed identity)`,
  );
}

export interface Requeue {
  (message: RunMessage, delaySeconds: number): Promise<void>;
}

/** A requeue on `queue`; @azure/storage-queue is loaded on the first deferral only. */
export function openRequeue(options: {
  readonly env: NodeJS.ProcessEnv;
  readonly queue: string;
  readonly credential?: TokenCredential;
}): Requeue {
  let client: Promise<QueueClient> | undefined;
  const open = async (): Promise<QueueClient> => {
    const service = queueServiceOf(options.env);
    const { QueueServiceClient } = await import('@azure/storage-queue');
    const services =
      'connectionString' in service
        ? QueueServiceClient.fromConnectionString(service.connectionString)
        : new QueueServiceClient(service.url, options.credential ?? lazyDefaultAzureCredential());
    return services.getQueueClient(options.queue);
  };
  return async (message, delaySeconds) => {
    client ??= open();
    client.catch(() => (client = undefined));
    // The host's queue extension reads messages as base64 (its default messageEncoding), as its output binding writes them.
    const text = Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
    await (await client).sendMessage(text, { visibilityTimeout: delaySeconds });
  };
}
