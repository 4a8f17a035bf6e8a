// A stand-in for the Azure Functions host's queue trigger, which cannot run here: it receives messages from a real
// (Azurite) Storage queue and invokes a handler with the programming model's own InvocationContext, emulating what
// the host does around it from host.json's extensions.queues: batch size and new-batch threshold, the dequeue count,
// holding a message invisible while its function runs (renewed, as the host does), the retry visibility, the
// poison move after maxDequeueCount, and the queue output bindings written when an invocation succeeds.
// It is not the Functions host: it is what the tests and the bench use to drive the registered handlers.
import functions, { type InvocationContext, type LogHandler, type StorageQueueOutput, type Timer } from '@azure/functions';
import { QueueClient, type DequeuedMessageItem } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { poisonQueueOf } from '../../shared/queue/queue-name.js';

// The default export: Node's ESM loader finds no named exports in @azure/functions (CommonJS), and the bench runs a
// compiled copy of this module with plain node.
const { InvocationContext: Context } = functions;

/** A queue-triggered function's handler, as `app.storageQueue` registers it. */
export type QueueHandler = (entry: unknown, context: InvocationContext) => Promise<void>;

/** host.json's extensions.queues, in the units the driver uses (seconds for the visibility timeout). */
export interface QueueSettings {
  /** Messages received per batch. */
  readonly batchSize: number;
  /** A new batch is received when the invocations in flight drop to this many (so at most batchSize + newBatchThreshold run). */
  readonly newBatchThreshold: number;
  /** A message that failed this many times goes to `<queue>-poison`. */
  readonly maxDequeueCount: number;
  /** How long a failed message stays invisible before its next attempt. */
  readonly visibilityTimeout: number;
}

/** The host's defaults where host.json says nothing (Azure Functions queue extension 5.x). */
const HOST_DEFAULTS: QueueSettings = { batchSize: 16, newBatchThreshold: 8, maxDequeueCount: 5, visibilityTimeout: 0 };

/** The host holds a received message invisible this long and renews it while the function runs. */
export const HOST_HOLD_SECONDS = 600;

/** The repository root: the nearest folder upward holding package.json (the bench runs a compiled copy from .bench/). */
export function repositoryRoot(): string {
  for (let dir = fileURLToPath(new URL('.', import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('test/peers: no package.json above this module');
  }
}

/** host.json's extensions.queues, with the host's defaults for what it leaves out. */
export function hostQueueSettings(hostJson = join(repositoryRoot(), 'host.json')): QueueSettings {
  const queues = (JSON.parse(readFileSync(hostJson, 'utf8')) as { extensions?: { queues?: Record<string, unknown> } }).extensions?.queues;
  const number = (key: keyof QueueSettings): number | undefined => {
    const value = queues?.[key];
    if (value === undefined) return undefined;
    if (typeof value === 'number') return value;
    if (typeof value === 'string') return timeSpanSeconds(value);
    throw new Error(`host.json extensions.queues.${key}: ${JSON.stringify(value)} is neither a number nor a time span`);
  };
  return {
    batchSize: number('batchSize') ?? HOST_DEFAULTS.batchSize,
    newBatchThreshold: number('newBatchThreshold') ?? HOST_DEFAULTS.newBatchThreshold,
    maxDequeueCount: number('maxDequeueCount') ?? HOST_DEFAULTS.maxDequeueCount,
    visibilityTimeout: number('visibilityTimeout') ?? HOST_DEFAULTS.visibilityTimeout,
  };
}

/** A .NET TimeSpan as host.json writes it ("00:01:00", "1.00:00:00"), in seconds. */
function timeSpanSeconds(text: string): number {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text);
  if (!match) throw new Error(`host.json: ${JSON.stringify(text)} is not a time span hh:mm:ss`);
  const [, days = '0', hours, minutes, seconds] = match;
  return Number(days) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

/** What the host writes for one output binding's value: one message per array element, objects as JSON, base64. */
export function queueOutputMessages(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => Buffer.from(typeof item === 'string' ? item : JSON.stringify(item), 'utf8').toString('base64'));
}

/** Writes each declared queue output binding's value, as the host does once an invocation succeeded. */
export async function writeQueueOutputs(options: {
  readonly connectionString: string;
  readonly context: InvocationContext;
  readonly outputs: readonly StorageQueueOutput[];
}): Promise<number> {
  let written = 0;
  for (const binding of options.outputs) {
    const messages = queueOutputMessages(options.context.extraOutputs.get(binding));
    if (messages.length === 0) continue;
    const queue = new QueueClient(options.connectionString, binding.queueName);
    await queue.createIfNotExists();
    for (const text of messages) await queue.sendMessage(text);
    written += messages.length;
  }
  return written;
}

/** The handler's view of a received message: the parsed JSON when the text is JSON, else the text (as the Node worker does). */
export function decodeQueueEntry(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The message text the host's base64 messageEncoding decodes, or undefined when it is not base64. */
function fromBase64(messageText: string): string | undefined {
  const compact = messageText.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

export type QueueHostEvent =
  | { readonly event: 'start'; readonly invocation: QueueInvocation }
  | { readonly event: 'done'; readonly invocation: QueueInvocation; readonly ms: number }
  | {
      readonly event: 'failed';
      readonly invocation: QueueInvocation;
      readonly ms: number;
      readonly error: string;
      readonly poisoned: boolean;
    }
  /** A message moved to the poison queue without running: undecodable, or received more than maxDequeueCount times. */
  | { readonly event: 'poisoned'; readonly messageId: string; readonly dequeueCount: number; readonly reason: string }
  /**
   * The driver could not reach the queue (it tries again), or could not complete a message (e.g. its hold expired and
   * another worker took it: the message shows again later).
   */
  | { readonly event: 'error'; readonly messageId?: string; readonly dequeueCount?: number; readonly error: string };

/** One invocation of the handler for one received message. */
export interface QueueInvocation {
  readonly invocationId: string;
  readonly messageId: string;
  readonly dequeueCount: number;
  /** What the handler was given. */
  readonly entry: unknown;
  readonly context: InvocationContext;
}

export interface QueueHostOptions {
  readonly connectionString: string;
  readonly queue: string;
  readonly handler: QueueHandler;
  /** The function's name (InvocationContext.functionName); runs.ts registers `runConfig`. */
  readonly functionName?: string;
  /** The queue output bindings the function declares (its extraOutputs), written when an invocation succeeds. */
  readonly outputs?: readonly StorageQueueOutput[];
  /** Overrides host.json's extensions.queues (tests use short visibility timeouts). */
  readonly settings?: Partial<QueueSettings>;
  /** How long a received message stays invisible while its function runs; renewed at half of it. The host: 600. */
  readonly holdSeconds?: number;
  /** The sleep between receives that found nothing (the host backs off up to a minute; tests want it short). */
  readonly pollMs?: number;
  /** The log handler of each invocation's context (the default prints nothing). */
  readonly logHandler?: (invocation: { readonly invocationId: string; readonly messageId: string }) => LogHandler;
  /** Told when an invocation starts and ends, and when a message is poisoned without running. */
  readonly onEvent?: (event: QueueHostEvent) => void;
}

/** A running queue trigger: stop() waits for the invocations in flight. */
export interface QueueHost {
  readonly settings: QueueSettings;
  /** Invocations in flight now. */
  inFlight(): number;
  /** Resolves when the last receive found nothing and nothing is in flight. */
  idle(): Promise<void>;
  /** Resolves when the queue holds no message at all (visible or not) and nothing is in flight. */
  drained(): Promise<void>;
  /** Stops receiving and waits for the invocations in flight. */
  stop(): Promise<void>;
}

/** Starts receiving from `options.queue` (created if missing) and invoking the handler, until stop(). */
export function startQueueHost(options: QueueHostOptions): QueueHost {
  const settings: QueueSettings = { ...hostQueueSettings(), ...options.settings };
  const holdSeconds = options.holdSeconds ?? HOST_HOLD_SECONDS;
  const pollMs = options.pollMs ?? 100;
  const queue = new QueueClient(options.connectionString, options.queue);
  const poison = new QueueClient(options.connectionString, poisonQueueOf(options.queue));
  const running = new Set<Promise<void>>();
  let stopped = false;
  let lastReceiveEmpty = false;
  let wake: (() => void) | undefined;
  let created: Promise<unknown> | undefined;

  const poisonMove = async (message: Held): Promise<void> => {
    await poison.createIfNotExists();
    await poison.sendMessage(message.item.messageText);
    await message.delete();
  };

  const invoke = async (item: DequeuedMessageItem): Promise<void> => {
    const held = hold({ queue, item, holdSeconds });
    try {
      const text = fromBase64(item.messageText);
      if (text === undefined || item.dequeueCount > settings.maxDequeueCount) {
        await poisonMove(held);
        const reason = text === undefined ? 'not base64' : `dequeued ${item.dequeueCount} times`;
        options.onEvent?.({ event: 'poisoned', messageId: item.messageId, dequeueCount: item.dequeueCount, reason });
        return;
      }
      const invocationId = randomUUID();
      const entry = decodeQueueEntry(text);
      const context = queueContext({ options, item, invocationId });
      const invocation: QueueInvocation = { invocationId, messageId: item.messageId, dequeueCount: item.dequeueCount, entry, context };
      options.onEvent?.({ event: 'start', invocation });
      const started = performance.now();
      try {
        await options.handler(entry, context);
        // The host flushes the output bindings as part of the invocation, then completes (deletes) the message.
        await writeQueueOutputs({ connectionString: options.connectionString, context, outputs: options.outputs ?? [] });
      } catch (error) {
        const poisoned = item.dequeueCount >= settings.maxDequeueCount;
        if (poisoned) await poisonMove(held);
        else await held.release(settings.visibilityTimeout);
        const ms = Math.round(performance.now() - started);
        options.onEvent?.({ event: 'failed', invocation, ms, error: describe(error), poisoned });
        return;
      }
      await held.delete();
      options.onEvent?.({ event: 'done', invocation, ms: Math.round(performance.now() - started) });
    } finally {
      held.stopRenewing();
    }
  };

  const pause = (): Promise<void> =>
    new Promise<void>((resolve) => {
      // Not unref'd: this wait is what keeps a worker process alive while the queue is empty.
      const timer = setTimeout(resolve, pollMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const receive = async (): Promise<DequeuedMessageItem[]> => {
    try {
      await (created ??= queue.createIfNotExists());
      const response = await queue.receiveMessages({ numberOfMessages: Math.min(32, settings.batchSize), visibilityTimeout: holdSeconds });
      return response.receivedMessageItems;
    } catch (error) {
      created = undefined;
      options.onEvent?.({ event: 'error', error: describe(error) });
      return [];
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      if (running.size > settings.newBatchThreshold) {
        await Promise.race(running);
        continue;
      }
      const received = await receive();
      lastReceiveEmpty = received.length === 0 && running.size === 0;
      for (const item of received) {
        const run = invoke(item).catch((error: unknown) => {
          options.onEvent?.({ event: 'error', messageId: item.messageId, dequeueCount: item.dequeueCount, error: describe(error) });
        });
        running.add(run);
        void run.finally(() => running.delete(run));
      }
      if (received.length === 0 && !stopped) await pause();
    }
  };
  const looping = loop();

  const until = async (done: () => Promise<boolean>): Promise<void> => {
    while (!(await done())) await sleep(pollMs);
  };

  return {
    settings,
    inFlight: () => running.size,
    idle: () => until(async () => lastReceiveEmpty && running.size === 0),
    drained: () => until(async () => running.size === 0 && (await queue.getProperties()).approximateMessagesCount === 0),
    async stop() {
      stopped = true;
      wake?.();
      await looping;
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}

/** The context the host builds for one queue-triggered invocation, with the trigger metadata it provides. */
function queueContext(args: { options: QueueHostOptions; item: DequeuedMessageItem; invocationId: string }): InvocationContext {
  const { options, item, invocationId } = args;
  return new Context({
    invocationId,
    functionName: options.functionName ?? 'queueTrigger',
    logHandler: options.logHandler?.({ invocationId, messageId: item.messageId }) ?? (() => {}),
    triggerMetadata: {
      dequeueCount: item.dequeueCount,
      id: item.messageId,
      insertionTime: item.insertedOn.toISOString(),
      expirationTime: item.expiresOn.toISOString(),
      nextVisibleTime: item.nextVisibleOn.toISOString(),
      popReceipt: item.popReceipt,
    },
    options: {
      trigger: { type: 'queueTrigger', name: 'queueItem', queueName: options.queue, connection: 'AzureWebJobsStorage' },
      extraOutputs: [...(options.outputs ?? [])],
    },
  });
}

/** A received message the driver holds invisible while its invocation runs, as the host renews it. */
interface Held {
  readonly item: DequeuedMessageItem;
  delete(): Promise<void>;
  /** Makes it visible again after `seconds` (a failed attempt). */
  release(seconds: number): Promise<void>;
  stopRenewing(): void;
}

function hold(options: { queue: QueueClient; item: DequeuedMessageItem; holdSeconds: number }): Held {
  const { queue, item, holdSeconds } = options;
  let popReceipt = item.popReceipt;
  let pending: Promise<unknown> = Promise.resolve();
  // Each update gives a new pop receipt, so the renewals and the final delete or release run one after another.
  const serial = <T>(step: () => Promise<T>): Promise<T> => {
    const next = pending.then(step, step);
    pending = next.catch(() => {});
    return next;
  };
  const renew = setInterval(
    () =>
      void serial(async () => {
        popReceipt = (await queue.updateMessage(item.messageId, popReceipt, undefined, holdSeconds)).popReceipt!;
      }).catch(() => {}),
    Math.max(250, (holdSeconds * 1000) / 2),
  );
  renew.unref();
  return {
    item,
    stopRenewing: () => clearInterval(renew),
    delete: () => {
      clearInterval(renew);
      return serial(() => goneIsDone(queue.deleteMessage(item.messageId, popReceipt)));
    },
    release: (seconds) => {
      clearInterval(renew);
      return serial(() => goneIsDone(queue.updateMessage(item.messageId, popReceipt, undefined, seconds)));
    },
  };
}

/**
 * As the host: a pop receipt that no longer matches (the hold lapsed and another worker took the message) or a
 * message or queue that is gone leaves nothing for this worker to complete.
 */
async function goneIsDone(step: Promise<unknown>): Promise<void> {
  try {
    await step;
  } catch (error) {
    const { statusCode, code } = error as { statusCode?: number; code?: string };
    if (statusCode === 404 || (statusCode === 400 && code === 'PopReceiptMismatch')) return;
    throw error;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${(error as { code?: unknown }).code ?? error.name}: ${error.message}`;
  return String(error);
}

/** A timer handler, as `app.timer` registers it. */
export type TimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

/**
 * Runs a timer handler once, as the host does on a schedule occurrence, with a real InvocationContext and Timer,
 * and when it succeeds writes what it set for its queue output bindings (one message per array element, base64).
 * A handler that throws writes nothing, as with the host; the error is thrown on.
 */
export async function runTimerFunction(options: {
  readonly connectionString: string;
  readonly handler: TimerHandler;
  /** The queue output bindings the timer declares (functions/timers.ts: runQueueOutput). */
  readonly outputs: readonly StorageQueueOutput[];
  readonly functionName?: string;
  readonly isPastDue?: boolean;
  /** Default: a random UUID, as the host gives each invocation. */
  readonly invocationId?: string;
  readonly logHandler?: LogHandler;
  readonly now?: Date;
}): Promise<{ readonly context: InvocationContext; readonly written: number }> {
  const now = options.now ?? new Date();
  const timer: Timer = {
    isPastDue: options.isPastDue ?? false,
    schedule: { adjustForDST: true },
    scheduleStatus: { last: now.toISOString(), next: now.toISOString(), lastUpdated: now.toISOString() },
  };
  const context = new Context({
    invocationId: options.invocationId ?? randomUUID(),
    functionName: options.functionName ?? 'timer',
    logHandler: options.logHandler ?? (() => {}),
    options: { trigger: { type: 'timerTrigger', name: 'timer' }, extraOutputs: [...options.outputs] },
  });
  await options.handler(timer, context);
  const written = await writeQueueOutputs({ connectionString: options.connectionString, context, outputs: options.outputs });
  return { context, written };
}
