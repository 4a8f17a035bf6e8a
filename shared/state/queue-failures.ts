// A run message's last failure before the host moved it to the poison queue, kept so that status and doctor can name
// the config. A row stays until the next poisoned message of its config and kind replaces it (one row per config and
// kind at most): a later good run outdates it without a write (shared/queue/poisoned.ts). The rows live in a partition
// of their own: a config's partition refuses row keys its release does not write (partition.ts), so a row there would
// make a rolled-back release read that config's state as corrupt.
import type { TableClient } from '@azure/data-tables';
import { z } from 'zod';
import { keyPart } from './keys.js';

/** Not a config name: config names are [a-z0-9-], so no config's partition can be this one. */
export const QUEUE_FAILURES_PARTITION = '~queue-failures';
const MAX_MESSAGE = 500;

const failureSchema = z.object({
  config: z.string().min(1),
  kind: z.string().min(1),
  tick: z.string().min(1),
  code: z.string().min(1),
  message: z.string(),
  at: z.string().min(1),
});

/** The last failed attempt of one config's message of one schedule kind. */
export type QueueFailure = z.infer<typeof failureSchema>;

export interface QueueFailures {
  record(failure: QueueFailure): Promise<void>;
  /**
   * The recorded failures of `config`, including those a later good run outdated (shared/queue/poisoned.ts tells them
   * apart); rows that do not read as one are skipped with a warning.
   */
  list(config: string, warn: (text: string) => void): Promise<QueueFailure[]>;
}

function rowKeyOf(config: string, kind: string): string {
  return `${keyPart('config name', config)}~${keyPart('schedule kind', kind)}`;
}

/** The failures on `table`; `clean` scrubs what a stored message could hold of a secret, `failed` wraps service errors. */
export function queueFailuresOn(options: {
  readonly table: TableClient;
  readonly clean: (text: string) => string;
  readonly failed: (action: string, error: unknown) => Error;
}): QueueFailures {
  const { table, clean, failed } = options;
  return {
    async record(failure) {
      const message = clean(failure.message).slice(0, MAX_MESSAGE);
      const entity = { partitionKey: QUEUE_FAILURES_PARTITION, rowKey: rowKeyOf(failure.config, failure.kind), ...failure, message };
      try {
        await table.upsertEntity(entity, 'Replace');
      } catch (error) {
        throw failed('record a poisoned run message', error);
      }
    },
    async list(config, warn) {
      const prefix = `${keyPart('config name', config)}~`;
      const found: QueueFailure[] = [];
      try {
        const rows = table.listEntities({
          queryOptions: {
            // Kinds start with a capital letter, which sorts before "~": `<config>~~` is past every kind of the config.
            filter: `PartitionKey eq ${quoted(QUEUE_FAILURES_PARTITION)} and RowKey gt ${quoted(prefix)} and RowKey lt ${quoted(`${prefix}~`)}`,
          },
        });
        for await (const row of rows) {
          const parsed = failureSchema.safeParse(row);
          if (parsed.success && parsed.data.config === config) found.push(parsed.data);
          else
            warn(
              `The poisoned-message record "${String(row.rowKey)}" cannot be read and is ignored: delete that row of partition ${QUEUE_FAILURES_PARTITION}.`,
            );
        }
      } catch (error) {
        throw failed('read the poisoned run messages', error);
      }
      return found.sort((a, b) => a.kind.localeCompare(b.kind));
    },
  };
}

/** An OData string literal; written here so that status and doctor need not load the table SDK to describe a failure. */
function quoted(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** How status and doctor say it: what failed, for which tick, and its last error. */
export function describeQueueFailure(failure: QueueFailure): string {
  return `${failure.kind} at ${failure.tick}: ${failure.code}: ${failure.message}`;
}
