// One worker process of the run queue: the queue driver (queue-host.ts) around functions/runs.ts's runQueuedCheck,
// as one Functions instance would run the registered `runConfig`, until SIGTERM. It prints one JSON line per event
// on stdout (QueueWorkerEvent) so that a parent sees which process runs which config, and can kill it mid-run.
// Spawned by queue-workers.ts from an esbuild bundle; the settings come from the environment, as the host's would.
//
//   node .queue-worker/queue-worker.mjs '{"holdSeconds":2,"settings":{"visibilityTimeout":1}}'
import '../setup/functions-core.js';
import type { LogLevel } from '@azure/functions';
import { startQueueHost, type QueueHostEvent } from './queue-host.js';
import type { QueueWorkerEvent, QueueWorkerOptions } from './queue-workers.js';

const print = (event: Omit<QueueWorkerEvent, 'pid'>): void => {
  process.stdout.write(`${JSON.stringify({ ...event, pid: process.pid })}\n`);
};

/** The config and kind a run message names, when it names them (garbage names nothing). */
function named(entry: unknown): { config?: string; kind?: string } {
  if (typeof entry !== 'object' || entry === null) return {};
  const { config, kind } = entry as Record<string, unknown>;
  return { ...(typeof config === 'string' && { config }), ...(typeof kind === 'string' && { kind }) };
}

function toLine(event: QueueHostEvent): Omit<QueueWorkerEvent, 'pid'> {
  if (event.event === 'poisoned' || event.event === 'error') return event;
  const { invocation } = event;
  const common = {
    ...named(invocation.entry),
    dequeueCount: invocation.dequeueCount,
    invocationId: invocation.invocationId,
    messageId: invocation.messageId,
  };
  if (event.event === 'start') return { event: 'start', ...common };
  if (event.event === 'done') return { event: 'done', ...common, ms: event.ms };
  return { event: 'failed', ...common, ms: event.ms, error: event.error, poisoned: event.poisoned };
}

const options = JSON.parse(process.argv[2] ?? '{}') as QueueWorkerOptions;
const connectionString = process.env.AzureWebJobsStorage;
if (!connectionString) throw new Error('queue-worker: AzureWebJobsStorage (the run queue connection string) is not set');
// After the recorder above: registering the functions records them instead of switching @azure/functions to test mode.
const [{ runQueuedCheck }, { poisonQueueOutput, RUN_QUEUE }] = await Promise.all([
  import('../../functions/runs.js'),
  import('../../functions/lib/run-queue.js'),
]);

const host = startQueueHost({
  connectionString,
  queue: RUN_QUEUE,
  handler: runQueuedCheck,
  functionName: 'runConfig',
  outputs: [poisonQueueOutput],
  ...(options.settings && { settings: options.settings }),
  ...(options.holdSeconds !== undefined && { holdSeconds: options.holdSeconds }),
  ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
  logHandler:
    ({ invocationId }) =>
    (level: LogLevel, ...args: unknown[]) =>
      print({ event: 'log', invocationId, level, text: args.map(String).join(' ') }),
  onEvent: (event) => print(toLine(event)),
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void host.stop().then(() => {
    print({ event: 'stopped' });
    process.exit(0);
  });
});
print({ event: 'ready', queue: RUN_QUEUE });
