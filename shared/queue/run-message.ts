// The message a timer puts on the run queue for one config and one schedule, and its check at the queue's edge.
import { z } from 'zod';
import { ID_PATTERN } from '../config.js';
import type { ConfigSet } from '../config-set.js';
import { AllowlistError } from '../problem.js';
import type { ScheduleSetting } from '../sources/source.js';

/** The kinds of run a message asks for: one per timer, named by its schedule setting. */
export const RUN_KINDS = ['OUTSYSTEMS_SCHEDULE', 'CAS_SCHEDULE'] as const satisfies readonly ScheduleSetting[];

export const runMessageSchema = z.strictObject({
  v: z.literal(1),
  config: z.string().regex(ID_PATTERN, 'a config name (lowercase letters, digits and dashes)'),
  kind: z.enum(RUN_KINDS),
  tick: z.iso.datetime(),
});

/** One config's check of the targets of one schedule (`kind`), asked for by the timer occurrence `tick`. */
export type RunMessage = z.infer<typeof runMessageSchema>;

/** Anything bigger is not a run message: the check stops there, before parsing it. */
const MAX_MESSAGE_CHARS = 1024;

/**
 * The run message in what the host hands the worker: the parsed JSON object, or its text when it was not JSON.
 * Anything else is a `queue-message-invalid` error that says what was wrong, never echoing the message itself.
 */
export function parseRunMessage(entry: unknown): RunMessage {
  let value = entry;
  if (typeof entry === 'string') {
    if (entry.length > MAX_MESSAGE_CHARS)
      throw invalid(`it is ${entry.length} characters long (a run message is under ${MAX_MESSAGE_CHARS})`);
    try {
      value = JSON.parse(entry);
    } catch {
      throw invalid('it is not JSON');
    }
  }
  const parsed = runMessageSchema.safeParse(value);
  if (!parsed.success) {
    throw invalid(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(message)'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}

function invalid(why: string): AllowlistError {
  return new AllowlistError('queue-message-invalid', `The queue message is not a run message {v:1, config, kind, tick}: ${why}`);
}

/**
 * The messages of one timer occurrence: one per valid config of the set, in name order. A config that is not valid
 * gets none (a worker could only fail on it until the poison queue); the timer logs its error instead.
 */
export function fanOutMessages(options: { readonly set: ConfigSet; readonly kind: ScheduleSetting; readonly tick: string }): RunMessage[] {
  return options.set.entries
    .filter((entry) => entry.config !== undefined)
    .map((entry) => ({ v: 1 as const, config: entry.name, kind: options.kind, tick: options.tick }));
}
